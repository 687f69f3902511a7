//! The mechanism shared by the fixes that flip one ethtool feature (`gro`, `tx_csum`): read
//! the current value inside the namespace, do nothing if it already holds, otherwise set it
//! and journal the old value as [`Previous::Flag`]; revert sets that value back. Each fix
//! file only names its feature's read and set functions, so the two cannot drift apart.

use super::Previous;
use crate::netns::Netns;
use crate::Result;

/// One ethtool feature as a fix sees it: how to read it and how to set it, by interface name
/// in the calling thread's namespace.
pub(super) struct EthtoolFlag {
    pub(super) read: fn(&str) -> Result<bool>,
    pub(super) set: fn(&str, bool) -> Result<()>,
}

impl EthtoolFlag {
    /// Sets the feature to `on` on `ifname` in `ns`; `None` if it already was.
    pub(super) fn apply(&self, ns: &Netns, ifname: &str, on: bool) -> Result<Option<Previous>> {
        ns.run(|| {
            let was = (self.read)(ifname)?;
            if was == on {
                return Ok(None);
            }
            (self.set)(ifname, on)?;
            Ok(Some(Previous::Flag { on: was }))
        })
    }

    /// Restores the value journaled by [`EthtoolFlag::apply`] (any other record: nothing).
    pub(super) fn revert(&self, ns: &Netns, ifname: &str, prev: &Previous) -> Result<()> {
        let Previous::Flag { on } = *prev else {
            return Ok(());
        };
        ns.run(|| (self.set)(ifname, on))
    }
}
