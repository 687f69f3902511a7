//! Fix for `interface-no-address`: add the inferred address (the container's default
//! gateway, with the prefix of the container's own address) to the forwarder-side veth, which
//! also creates the connected route `bpf_fib_lookup` needs.

use std::net::Ipv4Addr;

use super::Previous;
use crate::netlink::rtnl::Rtnl;
use crate::netns::Netns;
use crate::Result;

pub fn apply(ns: &Netns, ifname: &str, addr: Ipv4Addr, prefix: u8) -> Result<Option<Previous>> {
    let ifname = ifname.to_string();
    ns.block_on(|| async move {
        let rt = Rtnl::new()?;
        let l = rt.link(&ifname).await?;
        let has = rt
            .addresses()
            .await?
            .iter()
            .any(|a| a.ifindex == l.index && a.addr == addr && a.prefix == prefix);
        if has {
            return Ok(None);
        }
        rt.add_address(l.index, addr, prefix).await?;
        Ok(Some(Previous::Absent))
    })
}

pub fn revert(ns: &Netns, ifname: &str, addr: Ipv4Addr, prefix: u8, prev: &Previous) -> Result<()> {
    if *prev != Previous::Absent {
        return Ok(());
    }
    let ifname = ifname.to_string();
    ns.block_on(|| async move {
        let rt = Rtnl::new()?;
        let l = rt.link(&ifname).await?;
        rt.del_address(l.index, addr, prefix).await
    })
}
