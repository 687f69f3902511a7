//! Rust mirror of `forwarder-ebpf/include/forwarder.h` plus the names of every program, map
//! and tunable in the forwarder-ebpf objects, so nothing else looks them up by literal.
//!
//! Change this file and the header together; the size assertions catch layout drift.

use std::net::{Ipv4Addr, SocketAddrV4};

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

// ---- Map names ----

/// `struct fwd_endpoint` -> `struct fwd_endpoint`, keyed by (daddr, dport).
pub const DNAT_MAP: &str = "dnat_entries";
/// `struct fwd_endpoint` -> `struct fwd_endpoint`, keyed by (saddr, sport).
pub const SNAT_MAP: &str = "snat_entries";
/// DEVMAP_HASH ifindex -> ifindex (value `struct bpf_devmap_val`: use aya `DevMapHash`).
pub const DEVMAP: &str = "devmap";
/// PERCPU_ARRAY of [`Counter::COUNT`] `u64` slots.
pub const COUNTERS_MAP: &str = "counters";
/// Per-CPU scratch buffer of the full checksum; internal to the program.
pub const CSUM_SCRATCH_MAP: &str = "csum_scratch";
/// LRU_PERCPU_HASH [`FibKey`] -> [`FibNexthop`] of `bpf_fib_lookup` SUCCESS results; used
/// only when [`GLOBAL_FIB_CACHE_NS`] is non-zero. Private to each loaded instance (not pinned).
pub const FIB_CACHE_MAP: &str = "fib_cache";
/// DEVMAP_HASH of `redirect_only.bpf.c` (key = value = target ifindex).
pub const REDIRECT_DEVMAP: &str = "redirect_devmap";
/// PERCPU_ARRAY with one `u64` slot of `count.bpf.c`.
pub const RX_COUNT_MAP: &str = "rx_count";

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

// ---- Sizes from the header ----

/// `FWD_MAX_ENTRIES`: capacity of each NAT map.
pub const MAX_ENTRIES: u32 = 4096;
/// `FWD_MAX_DEVICES`: capacity of the devmap.
pub const MAX_DEVICES: u32 = 1024;
/// `FWD_FIB_CACHE_ENTRIES`: capacity of `fib_cache` (keys; one value per possible CPU each).
pub const FIB_CACHE_ENTRIES: u32 = 4096;
/// `FWD_FIB_RESULTS`: counter slots reserved for `bpf_fib_lookup` results.
pub const FIB_RESULTS: usize = 10;
/// `FWD_CNT_MAX`: number of counter slots.
pub const CNT_MAX: usize = Counter::COUNT;

/// `struct fwd_endpoint`: an IPv4 TCP endpoint, both fields in network byte order as they
/// appear in the packet. `pad` is always 0 because keys are compared bytewise.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// IPv4 address, network byte order (the octets in memory order).
    pub addr: [u8; 4],
    /// Port, network byte order.
    pub port: u16,
    pub pad: u16,
}

// SAFETY: repr(C), only integer fields, no implicit padding (size asserted below).
unsafe impl aya::Pod for Endpoint {}

const _: () = assert!(std::mem::size_of::<Endpoint>() == 8);
const _: () = assert!(std::mem::align_of::<Endpoint>() == 2);

impl Endpoint {
    pub fn new(addr: Ipv4Addr, port: u16) -> Self {
        Endpoint {
            addr: addr.octets(),
            port: port.to_be(),
            pad: 0,
        }
    }

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

/// `struct fwd_fib_key`: key of `fib_cache` (addresses in network byte order).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FibKey {
    /// Ingress ifindex.
    pub ifindex: u32,
    pub saddr: [u8; 4],
    pub daddr: [u8; 4],
    pub tos: u8,
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
    pub smac: [u8; 6],
    pub dmac: [u8; 6],
    pub pad: u16,
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

/// `enum fwd_counter`: index into the `counters` map. Every packet increments [`Counter::Seen`]
/// and exactly one outcome counter; a packet that reached `bpf_fib_lookup` also increments
/// the `Fib*` slot of its result. A packet served from the next-hop cache increments
/// [`Counter::FibCacheHit`] instead of a `Fib*` slot (`FibCacheHit` is neither an outcome nor
/// a fib slot).
#[repr(u32)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Counter {
    Seen = 0,
    NotIpv4,
    NotTcp,
    Fragment,
    Malformed,
    NoEntry,
    /// `FWD_CNT_FIB_BASE` + `BPF_FIB_LKUP_RET_SUCCESS`, and so on for the nine below.
    FibSuccess,
    FibBlackhole,
    FibUnreachable,
    FibProhibit,
    FibNotFwded,
    FibFwdDisabled,
    FibUnsuppLwt,
    FibNoNeigh,
    FibFragNeeded,
    FibNoSrcAddr,
    Redirected,
    DevmapMiss,
    PassedNat,
    PassedLocal,
    Dropped,
    /// `fib_cache` hit: `bpf_fib_lookup` skipped (the outcome is counted as usual).
    FibCacheHit,
}

/// `FWD_CNT_FIB_BASE`.
pub const FIB_BASE: u32 = Counter::FibSuccess as u32;

const _: () = assert!(Counter::Redirected as u32 == FIB_BASE + FIB_RESULTS as u32);
const _: () = assert!(Counter::FibCacheHit as usize + 1 == Counter::COUNT);

impl Counter {
    /// `FWD_CNT_MAX`.
    pub const COUNT: usize = 22;

    /// Every counter in slot order.
    pub const ALL: [Counter; Counter::COUNT] = [
        Counter::Seen,
        Counter::NotIpv4,
        Counter::NotTcp,
        Counter::Fragment,
        Counter::Malformed,
        Counter::NoEntry,
        Counter::FibSuccess,
        Counter::FibBlackhole,
        Counter::FibUnreachable,
        Counter::FibProhibit,
        Counter::FibNotFwded,
        Counter::FibFwdDisabled,
        Counter::FibUnsuppLwt,
        Counter::FibNoNeigh,
        Counter::FibFragNeeded,
        Counter::FibNoSrcAddr,
        Counter::Redirected,
        Counter::DevmapMiss,
        Counter::PassedNat,
        Counter::PassedLocal,
        Counter::Dropped,
        Counter::FibCacheHit,
    ];

    /// Stable snake_case name (used in reports, JSON and the CLI).
    pub const fn name(self) -> &'static str {
        match self {
            Counter::Seen => "seen",
            Counter::NotIpv4 => "not_ipv4",
            Counter::NotTcp => "not_tcp",
            Counter::Fragment => "fragment",
            Counter::Malformed => "malformed",
            Counter::NoEntry => "no_entry",
            Counter::FibSuccess => "fib_success",
            Counter::FibBlackhole => "fib_blackhole",
            Counter::FibUnreachable => "fib_unreachable",
            Counter::FibProhibit => "fib_prohibit",
            Counter::FibNotFwded => "fib_not_fwded",
            Counter::FibFwdDisabled => "fib_fwd_disabled",
            Counter::FibUnsuppLwt => "fib_unsupp_lwt",
            Counter::FibNoNeigh => "fib_no_neigh",
            Counter::FibFragNeeded => "fib_frag_needed",
            Counter::FibNoSrcAddr => "fib_no_src_addr",
            Counter::Redirected => "redirected",
            Counter::DevmapMiss => "devmap_miss",
            Counter::PassedNat => "passed_nat",
            Counter::PassedLocal => "passed_local",
            Counter::Dropped => "dropped",
            Counter::FibCacheHit => "fib_cache_hit",
        }
    }

    pub fn index(self) -> u32 {
        self as u32
    }

    pub fn from_index(i: u32) -> Option<Counter> {
        Counter::ALL.get(i as usize).copied()
    }

    /// The counter slot of a `bpf_fib_lookup` result (0..[`FIB_RESULTS`]).
    pub fn fib(result: u32) -> Option<Counter> {
        (result < FIB_RESULTS as u32)
            .then(|| Counter::from_index(FIB_BASE + result))
            .flatten()
    }

    /// True for the counters that say what finally happened to a packet (one per packet).
    pub fn is_outcome(self) -> bool {
        !matches!(self, Counter::Seen | Counter::FibCacheHit) && !self.is_fib()
    }

    /// True for the `bpf_fib_lookup` result slots.
    pub fn is_fib(self) -> bool {
        (FIB_BASE..FIB_BASE + FIB_RESULTS as u32).contains(&(self as u32))
    }
}

impl std::fmt::Display for Counter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Pairs each counter with its value, in slot order (`values` is the per-CPU sum).
pub fn named_counters(values: &[u64; Counter::COUNT]) -> Vec<(Counter, u64)> {
    Counter::ALL
        .iter()
        .copied()
        .zip(values.iter().copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_slots_match_header_order() {
        for (i, c) in Counter::ALL.iter().enumerate() {
            assert_eq!(c.index() as usize, i, "{c}");
        }
        assert_eq!(Counter::fib(7), Some(Counter::FibNoNeigh));
        assert_eq!(Counter::fib(10), None);
        assert!(Counter::Dropped.is_outcome() && !Counter::FibSuccess.is_outcome());
        assert!(!Counter::FibCacheHit.is_outcome() && !Counter::FibCacheHit.is_fib());
        assert_eq!(Counter::from_index(21), Some(Counter::FibCacheHit));
        assert_eq!(Counter::from_index(Counter::COUNT as u32), None);
        for c in Counter::ALL {
            assert_eq!(
                serde_json::to_value(c).unwrap(),
                c.name(),
                "serde name of {c:?}"
            );
        }
    }

    /// The header's `enum fwd_counter` lists the same slots in the same order.
    #[test]
    fn counter_enum_matches_header() {
        let h = include_str!("../../../forwarder-ebpf/include/forwarder.h");
        let body = h
            .split("enum fwd_counter {")
            .nth(1)
            .and_then(|b| b.split("};").next())
            .expect("enum fwd_counter in forwarder.h");
        let header: Vec<String> = body
            .lines()
            .filter_map(|l| l.trim().strip_prefix("FWD_CNT_"))
            .map(|l| {
                l.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect();
        let mut want: Vec<String> = Vec::new();
        for c in Counter::ALL {
            if c == Counter::FibSuccess {
                want.push("FIB_BASE".into());
            }
            if !c.is_fib() {
                want.push(c.name().to_uppercase());
            }
        }
        want.push("MAX".into());
        assert_eq!(header, want);
        let def = |name: &str| {
            h.lines()
                .find_map(|l| l.strip_prefix(&format!("#define {name} ")))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or_else(|| panic!("#define {name} in forwarder.h"))
        };
        assert_eq!(def("FWD_FIB_CACHE_ENTRIES"), u64::from(FIB_CACHE_ENTRIES));
        assert_eq!(def("FWD_FIB_RESULTS"), FIB_RESULTS as u64);
        assert_eq!(def("FWD_MAX_ENTRIES"), u64::from(MAX_ENTRIES));
    }

    #[test]
    fn endpoint_is_network_order() {
        let e = Endpoint::from("10.123.1.1:80".parse::<SocketAddrV4>().unwrap());
        // SAFETY: Endpoint is repr(C) Pod of size 8.
        let bytes: [u8; 8] = unsafe { std::mem::transmute(e) };
        assert_eq!(bytes, [10, 123, 1, 1, 0, 80, 0, 0]);
        assert_eq!(SocketAddrV4::from(e).to_string(), "10.123.1.1:80");
    }
}
