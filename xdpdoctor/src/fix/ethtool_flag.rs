//! The mechanism shared by the fixes that flip one ethtool feature (`gro.rs`, `tx_csum.rs`):
//! read the current value inside the namespace (nothing to do if it already holds), set it,
//! and journal the old value as [`Flag`]; revert sets that value back, saying what it found;
//! the equivalent command is `ethtool -K IF FEATURE on|off`. Each fix file only names its
//! feature, so the two cannot drift apart.

use super::previous::Flag;
use super::step::Undone;
use crate::netns::{Netns, NsRef};
use crate::Result;

/// One ethtool feature as a fix sees it: its name for people and for `ethtool -K`, how to
/// read it and how to set it, by interface name in the calling thread's namespace.
pub(super) struct EthtoolFlag {
    pub(super) name: &'static str,
    pub(super) ethtool_k: &'static str,
    pub(super) read: fn(&str) -> Result<bool>,
    pub(super) set: fn(&str, bool) -> Result<()>,
}

/// `on` or `off`, as ethtool and people say it.
pub(super) fn onoff(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

impl EthtoolFlag {
    /// `None` if the feature of `ifname` in `ns` already is `on`; else its value now.
    pub(super) fn observe(&self, ns: &Netns, ifname: &str, on: bool) -> Result<Option<Flag>> {
        ns.run(|| {
            let was = (self.read)(ifname)?;
            Ok((was != on).then_some(Flag::Flag { on: was }))
        })
    }

    /// Sets the feature to `on`.
    pub(super) fn act(&self, ns: &Netns, ifname: &str, on: bool) -> Result<()> {
        ns.run(|| (self.set)(ifname, on))
    }

    /// Restores the value journaled by [`EthtoolFlag::observe`].
    pub(super) fn revert(&self, ns: &Netns, ifname: &str, prev: &Flag) -> Result<Undone> {
        let Flag::Flag { on } = *prev;
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

    /// `ethtool -K IF FEATURE on|off` in `netns`.
    pub(super) fn command(&self, netns: &NsRef, ifname: &str, on: bool) -> String {
        netns.shell(&format!(
            "ethtool -K {} {} {}",
            crate::netns::quote(ifname),
            self.ethtool_k,
            onoff(on)
        ))
    }
}
