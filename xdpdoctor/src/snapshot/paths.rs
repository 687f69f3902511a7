//! The path of each NAT entry through the snapshot, computed offline: where `bpf_fib_lookup`
//! would send the translated packet (`NsState::route_to`: longest-prefix match on the
//! forwarder's routes, none when that is a blackhole, unreachable or prohibit route), which
//! veth was meant to carry it (the one whose peer namespace holds the target), and the
//! container-side interface. Rules and the report's diagram share it.

use std::net::SocketAddrV4;

use super::{in_prefix, Iface, NsState, Snapshot};
pub use crate::model::PathStage;
use crate::netlink::rtnl::Route;

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
    /// The forwarder-side veth whose peer namespace holds the target.
    pub intended: Option<u32>,
    /// (namespace inode, ifindex) of the container-side interface holding the target.
    pub container: Option<(u64, u32)>,
}

impl NatPath {
    /// The forwarder-side interface the packet leaves (or should leave) through.
    pub fn out_ifindex(&self) -> Option<u32> {
        self.egress.or(self.intended)
    }
}

fn holds_target(ns: &NsState, peer: &Iface, to: SocketAddrV4) -> bool {
    ns.owner_of(*to.ip()).is_some()
        || ns
            .addrs_of(peer.index())
            .any(|a| in_prefix(*to.ip(), a.addr, a.prefix))
}

/// The path of every DNAT entry, in entry order. The forwarder namespace's veth peers are
/// resolved once, so a host with N containers costs O(N * entries), not O(N^2 * entries).
pub fn nat_paths(s: &Snapshot) -> Vec<NatPath> {
    let fwd = s.home();
    let peers: Vec<(&Iface, &NsState, &Iface)> = fwd
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
            let hit = peers
                .iter()
                .find(|(_, pns, pif)| holds_target(pns, pif, to));
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
            }
        })
        .collect()
}
