//! Fix for `veth-tx-csum-offload`: tx checksum offload off on the container-side veth
//! (`ethtool -K host0 tx off` inside the container), so replies leave with full checksums.
//! "On" means any tx-checksum-* feature is active (`ethtool::tx_csum_active`); the
//! apply/journal/revert mechanism is `ethtool_flag`.

use super::ethtool_flag::EthtoolFlag;
use super::{Previous, Undone};
use crate::netlink::ethtool;
use crate::netns::Netns;
use crate::Result;

const TX_CSUM: EthtoolFlag = EthtoolFlag {
    name: "tx checksum offload",
    read: ethtool::tx_csum_active,
    set: ethtool::set_tx_csum,
};

/// `None` if tx checksum offload already is `on`; else its value now.
pub fn observe(ns: &Netns, ifname: &str, on: bool) -> Result<Option<Previous>> {
    TX_CSUM.observe(ns, ifname, on)
}

/// Sets tx checksum offload `on`.
pub fn act(ns: &Netns, ifname: &str, on: bool) -> Result<()> {
    TX_CSUM.act(ns, ifname, on)
}

/// Restores the journaled value.
pub fn revert(ns: &Netns, ifname: &str, prev: &Previous) -> Result<Undone> {
    TX_CSUM.revert(ns, ifname, prev)
}
