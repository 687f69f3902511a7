//! What reverting one journal entry found and did, and the command that undoes it by hand
//! (what `fix --revert` prints: the undo, not the apply).

use super::{Action, Previous};
use crate::model::action::{bytes, endpoint, forwarder_map, retarget_commands};

/// The result of undoing one journaled change: whether something was changed, and in words
/// what was found and done (or why nothing was).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undone {
    /// Something was changed back.
    pub changed: bool,
    /// What was found, and what was done or skipped.
    pub detail: String,
}

impl Undone {
    /// The change was undone.
    pub fn done(detail: impl Into<String>) -> Self {
        Undone {
            changed: true,
            detail: detail.into(),
        }
    }

    /// Nothing to undo (already in the previous state, changed by hand, gone).
    pub fn skipped(detail: impl Into<String>) -> Self {
        Undone {
            changed: false,
            detail: detail.into(),
        }
    }
}

fn onoff(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

/// The shell command that restores `prev` after `a` (reference only: revert never runs it).
pub fn command(a: &Action, prev: &Previous) -> String {
    match (a, prev) {
        (Action::AttachXdpPass { .. }, Previous::Pinned { pin }) => {
            format!("rm {pin}  (unpinning the link detaches xdp_pass)")
        }
        (
            Action::SetGro {
                netns, interface, ..
            },
            Previous::Flag { on },
        ) => netns.shell(&format!("ethtool -K {interface} gro {}", onoff(*on))),
        (
            Action::SetTxCsum {
                netns, interface, ..
            },
            Previous::Flag { on },
        ) => netns.shell(&format!("ethtool -K {interface} tx {}", onoff(*on))),
        (
            Action::SetForwarding {
                netns, interface, ..
            },
            Previous::Value { value },
        ) => netns.shell(&format!(
            "sysctl -w net.ipv4.conf.{interface}.forwarding={value}"
        )),
        (
            Action::AddAddress {
                netns,
                interface,
                addr,
                prefix,
            },
            Previous::Absent,
        ) => netns.shell(&format!("ip address del {addr}/{prefix} dev {interface}")),
        (Action::DevmapAdd { netns, ifindex, .. }, Previous::Absent) => netns.shell(&format!(
            "bpftool map delete pinned {} key {}",
            forwarder_map(netns, "devmap"),
            bytes(&ifindex.to_ne_bytes())
        )),
        (Action::SnatAdd { netns, key, .. }, Previous::Absent) => format!(
            "bpftool map delete pinned {} key {}",
            forwarder_map(netns, "snat_entries"),
            endpoint(key)
        ),
        (Action::SnatAdd { netns, key, .. }, Previous::Value { value }) => {
            match value.parse::<std::net::SocketAddrV4>() {
                Ok(v) => format!(
                    "bpftool map update pinned {} key {} value {}",
                    forwarder_map(netns, "snat_entries"),
                    endpoint(key),
                    endpoint(&v)
                ),
                Err(_) => format!("(snat_entries {key} -> {value}: not an endpoint)"),
            }
        }
        (
            Action::RetargetEntry {
                netns,
                from,
                old,
                new,
            },
            _,
        ) => retarget_commands(netns, from, new, old),
        (Action::SetForwarderFullCsum { netns, .. }, Previous::Flag { .. }) => {
            format!("xdpdoctor --netns {} fix --revert", netns.cli_arg())
        }
        (a, p) => format!("(nothing to undo for {} recorded as {p:?})", a.id()),
    }
}
