//! Fix for `nat-target-stale`: point a NAT entry of xdpdoctor's forwarder at the container's
//! current address. The DNAT entry of `from` becomes the new target and the reverse entry
//! moves (SNAT `new -> from` added, `old` removed), live, in that order: the new reverse entry
//! exists before the first packet is translated to the new target. The config file is left
//! alone (the fix text gives the line to change). Refused when the entry no longer points at
//! the old target (changed behind our back). Journals what the SNAT entry of `new` held.

use std::net::SocketAddrV4;

use super::bpftool::{endpoint, map_pin};
use super::previous::Endpoint;
use super::step::{Step, Undone};
use crate::bpf::forwarder_abi::{DNAT_MAP, SNAT_MAP};
use crate::forwarder::maps;
use crate::model::action::RetargetEntry;
use crate::netns::{Netns, NsRef};
use crate::{Error, Result};

impl RetargetEntry {
    /// The bpftool commands that point the entry `from` at `to` instead of `away`: the DNAT
    /// entry and the reverse SNAT entry, the one of `away` removed last (as `act` does it;
    /// the undo is the same with `away` and `to` swapped).
    fn commands(&self, away: &SocketAddrV4, to: &SocketAddrV4) -> String {
        let (dnat, snat) = (
            map_pin(&self.netns, DNAT_MAP),
            map_pin(&self.netns, SNAT_MAP),
        );
        format!(
            "bpftool map update pinned {dnat} key {f} value {t} && \
             bpftool map update pinned {snat} key {t} value {f} && \
             bpftool map delete pinned {snat} key {a}",
            f = endpoint(&self.from),
            t = endpoint(to),
            a = endpoint(away)
        )
    }
}

/// What the DNAT entry points at, in words.
fn shown(t: Option<SocketAddrV4>) -> String {
    t.map(|t| t.to_string()).unwrap_or_else(|| "nothing".into())
}

impl Step for RetargetEntry {
    type Previous = Endpoint;

    fn netns(&self) -> &NsRef {
        &self.netns
    }

    /// `None` if `from` already points at `new`; else what the SNAT entry of `new` holds now
    /// (so revert restores it exactly). Refuses if `from` points at neither.
    fn observe(&self, ns: &Netns) -> Result<Option<Endpoint>> {
        let fwd = ns.key()?;
        let (from, old, new) = (self.from, self.old, self.new);
        match maps::nat_get(fwd, DNAT_MAP, from)? {
            Some(t) if t == new => Ok(None),
            Some(t) if t == old => Ok(Some(maps::nat_get(fwd, SNAT_MAP, new)?.into())),
            other => Err(Error::busy(
                format!("{DNAT_MAP} {from}"),
                format!(
                    "points at {} now, not {old}: changed since the diagnosis",
                    shown(other)
                ),
            )),
        }
    }

    /// Moves the entry (reverse entry first).
    fn act(&self, ns: &Netns, _: &Endpoint) -> Result<()> {
        let fwd = ns.key()?;
        let (from, old, new) = (self.from, self.old, self.new);
        maps::nat_insert(fwd, SNAT_MAP, new, from)?;
        maps::nat_insert(fwd, DNAT_MAP, from, new)?;
        if maps::nat_get(fwd, SNAT_MAP, old)? == Some(from) {
            maps::nat_remove(fwd, SNAT_MAP, old)?;
        }
        Ok(())
    }

    /// Points `from` back at `old` and restores the reverse entries, unless it no longer
    /// points at `new` (changed by hand: reported, not forced).
    fn revert(&self, ns: &Netns, prev: &Endpoint) -> Result<Undone> {
        let fwd = ns.key()?;
        let (from, old, new) = (self.from, self.old, self.new);
        match maps::nat_get(fwd, DNAT_MAP, from)? {
            Some(t) if t == old => {
                return Ok(Undone::skipped(format!(
                    "{DNAT_MAP} {from} -> {old} already"
                )))
            }
            Some(t) if t == new => {}
            other => {
                return Ok(Undone::skipped(format!(
                    "{DNAT_MAP} {from} points at {} now, not {new}: changed by hand, left alone",
                    shown(other)
                )))
            }
        }
        maps::nat_insert(fwd, SNAT_MAP, old, from)?;
        maps::nat_insert(fwd, DNAT_MAP, from, old)?;
        match prev.value() {
            Some(v) => maps::nat_insert(fwd, SNAT_MAP, new, v)?,
            None => {
                if maps::nat_get(fwd, SNAT_MAP, new)? == Some(from) {
                    maps::nat_remove(fwd, SNAT_MAP, new)?;
                }
            }
        }
        Ok(Undone::done(format!(
            "{DNAT_MAP} {from} -> {old} again (was {new})"
        )))
    }

    fn command(&self) -> String {
        self.commands(&self.old, &self.new)
    }

    fn undo_command(&self, _: &Endpoint) -> String {
        self.commands(&self.new, &self.old)
    }
}
