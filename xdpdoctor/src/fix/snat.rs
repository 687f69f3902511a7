//! Fix for `nat-entry-asymmetric`: add the SNAT entry that mirrors a DNAT entry (replies
//! from the target are translated back to the public endpoint).

use std::net::SocketAddrV4;

use super::{Previous, Undone};
use crate::bpf::forwarder_abi::SNAT_MAP;
use crate::forwarder::maps;
use crate::netns::Netns;
use crate::{Error, Result};

/// `None` if `key` -> `value` is already in the SNAT map; else what `key` maps to now.
pub fn observe(ns: &Netns, key: SocketAddrV4, value: SocketAddrV4) -> Result<Option<Previous>> {
    let prev = maps::nat_get(ns.inode()?, SNAT_MAP, key)?;
    Ok(match prev {
        Some(v) if v == value => None,
        None => Some(Previous::Absent),
        Some(v) => Some(Previous::Value {
            value: v.to_string(),
        }),
    })
}

/// Sets `key` -> `value` in the deployed forwarder's SNAT map.
pub fn act(ns: &Netns, key: SocketAddrV4, value: SocketAddrV4) -> Result<()> {
    maps::nat_insert(ns.inode()?, SNAT_MAP, key, value)
}

/// Restores the journaled SNAT entry of `key` (or its absence).
pub fn revert(ns: &Netns, key: SocketAddrV4, prev: &Previous) -> Result<Undone> {
    let inode = ns.inode()?;
    let now = maps::nat_get(inode, SNAT_MAP, key)?;
    match prev {
        Previous::Absent => match now {
            None => Ok(Undone::skipped(format!(
                "snat_entries has no {key} already"
            ))),
            Some(v) => {
                maps::nat_remove(inode, SNAT_MAP, key)?;
                Ok(Undone::done(format!("removed snat_entries {key} -> {v}")))
            }
        },
        Previous::Value { value } => {
            let v: SocketAddrV4 = value.parse().map_err(|_| {
                Error::corrupt(
                    crate::state::journal_file(inode),
                    format!("snat value {value:?} is not ADDR:PORT"),
                )
            })?;
            if now == Some(v) {
                return Ok(Undone::skipped(format!(
                    "snat_entries {key} -> {v} already"
                )));
            }
            maps::nat_insert(inode, SNAT_MAP, key, v)?;
            Ok(Undone::done(format!("snat_entries {key} -> {v} again")))
        }
        _ => Ok(Undone::skipped("no previous value recorded")),
    }
}
