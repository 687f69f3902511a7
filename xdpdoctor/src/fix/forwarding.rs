//! Fix for `forwarding-disabled`: `net.ipv4.conf.<if>.forwarding = 1` (or IPv6's
//! `net.ipv6.conf.<if>.forwarding`) in the forwarder's namespace (bpf_fib_lookup checks the
//! ingress interface's flag of the packet's family). Journals the sysctl's text.

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
    /// `ipv4` or `ipv6`.
    fn family(&self) -> &'static str {
        if self.ipv6 {
            "ipv6"
        } else {
            "ipv4"
        }
    }

    /// `sysctl -w net.ipv4.conf.IF.forwarding=VALUE` in the namespace (`ipv6` for IPv6).
    fn sysctl_w(&self, value: &str) -> String {
        let setting = format!(
            "net.{}.conf.{}.{FLAG}={value}",
            self.family(),
            self.interface
        );
        self.netns
            .shell(&format!("sysctl -w {}", crate::netns::quote(&setting)))
    }

    /// The sysctl's file (read and written by the thread inside the namespace).
    fn path(&self) -> std::path::PathBuf {
        if self.ipv6 {
            std::path::PathBuf::from(format!("/proc/sys/net/ipv6/conf/{}/{FLAG}", self.interface))
        } else {
            sysctl::iface_path(&self.interface, FLAG)
        }
    }
}

impl Step for SetForwarding {
    type Previous = Text;

    fn netns(&self) -> &NsRef {
        &self.netns
    }

    /// `None` if the flag already is `on`; else its text now.
    fn observe(&self, ns: &Netns) -> Result<Option<Text>> {
        let (p, on) = (self.path(), self.on);
        ns.run(move || {
            let was = sysctl::read_path(p)?;
            Ok((was != want(on)).then_some(Text::Value { value: was }))
        })
    }

    fn act(&self, ns: &Netns, _: &Text) -> Result<()> {
        let (p, on) = (self.path(), self.on);
        ns.run(move || sysctl::write_path(p, want(on)))
    }

    /// Writes the journaled value back if it differs now.
    fn revert(&self, ns: &Netns, prev: &Text) -> Result<Undone> {
        let Text::Value { value } = prev;
        let (p, value) = (self.path(), value.clone());
        let key = format!("net.{}.conf.{}.{FLAG}", self.family(), self.interface);
        ns.run(move || {
            let now = sysctl::read_path(p.clone())?;
            if now == value {
                return Ok(Undone::skipped(format!("{key} is already {value}")));
            }
            sysctl::write_path(p, &value)?;
            Ok(Undone::done(format!("{key}: {now} -> {value}")))
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
