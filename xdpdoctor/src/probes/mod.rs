//! Probes: where packets die, as the running kernel lets us see it.
//!
//! One BPF object (`probes/trace.bpf.c`) holds every probe variant; user space loads and
//! attaches them one by one, in preference order per probe family (tp_btf before classic
//! tracepoint, fexit before kretprobe), so a refusal only costs that variant and is recorded in
//! words ([`ProbeSet::report`]). Families live one per file: [`xdp`], [`veth`], [`skb`].
//!
//! Every hit is counted in the kernel in a per-CPU hash keyed by (namespace inode, ifindex,
//! kind, errno or reason, target ifindex, program id), so a burst loses no count
//! ([`ProbeSet::aggregates`]); hits whose namespace the probe could not read (classic xdp
//! tracepoints) are attributed by program id to a deployed forwarder's namespace, or marked
//! unattributed, never matched by ifindex ([`attribute`]);
//! individual events go through a ring buffer ([`ProbeSet::poll_events`]), and reservations
//! that fail are counted ([`ProbeSet::lost`]). Events are decoded with [`decode::Names`]:
//! interface names in their namespace, namespace names, errno and drop-reason names, and the
//! deployed forwarder's programs. Dropping a [`ProbeSet`] detaches everything.

use std::time::Duration;

use serde::Serialize;

use crate::Result;

mod attach;
pub mod attribute;
pub mod decode;
mod events;
mod kinds;
pub mod pcap;
mod reader;
pub mod skb;
pub mod tracefs;
pub mod veth;
pub mod xdp;

pub use attribute::Attribution;
pub use reader::ProbeSet;

/// Which namespaces to watch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Filter {
    /// Namespace inodes to keep; empty = all. Events whose namespace neither the probe nor
    /// their program id tells ([`Attribution::Unattributed`]) are kept, marked as such.
    pub netns_inodes: Vec<u64>,
}

impl Filter {
    /// Every namespace.
    pub fn all() -> Self {
        Filter::default()
    }

    /// The one namespace with this inode.
    pub fn netns(inode: u64) -> Self {
        Filter {
            netns_inodes: vec![inode],
        }
    }

    /// Whether an event attributed to these namespaces (0 = unknown) passes.
    /// 0 is "not known", never a wildcard for a namespace: callers count such hits apart.
    pub fn accepts(&self, netns: u64, target_netns: u64) -> bool {
        self.netns_inodes.is_empty()
            || (netns == 0 && target_netns == 0)
            || self.netns_inodes.contains(&netns)
            || self.netns_inodes.contains(&target_netns)
    }
}

/// What an event reports.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// `xdp:xdp_redirect_err`: a redirect failed before queueing (code: -errno).
    RedirectErr,
    /// `xdp:xdp_devmap_xmit` with drops or an error (code: -errno; count: frames dropped).
    DevmapXmit,
    /// `xdp:xdp_exception` (code: the XDP action).
    XdpException,
    /// `veth_xdp_xmit` returned an error (code: -errno).
    VethXdpXmit,
    /// `skb:kfree_skb` with a reason of interest (code: drop reason number).
    KfreeSkb,
    /// `tcp:tcp_bad_csum` (code: 0).
    TcpBadCsum,
    /// `xdp:xdp_redirect`: a redirect that worked (code: 0); counted only, never an event.
    Redirect,
}

impl EventKind {
    /// The kind of an `enum xd_kind` value (None: unknown to this build).
    pub fn from_abi(kind: u32) -> Option<Self> {
        use crate::bpf::probes_abi as abi;
        Some(match kind {
            abi::XD_REDIRECT_ERR => EventKind::RedirectErr,
            abi::XD_DEVMAP_XMIT => EventKind::DevmapXmit,
            abi::XD_XDP_EXCEPTION => EventKind::XdpException,
            abi::XD_VETH_XDP_XMIT => EventKind::VethXdpXmit,
            abi::XD_KFREE_SKB => EventKind::KfreeSkb,
            abi::XD_TCP_BAD_CSUM => EventKind::TcpBadCsum,
            abi::XD_REDIRECT => EventKind::Redirect,
            _ => return None,
        })
    }

    /// The name used in output and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::RedirectErr => "redirect_err",
            EventKind::DevmapXmit => "devmap_xmit",
            EventKind::XdpException => "xdp_exception",
            EventKind::VethXdpXmit => "veth_xdp_xmit",
            EventKind::KfreeSkb => "kfree_skb",
            EventKind::TcpBadCsum => "tcp_bad_csum",
            EventKind::Redirect => "redirect",
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a probe variant hooks into the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeKind {
    /// BTF-typed tracepoint (raw tracepoint with typed arguments).
    TpBtf,
    /// Classic (perf) tracepoint: the record's fields only.
    Tracepoint,
    /// fexit on a kernel function (through vmlinux or a module's BTF).
    Fexit,
    /// kprobe at entry + kretprobe at return (where kprobes exist).
    Kretprobe,
}

impl ProbeKind {
    /// The name used in output, JSON and `trace --without`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::TpBtf => "tp_btf",
            ProbeKind::Tracepoint => "tracepoint",
            ProbeKind::Fexit => "fexit",
            ProbeKind::Kretprobe => "kretprobe",
        }
    }
}

/// One probe variant and whether it is live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeStatus {
    /// The probe family: a tracepoint (`xdp:xdp_redirect_err`) or a function (`veth_xdp_xmit`).
    pub name: String,
    /// The variant.
    pub kind: ProbeKind,
    /// Whether it is attached now.
    pub active: bool,
    /// Why it is not active, in plain words.
    pub reason: Option<String>,
}

/// One decoded event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The probe variant that saw it (`tp_btf`, `tracepoint`, `fexit`, `kretprobe`).
    pub probe: &'static str,
    /// Kernel monotonic time (ns).
    pub ts_ns: u64,
    /// CPU the probe ran on.
    pub cpu: u32,
    /// Namespace of the device: read by the probe, or (classic xdp tracepoints) the one whose
    /// deployed forwarder runs `prog_id` on `ifindex`; 0: unknown (see `attribution`).
    pub netns_inode: u64,
    /// Its name (a /run/netns name, or how the namespace was found), when known.
    pub netns: Option<String>,
    /// How `netns_inode` is known: `device`, `prog_id` or `unattributed`.
    pub attribution: Attribution,
    /// The device the packet was on, in `netns_inode`.
    pub ifindex: u32,
    /// Its name in that namespace, when known.
    pub ifname: Option<String>,
    /// Namespace of the redirect target's device (0: unknown or none).
    pub target_netns_inode: u64,
    /// Its name, when known.
    pub target_netns: Option<String>,
    /// Redirect target (0: none).
    pub target_ifindex: u32,
    /// The target's name in its own namespace, when known.
    pub target_ifname: Option<String>,
    /// -errno, drop reason number or XDP action (see [`EventKind`]).
    pub code: i32,
    /// `code` in words (`EOPNOTSUPP`, `TCP_CSUM`, `XDP_ABORTED`).
    pub code_name: String,
    /// XDP program id (redirect_err, exception), 0 = unknown.
    pub prog_id: u32,
    /// The deployed forwarder's program this id belongs to, if any.
    pub prog: Option<String>,
    /// XDP action of the tracepoint, when it has one.
    pub action: Option<String>,
    /// devmap_xmit: frames sent.
    pub sent: i32,
    /// devmap_xmit: frames dropped.
    pub drops: i32,
    /// kfree_skb: L3 protocol (ETH_P_*), host order.
    pub protocol: u16,
    /// kfree_skb: address of the function that dropped the skb.
    pub location: u64,
    /// kfree_skb, tcp_bad_csum: the first bytes of the packet, when the probe could reach
    /// them; never for the `xdp:*` tracepoints, which carry no packet data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packet: Option<PacketBytes>,
}

/// Where the bytes of a [`PacketBytes`] start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PacketStart {
    /// At the Ethernet header.
    Mac,
    /// At the IP header: the skb's MAC header was not set (a packet dropped before it got
    /// one, or a device without one).
    Network,
}

/// The first bytes of a packet, copied in the kernel by an skb probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PacketBytes {
    /// Where `data` starts.
    pub start: PacketStart,
    /// Length of the whole packet from `start` (`data` holds the first bytes of it).
    pub len: u32,
    /// At most `XD_PKT_BYTES` (128) bytes; hex in JSON.
    #[serde(serialize_with = "hex")]
    pub data: Vec<u8>,
}

impl PacketBytes {
    /// `IPv4 a.b.c.d:p > e.f.g.h:q TCP [S.]` (or without ports and flags for other
    /// protocols), when the bytes hold an IPv4 header; None otherwise.
    pub fn summary(&self) -> Option<String> {
        let ip = match self.start {
            PacketStart::Mac if self.data.get(12..14)? == [0x08, 0x00] => &self.data[14..],
            PacketStart::Mac => return None,
            PacketStart::Network => &self.data[..],
        };
        if ip.len() < 20 || ip[0] >> 4 != 4 {
            return None;
        }
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let addr = |o: usize| std::net::Ipv4Addr::new(ip[o], ip[o + 1], ip[o + 2], ip[o + 3]);
        let (src, dst, proto) = (addr(12), addr(16), ip[9]);
        let l4 = ip.get(ihl..).unwrap_or(&[]);
        let port = |o: usize| u16::from_be_bytes([l4[o], l4[o + 1]]);
        Some(match proto {
            6 if l4.len() >= 14 => {
                let f = l4[13];
                let flags: String = [
                    (0x02, 'S'),
                    (0x01, 'F'),
                    (0x04, 'R'),
                    (0x08, 'P'),
                    (0x10, '.'),
                ]
                .iter()
                .filter(|(bit, _)| f & bit != 0)
                .map(|(_, c)| *c)
                .collect();
                format!("IPv4 {src}:{} > {dst}:{} TCP [{flags}]", port(0), port(2))
            }
            17 if l4.len() >= 4 => format!("IPv4 {src}:{} > {dst}:{} UDP", port(0), port(2)),
            p => format!("IPv4 {src} > {dst} proto {p}"),
        })
    }
}

fn hex<S: serde::Serializer>(b: &[u8], s: S) -> std::result::Result<S::Ok, S::Error> {
    use std::fmt::Write;
    let mut h = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(h, "{x:02x}");
    }
    s.serialize_str(&h)
}

/// Kernel-side counts for one (namespace, ifindex, kind, code, target, program) key, summed
/// over CPUs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Aggregate {
    /// As [`Event::netns_inode`]: 0 only when [`Attribution::Unattributed`].
    pub netns_inode: u64,
    /// The device, in `netns_inode`.
    pub ifindex: u32,
    /// What happened.
    pub kind: EventKind,
    /// errno (negative) or drop reason number or XDP action.
    pub code: i32,
    /// `code` in words.
    pub code_name: String,
    /// Redirect target (0: none).
    pub target_ifindex: u32,
    /// Namespace of the redirect target's device (tp_btf), 0 = unknown or none.
    pub target_netns_inode: u64,
    /// XDP program id (redirect_err, exception), 0 = unknown.
    pub prog_id: u32,
    /// How `netns_inode` is known.
    pub attribution: Attribution,
    /// Packets (devmap_xmit: frames dropped; others: one per event).
    pub count: u64,
}

/// Result of [`observe`].
#[derive(Debug, Clone, Serialize)]
pub struct Observation {
    /// Every probe variant and whether it was live.
    pub probes: Vec<ProbeStatus>,
    /// The kernel's counts for the window.
    pub aggregates: Vec<Aggregate>,
    /// Events the ring buffer had no room for (the counts include them).
    pub lost: u64,
}

/// Attaches every probe possible, waits `window` (returns early with `Error::Interrupted` on
/// Ctrl-C), reads the kernel's counts and detaches.
pub fn observe(filter: &Filter, window: Duration) -> Result<Observation> {
    observe_ready(filter, &crate::cancel::Window::new(window), None)
}

/// `observe`, telling `ready` once every probe is attached (attaching takes a while: BTF and
/// the verifier), so a caller can start its traffic then and not before. `ready` is also
/// dropped if attaching fails, which wakes a waiting caller.
pub fn observe_ready(
    filter: &Filter,
    window: &crate::cancel::Window,
    ready: Option<std::sync::mpsc::Sender<()>>,
) -> Result<Observation> {
    let opts = ProbeOptions {
        redirects: true,
        ..Default::default()
    };
    let mut set = ProbeSet::attach_with(filter, &opts)?;
    if let Some(r) = ready {
        let _ = r.send(());
    }
    while let Some(left) = window.left() {
        // Drain the ring so it never fills; counts are kept in the kernel either way.
        set.drain_raw(left.min(Duration::from_millis(50)))?;
    }
    crate::cancel::check()?;
    Ok(Observation {
        probes: set.report(),
        aggregates: set.aggregates()?,
        lost: set.lost(),
    })
}

/// A probe family: one thing to observe, with its variants in preference order.
#[derive(Debug)]
pub(crate) struct Family {
    pub name: &'static str,
    #[allow(dead_code)]
    pub event: EventKind,
    /// Attached only when the caller asks ([`ProbeOptions::redirects`]): it fires for every
    /// packet that works, not only for those that die.
    pub on_request: bool,
    /// Functions: the kernel module that defines the function when it is not built in
    /// (`veth`). Until it is loaded there is nothing to attach to: the family waits
    /// ([`ProbeOptions::wait_for_modules`], then [`ProbeSet::attach_pending`]) or is skipped.
    pub module: Option<&'static str>,
    pub variants: &'static [Variant],
}

/// What to attach beyond the drop probes.
#[derive(Debug, Clone, Default)]
pub struct ProbeOptions {
    /// Variants of these kinds are not tried (shown as refused, "excluded by the caller").
    pub exclude: Vec<ProbeKind>,
    /// Also count successful redirects (`xdp:xdp_redirect`, one hit per redirected packet):
    /// where programs that call `bpf_redirect()` send packets, and redirects into another
    /// namespace. Diagnose turns it on for its short window; `trace --redirects` on request.
    pub redirects: bool,
    /// A probe whose function lives in a module that is not loaded yet (`veth_xdp_xmit`
    /// before the first veth exists) is kept pending and attached by
    /// [`ProbeSet::attach_pending`] once the module appears (`trace`). Without it such a
    /// probe loads nothing: there is no device it could see (`diagnose`, `probes`).
    pub wait_for_modules: bool,
}

/// One way to attach a family's program.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Variant {
    /// Program (C function) name in trace.bpf.c.
    pub program: &'static str,
    /// kretprobe pairs: the kprobe program that runs at the function's entry and keeps what
    /// the return needs (the device); attached and detached together with `program`.
    pub entry: Option<&'static str>,
    pub kind: ProbeKind,
    /// Tracepoint category (tracepoints) or "" (functions).
    pub category: &'static str,
    /// Tracepoint or function name.
    pub target: &'static str,
    /// Classic tracepoints: the record fields the program reads at offsets set at load from
    /// the tracepoint's format file; the variant is refused if one is missing there.
    pub reads: &'static [RecordField],
}

/// A field of a classic tracepoint record that a program reads. Its offset is never a
/// constant in C: it comes from the tracepoint's `format` file and is passed to the program as
/// a `const volatile` global at load.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordField {
    /// The field's name in the format file (`skbaddr`).
    pub name: &'static str,
    /// Bytes the program reads; the format must say the same.
    pub size: u32,
    /// The global that receives the field's offset.
    pub global: &'static str,
}

impl Variant {
    pub const fn tp_btf(program: &'static str, category: &'static str, tp: &'static str) -> Self {
        Variant {
            program,
            entry: None,
            kind: ProbeKind::TpBtf,
            category,
            target: tp,
            reads: &[],
        }
    }
    pub const fn tracepoint(
        program: &'static str,
        category: &'static str,
        tp: &'static str,
    ) -> Self {
        Variant {
            program,
            entry: None,
            kind: ProbeKind::Tracepoint,
            category,
            target: tp,
            reads: &[],
        }
    }
    pub const fn fexit(program: &'static str, func: &'static str) -> Self {
        Variant {
            program,
            entry: None,
            kind: ProbeKind::Fexit,
            category: "",
            target: func,
            reads: &[],
        }
    }
    /// A kprobe at `func`'s entry (`entry`) and a kretprobe at its return (`program`).
    pub const fn kretprobe(entry: &'static str, program: &'static str, func: &'static str) -> Self {
        Variant {
            program,
            entry: Some(entry),
            kind: ProbeKind::Kretprobe,
            category: "",
            target: func,
            reads: &[],
        }
    }
    /// This variant with the record fields its program reads (classic tracepoints).
    pub const fn reading(self, reads: &'static [RecordField]) -> Self {
        Variant { reads, ..self }
    }
    /// Its programs: its own, then the entry probe of a pair. They load and attach together.
    pub fn programs(&self) -> impl Iterator<Item = &'static str> {
        std::iter::once(self.program).chain(self.entry)
    }
}

/// A tracepoint family: the tp_btf program first, the classic tracepoint program as its
/// fallback; named `category:tracepoint`. `reads: FIELDS` lists the record fields the classic
/// program reads at offsets from the format file ([`RecordField`]).
macro_rules! tracepoint_family {
    ($event:expr, $category:literal, $tp:literal, $btf:expr, $classic:expr $(,)?) => {
        $crate::probes::tracepoint_family!($event, $category, $tp, $btf, $classic, reads: &[])
    };
    ($event:expr, $category:literal, $tp:literal, $btf:expr, $classic:expr,
     reads: $reads:expr $(,)?) => {
        $crate::probes::Family {
            name: concat!($category, ":", $tp),
            event: $event,
            on_request: false,
            module: None,
            variants: &[
                $crate::probes::Variant::tp_btf($btf, $category, $tp),
                $crate::probes::Variant::tracepoint($classic, $category, $tp).reading($reads),
            ],
        }
    };
}
pub(crate) use tracepoint_family;

/// Every family, in report order.
pub(crate) fn families() -> impl Iterator<Item = &'static Family> {
    veth::FAMILIES
        .iter()
        .chain(xdp::FAMILIES)
        .chain(skb::FAMILIES)
}
