//! Network namespaces: naming, finding, creation, removal, identity, and running work inside
//! one.
//!
//! Work in another namespace runs on a dedicated OS thread that calls `setns(2)` and exits when
//! the work is done, so no other thread (and never a tokio worker) changes namespace. Sockets
//! opened on that thread (netlink, ethtool ioctl, pcap, bpf map updates that resolve ifindexes)
//! belong to that namespace. Async netlink work gets its own current-thread runtime on that
//! thread (`Netns::block_on`). `handle.rs` is the only place that calls `setns`.
//!
//! Two types, for two jobs:
//! - [`Netns`] (`handle.rs`) is a *way in*: a path to open and a name for messages, what a
//!   `--netns` argument or a lab's node becomes before anything is opened.
//! - [`NsRef`] (`ns_ref.rs`) is *which one*: the identity of a namespace that was opened
//!   (its nsfs inode and, where the kernel has it, its netns cookie, which a reused inode
//!   cannot fake), with its name and path, serializable. Findings, fixes, journals
//!   and snapshots name namespaces with it, and [`NsRef::open`] finds it again even when its
//!   path no longer leads there.
//!
//! `sysfs.rs` reads and writes a device's sysfs attributes inside its namespace, on such a
//! thread with a private mount namespace of its own (a sysfs shows only the devices of the
//! namespace that mounted it).
//!
//! `Netns::current()` is the namespace the process runs in, so commands started under
//! `nsenter --net=/run/netns/NAME` work without `--netns`. [`all`] enumerates every namespace
//! this process can open.

mod all;
mod handle;
mod ifname;
mod names;
mod ns_ref;
pub mod shell;
mod sysfs;

pub use crate::state::NsKey;
pub use all::{all, by_key, Living, NsInfo};
pub use handle::{cookie_here, list_named, Netns, NETNS_RUN_DIR};
pub use ifname::bad_ifname;
pub use names::{host_inode, host_path, HOST};
pub use ns_ref::NsRef;
pub use shell::quote;
pub use sysfs::{device_attrs, set_device_attrs, DeviceAttr};
