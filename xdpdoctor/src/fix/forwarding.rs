//! Fix for `forwarding-disabled`: `net.ipv4.conf.<if>.forwarding = 1` in the forwarder's
//! namespace (bpf_fib_lookup checks the ingress interface's flag). Journals the sysctl's text.

use super::previous::Text;
use super::step::{Step, Undone};
use crate::model::action::SetForwarding;
use crate::netlink::sysctl;
use crate::netns::{Netns, NsRef};
use crate::Result;

const FLAG: &str = "forwarding";

fn want(on: bool) -> &'static str {
    if on {
        "1"
    } else {
        "0"
    }
}

impl SetForwarding {
    /// `sysctl -w net.ipv4.conf.IF.forwarding=VALUE` in the namespace.
    fn sysctl_w(&self, value: &str) -> String {
        let setting = format!("net.ipv4.conf.{}.{FLAG}={value}", self.interface);
        self.netns
            .shell(&format!("sysctl -w {}", crate::netns::quote(&setting)))
    }
}

impl Step for SetForwarding {
    type Previous = Text;

    fn netns(&self) -> &NsRef {
        &self.netns
    }

    /// `None` if the flag already is `on`; else its text now.
    fn observe(&self, ns: &Netns) -> Result<Option<Text>> {
        let (ifname, on) = (self.interface.clone(), self.on);
        ns.run(move || {
            let was = sysctl::read_path(sysctl::iface_path(&ifname, FLAG))?;
            Ok((was != want(on)).then_some(Text::Value { value: was }))
        })
    }

    fn act(&self, ns: &Netns, _: &Text) -> Result<()> {
        let (ifname, on) = (self.interface.clone(), self.on);
        ns.run(move || sysctl::write_path(sysctl::iface_path(&ifname, FLAG), want(on)))
    }

    /// Writes the journaled value back if it differs now.
    fn revert(&self, ns: &Netns, prev: &Text) -> Result<Undone> {
        let Text::Value { value } = prev;
        let (ifname, value) = (self.interface.clone(), value.clone());
        ns.run(move || {
            let p = sysctl::iface_path(&ifname, FLAG);
            let now = sysctl::read_path(p.clone())?;
            if now == value {
                return Ok(Undone::skipped(format!(
                    "net.ipv4.conf.{ifname}.{FLAG} is already {value}"
                )));
            }
            sysctl::write_path(p, &value)?;
            Ok(Undone::done(format!(
                "net.ipv4.conf.{ifname}.{FLAG}: {now} -> {value}"
            )))
        })
    }

    fn command(&self) -> String {
        self.sysctl_w(want(self.on))
    }

    fn undo_command(&self, prev: &Text) -> String {
        let Text::Value { value } = prev;
        self.sysctl_w(value)
    }
}
