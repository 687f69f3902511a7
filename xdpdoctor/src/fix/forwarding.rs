//! Fix for `forwarding-disabled`: `net.ipv4.conf.<if>.forwarding = 1` in the forwarder's
//! namespace (bpf_fib_lookup checks the ingress interface's flag).

use super::Previous;
use crate::netlink::sysctl;
use crate::netns::Netns;
use crate::Result;

pub fn apply(ns: &Netns, ifname: &str, on: bool) -> Result<Option<Previous>> {
    let ifname = ifname.to_string();
    ns.run(move || {
        let p = sysctl::iface_path(&ifname, "forwarding");
        let was = sysctl::read_path(p.clone())?;
        let want = if on { "1" } else { "0" };
        if was == want {
            return Ok(None);
        }
        sysctl::write_path(p, want)?;
        Ok(Some(Previous::Value { value: was }))
    })
}

pub fn revert(ns: &Netns, ifname: &str, prev: &Previous) -> Result<()> {
    let Previous::Value { value } = prev else {
        return Ok(());
    };
    let (ifname, value) = (ifname.to_string(), value.clone());
    ns.run(move || sysctl::write_path(sysctl::iface_path(&ifname, "forwarding"), &value))
}
