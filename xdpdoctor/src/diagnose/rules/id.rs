//! Every rule's id: the names findings, docs/rules.md, `check --junit` and Prometheus labels
//! use. One line per rule, here and nowhere else: the enum is what code compares, the string
//! is what JSON and people read (serde uses it, so the JSON is the string).

use serde::{Deserialize, Serialize};

/// Defines [`RuleId`] from `Variant = "id"` lines: the enum (serialized as the id), the id
/// as text, and the list of every id.
macro_rules! rule_ids {
    ($($(#[$doc:meta])* $variant:ident = $id:literal,)*) => {
        /// A rule's stable id (docs/rules.md has one entry per id).
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        pub enum RuleId {
            $($(#[$doc])* #[serde(rename = $id)] $variant,)*
        }

        impl RuleId {
            /// Every id, in declaration order.
            pub const EVERY: &'static [RuleId] = &[$(RuleId::$variant,)*];

            /// The id as JSON and docs spell it (`veth-peer-no-xdp`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(RuleId::$variant => $id,)*
                }
            }
        }
    };
}

rule_ids! {
    /// `forwarder_not_attached.rs`
    ForwarderNotAttached = "forwarder-not-attached",
    /// `xdp_mtu_too_large.rs`
    XdpMtuTooLarge = "xdp-mtu-too-large",
    /// `forwarding_disabled.rs`
    ForwardingDisabled = "forwarding-disabled",
    /// `reverse_path_filter.rs`
    ReversePathFilter = "reverse-path-filter",
    /// `nat_target_gone.rs`
    NatTargetGone = "nat-target-gone",
    /// `nat_target_route_blocked.rs`
    NatTargetRouteBlocked = "nat-target-route-blocked",
    /// `interface_no_address.rs`
    InterfaceNoAddress = "interface-no-address",
    /// `fib_no_neighbor.rs`
    FibNoNeighbor = "fib-no-neighbor",
    /// `netfilter_drop.rs`
    NetfilterDrop = "netfilter-drop",
    /// `devmap_missing_target.rs`
    DevmapMissingTarget = "devmap-missing-target",
    /// `redirect_target_no_xdp_xmit.rs`
    RedirectTargetNoXdpXmit = "redirect-target-no-xdp-xmit",
    /// `redirect_target_mtu.rs`
    RedirectTargetMtu = "redirect-target-mtu",
    /// `redirect_target_other_netns.rs`
    RedirectTargetOtherNetns = "redirect-target-other-netns",
    /// `peer_link_down.rs`
    PeerLinkDown = "peer-link-down",
    /// `veth_peer_no_xdp.rs`
    VethPeerNoXdp = "veth-peer-no-xdp",
    /// `veth_ring_overflow.rs`
    VethRingOverflow = "veth-ring-overflow",
    /// `nat_target_stale.rs`
    NatTargetStale = "nat-target-stale",
    /// `nat_target_port_closed.rs`
    NatTargetPortClosed = "nat-target-port-closed",
    /// `veth_tx_csum_offload.rs`
    VethTxCsumOffload = "veth-tx-csum-offload",
    /// `nat_entry_asymmetric.rs`
    NatEntryAsymmetric = "nat-entry-asymmetric",
    /// `redirect_errors.rs`
    RedirectErrors = "redirect-errors",
    /// `checksum_errors.rs`
    ChecksumErrors = "checksum-errors",
    /// `connection_failed.rs`
    ConnectionFailed = "connection-failed",
}

impl std::fmt::Display for RuleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
