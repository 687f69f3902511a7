//! Fix for `redirect-target-no-xdp-xmit`: take a device that cannot take XDP frames (a
//! bridge, ...) out of the forwarder's devmap. `bpf_redirect_map` then misses for packets
//! the FIB sends there, and the forwarder passes them to the stack, translated (its
//! devmap-miss path), which forwards them. Revert puts the entry back (key = value =
//! ifindex, as deploy wrote it) while that ifindex still names the same device.

use serde::{Deserialize, Serialize};

use super::bpftool::{bytes, map_pin};
use super::step::{Step, Undone};
use crate::bpf::forwarder_abi::DEVMAP;
use crate::forwarder::maps;
use crate::model::action::DevmapRemove;
use crate::netlink::rtnl::Rtnl;
use crate::netns::{Netns, NsRef};
use crate::Result;

/// The entry was in the devmap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "was", rename_all = "kebab-case")]
pub enum Present {
    /// It was there.
    Present,
}

impl Step for DevmapRemove {
    type Previous = Present;

    fn netns(&self) -> &NsRef {
        &self.netns
    }

    /// `None` if the ifindex is not in the devmap (already out).
    fn observe(&self, ns: &Netns) -> Result<Option<Present>> {
        let has = maps::devmap_contains(ns.key()?, self.ifindex)?;
        Ok(has.then_some(Present::Present))
    }

    fn act(&self, ns: &Netns, _: &Present) -> Result<()> {
        maps::devmap_remove(ns.key()?, self.ifindex)
    }

    /// Puts the entry back if it is still missing and the ifindex still names the device.
    fn revert(&self, ns: &Netns, _: &Present) -> Result<Undone> {
        let (key, ifindex) = (ns.key()?, self.ifindex);
        if maps::devmap_contains(key, ifindex)? {
            return Ok(Undone::skipped(format!(
                "ifindex {ifindex} is in the {DEVMAP} already"
            )));
        }
        let name = ns
            .block_on(|| async move { Ok(Rtnl::new()?.link_by_index(ifindex).await?.name) })
            .ok();
        if name.as_deref() != Some(self.interface.as_str()) {
            return Ok(Undone::skipped(format!(
                "ifindex {ifindex} is no longer {} ({}): not put back",
                self.interface,
                name.map(|n| format!("now {n}"))
                    .unwrap_or_else(|| "gone".into())
            )));
        }
        ns.run(move || maps::devmap_insert(key, ifindex))?;
        Ok(Undone::done(format!(
            "put {} (ifindex {ifindex}) back into the {DEVMAP}",
            self.interface
        )))
    }

    fn command(&self) -> String {
        self.netns.shell(&format!(
            "bpftool map delete pinned {} key {}",
            map_pin(&self.netns, DEVMAP),
            bytes(&self.ifindex.to_ne_bytes())
        ))
    }

    /// From inside the namespace: the kernel resolves the ifindex there.
    fn undo_command(&self, _: &Present) -> String {
        let idx = bytes(&self.ifindex.to_ne_bytes());
        self.netns.shell(&format!(
            "bpftool map update pinned {} key {idx} value {idx} 0 0 0 0",
            map_pin(&self.netns, DEVMAP)
        ))
    }
}
