//! `#[repr(C)]` mirror of `probes/include/xd_probes_abi.h` (the ABI of `probes/trace.bpf.c`)
//! plus the names of its programs, maps and load-time globals, named once here.

/// `enum xd_kind`.
pub const XD_REDIRECT_ERR: u32 = 1;
pub const XD_DEVMAP_XMIT: u32 = 2;
pub const XD_XDP_EXCEPTION: u32 = 3;
pub const XD_VETH_XDP_XMIT: u32 = 4;
pub const XD_KFREE_SKB: u32 = 5;
pub const XD_TCP_BAD_CSUM: u32 = 6;
/// Successful redirect (`xdp:xdp_redirect`): counted only.
pub const XD_REDIRECT: u32 = 7;

/// `enum xd_source`.
pub const XD_SRC_TP_BTF: u8 = 1;
pub const XD_SRC_TRACEPOINT: u8 = 2;
pub const XD_SRC_FEXIT: u8 = 3;
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
    pub ts_ns: u64,
    pub netns: u64,
    pub target_netns: u64,
    pub location: u64,
    pub ifindex: u32,
    pub target_ifindex: u32,
    pub code: i32,
    pub kind: u32,
    pub prog_id: u32,
    pub act: u32,
    pub sent: i32,
    pub drops: i32,
    pub cpu: u32,
    pub protocol: u16,
    pub source: u8,
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
    pub netns: u64,
    /// Namespace of the redirect target's device (0: unknown or none).
    pub target_netns: u64,
    pub ifindex: u32,
    pub target_ifindex: u32,
    pub code: i32,
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

/// Maps.
pub const MAP_EVENTS: &str = "events";
pub const MAP_COUNTS: &str = "counts";
pub const MAP_LOST: &str = "lost";
pub const MAP_NETNS_FILTER: &str = "netns_filter";
/// `XD_MAX_FILTER_NETNS`: capacity of `netns_filter`.
pub const MAX_FILTER_NETNS: usize = 8192;
/// veth_xdp_xmit calls in flight (kprobe -> kretprobe), keyed by pid_tgid.
pub const MAP_VETH_XMIT_CALLS: &str = "veth_xmit_calls";

/// `const volatile` globals set at load.
pub const GLOBAL_FILTER_NETNS: &str = "filter_netns";
pub const GLOBAL_DROP_REASON_MASK: &str = "drop_reason_mask";
/// Classic skb fallbacks: byte offsets of the record fields they read (from the format files).
pub const GLOBAL_KFREE_SKBADDR_OFFSET: &str = "kfree_skbaddr_offset";
pub const GLOBAL_KFREE_LOCATION_OFFSET: &str = "kfree_location_offset";
pub const GLOBAL_KFREE_REASON_OFFSET: &str = "kfree_reason_offset";
pub const GLOBAL_BAD_CSUM_SKBADDR_OFFSET: &str = "bad_csum_skbaddr_offset";

/// Programs (C function names).
pub const PROG_REDIRECT_ERR_BTF: &str = "xd_redirect_err_btf";
pub const PROG_REDIRECT_ERR_TP: &str = "xd_redirect_err_tp";
/// Successful redirects (opt-in: one hit per redirected packet).
pub const PROG_REDIRECT_BTF: &str = "xd_redirect_btf";
/// Classic fallback of [`PROG_REDIRECT_BTF`].
pub const PROG_REDIRECT_TP: &str = "xd_redirect_tp";
pub const PROG_REDIRECT_MAP_ERR_TP: &str = "xd_redirect_map_err_tp";
pub const PROG_DEVMAP_XMIT_BTF: &str = "xd_devmap_xmit_btf";
pub const PROG_DEVMAP_XMIT_TP: &str = "xd_devmap_xmit_tp";
pub const PROG_EXCEPTION_BTF: &str = "xd_exception_btf";
pub const PROG_EXCEPTION_TP: &str = "xd_exception_tp";
pub const PROG_VETH_FEXIT: &str = "xd_veth_xmit_fexit";
pub const PROG_VETH_KPROBE: &str = "xd_veth_xmit_kprobe";
pub const PROG_VETH_KRETPROBE: &str = "xd_veth_xmit_kretprobe";
pub const PROG_KFREE_SKB_BTF: &str = "xd_kfree_skb_btf";
pub const PROG_KFREE_SKB_TP: &str = "xd_kfree_skb_tp";
pub const PROG_TCP_BAD_CSUM_BTF: &str = "xd_tcp_bad_csum_btf";
pub const PROG_TCP_BAD_CSUM_TP: &str = "xd_tcp_bad_csum_tp";
