//! Rust mirror of `forwarder-ebpf/include/forwarder.h` plus the names of every program, map
//! and tunable in the forwarder-ebpf objects, so nothing else looks them up by literal.
//!
//! Change this file and the header together; the size assertions catch layout drift.

use std::net::{Ipv4Addr, SocketAddrV4};

pub mod counters;

pub use counters::{counters_from_slots, named_counters, Counter, Slot, FIB_RESULTS};

// ---- Program names (the C function names) ----

/// DNAT program for external interfaces (`forwarder.bpf.c`).
pub const PROG_EXTERNAL: &str = "xdp_fwd_external";
/// SNAT program for internal interfaces (`forwarder.bpf.c`).
pub const PROG_INTERNAL: &str = "xdp_fwd_internal";
/// XDP_PASS for a veth peer without XDP (`passthrough.bpf.c`).
pub const PROG_PASS: &str = "xdp_pass";
/// Redirect-everything benchmark program (`redirect_only.bpf.c`).
pub const PROG_REDIRECT_ONLY: &str = "xdp_redirect_only";
/// Counting sink for benchmarks (`count.bpf.c`).
pub const PROG_COUNT: &str = "xdp_count";
/// Benchmark peer: a plain XDP IPv4 router after samples/bpf/xdp_fwd (`router_peer.bpf.c`).
pub const PROG_ROUTER: &str = "xdp_router";
/// Kernel-NAT benchmark entry: restore the frame head, then XDP_PASS (`bench_restore.bpf.c`).
pub const PROG_RESTORE_PASS: &str = "xdp_restore_pass";

// ---- Map names ----

/// `struct fwd_endpoint` -> `struct fwd_endpoint`, keyed by (daddr, dport).
pub const DNAT_MAP: &str = "dnat_entries";
/// `struct fwd_endpoint` -> `struct fwd_endpoint`, keyed by (saddr, sport).
pub const SNAT_MAP: &str = "snat_entries";
/// DEVMAP_HASH ifindex -> ifindex (value `struct bpf_devmap_val`: use aya `DevMapHash`).
pub const DEVMAP: &str = "devmap";
/// PERCPU_ARRAY of [`Slot::COUNT`] `u64` outcome slots (see [`counters`]).
pub const COUNTERS_MAP: &str = "counters";
/// HASH [`PortKey`] -> `u32` port ifindex: the bridge port behind a MAC, for a bridge the
/// forwarder serves (filled by `forwarder::bridge`).
pub const BRIDGE_PORTS_MAP: &str = "bridge_ports";
/// HASH `u32` bridge ifindex -> `u32` 1: the bridges the forwarder serves.
pub const BRIDGES_MAP: &str = "bridges";
/// ARRAY of [`NatSlot`]s: the NAT maps' open-addressing index, 2 directions x 2 halves x
/// [`NAT_SLOTS`] (see `forward::nat_index` and `forwarder.h`).
pub const NAT_INDEX_MAP: &str = "nat_index";
/// ARRAY\[2\] of `u32`: per direction, the half of `nat_index` the programs read (0 or 1).
pub const NAT_ACTIVE_MAP: &str = "nat_active";
/// Per-CPU scratch buffer of the full checksum; internal to the program.
pub const CSUM_SCRATCH_MAP: &str = "csum_scratch";
/// LRU_PERCPU_HASH [`FibKey`] -> [`FibNexthop`] of `bpf_fib_lookup` SUCCESS results; used
/// only when [`GLOBAL_FIB_CACHE_NS`] is non-zero. Private to each loaded instance (not pinned).
pub const FIB_CACHE_MAP: &str = "fib_cache";
/// DEVMAP_HASH of `redirect_only.bpf.c` (key = value = target ifindex).
pub const REDIRECT_DEVMAP: &str = "redirect_devmap";
/// PERCPU_ARRAY with one `u64` slot of `count.bpf.c`.
pub const RX_COUNT_MAP: &str = "rx_count";
/// DEVMAP_HASH of `router_peer.bpf.c`: the egress interfaces it may redirect to.
pub const ROUTER_DEVMAP: &str = "router_devmap";
/// ARRAY\[1\] of `bench_restore.bpf.c`: the pristine frame head (`BENCH_HDR_LEN` bytes).
pub const PRISTINE_MAP: &str = "bench_pristine";

// ---- Tunables (`const volatile` globals, set with `EbpfLoader::override_global`) ----

/// `u32`: non-zero makes the forwarder recompute the TCP checksum fully after NAT (fixes
/// packets that arrive with a partial, offload-pending checksum) instead of updating it.
pub const GLOBAL_FULL_CSUM: &str = "full_csum";
/// `u64`: lifetime in ns of a `fib_cache` entry; 0 (default) turns the next-hop cache off.
pub const GLOBAL_FIB_CACHE_NS: &str = "fib_cache_ns";
/// `u32`: the ifindex `xdp_redirect_only` redirects to.
pub const GLOBAL_TARGET_IFINDEX: &str = "target_ifindex";
/// `u32`: non-zero makes `xdp_count` drop IPv4 frames after counting them (benchmark sink).
pub const GLOBAL_COUNT_DROP_IPV4: &str = "drop_ipv4";
/// `u8`: with `drop_ipv4`, the TTL `xdp_count` writes back into a frame before dropping it
/// (0 = off), so a recycled live-frames page starts its next pass as a first hop again.
pub const GLOBAL_COUNT_RESTORE_TTL: &str = "restore_ttl";

// ---- Sizes from the header ----

/// `FWD_MAX_ENTRIES`: capacity of each NAT map.
pub const MAX_ENTRIES: u32 = 4096;
/// `FWD_MAX_DEVICES`: capacity of the devmap.
pub const MAX_DEVICES: u32 = 1024;
/// `FWD_MAX_PORT_MACS`: capacity of `bridge_ports`.
pub const MAX_PORT_MACS: u32 = 4096;
/// `FWD_FIB_CACHE_ENTRIES`: capacity of `fib_cache` (keys; one value per possible CPU each).
pub const FIB_CACHE_ENTRIES: u32 = 4096;
/// `FWD_NAT_BITS`: log2 of the slots in one half of `nat_index`.
pub const NAT_BITS: u32 = 13;
/// `FWD_NAT_SLOTS`: slots in one half of `nat_index` (twice [`MAX_ENTRIES`]).
pub const NAT_SLOTS: u32 = 1 << NAT_BITS;
/// `FWD_NAT_PROBES`: slots a lookup probes before it defers to the hash map.
pub const NAT_PROBES: u32 = 8;
/// `FWD_NAT_HASH_MUL`.
pub const NAT_HASH_MUL: u32 = 0x9e37_79b1;

/// `FWD_SLOT_MAX`: entries of the `counters` map.
pub const SLOT_MAX: usize = Slot::COUNT;

/// `struct fwd_endpoint`: an IPv4 TCP endpoint, both fields in network byte order as they
/// appear in the packet. `pad` is always 0 because keys are compared bytewise.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Endpoint {
    /// IPv4 address, network byte order (the octets in memory order).
    pub addr: [u8; 4],
    /// Port, network byte order.
    pub port: u16,
    /// Always 0: keys are compared bytewise.
    pub pad: u16,
}

// SAFETY: repr(C), only integer fields, no implicit padding (size asserted below).
unsafe impl aya::Pod for Endpoint {}

const _: () = assert!(std::mem::size_of::<Endpoint>() == 8);
const _: () = assert!(std::mem::align_of::<Endpoint>() == 2);

impl Endpoint {
    /// `addr:port` (port in host byte order) in the map's byte order.
    pub fn new(addr: Ipv4Addr, port: u16) -> Self {
        Endpoint {
            addr: addr.octets(),
            port: port.to_be(),
            pad: 0,
        }
    }

    /// The address.
    pub fn ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.addr)
    }

    /// The port in host byte order.
    pub fn port(&self) -> u16 {
        u16::from_be(self.port)
    }
}

impl From<SocketAddrV4> for Endpoint {
    fn from(sa: SocketAddrV4) -> Self {
        Endpoint::new(*sa.ip(), sa.port())
    }
}

impl From<Endpoint> for SocketAddrV4 {
    fn from(e: Endpoint) -> Self {
        SocketAddrV4::new(e.ip(), e.port())
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.ip(), self.port())
    }
}

/// `struct fwd_nat_slot`: one slot of `nat_index`, a NAT map entry (`key.addr` 0: empty).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NatSlot {
    /// The NAT map's key.
    pub key: Endpoint,
    /// Its value: the endpoint the key translates to.
    pub to: Endpoint,
}

// SAFETY: repr(C), two Pod fields, no implicit padding (size asserted below).
unsafe impl aya::Pod for NatSlot {}

const _: () = assert!(std::mem::size_of::<NatSlot>() == 16);
// A half of the index is at most half full.
const _: () = assert!(NAT_SLOTS >= 2 * MAX_ENTRIES);

/// `struct fwd_port_key`: key of `bridge_ports`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortKey {
    /// The bridge's ifindex.
    pub bridge: u32,
    /// A MAC address behind one of its ports.
    pub mac: [u8; 6],
    /// Always 0: keys are compared bytewise.
    pub pad: u16,
}

// SAFETY: repr(C), plain integer fields, no implicit padding (size asserted below).
unsafe impl aya::Pod for PortKey {}

const _: () = assert!(std::mem::size_of::<PortKey>() == 12);

/// `fwd_nat_hash()`: the home position of `k` in a half of `nat_index`. Computed on the
/// fields as stored (network byte order read as native integers), exactly as the program
/// computes it on the packet's bytes.
pub fn nat_hash(k: &Endpoint) -> u32 {
    let port = u32::from(k.port);
    (u32::from_ne_bytes(k.addr) ^ (port << 16 | port)).wrapping_mul(NAT_HASH_MUL) >> (32 - NAT_BITS)
}

/// `struct fwd_fib_key`: key of `fib_cache` (addresses in network byte order).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FibKey {
    /// Ingress ifindex.
    pub ifindex: u32,
    /// Source address of the packet as it will leave.
    pub saddr: [u8; 4],
    /// Destination address of the packet as it will leave.
    pub daddr: [u8; 4],
    /// IPv4 TOS.
    pub tos: u8,
    /// Always 0: keys are compared bytewise.
    pub pad: [u8; 3],
}

/// `struct fwd_fib_nexthop`: a cached `bpf_fib_lookup` SUCCESS result.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FibNexthop {
    /// `bpf_ktime_get_ns()` after which the entry is ignored.
    pub expires_ns: u64,
    /// Egress ifindex.
    pub ifindex: u32,
    /// The lookup's `mtu_result`; larger packets take the full lookup.
    pub mtu: u16,
    /// Source MAC (the egress interface's).
    pub smac: [u8; 6],
    /// Destination MAC (the next hop's).
    pub dmac: [u8; 6],
    /// Always 0.
    pub pad: u16,
    /// Always 0.
    pub pad2: u32,
}

// SAFETY: repr(C), only integer fields, no implicit padding (sizes asserted below).
unsafe impl aya::Pod for FibKey {}
// SAFETY: as above.
unsafe impl aya::Pod for FibNexthop {}

const _: () = assert!(std::mem::size_of::<FibKey>() == 16);
const _: () = assert!(std::mem::size_of::<FibNexthop>() == 32);
const _: () = assert!(std::mem::align_of::<FibNexthop>() == 8);

/// `enum fwd_direction`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// External interface: DNAT by destination.
    Inbound = 0,
    /// Internal interface: SNAT by source.
    Outbound = 1,
}

impl Direction {
    /// The program that translates in this direction.
    pub fn program(self) -> &'static str {
        match self {
            Direction::Inbound => PROG_EXTERNAL,
            Direction::Outbound => PROG_INTERNAL,
        }
    }

    /// The NAT map this direction looks up.
    pub fn map(self) -> &'static str {
        match self {
            Direction::Inbound => DNAT_MAP,
            Direction::Outbound => SNAT_MAP,
        }
    }
}

/// The value of `#define NAME <integer>` in a header's text (for the header-parsing tests).
#[cfg(test)]
fn header_define(h: &str, name: &str) -> u64 {
    h.lines()
        .find_map(|l| l.strip_prefix(&format!("#define {name} ")))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("#define {name} in forwarder.h"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header's sizes are the ones mirrored here (the slot enum: `counters`).
    #[test]
    fn sizes_match_header() {
        let h = include_str!("../../../../forwarder-ebpf/include/forwarder.h");
        assert_eq!(
            header_define(h, "FWD_FIB_CACHE_ENTRIES"),
            u64::from(FIB_CACHE_ENTRIES)
        );
        assert_eq!(header_define(h, "FWD_MAX_ENTRIES"), u64::from(MAX_ENTRIES));
        assert_eq!(header_define(h, "FWD_MAX_DEVICES"), u64::from(MAX_DEVICES));
        assert_eq!(
            header_define(h, "FWD_MAX_PORT_MACS"),
            u64::from(MAX_PORT_MACS)
        );
        assert_eq!(header_define(h, "FWD_NAT_BITS"), u64::from(NAT_BITS));
        assert_eq!(header_define(h, "FWD_NAT_PROBES"), u64::from(NAT_PROBES));
        let mul = h
            .lines()
            .find_map(|l| l.strip_prefix("#define FWD_NAT_HASH_MUL "))
            .expect("FWD_NAT_HASH_MUL");
        assert_eq!(mul.trim(), format!("{NAT_HASH_MUL:#x}u"));
        // The hash is the header's expression, term by term.
        assert!(h.contains(
            "return ((k->addr ^ (port << 16 | port)) * FWD_NAT_HASH_MUL) >> (32 - FWD_NAT_BITS);"
        ));
    }

    #[test]
    fn nat_hash_spreads_and_stays_in_range() {
        let mut seen = std::collections::HashSet::new();
        for port in 8000..8064u16 {
            let h = nat_hash(&Endpoint::new(Ipv4Addr::new(192, 168, 9, 1), port));
            assert!(h < NAT_SLOTS);
            seen.insert(h);
        }
        assert!(
            seen.len() > 60,
            "{} distinct homes for 64 ports",
            seen.len()
        );
        // A value worked out by hand (little-endian host), so a change of the formula is
        // noticed: addr 0x01017b0a ^ (0x5000 << 16 | 0x5000), times the multiplier, top 13 bits.
        let k = Endpoint::new(Ipv4Addr::new(10, 123, 1, 1), 80);
        if cfg!(target_endian = "little") {
            assert_eq!(nat_hash(&k), 8009);
        }
    }
}
