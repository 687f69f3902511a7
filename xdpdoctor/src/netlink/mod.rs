//! Talking to the kernel's networking configuration: rtnetlink (links, addresses, routes,
//! neighbours, namespace ids), generic netlink (`netdev` family: xdp_features), nf_tables
//! (an IPv4 NAT table), the ethtool ioctl (offload features), and sysctls. Every function
//! acts on the namespace of the calling thread: call them inside `Netns::run` /
//! `Netns::block_on`.

pub mod ethtool;
pub mod nftables;
pub mod nsid;
pub mod rtnl;
pub mod sockets;
pub mod sysctl;
pub mod xdp_features;
