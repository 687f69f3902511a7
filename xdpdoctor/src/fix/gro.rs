//! `--prefer gro` fix for `veth-peer-no-xdp`: request GRO on the veth peer (5.13+ gives it
//! NAPI, and 6.3+ then advertises ndo-xmit on the other end). Set while the link is up: a
//! veth re-evaluates its peer's xdp_features only then. What "requested" means (not what is
//! active) is `ethtool::gro_requested`; the apply/journal/revert mechanism is `ethtool_flag`.

use super::ethtool_flag::EthtoolFlag;
use super::{Previous, Undone};
use crate::netlink::ethtool;
use crate::netns::Netns;
use crate::Result;

const GRO: EthtoolFlag = EthtoolFlag {
    name: "GRO (requested)",
    read: ethtool::gro_requested,
    set: ethtool::set_gro,
};

/// `None` if GRO is already requested as `on`; else its value now.
pub fn observe(ns: &Netns, ifname: &str, on: bool) -> Result<Option<Previous>> {
    GRO.observe(ns, ifname, on)
}

/// Requests GRO `on`.
pub fn act(ns: &Netns, ifname: &str, on: bool) -> Result<()> {
    GRO.act(ns, ifname, on)
}

/// Restores the journaled value.
pub fn revert(ns: &Netns, ifname: &str, prev: &Previous) -> Result<Undone> {
    GRO.revert(ns, ifname, prev)
}
