//! The forwarder's NAT rewrite, run by the kernel on random frames, must produce exactly the
//! frame a full recomputation gives: translated addresses/ports, fib MACs, TTL one lower, and
//! IPv4 and TCP checksums equal to a from-scratch computation. Regression test for the seed's checksum
//! update (write-up problem 3 and the carry folding).
//!
//! The real BPF code runs (BPF_PROG_TEST_RUN with `ingress_ifindex`, so `bpf_fib_lookup` sees
//! a real FIB) inside a throwaway namespace, equivalent to:
//!
//! ```text
//! ip netns add xdt-cs-PID-N
//! ip -n NS link add ext0 address 02:00:00:00:01:01 type veth peer ext0p    # + int0/int0p
//! ip -n NS addr add 192.0.2.1/24 dev ext0;  ip -n NS addr add 10.200.0.254/16 dev int0
//! ip -n NS route add default via 192.0.2.254
//! ip -n NS neigh add 192.0.2.254 lladdr 02:00:00:00:01:fe dev ext0 nud permanent
//! ip -n NS neigh add TARGET lladdr ... dev int0 nud permanent             # one per entry
//! ip netns exec NS sysctl net.ipv4.conf.all.forwarding=1
//! ```
//!
//! Frames are built with our own RFC 1071 code and checked with etherparse's, so the two
//! sides do not share an implementation. Two objects are tested: `full_csum = 0` (RFC 1624
//! incremental update) and `full_csum = 1` (full recomputation, which must also repair
//! frames that arrive with a partial, offload-pending TCP checksum).
//!
//! The frames and their generator are in `frames`, the namespace and NAT entries in `nat_ns`,
//! loading the programs and the expected frames in `fwd_run`. TTL, devmap-miss and router
//! peer cases: `router.rs`.
#![allow(clippy::print_stderr)]

use xdpdoctor::bpf::forwarder_abi::{self as abi, Counter, Endpoint};
use xdpdoctor::bpf::test_run::run_xdp;

use crate::common::require_root;
use crate::frames::{random_client, random_frame, with_tos, Rng};
use crate::fwd_run::{
    assert_bytes_eq, expected_frame, load_forwarder, load_program, read_counters, Leaves, XDP_PASS,
    XDP_REDIRECT,
};
use crate::nat_ns::{ifindex, random_entries, Entry, TestNs, EXT_MAC, GW_MAC, INT_MAC};

/// Frames per direction and per object.
const FRAMES: usize = 3000;

#[test]
#[ignore = "needs root: creates a namespace, runs BPF programs"]
fn nat_checksums_equal_full_recomputation() {
    require_root();
    let mut rng = Rng::new();
    let entries = random_entries(&mut rng);
    let ns = TestNs::create(&entries);

    for full in [0u32, 1] {
        let stats =
            ns.0.run(|| Ok(run_object(full, &entries, &mut rng.fork())))
                .expect("namespace thread");
        eprintln!(
            "checksum: full_csum={full}: {} frames, {} with IPv4 options, {} partial: exact match {}, \
             partial left invalid {}",
            stats.frames, stats.with_options, stats.partial, stats.exact, stats.partial_invalid
        );
    }
}

/// With the next-hop cache on (`fib_cache_ns`), repeated frames of one flow are served from
/// the cache after the first lookup and must come out byte-identical to a full
/// recomputation, as with the cache off. Egress MTUs are lowered to 1400 so that frames
/// above it must still get the lookup's FRAG_NEEDED (XDP_PASS, unmodified) even when a
/// smaller frame of the same flow has filled the cache.
#[test]
#[ignore = "needs root: creates a namespace, runs BPF programs"]
fn nat_with_fib_cache_is_byte_identical() {
    require_root();
    let mut rng = Rng::new();
    let entries = random_entries(&mut rng);
    let ns = TestNs::create(&entries);
    ns.ip_batch(&format!(
        "link set ext0 mtu {CACHE_MTU}\nlink set int0 mtu {CACHE_MTU}\n"
    ));
    let stats =
        ns.0.run(|| Ok(run_cached(&entries, &mut rng.fork())))
            .expect("namespace thread");
    eprintln!(
        "checksum: fib cache: {} frames in {} flows, {} cache hits, {} above the MTU passed",
        stats.frames, stats.flows, stats.hits, stats.too_big
    );
}

const CACHE_MTU: usize = 1400;
/// Flows per direction and frames per flow in the cache test.
const CACHE_FLOWS: usize = 16;
const CACHE_FRAMES: usize = 40;

#[derive(Default)]
struct CacheStats {
    flows: usize,
    frames: usize,
    hits: u64,
    too_big: usize,
}

fn run_cached(entries: &[Entry], rng: &mut Rng) -> CacheStats {
    let ext = ifindex("ext0");
    let int = ifindex("int0");
    // Long enough that nothing expires during the test.
    let ttl_ns = 60_000_000_000u64;
    let mut fwd = load_forwarder(1, Some(ttl_ns), entries, &[ext, int]);

    let mut stats = CacheStats::default();
    for dir in [abi::Direction::Inbound, abi::Direction::Outbound] {
        let prog = load_program(&mut fwd.bpf, dir);
        let ingress = if dir == abi::Direction::Inbound {
            ext
        } else {
            int
        };
        let before = read_counters(&fwd.counters);
        let (mut small, mut big) = (0u64, 0u64);
        for f in 0..CACHE_FLOWS {
            let entry = entries[f % entries.len()];
            let client = Endpoint::new(random_client(rng), rng.port());
            let (src, dst) = match dir {
                abi::Direction::Inbound => (client, entry.from),
                abi::Direction::Outbound => (entry.to, client),
            };
            stats.flows += 1;
            for n in 0..CACHE_FRAMES {
                // One flow: same addresses, ports and tos (the cache key); sizes, options
                // and payloads vary. Every frame also goes through twice, identically.
                let frame = with_tos(random_frame(rng, src, dst, n % 3 == 0), 0x10);
                let ctx = format!(
                    "fib cache {dir:?} flow {f} frame {n} {}:{} -> {}:{} (ihl {}, tot_len {})",
                    src.ip(),
                    src.port(),
                    dst.ip(),
                    dst.port(),
                    frame.ihl,
                    frame.tot_len
                );
                for pass in 0..2 {
                    let res =
                        run_xdp(prog, ingress, &frame.bytes, 1, 0).expect("BPF_PROG_TEST_RUN");
                    stats.frames += 1;
                    if frame.tot_len > CACHE_MTU {
                        // FRAG_NEEDED from the lookup: passed to the stack unmodified.
                        assert_eq!(res.retval, XDP_PASS, "{ctx} pass {pass}: verdict");
                        assert_bytes_eq(&res.data_out, &frame.bytes, &ctx);
                        big += 1;
                        stats.too_big += 1;
                        continue;
                    }
                    assert_eq!(res.retval, XDP_REDIRECT, "{ctx} pass {pass}: verdict");
                    let expected = expected_nat(&frame, &entry, dir);
                    assert_bytes_eq(&res.data_out, &expected, &format!("{ctx} pass {pass}"));
                    small += 1;
                }
            }
        }

        let after = read_counters(&fwd.counters);
        let delta = |c: Counter| after[c as usize] - before[c as usize];
        let ctx = format!("fib cache {dir:?}");
        let total = small + big;
        assert_eq!(delta(Counter::Seen), total, "{ctx}: seen");
        assert_eq!(delta(Counter::Redirected), small, "{ctx}: redirected");
        assert_eq!(delta(Counter::FibFragNeeded), big, "{ctx}: fib_frag_needed");
        assert_eq!(delta(Counter::PassedLocal), big, "{ctx}: passed_local");
        // A cached packet skips the lookup and increments no fib slot.
        assert_eq!(
            delta(Counter::FibSuccess) + delta(Counter::FibCacheHit),
            small,
            "{ctx}: fib_success + fib_cache_hit"
        );
        // One lookup per flow unless the test run moved between CPUs (per-CPU cache).
        let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        assert!(
            delta(Counter::FibSuccess) <= CACHE_FLOWS as u64 * ncpu,
            "{ctx}: {} lookups for {CACHE_FLOWS} flows",
            delta(Counter::FibSuccess)
        );
        assert!(delta(Counter::FibCacheHit) > 0, "{ctx}: no cache hit");
        let outcomes: u64 = Counter::ALL
            .iter()
            .filter(|c| c.is_outcome())
            .map(|&c| delta(c))
            .sum();
        assert_eq!(outcomes, total, "{ctx}: one outcome per packet");
        stats.hits += delta(Counter::FibCacheHit);
    }
    stats
}

#[derive(Default)]
struct Stats {
    frames: usize,
    with_options: usize,
    partial: usize,
    exact: usize,
    partial_invalid: usize,
}

/// Loads FORWARDER with the given `full_csum`, fills its maps and runs both programs on
/// random frames. Runs on a thread inside the test namespace; panics on the first mismatch.
fn run_object(full: u32, entries: &[Entry], rng: &mut Rng) -> Stats {
    let ext = ifindex("ext0");
    let int = ifindex("int0");
    let mut fwd = load_forwarder(full, None, entries, &[ext, int]);

    let mut stats = Stats::default();
    for dir in [abi::Direction::Inbound, abi::Direction::Outbound] {
        let prog = load_program(&mut fwd.bpf, dir);
        let before = read_counters(&fwd.counters);
        let ingress = if dir == abi::Direction::Inbound {
            ext
        } else {
            int
        };

        for n in 0..FRAMES {
            let entry = entries[rng.below(entries.len() as u64) as usize];
            let client = Endpoint::new(random_client(rng), rng.port());
            // Every third frame arrives with a partial checksum (tx offload pending).
            let partial = n % 3 == 0;
            let (src, dst) = match dir {
                abi::Direction::Inbound => (client, entry.from),
                abi::Direction::Outbound => (entry.to, client),
            };
            let frame = random_frame(rng, src, dst, partial);
            let res = run_xdp(prog, ingress, &frame.bytes, 1, 0).expect("BPF_PROG_TEST_RUN");
            let ctx = format!(
                "full_csum={full} {dir:?} frame {n} {}:{} -> {}:{} (ihl {}, partial {partial})",
                src.ip(),
                src.port(),
                dst.ip(),
                dst.port(),
                frame.ihl
            );
            assert_eq!(res.retval, XDP_REDIRECT, "{ctx}: verdict");

            let expected = expected_nat(&frame, &entry, dir);
            stats.frames += 1;
            stats.with_options += usize::from(frame.ihl > 5);
            stats.partial += usize::from(partial);
            if partial && full == 0 {
                // Negative control: an incremental update keeps a partial checksum wrong.
                // Everything but the TCP checksum must still match.
                let ck = frame.tcp_check_off();
                let mut got = res.data_out.clone();
                got[ck..ck + 2].copy_from_slice(&expected[ck..ck + 2]);
                assert_bytes_eq(&got, &expected, &ctx);
                stats.partial_invalid +=
                    usize::from(res.data_out[ck..ck + 2] != expected[ck..ck + 2]);
            } else {
                assert_bytes_eq(&res.data_out, &expected, &ctx);
                stats.exact += 1;
            }
        }

        let after = read_counters(&fwd.counters);
        let delta = |c: Counter| after[c as usize] - before[c as usize];
        let n = FRAMES as u64;
        for c in [Counter::Seen, Counter::FibSuccess, Counter::Redirected] {
            assert_eq!(delta(c), n, "full_csum={full} {dir:?}: counter {c}");
        }
        let outcomes: u64 = Counter::ALL
            .iter()
            .filter(|c| c.is_outcome())
            .map(|&c| delta(c))
            .sum();
        assert_eq!(
            outcomes, n,
            "full_csum={full} {dir:?}: one outcome per packet"
        );
    }
    // With the incremental update, practically every partial frame stays invalid (a
    // coincidental match has probability 2^-16 per frame).
    if full == 0 {
        assert!(
            stats.partial_invalid * 100 >= stats.partial * 99,
            "negative control: only {}/{} partial frames had a wrong checksum",
            stats.partial_invalid,
            stats.partial
        );
    }
    stats
}

/// The redirected frame for `entry` in direction `dir` (the namespace's MACs).
pub fn expected_nat(frame: &crate::frames::Frame, entry: &Entry, dir: abi::Direction) -> Vec<u8> {
    match dir {
        abi::Direction::Inbound => expected_frame(
            frame,
            &entry.to,
            dir,
            Leaves::Redirected(INT_MAC, entry.to_mac),
        ),
        abi::Direction::Outbound => {
            expected_frame(frame, &entry.from, dir, Leaves::Redirected(EXT_MAC, GW_MAC))
        }
    }
}
