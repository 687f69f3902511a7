//! The rules, one per file, each a `check(&Ctx) -> Vec<Finding>` with a stable id. The order
//! here is the order a packet meets the causes; findings are sorted by stage anyway.

mod devmap_missing_target;
mod fib_no_neighbor;
mod forwarder_not_attached;
mod forwarding_disabled;
mod interface_no_address;
mod nat_entry_asymmetric;
mod peer_link_down;
mod veth_peer_no_xdp;
mod veth_tx_csum_offload;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use super::{Evidence, Finding};
use crate::bpf::forwarder_abi::Counter;
use crate::forwarder::{AttachMode, Role};
use crate::snapshot::{Iface, NatPath, NsState, Snapshot};

/// What every rule sees.
pub struct Ctx<'a> {
    pub snap: &'a Snapshot,
    pub ev: &'a Evidence,
    pub paths: Vec<NatPath>,
}

/// A rule: stable id, one-line title, and its check.
pub struct Rule {
    pub id: &'static str,
    pub title: &'static str,
    pub check: fn(&Ctx) -> Vec<Finding>,
}

pub const ALL: &[Rule] = &[
    forwarder_not_attached::RULE,
    forwarding_disabled::RULE,
    interface_no_address::RULE,
    fib_no_neighbor::RULE,
    devmap_missing_target::RULE,
    peer_link_down::RULE,
    veth_peer_no_xdp::RULE,
    veth_tx_csum_offload::RULE,
    nat_entry_asymmetric::RULE,
];

/// The rule with this id.
pub fn by_id(id: &str) -> Option<&'static Rule> {
    ALL.iter().find(|r| r.id == id)
}

impl<'a> Ctx<'a> {
    pub fn fwd(&self) -> &'a NsState {
        self.snap.forwarder_ns()
    }

    /// Native (driver) XDP: redirects go through ndo_xdp_xmit and lose skb checksum state.
    pub fn native(&self) -> bool {
        self.snap.forwarder.mode == AttachMode::Driver
    }

    /// Whether the forwarder's program is attached to this interface of its namespace.
    pub fn forwarder_on(&self, ifindex: u32) -> bool {
        self.snap
            .forwarder
            .interfaces
            .iter()
            .any(|i| i.ifindex == ifindex)
    }

    /// `from -> to` of the NAT entries whose packets leave through forwarder-side `ifindex`.
    pub fn entries_via(&self, ifindex: u32) -> Vec<String> {
        self.paths
            .iter()
            .filter(|p| p.out_ifindex() == Some(ifindex))
            .map(|p| format!("{} -> {}", p.from, p.to))
            .collect()
    }

    /// Index of the first NAT entry leaving through `ifindex` (sort key within a stage).
    pub fn order_of(&self, ifindex: u32) -> u32 {
        self.paths
            .iter()
            .position(|p| p.out_ifindex() == Some(ifindex))
            .unwrap_or(usize::MAX >> 33) as u32
    }

    /// Every ifindex the forwarder redirects to: the egress (or intended) interface of every
    /// NAT target, and the external interfaces (replies go there).
    pub fn redirect_ifindexes(&self) -> BTreeSet<u32> {
        let mut idx: BTreeSet<u32> = self.paths.iter().filter_map(|p| p.out_ifindex()).collect();
        idx.extend(
            self.snap
                .forwarder
                .interfaces
                .iter()
                .filter(|i| i.role == Role::External)
                .map(|i| i.ifindex),
        );
        idx
    }

    /// Forwarder-side veths the forwarder redirects into (see `redirect_ifindexes`).
    pub fn redirect_targets(&self) -> Vec<&'a Iface> {
        let fwd = self.fwd();
        self.redirect_ifindexes()
            .into_iter()
            .filter_map(|i| fwd.iface(i))
            .filter(|i| i.is_veth())
            .collect()
    }

    /// Whether `ifindex` is one of the forwarder's external interfaces.
    pub fn is_external(&self, ifindex: u32) -> bool {
        self.snap
            .forwarder
            .interfaces
            .iter()
            .any(|i| i.ifindex == ifindex && i.role == Role::External)
    }

    /// Kernel at least `major.minor` (unknown counts as the newest).
    pub fn kernel_at_least(&self, major: u32, minor: u32) -> bool {
        self.snap
            .kernel_version()
            .is_none_or(|v| v >= (major, minor))
    }

    /// A forwarder counter: total since deploy, and the delta over the window.
    pub fn counter(&self, c: Counter) -> (u64, u64) {
        (self.snap.counter(c), self.ev.counter_delta(c))
    }
}
