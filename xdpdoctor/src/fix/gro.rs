//! `--prefer gro` fix for `veth-peer-no-xdp`: request GRO on the veth peer (5.13+ gives it
//! NAPI, and 6.3+ then advertises ndo-xmit on the other end). Set while the link is up: a
//! veth re-evaluates its peer's xdp_features only then. What "requested" means (not what is
//! active) is `ethtool::gro_requested`; the apply/journal/revert mechanism is `ethtool_flag`.

use super::ethtool_flag::EthtoolFlag;
use super::Previous;
use crate::netlink::ethtool;
use crate::netns::Netns;
use crate::Result;

const GRO: EthtoolFlag = EthtoolFlag {
    read: ethtool::gro_requested,
    set: ethtool::set_gro,
};

pub fn apply(ns: &Netns, ifname: &str, on: bool) -> Result<Option<Previous>> {
    GRO.apply(ns, ifname, on)
}

pub fn revert(ns: &Netns, ifname: &str, prev: &Previous) -> Result<()> {
    GRO.revert(ns, ifname, prev)
}
