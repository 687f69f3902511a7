//! A change to the system as data: what a rule proposes ([`Fix`]) and what `fix --apply`
//! performs and journals ([`Action`]). One struct per kind of change, each with a stable id;
//! what it does (observe, act, revert, its equivalent commands) is its file in `fix/`, which
//! this module does not know.

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

/// One change to the system: the registry of every kind of change (`kind` in JSON), each
/// performed by the file of the same name in `fix/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Action {
    /// `fix/xdp_pass.rs`
    AttachXdpPass(AttachXdpPass),
    /// `fix/gro.rs`
    SetGro(SetGro),
    /// `fix/tx_csum.rs`
    SetTxCsum(SetTxCsum),
    /// `fix/forwarding.rs`
    SetForwarding(SetForwarding),
    /// `fix/address.rs`
    AddAddress(AddAddress),
    /// `fix/devmap.rs`
    DevmapAdd(DevmapAdd),
    /// `fix/devmap_remove.rs`
    DevmapRemove(DevmapRemove),
    /// `fix/netfilter_accept.rs`
    NetfilterAccept(NetfilterAccept),
    /// `fix/snat.rs`
    SnatAdd(SnatAdd),
    /// `fix/retarget.rs`
    RetargetEntry(RetargetEntry),
    /// `fix/forwarder_csum.rs`
    SetForwarderFullCsum(SetForwarderFullCsum),
    /// `fix/mtu.rs`
    SetMtu(SetMtu),
    /// `fix/rp_filter.rs`
    SetRpFilter(SetRpFilter),
}

impl Action {
    /// Stable machine id of the fix (what `findings[].fix.id` and `fix --json` say) and the
    /// namespace the action changes.
    fn about(&self) -> (&'static str, &NsRef) {
        match self {
            Action::AttachXdpPass(a) => ("attach-xdp-pass", &a.netns),
            Action::SetGro(a) => ("set-gro", &a.netns),
            Action::SetTxCsum(a) => ("set-tx-csum", &a.netns),
            Action::SetForwarding(a) => ("set-forwarding", &a.netns),
            Action::AddAddress(a) => ("add-address", &a.netns),
            Action::DevmapAdd(a) => ("devmap-add", &a.netns),
            Action::DevmapRemove(a) => ("devmap-remove", &a.netns),
            Action::NetfilterAccept(a) => ("netfilter-accept", &a.netns),
            Action::SnatAdd(a) => ("snat-add", &a.netns),
            Action::RetargetEntry(a) => ("retarget-entry", &a.netns),
            Action::SetForwarderFullCsum(a) => ("forwarder-full-csum", &a.netns),
            Action::SetMtu(a) => ("set-mtu", &a.netns),
            Action::SetRpFilter(a) => ("set-rp-filter", &a.netns),
        }
    }

    /// Stable machine id of the fix (what `findings[].fix.id` says).
    pub fn id(&self) -> &'static str {
        self.about().0
    }

    /// The namespace the action changes.
    pub fn netns(&self) -> &NsRef {
        self.about().1
    }
}

/// Attach `xdp_pass` (native mode) with a bpf_link pinned under /sys/fs/bpf/xdpdoctor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachXdpPass {
    /// Namespace of the interface.
    pub netns: NsRef,
    /// The veth peer.
    pub interface: String,
}

/// Request GRO on or off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetGro {
    /// Namespace of the interface.
    pub netns: NsRef,
    /// The interface.
    pub interface: String,
    /// Requested state.
    pub on: bool,
}

/// Every changeable tx checksum offload on or off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetTxCsum {
    /// Namespace of the interface.
    pub netns: NsRef,
    /// The interface.
    pub interface: String,
    /// Requested state.
    pub on: bool,
}

/// `net.ipv4.conf.<interface>.forwarding` (interface may be `all`), or IPv6's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetForwarding {
    /// Namespace of the interface.
    pub netns: NsRef,
    /// The interface (or `all`).
    pub interface: String,
    /// Requested state.
    pub on: bool,
    /// `net.ipv6.conf...` instead of `net.ipv4.conf...` (journals written before it: IPv4).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ipv6: bool,
}

/// Add an IPv4 address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddAddress {
    /// Namespace of the interface.
    pub netns: NsRef,
    /// The interface.
    pub interface: String,
    /// The address.
    pub addr: Ipv4Addr,
    /// Its prefix length.
    pub prefix: u8,
}

/// Put an interface into the forwarder's devmap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevmapAdd {
    /// The forwarder's namespace.
    pub netns: NsRef,
    /// The interface, for people.
    pub interface: String,
    /// Its ifindex in the forwarder's namespace.
    pub ifindex: u32,
}

/// Take an interface out of the forwarder's devmap: packets whose FIB egress it is are then
/// passed to the stack (translated) instead of redirected to a device that cannot take them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevmapRemove {
    /// The forwarder's namespace.
    pub netns: NsRef,
    /// The interface, for people.
    pub interface: String,
    /// Its ifindex in the forwarder's namespace.
    pub ifindex: u32,
}

/// Insert `iifname IIF ip daddr DADDR tcp dport DPORT accept` first in an nf_tables chain,
/// one rule per flow, each marked by its comment (revert deletes the rules of that chain
/// with exactly those comments).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetfilterAccept {
    /// The namespace of the ruleset.
    pub netns: NsRef,
    /// `ip` or `inet`.
    pub family: String,
    /// The table.
    pub table: String,
    /// The chain (Docker's `DOCKER-USER` where Docker is present).
    pub chain: String,
    /// Where the flows arrive.
    pub iifname: String,
    /// The flows to accept.
    pub flows: Vec<AcceptFlow>,
    /// Written as iptables-nft writes rules (a table iptables manages, `ip filter`), so
    /// `iptables-save` and Docker's iptables read them; else as nft writes them.
    pub iptables: bool,
}

/// One flow a [`NetfilterAccept`] lets through: a translated NAT target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptFlow {
    /// The translated destination.
    pub daddr: Ipv4Addr,
    /// The translated TCP port.
    pub dport: u16,
    /// The comment that marks its rule as this fix's.
    pub comment: String,
}

/// Add the reverse (SNAT) entry of a DNAT entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnatAdd {
    /// The forwarder's namespace.
    pub netns: NsRef,
    /// The NAT target (replies come from it).
    pub key: SocketAddrV4,
    /// The public endpoint replies are translated back to.
    pub value: SocketAddrV4,
}

/// Point a NAT entry of the deployed forwarder at another target: the DNAT entry of `from`
/// becomes `new`, and the reverse entry moves from `old` to `new` (both maps, live).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetargetEntry {
    /// The forwarder's namespace.
    pub netns: NsRef,
    /// The public endpoint (DNAT key).
    pub from: SocketAddrV4,
    /// The target it has now.
    pub old: SocketAddrV4,
    /// The target it gets.
    pub new: SocketAddrV4,
}

/// The deployed forwarder's `full_checksum` on or off, switched without downtime (new
/// programs on the pinned maps, BPF_LINK_UPDATE on every pinned link).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetForwarderFullCsum {
    /// The forwarder's namespace.
    pub netns: NsRef,
    /// Requested state.
    pub on: bool,
}

/// Set an interface's MTU (`ip link set DEV mtu N`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetMtu {
    /// Namespace of the interface.
    pub netns: NsRef,
    /// The interface.
    pub interface: String,
    /// The MTU it gets.
    pub mtu: u32,
}

/// Reverse-path settings of one interface: `net.ipv4.conf.<interface>.rp_filter = 2` (loose)
/// and, for packets whose source is one of the host's own addresses (translated replies),
/// `accept_local = 1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetRpFilter {
    /// Namespace of the interface.
    pub netns: NsRef,
    /// The interface.
    pub interface: String,
    /// Set `rp_filter` to 2 (loose).
    pub loose: bool,
    /// Set `accept_local` to 1.
    pub accept_local: bool,
}

/// A fix attached to a finding: text for humans and the action (in JSON also the action's
/// id, [`Action::id`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    /// What it does, in words.
    pub text: String,
    /// The change.
    pub action: Action,
}

impl Fix {
    /// A fix doing `action`, described by `text`.
    pub fn new(text: impl Into<String>, action: Action) -> Self {
        Fix {
            text: text.into(),
            action,
        }
    }

    /// [`Action::id`] of its action.
    pub fn id(&self) -> &'static str {
        self.action.id()
    }
}

impl Serialize for Fix {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Json<'a> {
            id: &'static str,
            text: &'a str,
            action: &'a Action,
        }
        Json {
            id: self.id(),
            text: &self.text,
            action: &self.action,
        }
        .serialize(s)
    }
}
