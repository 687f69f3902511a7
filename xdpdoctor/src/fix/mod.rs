//! Fixes: each finding carries a machine-readable [`Action`]; `plan` collects them, `apply`
//! performs each in the right namespace (netlink, ethtool ioctl, bpf) and records the previous
//! state in a journal, `revert` restores exactly that state. One fix per file.
//!
//! Idempotent: an action whose desired state already holds is skipped and not journaled, so a
//! second `apply` changes nothing; `revert` undoes journal entries in reverse order and removes
//! the journal (and the pins the fixes made).

pub mod address;
pub mod devmap;
mod ethtool_flag;
pub mod forwarder_csum;
pub mod forwarding;
pub mod gro;
pub mod journal;
pub mod snat;
pub mod tx_csum;
pub mod xdp_pass;

use std::net::{Ipv4Addr, SocketAddrV4};

use serde::{Deserialize, Serialize};

use crate::netns::Netns;
use crate::snapshot::nsid;
use crate::{Error, Result};

pub use journal::{Journal, JournalEntry, Previous};

/// A namespace as a fix names it: path and name for humans, inode for identity. A namespace
/// reached through /proc/PID may outlive that PID, so it is found again by inode if needed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NsRef {
    pub name: String,
    pub path: String,
    pub inode: u64,
}

impl NsRef {
    pub fn from_state(ns: &crate::snapshot::NsState) -> Self {
        NsRef {
            name: ns.name.clone(),
            path: ns.path.clone(),
            inode: ns.inode,
        }
    }

    /// Opens the namespace, checking it is still the one with our inode.
    pub fn resolve(&self) -> Result<Netns> {
        let ns = Netns {
            name: self.name.clone(),
            path: self.path.clone().into(),
        };
        if ns.inode().ok() == Some(self.inode) {
            return Ok(ns);
        }
        nsid::by_inode(self.inode).ok_or_else(|| {
            Error::not_found(
                format!("namespace {} (inode {})", self.name, self.inode),
                Some("it was deleted since the diagnosis".into()),
            )
        })
    }
}

/// Preference between the two fixes for a veth peer without XDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerFix {
    /// Attach a pass-through XDP program to the peer (the write-up's fix; any kernel).
    #[default]
    Xdp,
    /// Request GRO on the peer (5.13+; set while the link is up).
    Gro,
}

/// One change to the system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Action {
    /// Attach `xdp_pass` (native mode) with a bpf_link pinned under /sys/fs/bpf/xdpdoctor.
    AttachXdpPass { netns: NsRef, interface: String },
    /// Request GRO on or off.
    SetGro {
        netns: NsRef,
        interface: String,
        on: bool,
    },
    /// Every changeable tx checksum offload on or off.
    SetTxCsum {
        netns: NsRef,
        interface: String,
        on: bool,
    },
    /// `net.ipv4.conf.<interface>.forwarding` (interface may be `all`).
    SetForwarding {
        netns: NsRef,
        interface: String,
        on: bool,
    },
    /// Add an IPv4 address.
    AddAddress {
        netns: NsRef,
        interface: String,
        addr: Ipv4Addr,
        prefix: u8,
    },
    /// Put an interface into the forwarder's devmap.
    DevmapAdd {
        netns: NsRef,
        interface: String,
        ifindex: u32,
    },
    /// Add the reverse (SNAT) entry of a DNAT entry.
    SnatAdd {
        netns: NsRef,
        key: SocketAddrV4,
        value: SocketAddrV4,
    },
    /// The deployed forwarder's `full_checksum` on or off, switched without downtime (new
    /// programs on the pinned maps, BPF_LINK_UPDATE on every pinned link). `netns` is the
    /// forwarder's namespace.
    SetForwarderFullCsum { netns: NsRef, on: bool },
}

impl Action {
    /// Stable machine id of the fix (what `findings[].fix.id` says).
    pub fn id(&self) -> &'static str {
        match self {
            Action::AttachXdpPass { .. } => "attach-xdp-pass",
            Action::SetGro { .. } => "set-gro",
            Action::SetTxCsum { .. } => "set-tx-csum",
            Action::SetForwarding { .. } => "set-forwarding",
            Action::AddAddress { .. } => "add-address",
            Action::DevmapAdd { .. } => "devmap-add",
            Action::SnatAdd { .. } => "snat-add",
            Action::SetForwarderFullCsum { .. } => "forwarder-full-csum",
        }
    }

    /// The equivalent shell command, for the plan.
    pub fn describe(&self) -> String {
        match self {
            Action::AttachXdpPass { netns, interface } => format!(
                "ip netns exec {} ip link set {interface} xdp obj passthrough.bpf.o sec xdp  (bpf_link pinned at {})",
                netns.name,
                xdp_pass::pin_path(netns.inode, interface).display()
            ),
            Action::SetGro {
                netns,
                interface,
                on,
            } => format!(
                "ip netns exec {} ethtool -K {interface} gro {}",
                netns.name,
                onoff(*on)
            ),
            Action::SetTxCsum {
                netns,
                interface,
                on,
            } => format!(
                "ip netns exec {} ethtool -K {interface} tx {}",
                netns.name,
                onoff(*on)
            ),
            Action::SetForwarding {
                netns,
                interface,
                on,
            } => format!(
                "ip netns exec {} sysctl -w net.ipv4.conf.{interface}.forwarding={}",
                netns.name,
                u8::from(*on)
            ),
            Action::AddAddress {
                netns,
                interface,
                addr,
                prefix,
            } => format!(
                "ip -n {} address add {addr}/{prefix} dev {interface}",
                netns.name
            ),
            Action::DevmapAdd {
                interface, ifindex, ..
            } => format!("bpftool map update pinned .../devmap key {ifindex} value {ifindex}  ({interface})"),
            Action::SnatAdd { key, value, .. } => {
                format!("add snat_entries {key} -> {value}")
            }
            Action::SetForwarderFullCsum { netns, on } => format!(
                "(redeploy the forwarder in {} with \"full_checksum\": {on}; done atomically with BPF_LINK_UPDATE)",
                netns.name
            ),
        }
    }

    fn netns(&self) -> &NsRef {
        match self {
            Action::AttachXdpPass { netns, .. }
            | Action::SetGro { netns, .. }
            | Action::SetTxCsum { netns, .. }
            | Action::SetForwarding { netns, .. }
            | Action::AddAddress { netns, .. }
            | Action::DevmapAdd { netns, .. }
            | Action::SnatAdd { netns, .. }
            | Action::SetForwarderFullCsum { netns, .. } => netns,
        }
    }

    /// Performs the change. `Ok(None)` if the desired state already holds (nothing done).
    pub fn apply(&self) -> Result<Option<Previous>> {
        let ns = self.netns().resolve()?;
        match self {
            Action::AttachXdpPass { netns, interface } => {
                xdp_pass::apply(&ns, netns.inode, interface)
            }
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
            Action::SetForwarderFullCsum { on, .. } => forwarder_csum::apply(&ns, *on),
        }
    }

    /// Restores `prev`, the state recorded when this action was applied.
    pub fn revert(&self, prev: &Previous) -> Result<()> {
        let ns = self.netns().resolve()?;
        match self {
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
            Action::SetForwarderFullCsum { .. } => forwarder_csum::revert(&ns, prev),
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

/// A fix attached to a finding: machine id, text for humans, and the action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fix {
    pub id: String,
    pub text: String,
    pub action: Action,
}

impl Fix {
    pub fn new(text: impl Into<String>, action: Action) -> Self {
        Fix {
            id: action.id().to_string(),
            text: text.into(),
            action,
        }
    }
}

/// Outcome of applying one action.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Applied {
    pub fix: String,
    pub command: String,
    /// `changed`, `already` (desired state held) or `failed: ...`.
    pub result: String,
}

/// Applies `actions` in order for the forwarder in namespace `fwd_inode`, journaling each
/// change before the next one. Keeps going after a failure and reports it.
pub fn apply_all(fwd_inode: u64, actions: &[Action]) -> Result<Vec<Applied>> {
    let mut j = Journal::load(fwd_inode)?.unwrap_or_else(|| Journal::new(fwd_inode));
    let mut out = Vec::new();
    for a in actions {
        let result = match a.apply() {
            Ok(Some(prev)) => {
                j.entries.push(JournalEntry {
                    action: a.clone(),
                    previous: prev,
                });
                j.save()?;
                "changed".to_string()
            }
            Ok(None) => "already".to_string(),
            Err(e) => format!("failed: {e:#}"),
        };
        log::info!("fix {}: {result}", a.id());
        out.push(Applied {
            fix: a.id().into(),
            command: a.describe(),
            result,
        });
    }
    Ok(out)
}

/// Reverts every journaled change for the forwarder in `fwd_inode`, newest first, and
/// removes the journal. Entries that fail stay in the journal and are reported.
pub fn revert_all(fwd_inode: u64) -> Result<Vec<Applied>> {
    let Some(mut j) = Journal::load(fwd_inode)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let mut kept = Vec::new();
    while let Some(e) = j.entries.pop() {
        let result = match e.action.revert(&e.previous) {
            Ok(()) => "reverted".to_string(),
            Err(err) => {
                let m = format!("failed: {err:#}");
                kept.push(e.clone());
                m
            }
        };
        out.push(Applied {
            fix: e.action.id().into(),
            command: e.action.describe(),
            result,
        });
    }
    kept.reverse();
    j.entries = kept;
    if j.entries.is_empty() {
        j.remove()?;
    } else {
        j.save()?;
    }
    Ok(out)
}

/// The actions that fix `findings`, in finding (packet-path) order, deduplicated.
/// `prefer` picks GRO instead of a pass-through program for veth peers.
pub fn plan(findings: &[crate::diagnose::Finding], prefer: PeerFix) -> Vec<Action> {
    plan_with(findings, prefer, None)
}

/// [`plan`], and with `forwarder` (the forwarder's namespace) every "tx checksum off in the
/// container" becomes one "the forwarder computes full checksums" (`fix --csum forwarder`).
pub fn plan_with(
    findings: &[crate::diagnose::Finding],
    prefer: PeerFix,
    forwarder: Option<&NsRef>,
) -> Vec<Action> {
    let mut out: Vec<Action> = Vec::new();
    for f in findings {
        let Some(fix) = &f.fix else { continue };
        let a = match (&fix.action, prefer, forwarder) {
            (Action::AttachXdpPass { netns, interface }, PeerFix::Gro, _) => Action::SetGro {
                netns: netns.clone(),
                interface: interface.clone(),
                on: true,
            },
            (Action::SetTxCsum { on: false, .. }, _, Some(fwd)) => Action::SetForwarderFullCsum {
                netns: fwd.clone(),
                on: true,
            },
            (a, _, _) => a.clone(),
        };
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}
