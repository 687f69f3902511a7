//! Performing an [`Action`]: find its namespace again (by inode, if its path no longer leads
//! there) and hand it to the file of its fix. Each fix has three steps: `observe` (the state
//! before, or `None` if the desired state already holds), `act` (the change), and `revert`
//! (restore the observed state, reporting what it found). `apply_all` journals the observed
//! state *before* it acts, so an apply killed mid-step leaves a journal entry that revert can
//! still resolve against what is really there.

use std::path::Path;

use super::{address, devmap, forwarder_csum, forwarding, gro, retarget, snat, tx_csum, xdp_pass};
use super::{Action, Previous, Undone};
use crate::netns::{Netns, NsRef};
use crate::{Error, Result};

/// Opens the namespace `r` names, checking it is still the one with its identity.
pub fn resolve(r: &NsRef) -> Result<Netns> {
    r.open()
}

/// The state `a` would change, or `None` if its desired state already holds.
pub(super) fn observe(a: &Action) -> Result<Option<Previous>> {
    let ns = resolve(a.netns())?;
    match a {
        Action::AttachXdpPass { netns, interface } => {
            xdp_pass::observe(&ns, netns.inode, interface)
        }
        Action::SetGro { interface, on, .. } => gro::observe(&ns, interface, *on),
        Action::SetTxCsum { interface, on, .. } => tx_csum::observe(&ns, interface, *on),
        Action::SetForwarding { interface, on, .. } => forwarding::observe(&ns, interface, *on),
        Action::AddAddress {
            interface,
            addr,
            prefix,
            ..
        } => address::observe(&ns, interface, *addr, *prefix),
        Action::DevmapAdd { ifindex, .. } => devmap::observe(&ns, *ifindex),
        Action::SnatAdd { key, value, .. } => snat::observe(&ns, *key, *value),
        Action::RetargetEntry { from, old, new, .. } => retarget::observe(&ns, *from, *old, *new),
        Action::SetForwarderFullCsum { on, .. } => forwarder_csum::observe(&ns, *on),
    }
}

/// Makes the change; `prev` is what [`observe`] returned (and the journal holds).
pub(super) fn act(a: &Action, prev: &Previous) -> Result<()> {
    let ns = resolve(a.netns())?;
    match a {
        Action::AttachXdpPass { interface, .. } => {
            let Previous::Pinned { pin } = prev else {
                return Err(Error::unexpected(
                    "attach-xdp-pass journal entry",
                    format!("recorded {prev:?}, expected the pin to make"),
                ));
            };
            xdp_pass::act(&ns, interface, Path::new(pin))
        }
        Action::SetGro { interface, on, .. } => gro::act(&ns, interface, *on),
        Action::SetTxCsum { interface, on, .. } => tx_csum::act(&ns, interface, *on),
        Action::SetForwarding { interface, on, .. } => forwarding::act(&ns, interface, *on),
        Action::AddAddress {
            interface,
            addr,
            prefix,
            ..
        } => address::act(&ns, interface, *addr, *prefix),
        Action::DevmapAdd { ifindex, .. } => devmap::act(&ns, *ifindex),
        Action::SnatAdd { key, value, .. } => snat::act(&ns, *key, *value),
        Action::RetargetEntry { from, old, new, .. } => retarget::act(&ns, *from, *old, *new),
        Action::SetForwarderFullCsum { on, .. } => forwarder_csum::act(&ns, *on),
    }
}

/// Restores `prev`, the state recorded when `a` was applied, after looking at what is there
/// now (a change undone or altered by hand is reported, not forced).
pub(super) fn revert(a: &Action, prev: &Previous) -> Result<Undone> {
    if let Action::AttachXdpPass { .. } = a {
        // The pin is all there is to undo; it is found even if the namespace is gone.
        return xdp_pass::revert(prev);
    }
    let ns = match resolve(a.netns()) {
        Ok(ns) => ns,
        Err(Error::NotFound { .. }) => {
            return Ok(Undone::skipped(format!(
                "namespace {} (inode {}) no longer exists; nothing to restore",
                a.netns().name,
                a.netns().inode
            )))
        }
        Err(e) => return Err(e),
    };
    match a {
        Action::AttachXdpPass { .. } => unreachable!("handled above"),
        Action::SetGro { interface, .. } => gro::revert(&ns, interface, prev),
        Action::SetTxCsum { interface, .. } => tx_csum::revert(&ns, interface, prev),
        Action::SetForwarding { interface, .. } => forwarding::revert(&ns, interface, prev),
        Action::AddAddress {
            interface,
            addr,
            prefix,
            ..
        } => address::revert(&ns, interface, *addr, *prefix, prev),
        Action::DevmapAdd { ifindex, .. } => devmap::revert(&ns, *ifindex, prev),
        Action::SnatAdd { key, .. } => snat::revert(&ns, *key, prev),
        Action::RetargetEntry { from, old, new, .. } => {
            retarget::revert(&ns, *from, *old, *new, prev)
        }
        Action::SetForwarderFullCsum { .. } => forwarder_csum::revert(&ns, prev),
    }
}
