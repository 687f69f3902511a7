//! Fix for `redirect-target-mtu`: give a redirect target veth its peer's MTU (capped at the
//! ingress MTU), so the frames the program redirects fit. Journals the MTU before; revert puts
//! it back if the MTU is still the one the fix set.

use serde::{Deserialize, Serialize};

use super::step::{Step, Undone};
use crate::model::action::SetMtu;
use crate::netlink::rtnl::Rtnl;
use crate::netns::{Netns, NsRef};
use crate::Result;

/// The MTU before the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "was", rename_all = "kebab-case")]
pub enum Mtu {
    /// The value.
    Mtu {
        /// The MTU.
        mtu: u32,
    },
}

impl SetMtu {
    fn ip_link(&self, mtu: u32) -> String {
        self.netns
            .shell(&format!("ip link set dev {} mtu {mtu}", self.interface))
    }
}

impl Step for SetMtu {
    type Previous = Mtu;

    fn netns(&self) -> &NsRef {
        &self.netns
    }

    /// `None` if the MTU already is the one wanted; else the MTU now.
    fn observe(&self, ns: &Netns) -> Result<Option<Mtu>> {
        let (ifname, want) = (self.interface.clone(), self.mtu);
        ns.block_on(|| async move {
            let l = Rtnl::new()?.link(&ifname).await?;
            Ok((l.mtu != want).then_some(Mtu::Mtu { mtu: l.mtu }))
        })
    }

    fn act(&self, ns: &Netns, _: &Mtu) -> Result<()> {
        let (ifname, want) = (self.interface.clone(), self.mtu);
        ns.block_on(|| async move {
            let rt = Rtnl::new()?;
            let l = rt.link(&ifname).await?;
            rt.set_mtu(l.index, want).await
        })
    }

    /// Puts the journaled MTU back if the interface still has the one the fix set; an MTU
    /// changed by hand since is left alone and reported.
    fn revert(&self, ns: &Netns, prev: &Mtu) -> Result<Undone> {
        let Mtu::Mtu { mtu: was } = *prev;
        let (ifname, set) = (self.interface.clone(), self.mtu);
        ns.block_on(|| async move {
            let rt = Rtnl::new()?;
            let Some(l) = rt.links().await?.into_iter().find(|l| l.name == ifname) else {
                return Ok(Undone::skipped(format!(
                    "{ifname} no longer exists; nothing to restore"
                )));
            };
            if l.mtu == was {
                return Ok(Undone::skipped(format!(
                    "the MTU of {ifname} is already {was}"
                )));
            }
            if l.mtu != set {
                return Ok(Undone::skipped(format!(
                    "the MTU of {ifname} is {} (the fix set {set}; changed by hand): left alone",
                    l.mtu
                )));
            }
            rt.set_mtu(l.index, was).await?;
            Ok(Undone::done(format!("MTU of {ifname}: {set} -> {was}")))
        })
    }

    fn command(&self) -> String {
        self.ip_link(self.mtu)
    }

    fn undo_command(&self, prev: &Mtu) -> String {
        let Mtu::Mtu { mtu } = *prev;
        self.ip_link(mtu)
    }
}
