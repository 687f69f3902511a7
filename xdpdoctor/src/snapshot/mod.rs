//! The static state of everything the XDP programs of one namespace touch, taken once and
//! serializable, so the rules can run on it later without root (`snapshot --json` > file,
//! `diagnose --from file`).
//!
//! From the diagnosed namespace: every XDP program attached there and where it can redirect
//! (`crate::xdp`, whoever loaded it), xdpdoctor's own forwarder when it deployed one (config,
//! maps, counters), the NAT entries when they are known (our forwarder's maps, or the user's
//! `--config` in the seed's format), every link, address, route and neighbour; then, following
//! each veth's `IFLA_LINK` + `IFLA_LINK_NETNSID` across namespaces (named or reachable only
//! through /proc), the same for each peer's namespace. Per interface: state, MTU, XDP program
//! and mode, `xdp_features`, GRO requested, tx checksum active, `forwarding` and `rp_filter`.
//! All reads of a namespace happen on one thread inside it (netlink, ethtool ioctl, generic
//! netlink, /proc/sys).

pub mod collect;
pub mod paths;
pub mod targets;
#[cfg(test)]
mod tests;

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::bpf::forwarder_abi::Counter;
use crate::forwarder::{Entry, ForwarderStatus, Role};
use crate::netlink::nftables::Ruleset;
use crate::netlink::rtnl::{
    Addr, Addr6, FdbEntry, Link, LinkKind, Neighbour, Neighbour6, Route, Route6,
};
use crate::netlink::sockets::Listener;
use crate::netlink::xdp_features::XdpFeatures;
use crate::netns::NsRef;
use crate::xdp::XdpView;
use crate::{Error, Result};

pub use collect::{take, NatHint};
pub use paths::{NatPath, PathStage};
pub use targets::{Target, TargetSource};

/// Version of the snapshot JSON layout (bumped on incompatible changes). 2: any XDP
/// deployment (`xdp`, optional `forwarder`, `nat`), `netns_inode` instead of
/// `forwarder_netns_inode`.
pub const SNAPSHOT_VERSION: u32 = 2;

/// Everything the rules look at.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Snapshot {
    /// [`SNAPSHOT_VERSION`].
    pub version: u32,
    /// `uname -r` of the machine the snapshot was taken on.
    pub kernel: String,
    /// Whether the kernel has the `netdev` generic netlink family (6.3+: `xdp_features`).
    pub xdp_features_supported: bool,
    /// Inode of the diagnosed namespace (where the XDP programs run).
    pub netns_inode: u64,
    /// The largest MTU a veth's peer may have for an XDP program without frags support to
    /// attach to the veth (`veth_xdp_set`: a page less the XDP headroom, the aligned
    /// `skb_shared_info` and the Ethernet header: 3506 on x86_64 6.18); None when unknown
    /// (no BTF, or a snapshot saved before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub veth_xdp_max_mtu: Option<u32>,
    /// Every XDP program attached in it, and where each can redirect.
    pub xdp: XdpView,
    /// The forwarder xdpdoctor deployed there, maps and counters included.
    pub forwarder: Option<ForwarderStatus>,
    /// The NAT entries and interface roles, as far as they are known.
    pub nat: NatInfo,
    /// The diagnosed namespace first, then every peer namespace reached from it.
    pub namespaces: Vec<NsState>,
}

/// Where the NAT entries came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "kebab-case")]
pub enum NatSource {
    /// The maps of the forwarder xdpdoctor deployed.
    Forwarder,
    /// The user's config file (the seed's `config.json` shape), for a program xdpdoctor did
    /// not load.
    Config {
        /// The file.
        file: String,
    },
    /// Not known: the program's maps are its own business. Paths are "ingress -> redirect
    /// target -> peer" without entries.
    Unknown,
}

/// What is known of the NAT the XDP programs do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NatInfo {
    /// Where `entries` and the roles came from.
    pub source: NatSource,
    /// DNAT entries `from -> to` (replies are translated back).
    pub entries: Vec<Entry>,
    /// Interface roles by name (external: DNAT side; internal: SNAT side).
    pub roles: Vec<(String, Role)>,
}

impl Default for NatInfo {
    fn default() -> Self {
        NatInfo {
            source: NatSource::Unknown,
            entries: Vec::new(),
            roles: Vec::new(),
        }
    }
}

/// One network namespace.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NsState {
    /// Which namespace: its name (`ip netns` name, or `pid:N` for namespaces found through
    /// /proc), the path it was opened through and its identity (the nsfs inode: how peers,
    /// findings and evidence refer to it, since names may be missing or repeat). Flattened
    /// into this object in JSON (`name`, `path`, `inode`).
    #[serde(flatten)]
    pub ns: NsRef,
    /// `net.ipv4.conf.all.forwarding`.
    pub forwarding_all: Option<bool>,
    /// `net.ipv4.conf.all.rp_filter` (an interface's check is the larger of it and its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rp_filter_all: Option<u32>,
    /// `net.ipv4.conf.all.accept_local`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept_local_all: Option<bool>,
    /// Every link in the namespace, with what the rules need.
    pub interfaces: Vec<Iface>,
    /// Every IPv4 address in the namespace, of all interfaces.
    pub addresses: Vec<Addr>,
    /// IPv4 routes of the main table (what `bpf_fib_lookup` consults, policy routing aside).
    pub routes: Vec<Route>,
    /// IPv4 neighbour (ARP) entries.
    pub neighbours: Vec<Neighbour>,
    /// `net.ipv6.conf.all.forwarding`; None without IPv6 (or in a snapshot saved before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarding6_all: Option<bool>,
    /// Every IPv6 address in the namespace, link-local ones included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses6: Vec<Addr6>,
    /// IPv6 routes of the main table.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes6: Vec<Route6>,
    /// IPv6 neighbour (NDP) entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub neighbours6: Vec<Neighbour6>,
    /// TCP sockets listening in the namespace (a NAT target's port must have one); None when
    /// they could not be read.
    #[serde(default)]
    pub tcp_listen: Option<Vec<Listener>>,
    /// The forwarding databases of its bridges (MAC -> port): which container behind a
    /// bridge an address reaches.
    #[serde(default)]
    pub fdb: Vec<FdbEntry>,
    /// Its nf_tables ruleset (iptables-nft's included), read in the diagnosed namespace only
    /// (where the programs pass packets to the stack); None elsewhere, or when it could not
    /// be read.
    #[serde(default)]
    pub netfilter: Option<Ruleset>,
}

/// One interface with what the rules need.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Iface {
    /// What rtnetlink reports (flattened into this object in JSON).
    #[serde(flatten)]
    pub link: Link,
    /// `xdp_features` bits (None: kernel before 6.3, or not readable).
    pub xdp_features: Option<u64>,
    /// GRO requested (`ethtool -k`: what the user asked for, not what is active).
    pub gro_requested: Option<bool>,
    /// Any tx checksum offload active.
    pub tx_csum_active: Option<bool>,
    /// `net.ipv4.conf.<if>.forwarding`.
    pub forwarding: Option<bool>,
    /// `net.ipv6.conf.<if>.forwarding` (what `bpf_fib_lookup` checks on the ingress for
    /// AF_INET6); None without IPv6 on the interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarding6: Option<bool>,
    /// `net.ipv4.conf.<if>.rp_filter`.
    pub rp_filter: Option<u32>,
    /// `net.ipv4.conf.<if>.accept_local` (either it or `conf.all`'s lets local sources in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept_local: Option<bool>,
    /// The veth peer, resolved across namespaces.
    pub peer: Option<PeerRef>,
}

/// Where a veth's other end lives.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct PeerRef {
    /// Inode of the peer's namespace (this namespace's own when both ends are here).
    pub netns_inode: u64,
    /// The peer's ifindex in that namespace.
    pub ifindex: u32,
}

/// Bit of `xdp_features`: the device accepts XDP frames redirected to it.
pub const XDP_FEATURE_NDO_XMIT: u64 = XdpFeatures::NDO_XMIT;

impl Iface {
    /// Interface name in its namespace.
    pub fn name(&self) -> &str {
        &self.link.name
    }
    /// Interface index, unique only within its namespace.
    pub fn index(&self) -> u32 {
        self.link.index
    }
    /// Whether rtnetlink reports link kind `veth`.
    pub fn is_veth(&self) -> bool {
        self.link.kind == Some(LinkKind::Veth)
    }
    /// Whether it is a bridge.
    pub fn is_bridge(&self) -> bool {
        self.link.kind == Some(LinkKind::Bridge)
    }
    /// Whether it is enslaved to another device (a bridge port, a bond member): such a
    /// device carries no address of its own; its master does.
    pub fn is_enslaved(&self) -> bool {
        self.link.master.is_some()
    }
    /// Whether an XDP program is attached, in any mode.
    pub fn has_xdp(&self) -> bool {
        self.link.xdp.as_ref().is_some_and(|x| x.prog_id != 0)
    }
    /// `Some(true)` if the device advertises ndo-xmit (6.3+), None when unknown.
    pub fn ndo_xmit(&self) -> Option<bool> {
        self.xdp_features.map(|f| f & XDP_FEATURE_NDO_XMIT != 0)
    }
}

impl NsState {
    /// The interface with index `index` in this namespace.
    pub fn iface(&self, index: u32) -> Option<&Iface> {
        self.interfaces.iter().find(|i| i.index() == index)
    }
    /// The interface named `name` in this namespace.
    pub fn iface_by_name(&self, name: &str) -> Option<&Iface> {
        self.interfaces.iter().find(|i| i.name() == name)
    }
    /// The IPv4 addresses on interface `index`.
    pub fn addrs_of(&self, index: u32) -> impl Iterator<Item = &Addr> + '_ {
        self.addresses.iter().filter(move |a| a.ifindex == index)
    }
    /// The default route's gateway, if any.
    pub fn default_gateway(&self) -> Option<Ipv4Addr> {
        self.routes
            .iter()
            .find(|r| r.prefix == 0 && r.gateway.is_some())
            .and_then(|r| r.gateway)
    }
    /// The way out to `dst`: the longest-prefix match in the main table (what
    /// `bpf_fib_lookup` would pick, policy routing aside), if it is a unicast route.
    ///
    /// A blackhole, unreachable, prohibit (or other non-unicast) route that wins the match
    /// means "no route": the kernel drops or refuses the packet there and does not fall back
    /// to a shorter prefix, so the answer is None, as when nothing matches. Among routes of
    /// the same prefix the first listed wins: the kernel lists them in its order of
    /// preference (lowest metric first).
    pub fn route_to(&self, dst: Ipv4Addr) -> Option<&Route> {
        self.route_match(dst).filter(|r| r.is_unicast())
    }
    /// The route that wins the longest-prefix match for `dst` in the main table, whatever
    /// its type (see [`NsState::route_to`] for what the kernel makes of a non-unicast one).
    pub fn route_match(&self, dst: Ipv4Addr) -> Option<&Route> {
        route_match(&self.routes, dst)
    }
    /// The ports of bridge `bridge`.
    pub fn ports_of(&self, bridge: u32) -> impl Iterator<Item = &Iface> + '_ {
        self.interfaces
            .iter()
            .filter(move |i| i.link.master == Some(bridge))
    }
    /// The valid neighbour entry of `addr` on `ifindex`, with its MAC.
    pub fn neighbour(&self, ifindex: u32, addr: Ipv4Addr) -> Option<&Neighbour> {
        self.neighbours
            .iter()
            .find(|n| n.ifindex == ifindex && n.addr == addr)
    }
    /// The global (not link-local) IPv6 addresses on interface `index`.
    pub fn addrs6_of(&self, index: u32) -> impl Iterator<Item = &Addr6> + '_ {
        self.addresses6
            .iter()
            .filter(move |a| a.ifindex == index && a.is_global())
    }
    /// The IPv6 route that wins the longest-prefix match for `dst` in the main table.
    pub fn route6_match(&self, dst: std::net::Ipv6Addr) -> Option<&Route6> {
        let d = u128::from(dst);
        self.routes6
            .iter()
            .filter(|r| {
                let p = u32::from(r.prefix.min(128));
                p == 0 || (d ^ u128::from(r.dst)) >> (128 - p) == 0
            })
            .max_by_key(|r| r.prefix)
    }
    /// The interface holding `addr` as one of its addresses.
    pub fn owner_of(&self, addr: Ipv4Addr) -> Option<&Iface> {
        self.addresses
            .iter()
            .find(|a| a.addr == addr)
            .and_then(|a| self.iface(a.ifindex))
    }
}

/// The route of `routes` (a main table as rtnetlink lists it) that wins the longest-prefix
/// match for `dst`, whatever its type; among routes of the same prefix the first listed (the
/// kernel's preferred, lowest metric). [`NsState::route_to`] says what a non-unicast winner
/// means.
pub fn route_match(routes: &[Route], dst: Ipv4Addr) -> Option<&Route> {
    let mut best: Option<&Route> = None;
    for r in routes.iter().filter(|r| in_prefix(dst, r.dst, r.prefix)) {
        if best.is_none_or(|b| r.prefix > b.prefix) {
            best = Some(r);
        }
    }
    best
}

/// Whether `a` is inside `net/prefix`.
pub fn in_prefix(a: Ipv4Addr, net: Ipv4Addr, prefix: u8) -> bool {
    if prefix == 0 {
        return true;
    }
    let mask = u32::MAX << (32 - u32::from(prefix.min(32)));
    (u32::from(a) & mask) == (u32::from(net) & mask)
}

impl Snapshot {
    /// The diagnosed namespace (where the XDP programs run).
    pub fn home(&self) -> &NsState {
        &self.namespaces[0]
    }
    /// The namespace with inode `inode`, if the snapshot holds it.
    pub fn ns(&self, inode: u64) -> Option<&NsState> {
        self.namespaces.iter().find(|n| n.ns.inode == inode)
    }
    /// The peer of `iface` (namespace and interface), when it was resolved.
    pub fn peer_of(&self, iface: &Iface) -> Option<(&NsState, &Iface)> {
        let p = iface.peer?;
        let ns = self.ns(p.netns_inode)?;
        Some((ns, ns.iface(p.ifindex)?))
    }
    /// A counter of our forwarder since deploy (0 without one).
    pub fn counter(&self, c: Counter) -> u64 {
        self.forwarder.as_ref().map(|f| f.counter(c)).unwrap_or(0)
    }

    /// Whether our forwarder recomputes TCP checksums fully (repairs partial ones).
    pub fn full_checksum(&self) -> bool {
        self.forwarder.as_ref().is_some_and(|f| f.full_checksum)
    }

    /// The role of interface `ifindex` of the diagnosed namespace, when known.
    pub fn role(&self, ifindex: u32) -> Option<Role> {
        let name = self.home().iface(ifindex)?.name();
        self.nat
            .roles
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, r)| *r)
    }

    /// Whether NAT entries are known (from our forwarder or a config).
    pub fn entries_known(&self) -> bool {
        self.nat.source != NatSource::Unknown
    }
    /// Kernel (major, minor) from `kernel`.
    pub fn kernel_version(&self) -> Option<(u32, u32)> {
        let mut it = self.kernel.split(|c: char| !c.is_ascii_digit());
        Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
    }

    /// Pretty JSON: what `snapshot --json` writes and [`Snapshot::load`] reads back.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("snapshot serializes")
    }

    /// Reads a saved snapshot.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let s = crate::files::read_to_string(path, crate::files::READ_LIMIT)?;
        let snap: Snapshot = serde_json::from_str(&s)
            .map_err(|e| Error::corrupt(path, format!("not a snapshot: {e}")))?;
        if snap.version != SNAPSHOT_VERSION {
            return Err(Error::corrupt(
                path,
                format!(
                    "snapshot version {} (this xdpdoctor reads {SNAPSHOT_VERSION})",
                    snap.version
                ),
            ));
        }
        if snap.namespaces.is_empty() {
            return Err(Error::corrupt(path, "snapshot has no namespaces"));
        }
        Ok(snap)
    }
}
