//! Fix for `interface-no-address`: add the inferred address (the container's default
//! gateway, with the prefix of the container's own address) to the forwarder-side veth, which
//! also creates the connected route `bpf_fib_lookup` needs.

use super::previous::Absent;
use super::step::{Step, Undone};
use crate::model::action::AddAddress;
use crate::netlink::rtnl::Rtnl;
use crate::netns::{quote, Netns, NsRef};
use crate::Result;

impl Step for AddAddress {
    type Previous = Absent;

    fn netns(&self) -> &NsRef {
        &self.netns
    }

    /// `None` if the interface already has the address; otherwise it was absent.
    fn observe(&self, ns: &Netns) -> Result<Option<Absent>> {
        let (ifname, addr, prefix) = (self.interface.clone(), self.addr, self.prefix);
        ns.block_on(|| async move {
            let rt = Rtnl::new()?;
            let l = rt.link(&ifname).await?;
            let has = rt
                .addresses()
                .await?
                .iter()
                .any(|a| a.ifindex == l.index && a.addr == addr && a.prefix == prefix);
            Ok((!has).then_some(Absent::Absent))
        })
    }

    fn act(&self, ns: &Netns, _: &Absent) -> Result<()> {
        let (ifname, addr, prefix) = (self.interface.clone(), self.addr, self.prefix);
        ns.block_on(|| async move {
            let rt = Rtnl::new()?;
            let l = rt.link(&ifname).await?;
            rt.add_address(l.index, addr, prefix).await
        })
    }

    /// Deletes the address again if it is still there as the fix added it; an address
    /// deleted or changed by hand is left alone and reported.
    fn revert(&self, ns: &Netns, _: &Absent) -> Result<Undone> {
        let (ifname, addr, prefix) = (self.interface.clone(), self.addr, self.prefix);
        ns.block_on(|| async move {
            let rt = Rtnl::new()?;
            let Some(l) = rt.links().await?.into_iter().find(|l| l.name == ifname) else {
                return Ok(Undone::skipped(format!(
                    "{ifname} no longer exists; nothing to delete"
                )));
            };
            let on_link: Vec<_> = rt
                .addresses()
                .await?
                .into_iter()
                .filter(|a| a.ifindex == l.index)
                .collect();
            let down = if l.up { "" } else { " (the link is down)" };
            if on_link.iter().any(|a| a.addr == addr && a.prefix == prefix) {
                rt.del_address(l.index, addr, prefix).await?;
                return Ok(Undone::done(format!(
                    "found {addr}/{prefix} on {ifname}{down}; deleted it"
                )));
            }
            Ok(Undone::skipped(
                match on_link.iter().find(|a| a.addr == addr) {
                    Some(other) => format!(
                        "{addr}/{prefix} is not on {ifname}{down}: found {}/{} instead (changed by hand); left alone",
                        other.addr, other.prefix
                    ),
                    None => format!(
                        "{addr}/{prefix} is already gone from {ifname}{down} (deleted by hand, or the step stopped before it added it)"
                    ),
                },
            ))
        })
    }

    fn command(&self) -> String {
        self.netns.shell(&format!(
            "ip address add {}/{} dev {}",
            self.addr,
            self.prefix,
            quote(&self.interface)
        ))
    }

    fn undo_command(&self, _: &Absent) -> String {
        self.netns.shell(&format!(
            "ip address del {}/{} dev {}",
            self.addr,
            self.prefix,
            quote(&self.interface)
        ))
    }
}
