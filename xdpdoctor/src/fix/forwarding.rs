//! Fix for `forwarding-disabled`: `net.ipv4.conf.<if>.forwarding = 1` in the forwarder's
//! namespace (bpf_fib_lookup checks the ingress interface's flag).

use super::{Previous, Undone};
use crate::netlink::sysctl;
use crate::netns::Netns;
use crate::Result;

fn want(on: bool) -> &'static str {
    if on {
        "1"
    } else {
        "0"
    }
}

/// `None` if the flag already is `on`; else its text now.
pub fn observe(ns: &Netns, ifname: &str, on: bool) -> Result<Option<Previous>> {
    let ifname = ifname.to_string();
    ns.run(move || {
        let was = sysctl::read_path(sysctl::iface_path(&ifname, "forwarding"))?;
        Ok((was != want(on)).then_some(Previous::Value { value: was }))
    })
}

/// Writes the flag.
pub fn act(ns: &Netns, ifname: &str, on: bool) -> Result<()> {
    let ifname = ifname.to_string();
    ns.run(move || sysctl::write_path(sysctl::iface_path(&ifname, "forwarding"), want(on)))
}

/// Writes the journaled value back if it differs now.
pub fn revert(ns: &Netns, ifname: &str, prev: &Previous) -> Result<Undone> {
    let Previous::Value { value } = prev else {
        return Ok(Undone::skipped("no previous value recorded"));
    };
    let (ifname, value) = (ifname.to_string(), value.clone());
    ns.run(move || {
        let p = sysctl::iface_path(&ifname, "forwarding");
        let now = sysctl::read_path(p.clone())?;
        if now == value {
            return Ok(Undone::skipped(format!(
                "net.ipv4.conf.{ifname}.forwarding is already {value}"
            )));
        }
        sysctl::write_path(p, &value)?;
        Ok(Undone::done(format!(
            "net.ipv4.conf.{ifname}.forwarding: {now} -> {value}"
        )))
    })
}
