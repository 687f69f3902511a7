//! The path of each NAT entry through the snapshot, computed offline: where `bpf_fib_lookup`
//! would send the translated packet (`NsState::route_to`: longest-prefix match on the
//! forwarder's routes, none when that is a blackhole, unreachable or prohibit route), which
//! interface was meant to carry it to the container, and the container-side interface.
//! Rules and the report's diagram share it.
//!
//! Which container an entry reaches is what the kernel would do, never the order of the
//! configured interfaces:
//! - the route leads out a **bridge** (Docker's, Podman's networks): the next hop's MAC from
//!   the neighbour table, then the port that MAC is behind from the bridge's FDB (or, before
//!   the bridge has learned it, the port whose peer has that MAC); without a neighbour entry
//!   yet, the port whose peer namespace holds the address;
//! - otherwise (a routed veth per container): the veth whose peer namespace holds the address,
//!   else the one veth whose peer's subnet contains it (a container that came back with
//!   another address). Bridge ports never count as that veth: their peers all share the
//!   bridge's subnet, and a subnet says nothing about which container an address was.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::{in_prefix, Iface, NsState, Snapshot};
pub use crate::model::PathStage;
use crate::netlink::rtnl::Route;

/// How the container behind a bridge was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeHop {
    /// The bridge the route leads out of.
    pub bridge: u32,
    /// The next hop's MAC and NUD state, when the neighbour table knows it.
    pub neighbour: Option<(String, String)>,
    /// How the port was found: `fdb` (the bridge learned the MAC there), `peer MAC` (the port
    /// whose peer has that MAC) or `address` (the port whose peer namespace holds the
    /// address).
    pub port_from: &'static str,
}

/// One DNAT entry's way through the forwarder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatPath {
    /// The entry's public endpoint, where clients connect.
    pub from: SocketAddrV4,
    /// The entry's target, what the forwarder translates `from` to.
    pub to: SocketAddrV4,
    /// The route `bpf_fib_lookup` would use (None: no route, or the match drops or refuses).
    pub route: Option<Route>,
    /// Its egress ifindex in the forwarder's namespace.
    pub egress: Option<u32>,
    /// The forwarder-side veth towards the container that holds (or held) the target: the
    /// bridge port, or the routed veth.
    pub intended: Option<u32>,
    /// (namespace inode, ifindex) of the container-side interface holding the target.
    pub container: Option<(u64, u32)>,
    /// When the route leads out a bridge: how the port was found.
    pub bridge: Option<BridgeHop>,
}

impl NatPath {
    /// The forwarder-side interface the packet leaves (or should leave) through.
    pub fn out_ifindex(&self) -> Option<u32> {
        self.egress.or(self.intended)
    }
}

/// A veth of the forwarder's namespace with its peer in another namespace.
type Peer<'a> = (&'a Iface, &'a NsState, &'a Iface);

/// The veth whose peer namespace holds `ip` itself.
fn owner<'a>(peers: &[Peer<'a>], ip: Ipv4Addr) -> Option<Peer<'a>> {
    peers
        .iter()
        .find(|(_, pns, _)| pns.owner_of(ip).is_some())
        .copied()
}

/// The one routed (not enslaved) veth whose peer's subnet contains `ip`.
fn subnet<'a>(peers: &[Peer<'a>], ip: Ipv4Addr) -> Option<Peer<'a>> {
    let mut hits = peers.iter().filter(|(v, pns, pif)| {
        !v.is_enslaved()
            && pns
                .addrs_of(pif.index())
                .any(|a| in_prefix(ip, a.addr, a.prefix))
    });
    match (hits.next(), hits.next()) {
        (Some(p), None) => Some(*p),
        _ => None,
    }
}

/// The port of bridge `br` behind which `ip` (the next hop) sits, and how it was found.
fn bridge_port<'a>(
    fwd: &NsState,
    peers: &[Peer<'a>],
    br: u32,
    hop: Ipv4Addr,
    ip: Ipv4Addr,
) -> (Option<Peer<'a>>, BridgeHop) {
    let ports: Vec<Peer<'a>> = peers
        .iter()
        .filter(|(v, _, _)| v.link.master == Some(br))
        .copied()
        .collect();
    let n = fwd
        .neighbour(br, hop)
        .filter(|n| n.valid)
        .and_then(|n| Some((n.mac.clone()?, n.state.to_string())));
    let mut info = BridgeHop {
        bridge: br,
        neighbour: n.clone(),
        port_from: "address",
    };
    if let Some((mac, _)) = &n {
        let learned = fwd
            .fdb
            .iter()
            .find(|e| e.bridge == br && !e.local && e.mac == *mac)
            .and_then(|e| ports.iter().find(|(v, _, _)| v.index() == e.port));
        if let Some(p) = learned {
            info.port_from = "fdb";
            return (Some(*p), info);
        }
        if let Some(p) = ports.iter().find(|(_, _, pif)| pif.link.mac == *mac) {
            info.port_from = "peer MAC";
            return (Some(*p), info);
        }
    }
    (owner(&ports, ip), info)
}

/// The path of every DNAT entry, in entry order. The forwarder namespace's veth peers are
/// resolved once, so a host with N containers costs O(N * entries), not O(N^2 * entries).
pub fn nat_paths(s: &Snapshot) -> Vec<NatPath> {
    let fwd = s.home();
    let peers: Vec<Peer> = fwd
        .interfaces
        .iter()
        .filter_map(|i| {
            let (pns, pif) = s.peer_of(i)?;
            (pns.ns.inode != fwd.ns.inode).then_some((i, pns, pif))
        })
        .collect();
    s.nat
        .entries
        .iter()
        .map(|e| {
            let to = e.to;
            let route = fwd.route_to(*to.ip()).cloned();
            let egress = route.as_ref().and_then(|r| r.oif);
            let bridged = egress.filter(|i| fwd.iface(*i).is_some_and(Iface::is_bridge));
            let (hit, bridge) = match (bridged, &route) {
                (Some(br), Some(r)) => {
                    let hop = r.gateway.unwrap_or(*to.ip());
                    let (p, info) = bridge_port(fwd, &peers, br, hop, *to.ip());
                    (p, Some(info))
                }
                _ => (
                    owner(&peers, *to.ip()).or_else(|| subnet(&peers, *to.ip())),
                    None,
                ),
            };
            let intended = hit.map(|(i, _, _)| i.index());
            let container = hit.map(|(_, pns, pif)| {
                let owner = pns.owner_of(*to.ip()).unwrap_or(pif);
                (pns.ns.inode, owner.index())
            });
            NatPath {
                from: e.from,
                to,
                route,
                egress,
                intended,
                container,
                bridge,
            }
        })
        .collect()
}
