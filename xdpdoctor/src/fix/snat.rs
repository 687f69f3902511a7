//! Fix for `nat-entry-asymmetric`: add the SNAT entry that mirrors a DNAT entry (replies
//! from the target are translated back to the public endpoint).

use std::net::SocketAddrV4;

use super::Previous;
use crate::bpf::forwarder_abi::SNAT_MAP;
use crate::forwarder::maps;
use crate::netns::Netns;
use crate::{Error, Result};

/// Sets `key` -> `value` in the deployed forwarder's SNAT map.
pub fn apply(ns: &Netns, key: SocketAddrV4, value: SocketAddrV4) -> Result<Option<Previous>> {
    let inode = ns.inode()?;
    let prev = maps::nat_get(inode, SNAT_MAP, key)?;
    if prev == Some(value) {
        return Ok(None);
    }
    maps::nat_insert(inode, SNAT_MAP, key, value)?;
    Ok(Some(match prev {
        None => Previous::Absent,
        Some(v) => Previous::Value {
            value: v.to_string(),
        },
    }))
}

/// Restores the journaled SNAT entry of `key` (or its absence).
pub fn revert(ns: &Netns, key: SocketAddrV4, prev: &Previous) -> Result<()> {
    let inode = ns.inode()?;
    match prev {
        Previous::Absent => maps::nat_remove(inode, SNAT_MAP, key),
        Previous::Value { value } => {
            let v: SocketAddrV4 = value.parse().map_err(|_| {
                Error::corrupt(
                    crate::state::journal_file(inode),
                    format!("snat value {value:?} is not ADDR:PORT"),
                )
            })?;
            maps::nat_insert(inode, SNAT_MAP, key, v)
        }
        _ => Ok(()),
    }
}
