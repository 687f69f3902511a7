//! Fix for `nat-target-stale`: point a NAT entry of xdpdoctor's forwarder at the container's
//! current address. `dnat_entries[from]` becomes the new target and the reverse entry moves
//! (`snat_entries[new] = from`, `snat_entries[old]` removed), live, in that order: the new
//! reverse entry exists before the first packet is translated to the new target. The config
//! file is left alone (the fix text gives the line to change). Refused when the entry no
//! longer points at the old target (changed behind our back).

use std::net::SocketAddrV4;

use super::{Previous, Undone};
use crate::bpf::forwarder_abi::{DNAT_MAP, SNAT_MAP};
use crate::forwarder::maps;
use crate::netns::Netns;
use crate::{Error, Result};

/// `None` if `from` already points at `new`; else what `snat_entries[new]` holds now (so
/// revert restores it exactly). Refuses if `from` points at neither.
pub fn observe(
    ns: &Netns,
    from: SocketAddrV4,
    old: SocketAddrV4,
    new: SocketAddrV4,
) -> Result<Option<Previous>> {
    let inode = ns.inode()?;
    match maps::nat_get(inode, DNAT_MAP, from)? {
        Some(t) if t == new => Ok(None),
        Some(t) if t == old => Ok(Some(match maps::nat_get(inode, SNAT_MAP, new)? {
            Some(v) => Previous::Value {
                value: v.to_string(),
            },
            None => Previous::Absent,
        })),
        other => Err(Error::busy(
            format!("dnat_entries {from}"),
            format!(
                "points at {} now, not {old}: changed since the diagnosis",
                other
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| "nothing".into())
            ),
        )),
    }
}

/// Moves the entry (reverse entry first).
pub fn act(ns: &Netns, from: SocketAddrV4, old: SocketAddrV4, new: SocketAddrV4) -> Result<()> {
    let inode = ns.inode()?;
    maps::nat_insert(inode, SNAT_MAP, new, from)?;
    maps::nat_insert(inode, DNAT_MAP, from, new)?;
    if maps::nat_get(inode, SNAT_MAP, old)? == Some(from) {
        maps::nat_remove(inode, SNAT_MAP, old)?;
    }
    Ok(())
}

/// Points `from` back at `old` and restores the reverse entries, unless it no longer points
/// at `new` (changed by hand: reported, not forced).
pub fn revert(
    ns: &Netns,
    from: SocketAddrV4,
    old: SocketAddrV4,
    new: SocketAddrV4,
    prev: &Previous,
) -> Result<Undone> {
    let inode = ns.inode()?;
    match maps::nat_get(inode, DNAT_MAP, from)? {
        Some(t) if t == old => {
            return Ok(Undone::skipped(format!(
                "dnat_entries {from} -> {old} already"
            )))
        }
        Some(t) if t == new => {}
        other => {
            return Ok(Undone::skipped(format!(
                "dnat_entries {from} points at {} now, not {new}: changed by hand, left alone",
                other
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| "nothing".into())
            )))
        }
    }
    maps::nat_insert(inode, SNAT_MAP, old, from)?;
    maps::nat_insert(inode, DNAT_MAP, from, old)?;
    match prev {
        Previous::Value { value } => {
            let v: SocketAddrV4 = value.parse().map_err(|_| {
                Error::corrupt(
                    crate::state::journal_file(inode),
                    format!("snat value {value:?} is not ADDR:PORT"),
                )
            })?;
            maps::nat_insert(inode, SNAT_MAP, new, v)?;
        }
        _ => {
            if maps::nat_get(inode, SNAT_MAP, new)? == Some(from) {
                maps::nat_remove(inode, SNAT_MAP, new)?;
            }
        }
    }
    Ok(Undone::done(format!(
        "dnat_entries {from} -> {old} again (was {new})"
    )))
}
