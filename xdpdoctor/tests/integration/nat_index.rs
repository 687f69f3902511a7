//! The forwarder's NAT lookup goes through `nat_index`, an open-addressing copy of the NAT
//! maps (`forwarder::nat_index`). At the maps' capacity (4096 entries per direction, so a
//! half of the index is half full), with extra keys crafted to share one home slot so that
//! one of them cannot be placed and must be found in the hash map, the real program (run by
//! the kernel) must translate every entry exactly as the map says, in both directions, and
//! find nothing for keys that are not there.
#![allow(clippy::print_stderr)]

use crate::common::require_root;
use xdpdoctor::bpf::forwarder_abi::{self as abi, nat_hash, Counter, Endpoint, NAT_PROBES};
use xdpdoctor::bpf::test_run::run_xdp;
use xdpdoctor::forwarder::nat_index;

use crate::checksum::expected_nat;
use crate::frames::{random_client, random_frame, Rng};
use crate::fwd_run::{
    assert_bytes_eq, load_forwarder, load_program, read_counters, XDP_PASS, XDP_REDIRECT,
};
use crate::nat_ns::{ifindex, random_entries_n, Entry, TestNs};

#[test]
#[ignore = "needs root: creates a namespace, runs BPF programs"]
fn nat_index_matches_the_maps_at_capacity() {
    require_root();
    let mut rng = Rng::new();
    let mut entries = random_entries_n(&mut rng, abi::MAX_ENTRIES as usize - 16);
    // NAT_PROBES + 1 public endpoints with one home: the last cannot be placed. Candidates
    // are 198.51.x.y on four ports (~64 per home, so there are always enough).
    let candidates = (0..4u16).flat_map(|p| {
        (0..=u16::MAX).map(move |i| {
            Endpoint::new(
                std::net::Ipv4Addr::new(198, 51, (i >> 8) as u8, i as u8),
                8000 + p,
            )
        })
    });
    let home = nat_hash(&Endpoint::new(std::net::Ipv4Addr::new(198, 51, 0, 0), 8000));
    let crafted: Vec<Endpoint> = candidates
        .filter(|k| nat_hash(k) == home && !entries.iter().any(|e| e.from == *k))
        .take(NAT_PROBES as usize + 1)
        .collect();
    assert_eq!(crafted.len(), NAT_PROBES as usize + 1);
    for (n, from) in crafted.into_iter().enumerate() {
        entries.push(Entry {
            from,
            to: Endpoint::new(std::net::Ipv4Addr::new(10, 200, 0, 10 + n as u8), 80),
            to_mac: [2, 0, 0, 0, 0xee, n as u8],
        });
    }
    let dnat = nat_index::build(entries.iter().map(|e| (e.from, e.to)));
    let snat = nat_index::build(entries.iter().map(|e| (e.to, e.from)));
    eprintln!(
        "nat index: {} entries; dnat {} placed / {} deferred, snat {} / {}",
        entries.len(),
        dnat.placed,
        dnat.deferred,
        snat.placed,
        snat.deferred
    );
    assert!(dnat.deferred >= 1, "the crafted window did not overflow");

    let ns = TestNs::create(&entries);
    ns.0.run(|| {
        let mut fwd = load_forwarder(0, None, &entries, &[ifindex("ext0"), ifindex("int0")]);
        for dir in [abi::Direction::Inbound, abi::Direction::Outbound] {
            let prog = load_program(&mut fwd.bpf, dir);
            let ingress = match dir {
                abi::Direction::Inbound => ifindex("ext0"),
                abi::Direction::Outbound => ifindex("int0"),
            };
            let before = read_counters(&fwd.counters);
            for (i, e) in entries.iter().enumerate() {
                let client = Endpoint::new(random_client(&mut rng), rng.port());
                let (src, dst) = match dir {
                    abi::Direction::Inbound => (client, e.from),
                    abi::Direction::Outbound => (e.to, client),
                };
                let frame = random_frame(&mut rng, src, dst, false);
                let ctx = format!("{dir:?} entry {i} {} -> {}", e.from, e.to);
                let res = run_xdp(prog, ingress, &frame.bytes, 1, 0).expect("test run");
                assert_eq!(res.retval, XDP_REDIRECT, "{ctx}: verdict");
                assert_bytes_eq(&res.data_out, &expected_nat(&frame, e, dir), &ctx);
            }
            // Keys that are not in the map: same addresses, other ports.
            let mut misses = 0u64;
            for e in entries.iter().take(500) {
                let key = match dir {
                    abi::Direction::Inbound => e.from,
                    abi::Direction::Outbound => e.to,
                };
                let other = Endpoint::new(key.ip(), key.port().wrapping_add(7919));
                if entries.iter().any(|x| x.from == other || x.to == other) {
                    continue;
                }
                let client = Endpoint::new(random_client(&mut rng), rng.port());
                let (src, dst) = match dir {
                    abi::Direction::Inbound => (client, other),
                    abi::Direction::Outbound => (other, client),
                };
                let frame = random_frame(&mut rng, src, dst, false);
                let res = run_xdp(prog, ingress, &frame.bytes, 1, 0).expect("test run");
                assert_eq!(res.retval, XDP_PASS, "{dir:?} {other}: not an entry");
                assert_bytes_eq(&res.data_out, &frame.bytes, &format!("{dir:?} {other}"));
                misses += 1;
            }
            let after = read_counters(&fwd.counters);
            let d = |c: Counter| after[c as usize] - before[c as usize];
            assert_eq!(d(Counter::Redirected), entries.len() as u64, "{dir:?}");
            assert_eq!(d(Counter::NoEntry), misses, "{dir:?}");
        }
        Ok(())
    })
    .expect("namespace thread");
}
