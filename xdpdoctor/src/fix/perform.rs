//! Performing an [`Action`]: find its namespace again (by inode, if its path no longer leads
//! there) and hand it to the file of its fix.

use super::{address, devmap, forwarder_csum, forwarding, gro, retarget, snat, tx_csum, xdp_pass};
use super::{Action, NsRef, Previous};
use crate::netns::{self, Netns};
use crate::{Error, Result};

/// Opens the namespace `r` names, checking it is still the one with its inode.
pub fn resolve(r: &NsRef) -> Result<Netns> {
    let ns = Netns {
        name: r.name.clone(),
        path: r.path.clone().into(),
    };
    if ns.inode().ok() == Some(r.inode) {
        return Ok(ns);
    }
    netns::by_inode(r.inode).ok_or_else(|| {
        Error::not_found(
            format!("namespace {} (inode {})", r.name, r.inode),
            Some("it was deleted since the diagnosis".into()),
        )
    })
}

/// Performs the change. `Ok(None)` if the desired state already holds (nothing done).
pub(super) fn apply(a: &Action) -> Result<Option<Previous>> {
    let ns = resolve(a.netns())?;
    match a {
        Action::AttachXdpPass { netns, interface } => xdp_pass::apply(&ns, netns.inode, interface),
        Action::SetGro { interface, on, .. } => gro::apply(&ns, interface, *on),
        Action::SetTxCsum { interface, on, .. } => tx_csum::apply(&ns, interface, *on),
        Action::SetForwarding { interface, on, .. } => forwarding::apply(&ns, interface, *on),
        Action::AddAddress {
            interface,
            addr,
            prefix,
            ..
        } => address::apply(&ns, interface, *addr, *prefix),
        Action::DevmapAdd { ifindex, .. } => devmap::apply(&ns, *ifindex),
        Action::SnatAdd { key, value, .. } => snat::apply(&ns, *key, *value),
        Action::RetargetEntry { from, old, new, .. } => retarget::apply(&ns, *from, *old, *new),
        Action::SetForwarderFullCsum { on, .. } => forwarder_csum::apply(&ns, *on),
    }
}

/// Restores `prev`, the state recorded when `a` was applied.
pub(super) fn revert(a: &Action, prev: &Previous) -> Result<()> {
    let ns = resolve(a.netns())?;
    match a {
        Action::AttachXdpPass { .. } => xdp_pass::revert(prev),
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
