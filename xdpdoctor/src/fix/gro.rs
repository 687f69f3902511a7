//! `--prefer gro` fix for `veth-peer-no-xdp`: request GRO on the veth peer (5.13+ gives it
//! NAPI, and 6.3+ then advertises ndo-xmit on the other end). Set while the link is up: a
//! veth re-evaluates its peer's xdp_features only then.

use super::Previous;
use crate::netlink::ethtool;
use crate::netns::Netns;
use crate::Result;

pub fn apply(ns: &Netns, ifname: &str, on: bool) -> Result<Option<Previous>> {
    let ifname = ifname.to_string();
    ns.run(move || {
        let was = ethtool::gro_requested(&ifname)?;
        if was == on {
            return Ok(None);
        }
        ethtool::set_gro(&ifname, on)?;
        Ok(Some(Previous::Flag { on: was }))
    })
}

pub fn revert(ns: &Netns, ifname: &str, prev: &Previous) -> Result<()> {
    let Previous::Flag { on } = *prev else {
        return Ok(());
    };
    let ifname = ifname.to_string();
    ns.run(move || ethtool::set_gro(&ifname, on))
}
