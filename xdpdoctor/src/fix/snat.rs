//! Fix for `nat-entry-asymmetric`: add the SNAT entry that mirrors a DNAT entry (replies
//! from the target are translated back to the public endpoint). Journals what the entry held.

use super::bpftool::{endpoint, map_pin};
use super::previous::Endpoint;
use super::step::{Step, Undone};
use crate::bpf::forwarder_abi::SNAT_MAP;
use crate::forwarder::maps;
use crate::model::action::SnatAdd;
use crate::netns::{Netns, NsRef};
use crate::Result;

impl Step for SnatAdd {
    type Previous = Endpoint;

    fn netns(&self) -> &NsRef {
        &self.netns
    }

    /// `None` if key -> value is already in the SNAT map; else what the key maps to now.
    fn observe(&self, ns: &Netns) -> Result<Option<Endpoint>> {
        let now = maps::nat_get(ns.key()?, SNAT_MAP, self.key)?;
        Ok((now != Some(self.value)).then(|| Endpoint::from(now)))
    }

    /// Sets key -> value in the deployed forwarder's SNAT map.
    fn act(&self, ns: &Netns, _: &Endpoint) -> Result<()> {
        maps::nat_insert(ns.key()?, SNAT_MAP, self.key, self.value)
    }

    /// Restores the journaled entry of the key (or its absence).
    fn revert(&self, ns: &Netns, prev: &Endpoint) -> Result<Undone> {
        let (fwd, key) = (ns.key()?, self.key);
        let now = maps::nat_get(fwd, SNAT_MAP, key)?;
        match (prev.value(), now) {
            (None, None) => Ok(Undone::skipped(format!("{SNAT_MAP} has no {key} already"))),
            (None, Some(v)) => {
                maps::nat_remove(fwd, SNAT_MAP, key)?;
                Ok(Undone::done(format!("removed {SNAT_MAP} {key} -> {v}")))
            }
            (Some(v), now) if now == Some(v) => {
                Ok(Undone::skipped(format!("{SNAT_MAP} {key} -> {v} already")))
            }
            (Some(v), _) => {
                maps::nat_insert(fwd, SNAT_MAP, key, v)?;
                Ok(Undone::done(format!("{SNAT_MAP} {key} -> {v} again")))
            }
        }
    }

    fn command(&self) -> String {
        format!(
            "bpftool map update pinned {} key {} value {}",
            map_pin(&self.netns, SNAT_MAP),
            endpoint(&self.key),
            endpoint(&self.value)
        )
    }

    fn undo_command(&self, prev: &Endpoint) -> String {
        let map = map_pin(&self.netns, SNAT_MAP);
        match prev.value() {
            None => format!(
                "bpftool map delete pinned {map} key {}",
                endpoint(&self.key)
            ),
            Some(v) => format!(
                "bpftool map update pinned {map} key {} value {}",
                endpoint(&self.key),
                endpoint(&v)
            ),
        }
    }
}
