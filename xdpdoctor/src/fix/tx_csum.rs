//! Fix for `veth-tx-csum-offload`: tx checksum offload off on the container-side veth
//! (`ethtool -K host0 tx off` inside the container), so replies leave with full checksums.

use super::Previous;
use crate::netlink::ethtool;
use crate::netns::Netns;
use crate::Result;

pub fn apply(ns: &Netns, ifname: &str, on: bool) -> Result<Option<Previous>> {
    let ifname = ifname.to_string();
    ns.run(move || {
        let was = ethtool::tx_csum_active(&ifname)?;
        if was == on {
            return Ok(None);
        }
        ethtool::set_tx_csum(&ifname, on)?;
        Ok(Some(Previous::Flag { on: was }))
    })
}

pub fn revert(ns: &Netns, ifname: &str, prev: &Previous) -> Result<()> {
    let Previous::Flag { on } = *prev else {
        return Ok(());
    };
    let ifname = ifname.to_string();
    ns.run(move || ethtool::set_tx_csum(&ifname, on))
}
