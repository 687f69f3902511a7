//! The mechanism shared by the fixes that flip one ethtool feature (`gro`, `tx_csum`): read
//! the current value inside the namespace (nothing to do if it already holds), set it, and
//! journal the old value as [`Previous::Flag`]; revert sets that value back, saying what it
//! found. Each fix file only names its feature's read and set functions, so the two cannot
//! drift apart.

use super::{Previous, Undone};
use crate::netns::Netns;
use crate::Result;

/// One ethtool feature as a fix sees it: its name for people, how to read it and how to set
/// it, by interface name in the calling thread's namespace.
pub(super) struct EthtoolFlag {
    pub(super) name: &'static str,
    pub(super) read: fn(&str) -> Result<bool>,
    pub(super) set: fn(&str, bool) -> Result<()>,
}

fn onoff(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

impl EthtoolFlag {
    /// `None` if the feature of `ifname` in `ns` already is `on`; else its value now.
    pub(super) fn observe(&self, ns: &Netns, ifname: &str, on: bool) -> Result<Option<Previous>> {
        ns.run(|| {
            let was = (self.read)(ifname)?;
            Ok((was != on).then_some(Previous::Flag { on: was }))
        })
    }

    /// Sets the feature to `on`.
    pub(super) fn act(&self, ns: &Netns, ifname: &str, on: bool) -> Result<()> {
        ns.run(|| (self.set)(ifname, on))
    }

    /// Restores the value journaled by [`EthtoolFlag::observe`] (any other record: nothing).
    pub(super) fn revert(&self, ns: &Netns, ifname: &str, prev: &Previous) -> Result<Undone> {
        let Previous::Flag { on } = *prev else {
            return Ok(Undone::skipped("no previous value recorded"));
        };
        ns.run(|| {
            let now = (self.read)(ifname)?;
            if now == on {
                return Ok(Undone::skipped(format!(
                    "{} on {ifname} is already {}",
                    self.name,
                    onoff(on)
                )));
            }
            (self.set)(ifname, on)?;
            Ok(Undone::done(format!(
                "{} on {ifname}: {} -> {}",
                self.name,
                onoff(now),
                onoff(on)
            )))
        })
    }
}
