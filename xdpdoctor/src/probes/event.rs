//! What the probes report: events ([`Event`], with the packet bytes the skb probes copied),
//! their kinds, the kernel's counts ([`Aggregate`]), each probe variant's status
//! ([`ProbeStatus`]), and which namespaces to keep ([`Filter`]).

use serde::{Deserialize, Serialize};

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

/// The IPv4 5-tuple of a packet (ports 0 for protocols without them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Tuple {
    /// Source address and port.
    pub src: std::net::SocketAddrV4,
    /// Destination address and port.
    pub dst: std::net::SocketAddrV4,
    /// IP protocol (6 TCP, 17 UDP).
    pub protocol: u8,
}

impl std::fmt::Display for Tuple {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = match self.protocol {
            6 => "TCP".to_string(),
            17 => "UDP".to_string(),
            n => format!("proto {n}"),
        };
        write!(f, "{} > {} {p}", self.src, self.dst)
    }
}

/// A packet an skb probe saw dropped, by its tuple: where, why and how many (the evidence
/// window keeps these for `kfree_skb`, so a drop can be matched to the flow it belongs to).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DroppedFlow {
    /// Namespace of the device (0: unknown).
    pub netns_inode: u64,
    /// The device the packet was on.
    pub ifindex: u32,
    /// The drop reason number.
    pub code: i32,
    /// The drop reason's name (`NETFILTER_DROP`).
    pub code_name: String,
    /// The packet's tuple as it was when dropped (after any NAT done before).
    pub tuple: Tuple,
    /// Packets.
    pub count: u64,
}

impl PacketBytes {
    /// The IPv4 tuple, when the bytes hold an IPv4 header (and the ports, for TCP and UDP).
    pub fn tuple(&self) -> Option<Tuple> {
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
        let l4 = ip.get(ihl..).unwrap_or(&[]);
        let (sport, dport) = match ip[9] {
            6 | 17 if l4.len() >= 4 => (
                u16::from_be_bytes([l4[0], l4[1]]),
                u16::from_be_bytes([l4[2], l4[3]]),
            ),
            _ => (0, 0),
        };
        Some(Tuple {
            src: std::net::SocketAddrV4::new(addr(12), sport),
            dst: std::net::SocketAddrV4::new(addr(16), dport),
            protocol: ip[9],
        })
    }

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

/// How an event's or count's namespace is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attribution {
    /// The probe read the device's namespace in the kernel.
    Device,
    /// A classic tracepoint (ifindex and program id only): the namespace whose deployed
    /// forwarder runs this program on this interface.
    ProgId,
    /// Unknown: no program id (devmap_xmit), or a program no known forwarder owns on that
    /// interface. `netns_inode` is 0.
    Unattributed,
}

impl Attribution {
    /// The name used in reports and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Attribution::Device => "device",
            Attribution::ProgId => "prog_id",
            Attribution::Unattributed => "unattributed",
        }
    }
}
