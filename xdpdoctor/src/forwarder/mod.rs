//! The XDP NAT forwarder: its config, deployment into a namespace, teardown and status.
//!
//! A deployment loads `forwarder-ebpf/forwarder.bpf.c`, fills its maps (NAT entries both ways,
//! a devmap with every interface of the namespace, as the seed's controller did), attaches the
//! external (DNAT) and internal (SNAT) programs with bpf_links, and pins links and maps under
//! `/sys/fs/bpf/xdpdoctor/fwd-<netns inode>/` so the forwarder outlives the command.

pub mod config;
pub mod deploy;
pub mod pins;
pub mod status;

pub use config::{Entry, ForwarderConfig};
pub use deploy::{deploy, teardown, AttachMode, DeployedInterface, Deployment};
pub use status::{status, ForwarderStatus};
