//! A change to the system as data: what a rule proposes ([`Fix`]) and what `fix --apply`
//! performs and journals ([`Action`]). Each action has a stable id and the equivalent shell
//! command a person could run instead (printed in plans; `fix` does it through netlink,
//! ioctls and bpf, never by running these commands).

use std::net::{Ipv4Addr, SocketAddrV4};

use serde::{Deserialize, Serialize};

use crate::netns::NsRef;

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
    AttachXdpPass {
        /// Namespace of the interface.
        netns: NsRef,
        /// The veth peer.
        interface: String,
    },
    /// Request GRO on or off.
    SetGro {
        /// Namespace of the interface.
        netns: NsRef,
        /// The interface.
        interface: String,
        /// Requested state.
        on: bool,
    },
    /// Every changeable tx checksum offload on or off.
    SetTxCsum {
        /// Namespace of the interface.
        netns: NsRef,
        /// The interface.
        interface: String,
        /// Requested state.
        on: bool,
    },
    /// `net.ipv4.conf.<interface>.forwarding` (interface may be `all`).
    SetForwarding {
        /// Namespace of the interface.
        netns: NsRef,
        /// The interface (or `all`).
        interface: String,
        /// Requested state.
        on: bool,
    },
    /// Add an IPv4 address.
    AddAddress {
        /// Namespace of the interface.
        netns: NsRef,
        /// The interface.
        interface: String,
        /// The address.
        addr: Ipv4Addr,
        /// Its prefix length.
        prefix: u8,
    },
    /// Put an interface into the forwarder's devmap.
    DevmapAdd {
        /// The forwarder's namespace.
        netns: NsRef,
        /// The interface, for people.
        interface: String,
        /// Its ifindex in the forwarder's namespace.
        ifindex: u32,
    },
    /// Add the reverse (SNAT) entry of a DNAT entry.
    SnatAdd {
        /// The forwarder's namespace.
        netns: NsRef,
        /// The NAT target (replies come from it).
        key: SocketAddrV4,
        /// The public endpoint replies are translated back to.
        value: SocketAddrV4,
    },
    /// Point a NAT entry of the deployed forwarder at another target: `dnat_entries[from]`
    /// becomes `new`, and the reverse entry moves from `old` to `new` (both maps, live).
    RetargetEntry {
        /// The forwarder's namespace.
        netns: NsRef,
        /// The public endpoint (DNAT key).
        from: SocketAddrV4,
        /// The target it has now.
        old: SocketAddrV4,
        /// The target it gets.
        new: SocketAddrV4,
    },
    /// The deployed forwarder's `full_checksum` on or off, switched without downtime (new
    /// programs on the pinned maps, BPF_LINK_UPDATE on every pinned link).
    SetForwarderFullCsum {
        /// The forwarder's namespace.
        netns: NsRef,
        /// Requested state.
        on: bool,
    },
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
            Action::RetargetEntry { .. } => "retarget-entry",
            Action::SetForwarderFullCsum { .. } => "forwarder-full-csum",
        }
    }

    /// The namespace the action changes.
    pub fn netns(&self) -> &NsRef {
        match self {
            Action::AttachXdpPass { netns, .. }
            | Action::SetGro { netns, .. }
            | Action::SetTxCsum { netns, .. }
            | Action::SetForwarding { netns, .. }
            | Action::AddAddress { netns, .. }
            | Action::DevmapAdd { netns, .. }
            | Action::SnatAdd { netns, .. }
            | Action::RetargetEntry { netns, .. }
            | Action::SetForwarderFullCsum { netns, .. } => netns,
        }
    }

    /// The equivalent shell command, for plans (reference only: `fix` never runs it).
    pub fn describe(&self) -> String {
        match self {
            Action::AttachXdpPass { netns, interface } => format!(
                "xdpdoctor object passthrough --output {PASS_OBJ} && {}",
                netns.shell(&format!(
                    "ip link set dev {interface} xdpdrv obj {PASS_OBJ} sec xdp"
                ))
            ),
            Action::SetGro {
                netns,
                interface,
                on,
            } => netns.shell(&format!("ethtool -K {interface} gro {}", onoff(*on))),
            Action::SetTxCsum {
                netns,
                interface,
                on,
            } => netns.shell(&format!("ethtool -K {interface} tx {}", onoff(*on))),
            Action::SetForwarding {
                netns,
                interface,
                on,
            } => netns.shell(&format!(
                "sysctl -w net.ipv4.conf.{interface}.forwarding={}",
                u8::from(*on)
            )),
            Action::AddAddress {
                netns,
                interface,
                addr,
                prefix,
            } => netns.shell(&format!("ip address add {addr}/{prefix} dev {interface}")),
            // From inside the namespace: the kernel resolves the ifindex there. The value is
            // `struct bpf_devmap_val` (ifindex, no program).
            Action::DevmapAdd { netns, ifindex, .. } => netns.shell(&format!(
                "bpftool map update pinned {} key {} value {} 0 0 0 0",
                forwarder_map(netns, "devmap"),
                bytes(&ifindex.to_ne_bytes()),
                bytes(&ifindex.to_ne_bytes())
            )),
            Action::SnatAdd { netns, key, value } => format!(
                "bpftool map update pinned {} key {} value {}",
                forwarder_map(netns, "snat_entries"),
                endpoint(key),
                endpoint(value)
            ),
            Action::RetargetEntry {
                netns,
                from,
                old,
                new,
            } => retarget_commands(netns, from, old, new),
            Action::SetForwarderFullCsum { netns, on } => format!(
                "xdpdoctor --netns {} fix --{} --csum forwarder",
                netns.cli_arg(),
                if *on { "apply" } else { "revert" }
            ),
        }
    }
}

/// Where the equivalent command of `AttachXdpPass` writes the pass-through object.
const PASS_OBJ: &str = "/tmp/xdpdoctor-passthrough.bpf.o";

/// The bpftool commands that point the entry `from` at `to` instead of `away`: the DNAT entry
/// and the reverse SNAT entry, the one of `away` removed last (as `fix::retarget` does it; its
/// undo is the same with `away` and `to` swapped).
pub(crate) fn retarget_commands(
    netns: &NsRef,
    from: &SocketAddrV4,
    away: &SocketAddrV4,
    to: &SocketAddrV4,
) -> String {
    let (dnat, snat) = (
        forwarder_map(netns, "dnat_entries"),
        forwarder_map(netns, "snat_entries"),
    );
    format!(
        "bpftool map update pinned {dnat} key {f} value {t} && \
         bpftool map update pinned {snat} key {t} value {f} && \
         bpftool map delete pinned {snat} key {a}",
        f = endpoint(from),
        t = endpoint(to),
        a = endpoint(away)
    )
}

/// A pinned map of xdpdoctor's forwarder in namespace `netns`.
pub(crate) fn forwarder_map(netns: &NsRef, map: &str) -> String {
    crate::state::forwarder_pin_dir(netns.inode)
        .join(map)
        .display()
        .to_string()
}

/// Bytes as bpftool reads them (decimal, space-separated).
pub(crate) fn bytes(b: &[u8]) -> String {
    b.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `struct fwd_endpoint` as bytes: address and port in network order, then two pad bytes.
pub(crate) fn endpoint(e: &SocketAddrV4) -> String {
    let mut b = e.ip().octets().to_vec();
    b.extend(e.port().to_be_bytes());
    b.extend([0, 0]);
    bytes(&b)
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
    /// [`Action::id`].
    pub id: String,
    /// What it does, in words.
    pub text: String,
    /// The change.
    pub action: Action,
}

impl Fix {
    /// A fix doing `action`, described by `text`.
    pub fn new(text: impl Into<String>, action: Action) -> Self {
        Fix {
            id: action.id().to_string(),
            text: text.into(),
            action,
        }
    }
}
