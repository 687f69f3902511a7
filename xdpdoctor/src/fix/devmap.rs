//! Fix for `devmap-missing-target`: insert the egress interface into the forwarder's devmap
//! (key = value = ifindex, as deploy writes it). Runs inside the forwarder's namespace: the
//! kernel resolves the ifindex there.

use super::{Previous, Undone};
use crate::forwarder::maps;
use crate::netns::Netns;
use crate::Result;

/// `None` if `ifindex` is in the devmap already.
pub fn observe(ns: &Netns, ifindex: u32) -> Result<Option<Previous>> {
    let has = maps::devmap_contains(ns.inode()?, ifindex)?;
    Ok((!has).then_some(Previous::Absent))
}

/// Inserts `ifindex` into the devmap of the forwarder deployed in `ns`.
pub fn act(ns: &Netns, ifindex: u32) -> Result<()> {
    let inode = ns.inode()?;
    ns.run(move || maps::devmap_insert(inode, ifindex))
        .map(drop)
}

/// Removes the entry again if the fix added it and it is still there.
pub fn revert(ns: &Netns, ifindex: u32, prev: &Previous) -> Result<Undone> {
    if *prev != Previous::Absent {
        return Ok(Undone::skipped("the entry was there before the fix"));
    }
    let inode = ns.inode()?;
    if !maps::devmap_contains(inode, ifindex)? {
        return Ok(Undone::skipped(format!(
            "ifindex {ifindex} is already gone from the devmap"
        )));
    }
    maps::devmap_remove(inode, ifindex)?;
    Ok(Undone::done(format!(
        "removed ifindex {ifindex} from the devmap"
    )))
}
