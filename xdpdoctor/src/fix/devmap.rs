//! Fix for `devmap-missing-target`: insert the egress interface into the forwarder's devmap
//! (key = value = ifindex, as deploy writes it). Runs inside the forwarder's namespace: the
//! kernel resolves the ifindex there.

use aya::maps::{DevMapHash, Map, MapData};

use super::Previous;
use crate::bpf::forwarder_abi as abi;
use crate::forwarder::deploy::open_pinned_map;
use crate::netns::Netns;
use crate::{Error, Result};

fn open(inode: u64) -> Result<DevMapHash<MapData>> {
    Map::DevMapHash(open_pinned_map(inode, abi::DEVMAP)?)
        .try_into()
        .map_err(|e| Error::bpf("map type", abi::DEVMAP, e))
}

pub fn apply(ns: &Netns, ifindex: u32) -> Result<Option<Previous>> {
    let inode = ns.inode()?;
    ns.run(move || {
        let mut m = open(inode)?;
        if m.keys().filter_map(|k| k.ok()).any(|k| k == ifindex) {
            return Ok(None);
        }
        m.insert(ifindex, ifindex, None, 0)
            .map_err(|e| Error::bpf("insert", format!("{} {ifindex}", abi::DEVMAP), e))?;
        Ok(Some(Previous::Absent))
    })
}

pub fn revert(ns: &Netns, ifindex: u32, prev: &Previous) -> Result<()> {
    if *prev != Previous::Absent {
        return Ok(());
    }
    crate::forwarder::deploy::devmap_remove(ns, ifindex)
}
