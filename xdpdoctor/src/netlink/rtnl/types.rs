//! The plain structs rtnetlink's messages become (`parse.rs` makes them, `Rtnl` returns them,
//! snapshots save them): links with their kind and XDP attachment, addresses, routes with
//! their type, neighbours with their NUD state. Kernel state is typed here, once: a link kind
//! or a neighbour state is an enum the rules match on, serialized as the kernel names it.

use std::net::{Ipv4Addr, Ipv6Addr};

use rtnetlink::packet_route::neighbour::NeighbourState;
use serde::{Deserialize, Serialize};

/// How an XDP program is attached to a link, as IFLA_XDP reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum XdpMode {
    /// Native (driver) XDP: redirects go through `ndo_xdp_xmit`.
    Driver,
    /// Generic XDP on the skb path.
    Skb,
    /// Offloaded to the NIC.
    Hw,
    /// Several at once (each listed in [`XdpAttachment::progs`]).
    Multi,
}

/// The XDP attachment of a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct XdpAttachment {
    /// The program (IFLA_XDP_PROG_ID; with several modes, the first of `progs`).
    pub prog_id: u32,
    /// The attach mode (`multi` when several programs are attached in different modes).
    pub mode: XdpMode,
    /// Every (mode, program id) attached: one entry, or one per mode when `multi`.
    #[serde(default)]
    pub progs: Vec<(XdpMode, u32)>,
}

impl XdpAttachment {
    /// Every (mode, program) pair, also for state saved before `progs` existed.
    pub fn each(&self) -> Vec<(XdpMode, u32)> {
        if self.progs.is_empty() && self.prog_id != 0 {
            vec![(self.mode, self.prog_id)]
        } else {
            self.progs.clone()
        }
    }

    /// The program attached in native (driver) mode, if any.
    pub fn native_prog(&self) -> Option<u32> {
        self.each()
            .into_iter()
            .find(|(m, _)| *m == XdpMode::Driver)
            .map(|(_, id)| id)
    }
}

/// One network interface as rtnetlink reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// Interface index, unique only within its namespace (indexes repeat across namespaces).
    pub index: u32,
    /// Interface name (IFLA_IFNAME), at most 15 bytes.
    pub name: String,
    /// Administratively up (IFF_UP).
    pub up: bool,
    /// Carrier present (IFF_LOWER_UP).
    pub lower_up: bool,
    /// MTU in bytes (IFLA_MTU; 0 if the kernel sent none).
    pub mtu: u32,
    /// Hardware address as lower-case `aa:bb:cc:dd:ee:ff`; empty when the link has none.
    pub mac: String,
    /// rtnl link kind (IFLA_INFO_KIND: veth, bridge, ...); None for a link without one
    /// (loopback, a physical NIC).
    pub kind: Option<LinkKind>,
    /// The XDP program(s) attached (IFLA_XDP); None when nothing is attached.
    pub xdp: Option<XdpAttachment>,
    /// IFLA_LINK: for a veth, the peer's ifindex (in the peer's namespace).
    pub peer_ifindex: Option<u32>,
    /// IFLA_LINK_NETNSID: the peer's namespace id, relative to the asking namespace.
    pub link_netnsid: Option<i32>,
    /// IFLA_MASTER: the device this one is enslaved to (a bridge port's bridge, a bond's
    /// member's bond); None for a link without one.
    #[serde(default)]
    pub master: Option<u32>,
    /// IFLA_MAX_MTU: the largest MTU the device accepts now (a veth's is lowered while its
    /// peer has an XDP program); None if the kernel sent none. Left out of JSON when None,
    /// so snapshots saved before it read and write back unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_mtu: Option<u32>,
}

impl Link {
    /// Whether it is a bridge (IFLA_INFO_KIND `bridge`).
    pub fn is_bridge(&self) -> bool {
        self.kind == Some(LinkKind::Bridge)
    }
}

/// One entry of a bridge's forwarding database (`bridge fdb`): which port a MAC address was
/// learned on (or set on by hand).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdbEntry {
    /// The bridge (NDA_MASTER).
    pub bridge: u32,
    /// The port the address is behind (the entry's ifindex).
    pub port: u32,
    /// The MAC address, `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    /// Whether it is one of the bridge's own addresses (`permanent`: the port's own MAC),
    /// not a learned one.
    pub local: bool,
}

/// An IPv4 address on an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Addr {
    /// Interface the address is on, in the same namespace.
    pub ifindex: u32,
    /// The interface's own address: IFA_LOCAL, or IFA_ADDRESS when the kernel sent no
    /// IFA_LOCAL. (The two are equal on veth and Ethernet; on a point-to-point link with a
    /// peer, `ip addr add A peer P`, IFA_ADDRESS is the peer P and IFA_LOCAL is A.)
    pub addr: Ipv4Addr,
    /// Prefix length (0..=32): the subnet the address puts on-link. With a point-to-point
    /// peer the kernel's prefix route is to the peer's subnet, not to `addr`'s.
    pub prefix: u8,
}

impl Addr {
    /// Whether `ip` is on the subnet this address puts on-link (`addr/prefix`).
    pub fn covers(&self, ip: Ipv4Addr) -> bool {
        let mask = u32::MAX
            .checked_shl(32 - u32::from(self.prefix.min(32)))
            .unwrap_or(0);
        (u32::from(ip) & mask) == (u32::from(self.addr) & mask)
    }
}

/// What a route does with the packets it matches (rtm_type). Only a `unicast` route is a way
/// out; the others end the lookup without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteKind {
    /// RTN_UNICAST: out through `oif`, to `gateway` or on-link. Also what a snapshot saved
    /// before the field existed reads as.
    #[default]
    Unicast,
    /// RTN_BLACKHOLE: dropped silently (`ip route add blackhole ...`).
    Blackhole,
    /// RTN_UNREACHABLE: refused with ICMP host unreachable.
    Unreachable,
    /// RTN_PROHIBIT: refused with ICMP administratively prohibited.
    Prohibit,
    /// RTN_THROW: the lookup goes on in the next table of the policy rules.
    Throw,
    /// Any other type (local, broadcast, multicast, nat, ...): not a way out either.
    Other,
}

impl std::fmt::Display for RouteKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RouteKind::Unicast => "unicast",
            RouteKind::Blackhole => "blackhole",
            RouteKind::Unreachable => "unreachable",
            RouteKind::Prohibit => "prohibit",
            RouteKind::Throw => "throw",
            RouteKind::Other => "other",
        })
    }
}

/// An IPv4 route of the main table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Destination network (0.0.0.0 for the default route).
    pub dst: Ipv4Addr,
    /// Destination prefix length (0 for the default route).
    pub prefix: u8,
    /// The route's type: only a `unicast` route leads anywhere (blackhole, unreachable and
    /// prohibit routes have neither gateway nor output interface, yet are not on-link).
    #[serde(default)]
    pub kind: RouteKind,
    /// Next hop (RTA_GATEWAY); None for a directly connected (on-link) route. For a multipath
    /// route (RTA_MULTIPATH), the first next hop's.
    pub gateway: Option<Ipv4Addr>,
    /// Output interface (RTA_OIF). For a multipath route, the first next hop's: the kernel
    /// picks a hop per flow by hash, so any one is right for some flows; the first is the
    /// one `ip route` lists first, which keeps snapshots and findings stable.
    pub oif: Option<u32>,
}

impl Route {
    /// Whether packets matching this route leave (a unicast route), rather than being
    /// dropped or refused.
    pub fn is_unicast(&self) -> bool {
        self.kind == RouteKind::Unicast
    }
}

/// An IPv4 neighbour entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Neighbour {
    /// Interface the entry belongs to.
    pub ifindex: u32,
    /// The neighbour's IPv4 address.
    pub addr: Ipv4Addr,
    /// Its link-layer address as `aa:bb:cc:dd:ee:ff`; None unless `valid` (the kernel sends it
    /// only for a resolved entry).
    pub mac: Option<String>,
    /// NUD state (`reachable`, `stale`, `incomplete`, `failed`, ...).
    pub state: NudState,
    /// NUD_VALID: bpf_fib_lookup accepts this entry.
    pub valid: bool,
}

/// An IPv6 address on an interface (link-local ones included: `is_global` tells).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Addr6 {
    /// Interface the address is on, in the same namespace.
    pub ifindex: u32,
    /// The address.
    pub addr: Ipv6Addr,
    /// Prefix length (0..=128).
    pub prefix: u8,
}

impl Addr6 {
    /// Not link-local (fe80::/10): an address other hosts route to.
    pub fn is_global(&self) -> bool {
        !is_link_local6(self.addr)
    }
}

/// Whether `a` is in fe80::/10.
pub fn is_link_local6(a: Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// An IPv6 route of the main table (what `bpf_fib_lookup` consults for AF_INET6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route6 {
    /// Destination network (:: for the default route).
    pub dst: Ipv6Addr,
    /// Destination prefix length.
    pub prefix: u8,
    /// The route's type.
    #[serde(default)]
    pub kind: RouteKind,
    /// Next hop; None for an on-link route. For a multipath route, the first hop's.
    pub gateway: Option<Ipv6Addr>,
    /// Output interface.
    pub oif: Option<u32>,
}

impl Route6 {
    /// A unicast route to a global (not link-local) network: one a diagram shows.
    pub fn is_global_unicast(&self) -> bool {
        self.kind == RouteKind::Unicast && !is_link_local6(self.dst)
    }
}

/// An IPv6 neighbour entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Neighbour6 {
    /// Interface the entry belongs to.
    pub ifindex: u32,
    /// The neighbour's address.
    pub addr: Ipv6Addr,
    /// Its link-layer address when resolved.
    pub mac: Option<String>,
    /// NUD state.
    pub state: NudState,
    /// NUD_VALID: bpf_fib_lookup accepts this entry.
    pub valid: bool,
}

/// A link's kind (IFLA_INFO_KIND), as the kernel names it in JSON and messages.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LinkKind {
    /// `veth`: a pair; the redirect targets into containers.
    Veth,
    /// `bridge`: Docker's and Podman's default networks.
    Bridge,
    /// `macvlan`.
    Macvlan,
    /// `macvtap`.
    Macvtap,
    /// `ipvlan`.
    Ipvlan,
    /// `vlan` (802.1Q sub-interface).
    Vlan,
    /// `vxlan`.
    Vxlan,
    /// `geneve`.
    Geneve,
    /// `dummy`.
    Dummy,
    /// `bond`.
    Bond,
    /// `tun` (tun and tap devices).
    Tun,
    /// `wireguard`.
    Wireguard,
    /// `netkit` (a veth-like pair with BPF programs in place of XDP).
    Netkit,
    /// `vrf`.
    Vrf,
    /// Any other kind, as the kernel named it.
    Other(String),
}

impl LinkKind {
    /// The kernel's name of the kind (`veth`, `bridge`, ...).
    pub fn as_str(&self) -> &str {
        match self {
            LinkKind::Veth => "veth",
            LinkKind::Bridge => "bridge",
            LinkKind::Macvlan => "macvlan",
            LinkKind::Macvtap => "macvtap",
            LinkKind::Ipvlan => "ipvlan",
            LinkKind::Vlan => "vlan",
            LinkKind::Vxlan => "vxlan",
            LinkKind::Geneve => "geneve",
            LinkKind::Dummy => "dummy",
            LinkKind::Bond => "bond",
            LinkKind::Tun => "tun",
            LinkKind::Wireguard => "wireguard",
            LinkKind::Netkit => "netkit",
            LinkKind::Vrf => "vrf",
            LinkKind::Other(s) => s,
        }
    }
}

impl From<&str> for LinkKind {
    fn from(s: &str) -> Self {
        match s {
            "veth" => LinkKind::Veth,
            "bridge" => LinkKind::Bridge,
            "macvlan" => LinkKind::Macvlan,
            "macvtap" => LinkKind::Macvtap,
            "ipvlan" => LinkKind::Ipvlan,
            "vlan" => LinkKind::Vlan,
            "vxlan" => LinkKind::Vxlan,
            "geneve" => LinkKind::Geneve,
            "dummy" => LinkKind::Dummy,
            "bond" => LinkKind::Bond,
            "tun" => LinkKind::Tun,
            "wireguard" => LinkKind::Wireguard,
            "netkit" => LinkKind::Netkit,
            "vrf" => LinkKind::Vrf,
            other => LinkKind::Other(other.to_string()),
        }
    }
}

impl std::fmt::Display for LinkKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for LinkKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for LinkKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(LinkKind::from(s.as_str()))
    }
}

/// A neighbour entry's NUD state (`NUD_*` of linux/neighbour.h), as `ip neigh` names it in
/// lower case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NudState {
    /// Resolution in progress: ARP requests sent, no answer yet.
    Incomplete,
    /// Confirmed reachable recently.
    Reachable,
    /// Valid but not confirmed recently.
    Stale,
    /// Valid; waiting before probing.
    Delay,
    /// Valid; being probed.
    Probe,
    /// Resolution failed: nobody answered.
    Failed,
    /// Needs no resolution (point-to-point, loopback).
    Noarp,
    /// Set by hand, never expires.
    Permanent,
    /// No state.
    None,
    /// A state value this list does not know.
    Other(u16),
}

impl NudState {
    /// NUD_VALID: `bpf_fib_lookup` (and the stack) can use the entry's link-layer address.
    pub fn is_valid(self) -> bool {
        matches!(
            self,
            NudState::Reachable
                | NudState::Stale
                | NudState::Delay
                | NudState::Probe
                | NudState::Permanent
                | NudState::Noarp
        )
    }

    /// Resolution was tried and has no answer (yet): the next hop does not resolve.
    pub fn unresolved(self) -> bool {
        matches!(self, NudState::Failed | NudState::Incomplete)
    }
}

impl From<NeighbourState> for NudState {
    fn from(s: NeighbourState) -> Self {
        match s {
            NeighbourState::Incomplete => NudState::Incomplete,
            NeighbourState::Reachable => NudState::Reachable,
            NeighbourState::Stale => NudState::Stale,
            NeighbourState::Delay => NudState::Delay,
            NeighbourState::Probe => NudState::Probe,
            NeighbourState::Failed => NudState::Failed,
            NeighbourState::Noarp => NudState::Noarp,
            NeighbourState::Permanent => NudState::Permanent,
            NeighbourState::None => NudState::None,
            NeighbourState::Other(v) => NudState::Other(v),
            // The enum is non-exhaustive: a state a newer crate names keeps its number.
            other => NudState::Other(u16::from(other)),
        }
    }
}

impl std::fmt::Display for NudState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NudState::Incomplete => f.write_str("incomplete"),
            NudState::Reachable => f.write_str("reachable"),
            NudState::Stale => f.write_str("stale"),
            NudState::Delay => f.write_str("delay"),
            NudState::Probe => f.write_str("probe"),
            NudState::Failed => f.write_str("failed"),
            NudState::Noarp => f.write_str("noarp"),
            NudState::Permanent => f.write_str("permanent"),
            NudState::None => f.write_str("none"),
            NudState::Other(v) => write!(f, "other({v})"),
        }
    }
}

impl std::str::FromStr for NudState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "incomplete" => NudState::Incomplete,
            "reachable" => NudState::Reachable,
            "stale" => NudState::Stale,
            "delay" => NudState::Delay,
            "probe" => NudState::Probe,
            "failed" => NudState::Failed,
            "noarp" => NudState::Noarp,
            "permanent" => NudState::Permanent,
            "none" => NudState::None,
            other => NudState::Other(
                other
                    .strip_prefix("other(")
                    .and_then(|r| r.strip_suffix(')'))
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| format!("{other:?} is no NUD state"))?,
            ),
        })
    }
}

impl Serialize for NudState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for NudState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}
