//! The XDP NAT forwarder xdpdoctor deploys: its config, the one loader of its object,
//! deployment into a namespace, its pins, live access to its maps, teardown and status.
//!
//! A deployment loads `forwarder-ebpf/forwarder.bpf.c`, fills its maps (NAT entries both ways
//! and their index, a devmap with every interface of the namespace, as the seed's controller
//! did), attaches the
//! external (DNAT) and internal (SNAT) programs with bpf_links, and pins links and maps under
//! `/sys/fs/bpf/xdpdoctor/fwd-<netns inode>/` so the forwarder outlives the command.
//! The decision log's maps are pinned there too; [`decision`] reads its records back into
//! typed form (the reader and the switch are `crate::decisions`, which knows no program).

pub mod bridge;
pub mod config;
pub mod decision;
pub mod deploy;
pub mod follow;
pub mod maps;
pub mod nat_index;
pub mod object;
pub mod pins;
pub mod status;

pub use config::{Entry, ForwarderConfig, Role};
pub use deploy::{deploy, teardown, AttachMode, DeployedInterface, Deployment};
pub use maps::NatEntry;
pub use status::{status, ForwarderStatus};
