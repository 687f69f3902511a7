//! `#[repr(C)]` mirror of `probes/include/xd_probes_abi.h` (the ABI of `probes/trace.bpf.c`)
//! plus the names of its programs, maps and load-time globals, named once here.

/// `enum xd_kind`.
/// `xdp:xdp_redirect_err`: code = errno (negative).
pub const XD_REDIRECT_ERR: u32 = 1;
/// `xdp:xdp_devmap_xmit` with drops or an error: code = errno.
pub const XD_DEVMAP_XMIT: u32 = 2;
/// `xdp:xdp_exception`: code = the XDP action.
pub const XD_XDP_EXCEPTION: u32 = 3;
/// `veth_xdp_xmit` returned < 0: code = its return value.
pub const XD_VETH_XDP_XMIT: u32 = 4;
/// `skb:kfree_skb` with a selected reason: code = the drop reason.
pub const XD_KFREE_SKB: u32 = 5;
/// `tcp:tcp_bad_csum`: code = 0.
pub const XD_TCP_BAD_CSUM: u32 = 6;
/// Successful redirect (`xdp:xdp_redirect`): counted only.
pub const XD_REDIRECT: u32 = 7;

/// `enum xd_source`: a BTF-typed tracepoint (devices and namespaces known).
pub const XD_SRC_TP_BTF: u8 = 1;
/// A classic tracepoint (ifindexes only, for xdp events).
pub const XD_SRC_TRACEPOINT: u8 = 2;
/// fexit (devices and namespaces known).
pub const XD_SRC_FEXIT: u8 = 3;
/// kprobe at entry (the device) + kretprobe (the return value).
pub const XD_SRC_KRETPROBE: u8 = 4;

/// `XD_REASON_BITS`: drop reasons below this number can be selected.
pub const XD_REASON_BITS: usize = 256;

/// `enum xd_pkt_start`: no packet bytes.
pub const XD_PKT_NONE: u8 = 0;
/// The bytes start at the MAC (Ethernet) header.
pub const XD_PKT_MAC: u8 = 1;
/// The bytes start at the network (IP) header: the skb's MAC header was not set.
pub const XD_PKT_NETWORK: u8 = 2;
/// `XD_PKT_BYTES`: most packet bytes an skb probe copies into its record.
pub const XD_PKT_BYTES: usize = 128;

/// `struct xd_event`: one record of the ring buffer.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct XdEvent {
    /// `bpf_ktime_get_ns()` when the probe ran.
    pub ts_ns: u64,
    /// Namespace inode of `ifindex`'s device; 0 = unknown.
    pub netns: u64,
    /// Namespace inode of `target_ifindex`'s device; 0 = unknown.
    pub target_netns: u64,
    /// kfree_skb: address of the caller that dropped.
    pub location: u64,
    /// Device the packet was on (xdp events: the receiving device).
    pub ifindex: u32,
    /// Redirect target; 0 = none.
    pub target_ifindex: u32,
    /// Meaning by kind (errno, XDP action, drop reason; see the `XD_*` kinds).
    pub code: i32,
    /// `enum xd_kind`: one of the `XD_*` kinds above.
    pub kind: u32,
    /// XDP program id (redirect_err, exception); 0 = unknown.
    pub prog_id: u32,
    /// XDP action, when the tracepoint has one.
    pub act: u32,
    /// devmap_xmit: frames sent.
    pub sent: i32,
    /// devmap_xmit: frames dropped.
    pub drops: i32,
    /// CPU the probe ran on.
    pub cpu: u32,
    /// kfree_skb: `skb->protocol`, host order.
    pub protocol: u16,
    /// `enum xd_source`: one of the `XD_SRC_*` values.
    pub source: u8,
    /// Always 0.
    pub pad: u8,
    /// skb events: packet length from `pkt_start` to its end; 0 = no packet.
    pub pkt_len: u32,
    /// Bytes of the packet that follow the event in its record (<= [`XD_PKT_BYTES`]).
    pub caplen: u16,
    /// `enum xd_pkt_start`: [`XD_PKT_NONE`], [`XD_PKT_MAC`] or [`XD_PKT_NETWORK`].
    pub pkt_start: u8,
    /// Always 0.
    pub pad2: u8,
}

const _: () = assert!(std::mem::size_of::<XdEvent>() == 80);
const _: () = assert!(std::mem::offset_of!(XdEvent, pkt_len) == 72);
/// `sizeof(struct xd_event_pkt)`: the record of an skb probe, event + packet bytes.
pub const XD_EVENT_PKT_SIZE: usize = std::mem::size_of::<XdEvent>() + XD_PKT_BYTES;
const _: () = assert!(XD_EVENT_PKT_SIZE == 208);

impl XdEvent {
    /// Reads a record from ring-buffer bytes (None if too short).
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() < std::mem::size_of::<Self>() {
            return None;
        }
        // SAFETY: length checked; XdEvent is plain old data; unaligned read.
        Some(unsafe { std::ptr::read_unaligned(b.as_ptr().cast::<Self>()) })
    }

    /// The packet bytes that follow the event in record `b` (an `xd_event_pkt`): `caplen`
    /// bytes, or none when the record is a bare event or the probe reached no packet.
    pub fn packet_bytes<'a>(&self, b: &'a [u8]) -> &'a [u8] {
        let start = std::mem::size_of::<Self>();
        let n = usize::from(self.caplen).min(XD_PKT_BYTES);
        if self.pkt_start == XD_PKT_NONE || b.len() < start + n {
            return &[];
        }
        &b[start..start + n]
    }
}

/// `struct xd_agg_key`: key of the per-CPU hash `counts` (value: u64 packets).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
pub struct XdAggKey {
    /// Namespace inode of the device; 0 = unknown.
    pub netns: u64,
    /// Namespace of the redirect target's device (0: unknown or none).
    pub target_netns: u64,
    /// Device the packet was on.
    pub ifindex: u32,
    /// Redirect target; 0 = none.
    pub target_ifindex: u32,
    /// As [`XdEvent::code`].
    pub code: i32,
    /// As [`XdEvent::kind`].
    pub kind: u32,
    /// XDP program id (redirect_err, exception), 0 = unknown.
    pub prog_id: u32,
    /// Always 0 (explicit, so the key has no implicit padding).
    pub pad: u32,
}

const _: () = assert!(std::mem::size_of::<XdAggKey>() == 40);
const _: () = assert!(std::mem::offset_of!(XdAggKey, prog_id) == 32);

// SAFETY: repr(C), integer fields only, no padding (size asserted above).
unsafe impl aya::Pod for XdAggKey {}

/// The object (for messages): `probes/trace.bpf.c`, embedded as `objects::TRACE`.
pub const OBJECT: &str = "trace.bpf.o";

/// Ring buffer of [`XdEvent`] records.
pub const MAP_EVENTS: &str = "events";
/// Per-CPU hash [`XdAggKey`] -> packets.
pub const MAP_COUNTS: &str = "counts";
/// Per-CPU count of records the ring buffer had no room for.
pub const MAP_LOST: &str = "lost";
/// Hash of the namespace inodes to report (when `filter_netns` is set).
pub const MAP_NETNS_FILTER: &str = "netns_filter";
/// `XD_MAX_FILTER_NETNS`: capacity of `netns_filter`.
pub const MAX_FILTER_NETNS: usize = 8192;
/// veth_xdp_xmit calls in flight (kprobe -> kretprobe), keyed by pid_tgid.
pub const MAP_VETH_XMIT_CALLS: &str = "veth_xmit_calls";

/// `const volatile` global set at load: report only namespaces in `netns_filter`.
pub const GLOBAL_FILTER_NETNS: &str = "filter_netns";
/// `const volatile` global: bitmap of the drop reasons kfree_skb reports
/// ([`XD_REASON_BITS`] bits).
pub const GLOBAL_DROP_REASON_MASK: &str = "drop_reason_mask";
/// Classic skb fallbacks read record fields at byte offsets taken from the tracepoints'
/// format files: this one is `skbaddr` of `skb:kfree_skb`.
pub const GLOBAL_KFREE_SKBADDR_OFFSET: &str = "kfree_skbaddr_offset";
/// `location` of `skb:kfree_skb`.
pub const GLOBAL_KFREE_LOCATION_OFFSET: &str = "kfree_location_offset";
/// `reason` of `skb:kfree_skb`.
pub const GLOBAL_KFREE_REASON_OFFSET: &str = "kfree_reason_offset";
/// `skbaddr` of `tcp:tcp_bad_csum`.
pub const GLOBAL_BAD_CSUM_SKBADDR_OFFSET: &str = "bad_csum_skbaddr_offset";

/// Programs (C function names): `xdp:xdp_redirect_err` as tp_btf (devices and namespaces
/// from the `net_device`).
pub const PROG_REDIRECT_ERR_BTF: &str = "xd_redirect_err_btf";
/// `xdp:xdp_redirect_err` as a classic tracepoint (ifindexes only).
pub const PROG_REDIRECT_ERR_TP: &str = "xd_redirect_err_tp";
/// Successful redirects (opt-in: one hit per redirected packet).
pub const PROG_REDIRECT_BTF: &str = "xd_redirect_btf";
/// Classic fallback of [`PROG_REDIRECT_BTF`].
pub const PROG_REDIRECT_TP: &str = "xd_redirect_tp";
/// `xdp:xdp_redirect_map_err` as a classic tracepoint (older kernels report map redirects there).
pub const PROG_REDIRECT_MAP_ERR_TP: &str = "xd_redirect_map_err_tp";
/// `xdp:xdp_devmap_xmit` as tp_btf.
pub const PROG_DEVMAP_XMIT_BTF: &str = "xd_devmap_xmit_btf";
/// `xdp:xdp_devmap_xmit` as a classic tracepoint.
pub const PROG_DEVMAP_XMIT_TP: &str = "xd_devmap_xmit_tp";
/// `xdp:xdp_exception` as tp_btf.
pub const PROG_EXCEPTION_BTF: &str = "xd_exception_btf";
/// `xdp:xdp_exception` as a classic tracepoint.
pub const PROG_EXCEPTION_TP: &str = "xd_exception_tp";
/// fexit on `veth_xdp_xmit` (its return value and device), where the kernel allows fexit.
pub const PROG_VETH_FEXIT: &str = "xd_veth_xmit_fexit";
/// kprobe at `veth_xdp_xmit` entry (remembers the device), paired with the kretprobe.
pub const PROG_VETH_KPROBE: &str = "xd_veth_xmit_kprobe";
/// kretprobe of `veth_xdp_xmit` (its return value), where kprobes exist.
pub const PROG_VETH_KRETPROBE: &str = "xd_veth_xmit_kretprobe";
/// `skb:kfree_skb` as tp_btf (drop reasons; namespace from the skb).
pub const PROG_KFREE_SKB_BTF: &str = "xd_kfree_skb_btf";
/// `skb:kfree_skb` as a classic tracepoint (fields at the format-file offsets).
pub const PROG_KFREE_SKB_TP: &str = "xd_kfree_skb_tp";
/// `tcp:tcp_bad_csum` as tp_btf.
pub const PROG_TCP_BAD_CSUM_BTF: &str = "xd_tcp_bad_csum_btf";
/// `tcp:tcp_bad_csum` as a classic tracepoint.
pub const PROG_TCP_BAD_CSUM_TP: &str = "xd_tcp_bad_csum_tp";
