//! The forwarder's per-CPU `counters` map, two views of it:
//!
//! - [`Slot`] mirrors `enum fwd_slot` in `forwarder-ebpf/include/forwarder.h`: the map's
//!   layout. Every packet increments exactly **one** slot (one map update per packet), the one
//!   that says what happened to it, including the `bpf_fib_lookup` result or a next-hop cache
//!   hit where there was one.
//! - [`Counter`] is what users, `status`, the diagnose rules and the bench read: `seen`,
//!   exactly one outcome per packet, one `fib_*` slot per lookup, `fib_cache_hit`. Each
//!   counter is a sum of slots; [`Slot::counters`] is the one table that says which.
//!
//! The header is the single source of the slot layout; `slots_match_header` below parses it.

/// `FWD_FIB_RESULTS`: `bpf_fib_lookup` results that have a slot (SUCCESS 0 .. NO_SRC_ADDR 9).
pub const FIB_RESULTS: usize = 10;

/// `enum fwd_slot`: index into the `counters` map (per-CPU `u64`s). Slots are in header order;
/// `FibSuccess` ..= `FibNoSrcAddr` are `FWD_SLOT_FIB_BASE` + the lookup's result.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    /// Not Ethernet/IPv4: XDP_PASS.
    NotIpv4 = 0,
    /// IPv4 but not TCP: XDP_PASS.
    NotTcp,
    /// IPv4 fragment: XDP_PASS.
    Fragment,
    /// Truncated or bad IHL: XDP_PASS.
    Malformed,
    /// TCP without a NAT entry: XDP_PASS.
    NoEntry,
    /// NAT entry, TTL <= 1: XDP_PASS unmodified (the stack answers).
    TtlExceeded,
    /// Lookup SUCCESS, NATed and redirected.
    FibSuccess,
    /// Lookup BLACKHOLE: XDP_DROP.
    FibBlackhole,
    /// Lookup UNREACHABLE: XDP_DROP.
    FibUnreachable,
    /// Lookup PROHIBIT: XDP_DROP.
    FibProhibit,
    /// Lookup NOT_FWDED (local): XDP_PASS unmodified.
    FibNotFwded,
    /// Lookup FWD_DISABLED: XDP_PASS unmodified.
    FibFwdDisabled,
    /// Lookup UNSUPP_LWT: XDP_PASS unmodified.
    FibUnsuppLwt,
    /// Lookup NO_NEIGH: NATed, XDP_PASS (the stack resolves the neighbour).
    FibNoNeigh,
    /// Lookup FRAG_NEEDED: XDP_PASS unmodified.
    FibFragNeeded,
    /// Lookup NO_SRC_ADDR: XDP_PASS unmodified.
    FibNoSrcAddr,
    /// Lookup SUCCESS, egress interface not in the devmap: NATed, XDP_PASS.
    FibDevmapMiss,
    /// Lookup error or a result newer than the program: XDP_PASS unmodified.
    FibError,
    /// Next hop from the cache: NATed and redirected.
    CacheRedirected,
    /// Next hop from the cache, egress interface not in the devmap: NATed, XDP_PASS.
    CacheDevmapMiss,
    /// Lookup SUCCESS to a bridge the forwarder serves, the MAC's port known: NATed and
    /// redirected to the port.
    BridgeRedirected,
    /// Lookup SUCCESS to a bridge the forwarder serves, the MAC unknown: NATed, XDP_PASS.
    BridgePassed,
    /// [`Slot::BridgeRedirected`] with the next hop from the cache.
    CacheBridgeRedirected,
    /// [`Slot::BridgePassed`] with the next hop from the cache.
    CacheBridgePassed,
}

impl Slot {
    /// `FWD_SLOT_MAX`: entries of the `counters` map.
    pub const COUNT: usize = 24;

    /// Every slot in map order.
    pub const ALL: [Slot; Slot::COUNT] = [
        Slot::NotIpv4,
        Slot::NotTcp,
        Slot::Fragment,
        Slot::Malformed,
        Slot::NoEntry,
        Slot::TtlExceeded,
        Slot::FibSuccess,
        Slot::FibBlackhole,
        Slot::FibUnreachable,
        Slot::FibProhibit,
        Slot::FibNotFwded,
        Slot::FibFwdDisabled,
        Slot::FibUnsuppLwt,
        Slot::FibNoNeigh,
        Slot::FibFragNeeded,
        Slot::FibNoSrcAddr,
        Slot::FibDevmapMiss,
        Slot::FibError,
        Slot::CacheRedirected,
        Slot::CacheDevmapMiss,
        Slot::BridgeRedirected,
        Slot::BridgePassed,
        Slot::CacheBridgeRedirected,
        Slot::CacheBridgePassed,
    ];

    /// The counters one packet in this slot adds 1 to: always [`Counter::Seen`] and exactly
    /// one outcome; the `fib_*` counter of the lookup's result if the lookup ran;
    /// [`Counter::FibCacheHit`] if the next hop came from the cache instead.
    pub const fn counters(self) -> &'static [Counter] {
        use Counter as C;
        match self {
            Slot::NotIpv4 => &[C::Seen, C::NotIpv4],
            Slot::NotTcp => &[C::Seen, C::NotTcp],
            Slot::Fragment => &[C::Seen, C::Fragment],
            Slot::Malformed => &[C::Seen, C::Malformed],
            Slot::NoEntry => &[C::Seen, C::NoEntry],
            Slot::TtlExceeded => &[C::Seen, C::TtlExceeded],
            Slot::FibSuccess => &[C::Seen, C::FibSuccess, C::Redirected],
            Slot::FibBlackhole => &[C::Seen, C::FibBlackhole, C::Dropped],
            Slot::FibUnreachable => &[C::Seen, C::FibUnreachable, C::Dropped],
            Slot::FibProhibit => &[C::Seen, C::FibProhibit, C::Dropped],
            Slot::FibNotFwded => &[C::Seen, C::FibNotFwded, C::PassedLocal],
            Slot::FibFwdDisabled => &[C::Seen, C::FibFwdDisabled, C::PassedLocal],
            Slot::FibUnsuppLwt => &[C::Seen, C::FibUnsuppLwt, C::PassedLocal],
            Slot::FibNoNeigh => &[C::Seen, C::FibNoNeigh, C::PassedNat],
            Slot::FibFragNeeded => &[C::Seen, C::FibFragNeeded, C::PassedLocal],
            Slot::FibNoSrcAddr => &[C::Seen, C::FibNoSrcAddr, C::PassedLocal],
            Slot::FibDevmapMiss => &[C::Seen, C::FibSuccess, C::DevmapMiss],
            Slot::FibError => &[C::Seen, C::PassedLocal],
            Slot::CacheRedirected => &[C::Seen, C::FibCacheHit, C::Redirected],
            Slot::CacheDevmapMiss => &[C::Seen, C::FibCacheHit, C::DevmapMiss],
            Slot::BridgeRedirected => &[C::Seen, C::FibSuccess, C::Redirected, C::BridgePort],
            Slot::BridgePassed => &[C::Seen, C::FibSuccess, C::PassedBridge],
            Slot::CacheBridgeRedirected => &[C::Seen, C::FibCacheHit, C::Redirected, C::BridgePort],
            Slot::CacheBridgePassed => &[C::Seen, C::FibCacheHit, C::PassedBridge],
        }
    }

    /// Index into the `counters` map.
    pub fn index(self) -> u32 {
        self as u32
    }

    /// True for `FWD_SLOT_FIB_BASE` + result (`FibSuccess` ..= `FibNoSrcAddr`).
    pub fn is_fib_result(self) -> bool {
        (Slot::FibSuccess as u32..Slot::FibSuccess as u32 + FIB_RESULTS as u32)
            .contains(&(self as u32))
    }
}

/// What the forwarder reports per packet: every packet counts in [`Counter::Seen`] and exactly
/// one outcome counter; a packet that reached `bpf_fib_lookup` also in the `Fib*` counter of
/// its result. A packet served from the next-hop cache counts in [`Counter::FibCacheHit`]
/// instead of a `Fib*` counter (`FibCacheHit` is neither an outcome nor a fib result).
/// Derived from the map's [`Slot`]s by [`counters_from_slots`]; the discriminants index
/// `[u64; Counter::COUNT]` arrays, not the map.
#[repr(u32)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Counter {
    /// Every packet the program saw.
    Seen = 0,
    /// Outcome: not Ethernet/IPv4, passed.
    NotIpv4,
    /// Outcome: IPv4 but not TCP, passed.
    NotTcp,
    /// Outcome: IPv4 fragment, passed.
    Fragment,
    /// Outcome: truncated or bad IHL, passed.
    Malformed,
    /// Outcome: TCP without a NAT entry, passed.
    NoEntry,
    /// Outcome: NAT entry, TTL <= 1: passed unmodified (the stack answers, as for a router).
    TtlExceeded,
    /// Lookup result SUCCESS (with the cache on: lookups, not packets).
    FibSuccess,
    /// Lookup result BLACKHOLE.
    FibBlackhole,
    /// Lookup result UNREACHABLE.
    FibUnreachable,
    /// Lookup result PROHIBIT.
    FibProhibit,
    /// Lookup result NOT_FWDED (local destination or no route).
    FibNotFwded,
    /// Lookup result FWD_DISABLED (forwarding sysctl off on the ingress interface).
    FibFwdDisabled,
    /// Lookup result UNSUPP_LWT.
    FibUnsuppLwt,
    /// Lookup result NO_NEIGH (route found, neighbour unresolved).
    FibNoNeigh,
    /// Lookup result FRAG_NEEDED.
    FibFragNeeded,
    /// Lookup result NO_SRC_ADDR.
    FibNoSrcAddr,
    /// Outcome: NATed and redirected (TTL - 1, next-hop MACs).
    Redirected,
    /// Outcome: egress interface not in the devmap; NATed and passed.
    DevmapMiss,
    /// Outcome: egress a bridge the forwarder serves, but no port known for the next hop's
    /// MAC; NATed and passed (the bridge forwards it, through netfilter).
    PassedBridge,
    /// Outcome: NATed and passed (neighbour unresolved).
    PassedNat,
    /// Outcome: passed unmodified after the lookup (local, forwarding off, too big, ...).
    PassedLocal,
    /// Outcome: dropped (blackhole, unreachable or prohibit route).
    Dropped,
    /// `fib_cache` hit: `bpf_fib_lookup` skipped (the outcome is counted as usual).
    FibCacheHit,
    /// Of the redirected packets, those sent to a bridge's port (the lookup answered a
    /// bridge; the port came from the MAC). Not an outcome: they count in `redirected` too.
    BridgePort,
}

impl Counter {
    /// Number of counters.
    pub const COUNT: usize = 25;

    /// Every counter in report order.
    pub const ALL: [Counter; Counter::COUNT] = [
        Counter::Seen,
        Counter::NotIpv4,
        Counter::NotTcp,
        Counter::Fragment,
        Counter::Malformed,
        Counter::NoEntry,
        Counter::TtlExceeded,
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
        Counter::PassedBridge,
        Counter::PassedNat,
        Counter::PassedLocal,
        Counter::Dropped,
        Counter::FibCacheHit,
        Counter::BridgePort,
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
            Counter::TtlExceeded => "ttl_exceeded",
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
            Counter::PassedBridge => "passed_bridge",
            Counter::PassedNat => "passed_nat",
            Counter::PassedLocal => "passed_local",
            Counter::Dropped => "dropped",
            Counter::FibCacheHit => "fib_cache_hit",
            Counter::BridgePort => "bridge_port",
        }
    }

    /// The counter of a `bpf_fib_lookup` result (0..[`FIB_RESULTS`]).
    pub fn fib(result: u32) -> Option<Counter> {
        (result < FIB_RESULTS as u32)
            .then(|| Counter::ALL[Counter::FibSuccess as usize + result as usize])
    }

    /// True for the counters that say what finally happened to a packet (one per packet).
    pub fn is_outcome(self) -> bool {
        !matches!(
            self,
            Counter::Seen | Counter::FibCacheHit | Counter::BridgePort
        ) && !self.is_fib()
    }

    /// True for the `bpf_fib_lookup` result counters.
    pub fn is_fib(self) -> bool {
        (Counter::FibSuccess as u32..=Counter::FibNoSrcAddr as u32).contains(&(self as u32))
    }
}

impl std::fmt::Display for Counter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The counters from the map's slot values (each summed over CPUs), indexed by `Counter as
/// usize`.
pub fn counters_from_slots(slots: &[u64; Slot::COUNT]) -> [u64; Counter::COUNT] {
    let mut out = [0u64; Counter::COUNT];
    for (slot, &n) in Slot::ALL.iter().zip(slots) {
        for &c in slot.counters() {
            out[c as usize] += n;
        }
    }
    out
}

/// Pairs each counter with its value, in report order.
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
    fn counters_are_dense_and_named_by_serde() {
        for (i, c) in Counter::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i, "{c}");
            assert_eq!(
                serde_json::to_value(c).unwrap(),
                c.name(),
                "serde name of {c:?}"
            );
        }
        for (i, s) in Slot::ALL.iter().enumerate() {
            assert_eq!(s.index() as usize, i, "{s:?}");
        }
        assert_eq!(Counter::fib(7), Some(Counter::FibNoNeigh));
        assert_eq!(Counter::fib(10), None);
        assert!(Counter::Dropped.is_outcome() && !Counter::FibSuccess.is_outcome());
        assert!(Counter::TtlExceeded.is_outcome());
        assert!(!Counter::FibCacheHit.is_outcome() && !Counter::FibCacheHit.is_fib());
    }

    /// The rules and the tests rely on these: seen once, exactly one outcome, at most one of
    /// (fib result, cache hit) per packet; every counter reachable from some slot.
    #[test]
    fn every_slot_is_one_packet() {
        let mut reached = [false; Counter::COUNT];
        for s in Slot::ALL {
            let cs = s.counters();
            assert_eq!(
                cs.iter().filter(|c| **c == Counter::Seen).count(),
                1,
                "{s:?}"
            );
            assert_eq!(cs.iter().filter(|c| c.is_outcome()).count(), 1, "{s:?}");
            assert!(
                !cs.contains(&Counter::BridgePort) || cs.contains(&Counter::Redirected),
                "{s:?}"
            );
            let fib = cs.iter().filter(|c| c.is_fib()).count();
            let hit = cs.iter().filter(|c| **c == Counter::FibCacheHit).count();
            assert!(fib + hit <= 1, "{s:?}");
            if s.is_fib_result() {
                let result = s.index() - Slot::FibSuccess.index();
                assert!(cs.contains(&Counter::fib(result).unwrap()), "{s:?}");
            }
            for c in cs {
                reached[*c as usize] = true;
            }
        }
        assert!(reached.iter().all(|r| *r), "a counter no slot feeds");
    }

    #[test]
    fn counters_sum_their_slots() {
        let mut slots = [0u64; Slot::COUNT];
        slots[Slot::FibSuccess as usize] = 5;
        slots[Slot::CacheRedirected as usize] = 7;
        slots[Slot::FibDevmapMiss as usize] = 2;
        slots[Slot::TtlExceeded as usize] = 1;
        slots[Slot::FibError as usize] = 3;
        let c = counters_from_slots(&slots);
        assert_eq!(c[Counter::Seen as usize], 18);
        assert_eq!(c[Counter::Redirected as usize], 12);
        assert_eq!(c[Counter::FibSuccess as usize], 7);
        assert_eq!(c[Counter::FibCacheHit as usize], 7);
        assert_eq!(c[Counter::DevmapMiss as usize], 2);
        assert_eq!(c[Counter::TtlExceeded as usize], 1);
        assert_eq!(c[Counter::PassedLocal as usize], 3);
        let outcomes: u64 = Counter::ALL
            .iter()
            .filter(|c| c.is_outcome())
            .map(|&x| c[x as usize])
            .sum();
        assert_eq!(outcomes, c[Counter::Seen as usize]);
    }

    /// The header's `enum fwd_slot` lists the same slots in the same order, and its sizes are
    /// the ones mirrored here.
    #[test]
    fn slots_match_header() {
        let h = include_str!("../../../../forwarder-ebpf/include/forwarder.h");
        let body = h
            .split("enum fwd_slot {")
            .nth(1)
            .and_then(|b| b.split("};").next())
            .expect("enum fwd_slot in forwarder.h");
        let header: Vec<String> = body
            .lines()
            .filter_map(|l| l.trim().strip_prefix("FWD_SLOT_"))
            .map(|l| {
                l.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect();
        let mut want: Vec<String> = Vec::new();
        for s in Slot::ALL {
            if s == Slot::FibSuccess {
                want.push("FIB_BASE".into());
            }
            if !s.is_fib_result() {
                want.push(snake_upper(&format!("{s:?}")));
            }
        }
        want.push("MAX".into());
        assert_eq!(header, want);
        // FIB_DEVMAP_MISS is pinned to FIB_BASE + FWD_FIB_RESULTS in the header.
        assert!(body.contains("FWD_SLOT_FIB_DEVMAP_MISS = FWD_SLOT_FIB_BASE + FWD_FIB_RESULTS"));
        assert_eq!(
            Slot::FibDevmapMiss.index(),
            Slot::FibSuccess.index() + FIB_RESULTS as u32
        );
        assert_eq!(
            super::super::header_define(h, "FWD_FIB_RESULTS"),
            FIB_RESULTS as u64
        );
    }

    /// `FibDevmapMiss` -> `FIB_DEVMAP_MISS`.
    fn snake_upper(camel: &str) -> String {
        let mut out = String::new();
        for (i, ch) in camel.chars().enumerate() {
            if ch.is_ascii_uppercase() && i > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_uppercase());
        }
        out
    }
}
