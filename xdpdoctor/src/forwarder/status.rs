//! `status`: what xdpdoctor deployed in a namespace, whether it is still attached where it was
//! deployed, its NAT entries as the kernel holds them, and its per-CPU counters summed.

use serde::{Deserialize, Serialize};

use super::config::Role;
use super::deploy::Deployment;
use super::maps::{self, NatEntry};
use crate::bpf::forwarder_abi::{self as abi, Counter};
use crate::netlink::rtnl::{Rtnl, XdpMode};
use crate::netns::Netns;
use crate::Result;

/// Attachment state of one interface named in the deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceStatus {
    /// Interface name.
    pub name: String,
    /// Its ifindex in the forwarder's namespace.
    pub ifindex: u32,
    /// External (DNAT) or internal (SNAT).
    pub role: Role,
    /// Program id deploy attached.
    pub prog_id: u32,
    /// What IFLA_XDP reports now (None: nothing attached or the interface is gone).
    pub attached_prog_id: Option<u32>,
    /// The attach mode IFLA_XDP reports.
    pub attach_mode: Option<XdpMode>,
    /// The forwarder's program is what runs on this interface.
    pub attached: bool,
}

/// Everything `xdpdoctor status` reports about the forwarder xdpdoctor deployed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwarderStatus {
    /// Namespace name.
    pub netns: String,
    /// Namespace inode.
    pub netns_inode: u64,
    /// Namespace netns cookie (None on kernels without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns_cookie: Option<u64>,
    /// Where its links and maps are pinned.
    pub pin_dir: String,
    /// The config file it was deployed from.
    pub config_file: Option<String>,
    /// Attach mode.
    pub mode: super::AttachMode,
    /// The forwarder recomputes full TCP checksums (`full_checksum`).
    #[serde(default)]
    pub full_checksum: bool,
    /// Each deployed interface and whether our program still runs there.
    pub interfaces: Vec<InterfaceStatus>,
    /// DNAT map entries.
    pub dnat: Vec<NatEntry>,
    /// SNAT map entries.
    pub snat: Vec<NatEntry>,
    /// ifindexes present in the devmap.
    pub devmap: Vec<u32>,
    /// Counters summed over CPUs, in ABI order.
    pub counters: Vec<(Counter, u64)>,
    /// The bridges it serves (redirects to their ports by MAC), by ifindex.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bridges: Vec<u32>,
    /// Its port map: (bridge ifindex, MAC, port ifindex), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bridge_ports: Vec<(u32, String, u32)>,
}

impl ForwarderStatus {
    /// The namespace it runs in.
    pub fn key(&self) -> crate::state::NsKey {
        crate::state::NsKey::new(self.netns_inode, self.netns_cookie)
    }

    /// A counter's value (0 if absent).
    pub fn counter(&self, c: Counter) -> u64 {
        self.counters
            .iter()
            .find(|(n, _)| *n == c)
            .map(|(_, v)| *v)
            .unwrap_or(0)
    }

    /// Whether it serves bridge `ifindex` (redirects to its ports by MAC).
    pub fn serves_bridge(&self, ifindex: u32) -> bool {
        self.bridges.contains(&ifindex)
    }

    /// Whether `ifindex` is one of the deployment's interfaces with this role.
    pub fn has(&self, ifindex: u32, role: Role) -> bool {
        self.interfaces
            .iter()
            .any(|i| i.ifindex == ifindex && i.role == role)
    }
}

/// Reads the state of the forwarder xdpdoctor deployed in `ns`.
pub fn status(ns: &Netns) -> Result<ForwarderStatus> {
    let dep = Deployment::require(ns)?;
    let (inode, key) = (dep.netns_inode, dep.key());
    let links = ns.block_on(|| async { Rtnl::new()?.links().await })?;
    let interfaces = dep
        .interfaces
        .iter()
        .map(|d| {
            let live = links
                .iter()
                .find(|l| l.index == d.ifindex && l.name == d.name);
            let xdp = live.and_then(|l| l.xdp.as_ref());
            InterfaceStatus {
                name: d.name.clone(),
                ifindex: d.ifindex,
                role: d.role,
                prog_id: d.prog_id,
                attached_prog_id: xdp.map(|x| x.prog_id),
                attach_mode: xdp.map(|x| x.mode),
                attached: xdp.is_some_and(|x| x.each().iter().any(|(_, p)| *p == d.prog_id)),
            }
        })
        .collect();
    Ok(ForwarderStatus {
        netns: dep.netns.clone(),
        netns_inode: inode,
        netns_cookie: dep.netns_cookie,
        pin_dir: dep.pin_dir.display().to_string(),
        config_file: dep.config_file.as_ref().map(|p| p.display().to_string()),
        mode: dep.mode,
        full_checksum: dep.config.full_checksum,
        interfaces,
        dnat: maps::read_nat(key, abi::DNAT_MAP)?,
        snat: maps::read_nat(key, abi::SNAT_MAP)?,
        devmap: maps::read_devmap(key)?,
        counters: maps::read_counters(key)?,
        bridges: maps::read_bridges(key)?,
        bridge_ports: maps::read_bridge_ports(key)?,
    })
}
