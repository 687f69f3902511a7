//! Fix for `devmap-missing-target`: insert the egress interface into the forwarder's devmap
//! (key = value = ifindex, as deploy writes it). Runs inside the forwarder's namespace: the
//! kernel resolves the ifindex there.

use super::Previous;
use crate::forwarder::maps;
use crate::netns::Netns;
use crate::Result;

/// Inserts `ifindex` into the devmap of the forwarder deployed in `ns`.
pub fn apply(ns: &Netns, ifindex: u32) -> Result<Option<Previous>> {
    let inode = ns.inode()?;
    let added = ns.run(move || maps::devmap_insert(inode, ifindex))?;
    Ok(added.then_some(Previous::Absent))
}

/// Removes the entry again if the fix added it.
pub fn revert(ns: &Netns, ifindex: u32, prev: &Previous) -> Result<()> {
    if *prev != Previous::Absent {
        return Ok(());
    }
    maps::devmap_remove(ns.inode()?, ifindex)
}
