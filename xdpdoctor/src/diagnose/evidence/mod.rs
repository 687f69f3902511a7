//! Evidence from a short observation window: the forwarder's counters before and after,
//! probe counts (tracepoints, through the adapter in `probes.rs`), the forwarder's decision
//! log (`decisions.rs`), pcap captures with TCP checksum classification on the
//! container-side veths, and `TcpInCsumErrors` deltas in the namespaces of the NAT targets
//! and of the client. Traffic during the window comes from a
//! [`TrafficSource`] the caller gives (the CLI gives the lab's client when the forwarder
//! belongs to a lab); without one the window is passive.

pub mod decisions;
pub mod export;
mod observe;
pub mod probes;
pub mod snmp;
pub mod traffic;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::bpf::forwarder_abi::Counter;
use crate::capture::{CaptureStats, CapturedPacket, Keep};
use crate::probes::{Attribution, DroppedFlow, EventKind};
use crate::progress::Progress;

pub use decisions::DecisionEvidence;
pub use export::{pcap_file_name, write_pcapng, PcapFile};
pub use observe::observe;
pub use traffic::{ConnectResult, TrafficSource};

/// How to observe.
#[derive(Clone)]
pub struct ObserveOptions {
    /// Zero: static diagnosis only.
    pub window: Duration,
    /// Who makes traffic during the window (None: passive).
    pub traffic: Option<Arc<dyn TrafficSource>>,
    /// Whether to attach the tracing probes.
    pub probes: bool,
    /// Whether to read the decision log of xdpdoctor's forwarder during the window (on for
    /// the window only, rate-limited; [`decisions`]).
    pub decisions: bool,
    /// How long a connection of the traffic source may take before it counts as failed.
    pub connect_timeout: Duration,
    /// Keep the captured packets (within these bounds per capture point) for export as
    /// pcapng ([`CaptureEvidence::packets`]); None: classify and count only.
    pub keep_packets: Option<Keep>,
    /// Where the window reports its phases (attaching, the countdown, done).
    pub progress: Progress,
}

/// Default of [`ObserveOptions::connect_timeout`], per attempt: a lab answers in
/// milliseconds, and TCP retransmits a lost SYN only after a second, so no answer within
/// this is a failed attempt (sources retry a failed entry once; see [`TrafficSource::run`]).
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(400);

impl Default for ObserveOptions {
    fn default() -> Self {
        ObserveOptions {
            window: Duration::from_secs(3),
            traffic: None,
            probes: true,
            decisions: true,
            connect_timeout: CONNECT_TIMEOUT,
            keep_packets: None,
            progress: Progress::none(),
        }
    }
}

impl std::fmt::Debug for ObserveOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObserveOptions")
            .field("window", &self.window)
            .field("traffic", &self.traffic.as_ref().map(|t| t.label()))
            .field("probes", &self.probes)
            .field("decisions", &self.decisions)
            .field("connect_timeout", &self.connect_timeout)
            .field("keep_packets", &self.keep_packets)
            .finish()
    }
}

/// Where the window's traffic came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "kebab-case")]
pub enum Traffic {
    /// No window (static diagnosis).
    None,
    /// Nothing was generated; only traffic that happened to flow was seen.
    Passive,
    /// A client (the lab's, or the caller's [`TrafficSource`]) connected to every NAT entry.
    Client {
        /// Who made the traffic.
        by: String,
        /// One result per NAT entry.
        results: Vec<ConnectResult>,
    },
}

/// One probe aggregate (see `crate::probes::Aggregate`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeCount {
    /// Namespace of `ifindex`'s device; never 0 in [`ProbeEvidence::counts`], always 0 in
    /// [`ProbeEvidence::unattributed`].
    pub netns_inode: u64,
    /// Device the packet was on (for XDP events: the receiving device), in `netns_inode`.
    pub ifindex: u32,
    /// What the probe saw.
    pub kind: EventKind,
    /// -errno, drop reason number or XDP action, depending on `kind` (see [`EventKind`]).
    pub code: i32,
    /// `code` in words: an errno (`EOPNOTSUPP`), a drop reason or an XDP action (`ABORTED`).
    pub code_name: String,
    /// The redirect target's ifindex (in `target_netns_inode` when known); 0: none.
    pub target_ifindex: u32,
    /// Namespace of the redirect target's device (tp_btf); 0: unknown or none.
    #[serde(default)]
    pub target_netns_inode: u64,
    /// Packets in the window (devmap_xmit: frames dropped; others: one per event).
    pub count: u64,
    /// XDP program id (redirect_err, xdp_exception), 0 = unknown.
    #[serde(default)]
    pub prog_id: u32,
    /// How `netns_inode` is known: read by the probe, or a classic tracepoint's program id
    /// owned by an XDP program attached in that namespace.
    #[serde(default = "device")]
    pub attribution: Attribution,
}

fn device() -> Attribution {
    Attribution::Device
}

/// What the tracing probes saw during the window, or why they could not look.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeEvidence {
    /// At least one probe attached; false means the counts are missing, not zero.
    pub available: bool,
    /// One line for the report: how many probes were active, or why none could attach.
    pub note: String,
    /// Probes that attached, as `name (kind)`.
    pub active: Vec<String>,
    /// Probes that did not attach, as `name (kind): reason`.
    pub refused: Vec<String>,
    /// Counts in the observed namespaces, each attributed to one (`netns_inode` != 0).
    pub counts: Vec<ProbeCount>,
    /// Counts whose namespace is unknown (classic tracepoints without a program id of a
    /// deployed forwarder): reported, never counted for a namespace (`netns_inode` 0).
    #[serde(default)]
    pub unattributed: Vec<ProbeCount>,
    /// Events the ring buffer had no room for. The counts still include them: they are summed
    /// in the kernel, apart from the ring.
    pub lost: u64,
    /// Names of the namespaces counts point into that the snapshot does not hold (redirect
    /// targets in other namespaces), by inode.
    #[serde(default)]
    pub netns_names: Vec<(u64, String)>,
    /// Packets `kfree_skb` saw dropped in the observed namespaces, by tuple (as the packet
    /// was when dropped: after the program's NAT), reason and device.
    #[serde(default)]
    pub dropped_flows: Vec<DroppedFlow>,
}

impl ProbeEvidence {
    /// The name of namespace `inode` as the probes' decoder knew it.
    pub fn netns_name(&self, inode: u64) -> Option<&str> {
        self.netns_names
            .iter()
            .find(|(i, _)| *i == inode)
            .map(|(_, n)| n.as_str())
    }
}

impl ProbeEvidence {
    /// No probe evidence, `note` saying why (disabled, not attachable, static diagnosis).
    pub fn unavailable(note: impl Into<String>) -> Self {
        ProbeEvidence {
            note: note.into(),
            ..Default::default()
        }
    }
}

/// One capture on a container-side interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureEvidence {
    /// Namespace name (`ip netns` name, or `pid:N`).
    pub netns: String,
    /// Its inode, by which rules find the capture ([`Evidence::capture_of`]).
    pub netns_inode: u64,
    /// The container-side interface captured on (the veth peer of a redirect target).
    pub interface: String,
    /// None if the capture could not run (error text in `note`).
    pub stats: Option<CaptureStats>,
    /// Why the capture could not run (the error chain); None when it ran.
    pub note: Option<String>,
    /// The packets kept when [`ObserveOptions::keep_packets`] asked for them (never in the
    /// JSON document: `diagnose --pcap` writes them as pcapng).
    #[serde(skip)]
    pub packets: Vec<CapturedPacket>,
    /// Packets seen but not kept (past the bounds).
    #[serde(skip)]
    pub not_kept: u64,
}

/// TcpInCsumErrors over the window in one namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsumErrors {
    /// Namespace name (`ip netns` name, or `pid:N`).
    pub netns: String,
    /// Its inode, by which rules match it ([`Evidence::csum_errors_in`]).
    pub netns_inode: u64,
    /// How much `TcpInCsumErrors` grew during the window: segments the namespace's TCP dropped
    /// for a bad checksum (IPv4 and IPv6).
    pub delta: u64,
    /// How much `Udp: InCsumErrors` + `Udp6InCsumErrors` grew: datagrams its UDP dropped.
    #[serde(default)]
    pub udp_delta: u64,
}

/// How much a namespace's counter grew during the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NsCounterDelta {
    /// Namespace name (`ip netns` name, or `pid:N`).
    pub netns: String,
    /// Its inode.
    pub netns_inode: u64,
    /// The growth.
    pub delta: u64,
}

/// Everything observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// How long the window lasted, in milliseconds, attaching the observers included; 0 for a
    /// static diagnosis.
    pub window_ms: u64,
    /// Who made traffic during the window, and each connection's result.
    pub traffic: Traffic,
    /// What the tracing probes counted, or why they could not.
    pub probes: ProbeEvidence,
    /// What the forwarder's decision log said, or why it was not read.
    #[serde(default)]
    pub decisions: DecisionEvidence,
    /// One capture per container-side veth that a redirect target leads to.
    pub captures: Vec<CaptureEvidence>,
    /// `TcpInCsumErrors` deltas in the NAT targets' namespaces and the client's (without a
    /// client: the namespaces behind the external veths); a namespace not read twice is left out.
    pub csum_errors: Vec<CsumErrors>,
    /// `TcpExt: IPReversePathFilter` growth in the diagnosed namespace: packets the stack
    /// dropped in its reverse-path check (empty: not read, or it did not grow).
    #[serde(default)]
    pub rp_filter_drops: Vec<NsCounterDelta>,
    /// Forwarder counters that moved during the window.
    pub counter_deltas: Vec<(Counter, u64)>,
    /// Plain-words remarks (what could not be observed and why).
    pub notes: Vec<String>,
}

impl Evidence {
    /// Evidence without a window (static diagnosis), `why` kept as its only note.
    pub fn static_only(why: &str) -> Self {
        Evidence {
            window_ms: 0,
            traffic: Traffic::None,
            probes: ProbeEvidence::unavailable("not run (static diagnosis)"),
            decisions: DecisionEvidence::unavailable("not read (static diagnosis)"),
            captures: Vec::new(),
            csum_errors: Vec::new(),
            rp_filter_drops: Vec::new(),
            counter_deltas: Vec::new(),
            notes: vec![why.to_string()],
        }
    }

    /// How much a forwarder counter moved during the window.
    pub fn counter_delta(&self, c: Counter) -> u64 {
        self.counter_deltas
            .iter()
            .find(|(n, _)| *n == c)
            .map(|(_, v)| *v)
            .unwrap_or(0)
    }

    /// Probe counts of `kind` towards (target) or at `ifindex`, in namespace `inode`: read by
    /// the probe or attributed by program id. Never counts of an unknown namespace (ifindexes
    /// repeat in every namespace; those are in `probes.unattributed`).
    pub fn probe_count(
        &self,
        kind: EventKind,
        inode: u64,
        ifindex: u32,
        target: bool,
    ) -> Vec<&ProbeCount> {
        self.probes
            .counts
            .iter()
            .filter(|c| c.kind == kind && c.netns_inode == inode && inode != 0)
            .filter(|c| {
                if target {
                    c.target_ifindex == ifindex
                } else {
                    c.ifindex == ifindex
                }
            })
            .collect()
    }

    /// Whether the window saw packets redirected (successfully or not) from `ifindex` in
    /// namespace `inode` (to `target`, if given): the only proof that a program without a
    /// redirect map redirects at all.
    pub fn redirected_from(&self, inode: u64, ifindex: u32, target: Option<u32>) -> bool {
        self.probes.counts.iter().any(|c| {
            matches!(
                c.kind,
                EventKind::Redirect | EventKind::RedirectErr | EventKind::DevmapXmit
            ) && inode != 0
                && c.netns_inode == inode
                && c.ifindex == ifindex
                && c.count > 0
                && target.is_none_or(|t| c.target_ifindex == t)
        })
    }

    /// The capture stats of `iface` in namespace `inode`; None if it was not captured on or
    /// the capture failed.
    pub fn capture_of(&self, inode: u64, iface: &str) -> Option<&CaptureStats> {
        self.captures
            .iter()
            .find(|c| c.netns_inode == inode && c.interface == iface)
            .and_then(|c| c.stats.as_ref())
    }

    /// How much `TcpInCsumErrors` grew in namespace `inode` during the window (0: not read).
    pub fn csum_errors_in(&self, inode: u64) -> u64 {
        self.csum_errors
            .iter()
            .filter(|c| c.netns_inode == inode)
            .map(|c| c.delta)
            .sum()
    }

    /// How much `IPReversePathFilter` grew in namespace `inode` during the window (0: not
    /// read).
    pub fn rp_filter_drops_in(&self, inode: u64) -> u64 {
        self.rp_filter_drops
            .iter()
            .filter(|c| c.netns_inode == inode)
            .map(|c| c.delta)
            .sum()
    }
}
