//! Fix for `devmap-missing-target`: insert the egress interface into the forwarder's devmap
//! (key = value = ifindex, as deploy writes it). Runs inside the forwarder's namespace: the
//! kernel resolves the ifindex there.

use super::bpftool::{bytes, map_pin};
use super::previous::Absent;
use super::step::{Step, Undone};
use crate::bpf::forwarder_abi::DEVMAP;
use crate::forwarder::maps;
use crate::model::action::DevmapAdd;
use crate::netns::{Netns, NsRef};
use crate::Result;

impl Step for DevmapAdd {
    type Previous = Absent;

    fn netns(&self) -> &NsRef {
        &self.netns
    }

    /// `None` if the ifindex is in the devmap already.
    fn observe(&self, ns: &Netns) -> Result<Option<Absent>> {
        let has = maps::devmap_contains(ns.key()?, self.ifindex)?;
        Ok((!has).then_some(Absent::Absent))
    }

    /// Inserts the ifindex into the devmap of the forwarder deployed in `ns`.
    fn act(&self, ns: &Netns, _: &Absent) -> Result<()> {
        let (fwd, ifindex) = (ns.key()?, self.ifindex);
        ns.run(move || maps::devmap_insert(fwd, ifindex)).map(drop)
    }

    /// Removes the entry again if the fix added it and it is still there.
    fn revert(&self, ns: &Netns, _: &Absent) -> Result<Undone> {
        let (fwd, ifindex) = (ns.key()?, self.ifindex);
        if !maps::devmap_contains(fwd, ifindex)? {
            return Ok(Undone::skipped(format!(
                "ifindex {ifindex} is already gone from the {DEVMAP}"
            )));
        }
        maps::devmap_remove(fwd, ifindex)?;
        Ok(Undone::done(format!(
            "removed ifindex {ifindex} from the {DEVMAP}"
        )))
    }

    /// From inside the namespace: the kernel resolves the ifindex there. The value is
    /// `struct bpf_devmap_val` (ifindex, no program).
    fn command(&self) -> String {
        let idx = bytes(&self.ifindex.to_ne_bytes());
        self.netns.shell(&format!(
            "bpftool map update pinned {} key {idx} value {idx} 0 0 0 0",
            map_pin(&self.netns, DEVMAP)
        ))
    }

    fn undo_command(&self, _: &Absent) -> String {
        self.netns.shell(&format!(
            "bpftool map delete pinned {} key {}",
            map_pin(&self.netns, DEVMAP),
            bytes(&self.ifindex.to_ne_bytes())
        ))
    }
}
