//! The forwarder behaves as a router, and the bench's router peer is one: run by the kernel
//! (BPF_PROG_TEST_RUN in the `nat_ns` test namespace) on crafted frames, checked against a
//! full recomputation (etherparse).
//!
//! - TTL: a redirected frame leaves with TTL - 1; a NATed frame with TTL <= 1 is passed to
//!   the stack unmodified and counted as `ttl_exceeded` (and the router peer passes it too).
//! - The IPv4 header checksum is not verified by the forwarder (docs/forwarder.md); a frame
//!   with a wrong one is still forwarded, and the incremental update keeps the error exactly
//!   (the receiver's check still fails).
//! - Devmap miss: the NATed frame goes to the stack with the MACs and TTL it arrived with
//!   (with the next hop's MACs the stack would drop it as PACKET_OTHERHOST), from a lookup
//!   and from the next-hop cache.
//! - The router peer (`router_peer.bpf.c`) produces exactly what a router must: MACs, TTL -
//!   1, header checksum of a full recomputation.
#![allow(clippy::print_stderr)]

use crate::common::require_root;
use xdpdoctor::bpf::forwarder_abi::{self as abi, Counter, Endpoint};
use xdpdoctor::bpf::test_run::run_xdp;

use crate::checksum::expected_nat;
use crate::frames::{ip_residual, random_client, random_frame, with_ttl, Frame, Rng};
use crate::fwd_run::{
    assert_bytes_eq, expected_frame, expected_routed, load_forwarder, load_program, load_router,
    read_counters, Leaves, XDP_PASS, XDP_REDIRECT,
};
use crate::nat_ns::{ifindex, random_entries, Entry, TestNs, EXT_MAC, GW_MAC, INT_MAC};

/// Frames per case and direction.
const FRAMES: usize = 200;

/// A random (non-partial) frame of a random flow through `entry` in direction `dir`.
fn flow_frame(rng: &mut Rng, entry: &Entry, dir: abi::Direction) -> Frame {
    let client = Endpoint::new(random_client(rng), rng.port());
    let (src, dst) = match dir {
        abi::Direction::Inbound => (client, entry.from),
        abi::Direction::Outbound => (entry.to, client),
    };
    random_frame(rng, src, dst, false)
}

const DIRS: [abi::Direction; 2] = [abi::Direction::Inbound, abi::Direction::Outbound];

fn ingress(dir: abi::Direction) -> u32 {
    match dir {
        abi::Direction::Inbound => ifindex("ext0"),
        abi::Direction::Outbound => ifindex("int0"),
    }
}

#[test]
#[ignore = "needs root: creates a namespace, runs BPF programs"]
fn forwarder_decrements_ttl_and_passes_expiring_frames() {
    require_root();
    let mut rng = Rng::new();
    let entries = random_entries(&mut rng);
    let ns = TestNs::create(&entries);
    ns.0.run(|| {
        let mut fwd = load_forwarder(0, None, &entries, &[ifindex("ext0"), ifindex("int0")]);
        for dir in DIRS {
            let prog = load_program(&mut fwd.bpf, dir);
            let before = read_counters(&fwd.counters);
            let (mut expired, mut forwarded) = (0u64, 0u64);
            for n in 0..FRAMES {
                let entry = entries[n % entries.len()];
                // TTL 0, 1 (expiring) and 2 (leaves with 1), then random.
                let ttl = match n % 4 {
                    0 => 0,
                    1 => 1,
                    2 => 2,
                    _ => 2 + rng.below(254) as u8,
                };
                let frame = with_ttl(flow_frame(&mut rng, &entry, dir), ttl);
                let ctx = format!("{dir:?} frame {n} ttl {ttl}");
                let res = run_xdp(prog, ingress(dir), &frame.bytes, 1, 0).expect("test run");
                if ttl <= 1 {
                    assert_eq!(res.retval, XDP_PASS, "{ctx}: verdict");
                    assert_bytes_eq(&res.data_out, &frame.bytes, &ctx);
                    expired += 1;
                } else {
                    assert_eq!(res.retval, XDP_REDIRECT, "{ctx}: verdict");
                    assert_eq!(res.data_out[14 + 8], ttl - 1, "{ctx}: ttl");
                    assert_bytes_eq(&res.data_out, &expected_nat(&frame, &entry, dir), &ctx);
                    forwarded += 1;
                }
            }
            let after = read_counters(&fwd.counters);
            let d = |c: Counter| after[c as usize] - before[c as usize];
            assert_eq!(d(Counter::TtlExceeded), expired, "{dir:?}: ttl_exceeded");
            assert_eq!(d(Counter::Redirected), forwarded, "{dir:?}: redirected");
            // An expiring frame never reaches the lookup.
            assert_eq!(d(Counter::FibSuccess), forwarded, "{dir:?}: fib_success");
            assert_eq!(d(Counter::Seen), expired + forwarded, "{dir:?}: seen");
            eprintln!(
                "router: forwarder {dir:?}: {expired} expiring passed, {forwarded} forwarded"
            );
        }
        Ok(())
    })
    .expect("namespace thread");
}

#[test]
#[ignore = "needs root: creates a namespace, runs BPF programs"]
fn forwarder_keeps_a_wrong_ip_checksum_wrong() {
    require_root();
    let mut rng = Rng::new();
    let entries = random_entries(&mut rng);
    let ns = TestNs::create(&entries);
    ns.0.run(|| {
        let mut fwd = load_forwarder(0, None, &entries, &[ifindex("ext0"), ifindex("int0")]);
        for dir in DIRS {
            let prog = load_program(&mut fwd.bpf, dir);
            for n in 0..FRAMES {
                let entry = entries[n % entries.len()];
                let mut frame = flow_frame(&mut rng, &entry, dir);
                // Corrupt the header checksum by a random non-zero amount.
                let good = frame.bytes[24..26].to_vec();
                let flip = 1 + rng.below(0xfffe) as u16;
                let ck = u16::from_be_bytes([good[0], good[1]]) ^ flip;
                frame.bytes[24..26].copy_from_slice(&ck.to_be_bytes());
                let residual = ip_residual(&frame.bytes, frame.ihl);
                if residual == 0xffff || residual == 0 {
                    continue; // a flip that one's complement cannot see (+0 / -0)
                }
                let ctx = format!("{dir:?} frame {n} checksum ^ {flip:#06x}");
                let res = run_xdp(prog, ingress(dir), &frame.bytes, 1, 0).expect("test run");
                assert_eq!(
                    res.retval, XDP_REDIRECT,
                    "{ctx}: not verified, so forwarded"
                );
                assert_eq!(
                    ip_residual(&res.data_out, frame.ihl),
                    residual,
                    "{ctx}: the header error must survive the update unchanged"
                );
                // Everything but the header checksum is what a correct frame gives.
                let mut fixed = frame.bytes.clone();
                fixed[24..26].copy_from_slice(&good);
                let fixed = Frame {
                    bytes: fixed,
                    ..frame
                };
                let mut want = expected_nat(&fixed, &entry, dir);
                want[24..26].copy_from_slice(&res.data_out[24..26]);
                assert_bytes_eq(&res.data_out, &want, &ctx);
            }
        }
        Ok(())
    })
    .expect("namespace thread");
}

#[test]
#[ignore = "needs root: creates a namespace, runs BPF programs"]
fn devmap_miss_passes_the_nated_frame_as_received() {
    require_root();
    let mut rng = Rng::new();
    let entries = random_entries(&mut rng);
    let ns = TestNs::create(&entries);
    ns.0.run(|| {
        // int0 (where every target lives) is not in the devmap; the cache (second object)
        // serves the repeated flows' next hop, which misses the devmap the same way.
        for cache_ns in [None, Some(60_000_000_000u64)] {
            let mut fwd = load_forwarder(0, cache_ns, &entries, &[ifindex("ext0")]);
            let dir = abi::Direction::Inbound;
            let prog = load_program(&mut fwd.bpf, dir);
            let before = read_counters(&fwd.counters);
            let entry = entries[0];
            let flow = flow_frame(&mut rng, &entry, dir);
            for n in 0..FRAMES {
                let frame = if n % 2 == 0 {
                    flow_frame(&mut rng, &entry, dir)
                } else {
                    Frame {
                        bytes: flow.bytes.clone(),
                        ..flow
                    }
                };
                let ctx = format!("cache {cache_ns:?} frame {n}");
                let res = run_xdp(prog, ingress(dir), &frame.bytes, 1, 0).expect("test run");
                assert_eq!(res.retval, XDP_PASS, "{ctx}: verdict");
                let want = expected_frame(&frame, &entry.to, dir, Leaves::Passed);
                assert_bytes_eq(&res.data_out, &want, &ctx);
            }
            let after = read_counters(&fwd.counters);
            let d = |c: Counter| after[c as usize] - before[c as usize];
            let n = FRAMES as u64;
            assert_eq!(d(Counter::DevmapMiss), n, "cache {cache_ns:?}: devmap_miss");
            assert_eq!(d(Counter::Redirected), 0, "cache {cache_ns:?}: redirected");
            assert_eq!(
                d(Counter::FibSuccess) + d(Counter::FibCacheHit),
                n,
                "cache {cache_ns:?}: every frame had a next hop"
            );
            if cache_ns.is_some() {
                assert!(d(Counter::FibCacheHit) > 0, "no cache hit");
            } else {
                assert_eq!(d(Counter::FibCacheHit), 0);
            }
        }
        Ok(())
    })
    .expect("namespace thread");
}

#[test]
#[ignore = "needs root: creates a namespace, runs BPF programs"]
fn router_peer_routes_like_a_full_recomputation() {
    require_root();
    let mut rng = Rng::new();
    let entries = random_entries(&mut rng);
    let ns = TestNs::create(&entries);
    ns.0.run(|| {
        let (router, _devmap) = load_router(&[ifindex("ext0"), ifindex("int0")]);
        let prog = xdpdoctor::bench::programs::xdp(&router, abi::PROG_ROUTER).unwrap();
        for dir in DIRS {
            for n in 0..FRAMES {
                let entry = entries[n % entries.len()];
                // What a router sees: already addressed to the target (inbound), or the
                // target's reply to a client (outbound): no NAT on either side.
                let client = Endpoint::new(random_client(&mut rng), rng.port());
                let (src, dst, smac, dmac) = match dir {
                    abi::Direction::Inbound => (client, entry.to, INT_MAC, entry.to_mac),
                    abi::Direction::Outbound => (entry.to, client, EXT_MAC, GW_MAC),
                };
                let ttl = if n % 8 == 0 {
                    1
                } else {
                    2 + rng.below(254) as u8
                };
                let frame = with_ttl(random_frame(&mut rng, src, dst, false), ttl);
                let ctx = format!("router {dir:?} frame {n} ttl {ttl}");
                let res = run_xdp(prog, ingress(dir), &frame.bytes, 1, 0).expect("test run");
                if ttl <= 1 {
                    assert_eq!(res.retval, XDP_PASS, "{ctx}: verdict");
                    assert_bytes_eq(&res.data_out, &frame.bytes, &ctx);
                } else {
                    assert_eq!(res.retval, XDP_REDIRECT, "{ctx}: verdict");
                    assert_bytes_eq(&res.data_out, &expected_routed(&frame, smac, dmac), &ctx);
                }
            }
        }
        Ok(())
    })
    .expect("namespace thread");
}
