//! The rules, one per file, each a `check(&Ctx) -> Vec<Finding>` with a stable [`RuleId`].
//! This file is their registry: [`ALL`], in the order a packet meets the causes (findings are
//! sorted by stage anyway), the symptoms last. A new rule is its file, its line in `id.rs`
//! and its line in [`ALL`] (docs/architecture.md, "Adding a rule, a link and a fix").

mod ctx;
mod id;
mod rule;

mod checksum_errors;
mod connection_failed;
mod devmap_missing_target;
mod fib_no_neighbor;
mod forwarder_not_attached;
mod forwarding_disabled;
mod interface_no_address;
mod nat_entry_asymmetric;
mod nat_target_gone;
mod nat_target_port_closed;
mod nat_target_route_blocked;
mod nat_target_stale;
mod netfilter_drop;
mod peer_link_down;
mod redirect_errors;
mod redirect_target_mtu;
mod redirect_target_no_xdp_xmit;
mod redirect_target_other_netns;
mod reverse_path_filter;
mod veth_peer_no_xdp;
mod veth_ring_overflow;
mod veth_tx_csum_offload;
mod xdp_mtu_too_large;

#[cfg(test)]
mod docker_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_combined;
#[cfg(test)]
mod tests_mtu_rp;
#[cfg(test)]
mod tests_ring;

pub use ctx::{cannot_take_frames, capitalized, Ctx, NoXmit};
pub use id::RuleId;
pub use rule::{Kind, Rule};

/// Every rule, in the order a packet meets the causes.
pub const ALL: &[Rule] = &[
    forwarder_not_attached::RULE,
    xdp_mtu_too_large::RULE,
    forwarding_disabled::RULE,
    reverse_path_filter::RULE,
    nat_target_gone::RULE,
    nat_target_route_blocked::RULE,
    interface_no_address::RULE,
    fib_no_neighbor::RULE,
    netfilter_drop::RULE,
    devmap_missing_target::RULE,
    redirect_target_no_xdp_xmit::RULE,
    redirect_target_mtu::RULE,
    redirect_target_other_netns::RULE,
    peer_link_down::RULE,
    veth_peer_no_xdp::RULE,
    veth_ring_overflow::RULE,
    nat_target_stale::RULE,
    nat_target_port_closed::RULE,
    veth_tx_csum_offload::RULE,
    nat_entry_asymmetric::RULE,
    // Symptoms seen in the window; the causal pass links each to the cause that explains it.
    redirect_errors::RULE,
    checksum_errors::RULE,
    connection_failed::RULE,
];

/// The rule with this id.
pub fn by_id(id: RuleId) -> Option<&'static Rule> {
    ALL.iter().find(|r| r.id == id)
}
