//! The forwarder's NAT rewrite, run by the kernel on random frames, must produce exactly the
//! frame a full recomputation gives: translated addresses/ports, fib MACs, and IPv4 and TCP
//! checksums equal to a from-scratch computation. Regression test for the seed's checksum
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
#![allow(clippy::print_stderr)]

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use aya::maps::{DevMapHash, HashMap, PerCpuArray};
use aya::programs::Xdp;
use aya::EbpfLoader;
use etherparse::{Ipv4Header, TcpHeader};
use xdpdoctor::bpf::forwarder_abi::{self as abi, Counter, Endpoint};
use xdpdoctor::bpf::objects::FORWARDER;
use xdpdoctor::bpf::test_run::run_xdp;
use xdpdoctor::netns::Netns;

/// Frames per direction and per object.
const FRAMES: usize = 3000;
const ENTRIES: usize = 32;
const XDP_REDIRECT: u32 = 4;

const EXT_MAC: [u8; 6] = [2, 0, 0, 0, 1, 1];
const GW_MAC: [u8; 6] = [2, 0, 0, 0, 1, 0xfe];
const INT_MAC: [u8; 6] = [2, 0, 0, 0, 2, 1];
const GW: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);

#[test]
fn nat_checksums_equal_full_recomputation() {
    if crate::common::skip_unless_root("nat_checksums_equal_full_recomputation") {
        return;
    }
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
fn nat_with_fib_cache_is_byte_identical() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIP checksum (fib cache): needs root");
        return;
    }
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
const XDP_PASS: u32 = 2;

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
    let full = 1u32;
    // Long enough that nothing expires during the test.
    let ttl_ns = 60_000_000_000u64;
    let mut bpf = EbpfLoader::new()
        .override_global(abi::GLOBAL_FULL_CSUM, &full, true)
        .override_global(abi::GLOBAL_FIB_CACHE_NS, &ttl_ns, true)
        .load(FORWARDER)
        .expect("load forwarder object");
    let mut dnat: HashMap<_, Endpoint, Endpoint> =
        HashMap::try_from(bpf.take_map(abi::DNAT_MAP).unwrap()).unwrap();
    let mut snat: HashMap<_, Endpoint, Endpoint> =
        HashMap::try_from(bpf.take_map(abi::SNAT_MAP).unwrap()).unwrap();
    for e in entries {
        dnat.insert(e.from, e.to, 0).unwrap();
        snat.insert(e.to, e.from, 0).unwrap();
    }
    let mut devmap = DevMapHash::try_from(bpf.take_map(abi::DEVMAP).unwrap()).unwrap();
    for i in [ext, int] {
        devmap.insert(i, i, None, 0).expect("devmap insert");
    }
    let counters: PerCpuArray<_, u64> =
        PerCpuArray::try_from(bpf.take_map(abi::COUNTERS_MAP).unwrap()).unwrap();

    let mut stats = CacheStats::default();
    for dir in [abi::Direction::Inbound, abi::Direction::Outbound] {
        let prog: &mut Xdp = bpf.program_mut(dir.program()).unwrap().try_into().unwrap();
        prog.load()
            .unwrap_or_else(|e| panic!("verifier rejected {} (cache on): {e:?}", dir.program()));
        let ingress = if dir == abi::Direction::Inbound {
            ext
        } else {
            int
        };
        let before = read_counters(&counters);
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
                    let expected = match dir {
                        abi::Direction::Inbound => {
                            expected_frame(&frame, &entry.to, dir, INT_MAC, entry.to_mac)
                        }
                        abi::Direction::Outbound => {
                            expected_frame(&frame, &entry.from, dir, EXT_MAC, GW_MAC)
                        }
                    };
                    assert_bytes_eq(&res.data_out, &expected, &format!("{ctx} pass {pass}"));
                    small += 1;
                }
            }
        }

        let after = read_counters(&counters);
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

/// Sets the IPv4 TOS byte and recomputes the header checksum (TCP does not cover it).
fn with_tos(mut f: Frame, tos: u8) -> Frame {
    let ip = 14;
    f.bytes[ip + 1] = tos;
    f.bytes[ip + 10..ip + 12].copy_from_slice(&[0, 0]);
    let ck = !csum16(&f.bytes[ip..ip + f.ihl * 4], 0);
    f.bytes[ip + 10..ip + 12].copy_from_slice(&ck.to_be_bytes());
    f
}

/// One NAT mapping: `from` is the public endpoint, `to` the internal one, `to_mac` its MAC.
#[derive(Clone, Copy)]
struct Entry {
    from: Endpoint,
    to: Endpoint,
    to_mac: [u8; 6],
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
    let mut bpf = EbpfLoader::new()
        .override_global(abi::GLOBAL_FULL_CSUM, &full, true)
        .load(FORWARDER)
        .expect("load forwarder object");

    let mut dnat: HashMap<_, Endpoint, Endpoint> =
        HashMap::try_from(bpf.take_map(abi::DNAT_MAP).unwrap()).unwrap();
    let mut snat: HashMap<_, Endpoint, Endpoint> =
        HashMap::try_from(bpf.take_map(abi::SNAT_MAP).unwrap()).unwrap();
    for e in entries {
        dnat.insert(e.from, e.to, 0).unwrap();
        snat.insert(e.to, e.from, 0).unwrap();
    }
    let mut devmap = DevMapHash::try_from(bpf.take_map(abi::DEVMAP).unwrap()).unwrap();
    for i in [ext, int] {
        devmap.insert(i, i, None, 0).expect("devmap insert");
    }
    let counters: PerCpuArray<_, u64> =
        PerCpuArray::try_from(bpf.take_map(abi::COUNTERS_MAP).unwrap()).unwrap();

    let mut stats = Stats::default();
    for dir in [abi::Direction::Inbound, abi::Direction::Outbound] {
        let prog: &mut Xdp = bpf.program_mut(dir.program()).unwrap().try_into().unwrap();
        // The verifier runs here: a rejected program fails the test with its log.
        prog.load()
            .unwrap_or_else(|e| panic!("verifier rejected {}: {e:?}", dir.program()));
        let before = read_counters(&counters);
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

            let expected = match dir {
                abi::Direction::Inbound => {
                    expected_frame(&frame, &entry.to, dir, INT_MAC, entry.to_mac)
                }
                abi::Direction::Outbound => {
                    expected_frame(&frame, &entry.from, dir, EXT_MAC, GW_MAC)
                }
            };
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

        let after = read_counters(&counters);
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

fn read_counters(map: &PerCpuArray<aya::maps::MapData, u64>) -> [u64; Counter::COUNT] {
    let mut out = [0u64; Counter::COUNT];
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = map.get(&(i as u32), 0).unwrap().iter().sum();
    }
    out
}

fn assert_bytes_eq(got: &[u8], want: &[u8], ctx: &str) {
    if got != want {
        let first = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "{ctx}: output differs from full recomputation (len {} vs {}, first difference at \
             byte {first:?})\n got: {got:02x?}\nwant: {want:02x?}",
            got.len(),
            want.len()
        );
    }
}

// ---- Frames ----

struct Frame {
    bytes: Vec<u8>,
    ihl: usize,
    /// IP total length (trailing bytes past it are Ethernet padding).
    tot_len: usize,
}

impl Frame {
    fn l4(&self) -> usize {
        14 + self.ihl * 4
    }
    fn tcp_check_off(&self) -> usize {
        self.l4() + 16
    }
}

/// A random Ethernet/IPv4/TCP frame with correct checksums (or, if `partial`, a TCP checksum
/// field holding the non-complemented pseudo-header sum, as tx offload leaves it).
fn random_frame(rng: &mut Rng, src: Endpoint, dst: Endpoint, partial: bool) -> Frame {
    let ihl = if rng.below(2) == 0 {
        5
    } else {
        5 + rng.below(11) as usize
    };
    let doff = if rng.below(2) == 0 {
        5
    } else {
        5 + rng.below(11) as usize
    };
    let max_payload = 1500 - ihl * 4 - doff * 4;
    let payload = match rng.below(4) {
        0 => 0,
        1 => rng.below(64) as usize,
        _ => rng.below(max_payload as u64 + 1) as usize,
    };
    let tot_len = ihl * 4 + doff * 4 + payload;
    // Sometimes trailing bytes after the datagram (short frames are padded on the wire).
    let trailer = if rng.below(8) == 0 {
        1 + rng.below(16) as usize
    } else {
        0
    };

    let mut b = vec![0u8; 14 + tot_len + trailer];
    rng.fill(&mut b[..12]); // MACs: the program replaces them
    b[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip = 14;
    b[ip] = 0x40 | ihl as u8;
    b[ip + 1] = rng.below(256) as u8; // tos
    b[ip + 2..ip + 4].copy_from_slice(&(tot_len as u16).to_be_bytes());
    rng.fill(&mut b[ip + 4..ip + 6]); // id
    b[ip + 6] = if rng.below(2) == 0 { 0x40 } else { 0 }; // DF or nothing: never a fragment
    b[ip + 8] = 2 + rng.below(254) as u8; // ttl
    b[ip + 9] = 6;
    b[ip + 12..ip + 16].copy_from_slice(&src.addr);
    b[ip + 16..ip + 20].copy_from_slice(&dst.addr);
    rng.fill(&mut b[ip + 20..ip + ihl * 4]); // options: opaque bytes to the forwarder
    let ip_ck = !csum16(&b[ip..ip + ihl * 4], 0);
    b[ip + 10..ip + 12].copy_from_slice(&ip_ck.to_be_bytes());

    let t = ip + ihl * 4;
    b[t..t + 2].copy_from_slice(&src.port.to_ne_bytes()); // already network order
    b[t + 2..t + 4].copy_from_slice(&dst.port.to_ne_bytes());
    rng.fill(&mut b[t + 4..t + 12]); // seq, ack
    b[t + 12] = (doff as u8) << 4;
    b[t + 13] = rng.below(256) as u8; // flags
    rng.fill(&mut b[t + 14..t + 16]); // window
    rng.fill(&mut b[t + 18..t + 20]); // urgent pointer
    rng.fill(&mut b[t + 20..ip + tot_len]); // options + payload
    rng.fill(&mut b[ip + tot_len..]); // trailer
    let pseudo = pseudo_sum(&src.addr, &dst.addr, tot_len - ihl * 4);
    let tcp_ck = if partial {
        fold(pseudo)
    } else {
        !csum16(&b[t..ip + tot_len], pseudo)
    };
    b[t + 16..t + 18].copy_from_slice(&tcp_ck.to_be_bytes());
    Frame {
        bytes: b,
        ihl,
        tot_len,
    }
}

/// The frame the forwarder must produce: endpoint translated, MACs from the fib, checksums
/// recomputed from scratch by etherparse.
fn expected_frame(
    f: &Frame,
    to: &Endpoint,
    dir: abi::Direction,
    smac: [u8; 6],
    dmac: [u8; 6],
) -> Vec<u8> {
    let mut b = f.bytes.clone();
    b[0..6].copy_from_slice(&dmac);
    b[6..12].copy_from_slice(&smac);
    let ip = 14;
    let t = f.l4();
    let (addr_off, port_off) = match dir {
        abi::Direction::Inbound => (ip + 16, t + 2),
        abi::Direction::Outbound => (ip + 12, t),
    };
    b[addr_off..addr_off + 4].copy_from_slice(&to.addr);
    b[port_off..port_off + 2].copy_from_slice(&to.port.to_ne_bytes());

    let (iph, _) = Ipv4Header::from_slice(&b[ip..ip + f.tot_len]).expect("etherparse ipv4");
    let ip_ck = iph.calc_header_checksum();
    let (tcph, payload) = TcpHeader::from_slice(&b[t..ip + f.tot_len]).expect("etherparse tcp");
    let tcp_ck = tcph
        .calc_checksum_ipv4(&iph, payload)
        .expect("etherparse tcp checksum");
    b[ip + 10..ip + 12].copy_from_slice(&ip_ck.to_be_bytes());
    b[t + 16..t + 18].copy_from_slice(&tcp_ck.to_be_bytes());
    b
}

/// RFC 1071 sum of big-endian 16-bit words (odd tail padded with zero), plus `init`.
fn csum16(data: &[u8], init: u64) -> u16 {
    let mut sum = init;
    for c in data.chunks(2) {
        sum += u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    fold(sum)
}

fn pseudo_sum(src: &[u8; 4], dst: &[u8; 4], l4_len: usize) -> u64 {
    let w = |a: &[u8; 4]| {
        u64::from(u16::from_be_bytes([a[0], a[1]])) + u64::from(u16::from_be_bytes([a[2], a[3]]))
    };
    w(src) + w(dst) + 6 + l4_len as u64
}

fn fold(mut sum: u64) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

// ---- Random inputs ----

/// xorshift64*: no extra dependency, and the seed is printed so a failure can be replayed
/// (`XDT_SEED=...`).
struct Rng(u64);

impl Rng {
    fn new() -> Self {
        let seed = std::env::var("XDT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("checksum: XDT_SEED={seed}");
        Rng(seed)
    }
    fn fork(&mut self) -> Rng {
        Rng(self.next() | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            *b = self.next() as u8;
        }
    }
    fn port(&mut self) -> u16 {
        1 + self.below(65535) as u16
    }
}

/// A unicast address routed via the default route (not 0/8, 10/8, 127/8, 169.254/16,
/// 192.0.2/24, multicast or reserved).
fn random_client(rng: &mut Rng) -> Ipv4Addr {
    loop {
        let a = Ipv4Addr::from(rng.next() as u32);
        let o = a.octets();
        if o[0] == 0 || o[0] == 10 || o[0] == 127 || o[0] >= 224 || o[0] == 169 || o[0] == 192 {
            continue;
        }
        return a;
    }
}

fn random_entries(rng: &mut Rng) -> Vec<Entry> {
    let mut keys = HashSet::new();
    let mut targets = HashSet::new();
    let mut v = Vec::new();
    while v.len() < ENTRIES {
        let from = Endpoint::new(random_client(rng), rng.port());
        let to_ip = Ipv4Addr::new(10, 200, 1 + rng.below(255) as u8, 1 + rng.below(254) as u8);
        let to = Endpoint::new(to_ip, rng.port());
        if !keys.insert(from) || !targets.insert(to) {
            continue;
        }
        let mut to_mac = [2, 0, 0, 0, 0, 0];
        rng.fill(&mut to_mac[2..]);
        v.push(Entry { from, to, to_mac });
    }
    v
}

// ---- Namespace ----

/// The test namespace; removed on drop, so also when an assertion panics.
struct TestNs(Netns);

impl TestNs {
    fn create(entries: &[Entry]) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("xdt-cs-{}-{}", std::process::id(), nanos % 1_000_000);
        let ns = TestNs(Netns::create(&name).expect("create test namespace"));
        let mac = |m: [u8; 6]| {
            m.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        };
        let mut batch = format!(
            "link set lo up\n\
             link add ext0 address {} type veth peer ext0p\n\
             link add int0 address {} type veth peer int0p\n\
             link set ext0 up\nlink set ext0p up\nlink set int0 up\nlink set int0p up\n\
             addr add 192.0.2.1/24 dev ext0\n\
             addr add 10.200.0.254/16 dev int0\n\
             route add default via {GW} dev ext0\n\
             neigh add {GW} lladdr {} dev ext0 nud permanent\n",
            mac(EXT_MAC),
            mac(INT_MAC),
            mac(GW_MAC)
        );
        for e in entries {
            batch.push_str(&format!(
                "neigh add {} lladdr {} dev int0 nud permanent\n",
                e.to.ip(),
                mac(e.to_mac)
            ));
        }
        ns.ip_batch(&batch);
        // bpf_fib_lookup answers FWD_DISABLED unless the ingress interface forwards.
        run(Command::new("ip").args([
            "netns",
            "exec",
            &name,
            "sysctl",
            "-qw",
            "net.ipv4.conf.all.forwarding=1",
        ]));
        ns
    }

    fn ip_batch(&self, batch: &str) {
        use std::io::Write as _;
        let mut child = Command::new("ip")
            .args(["-n", &self.0.name, "-batch", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("spawn ip");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(batch.as_bytes())
            .unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "ip -batch failed:\n{batch}");
    }
}

impl Drop for TestNs {
    fn drop(&mut self) {
        if let Err(e) = self.0.remove() {
            eprintln!("checksum: cleanup of namespace {} failed: {e}", self.0.name);
        }
    }
}

fn run(cmd: &mut Command) {
    let status = cmd.status().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(status.success(), "{cmd:?} failed: {status}");
}

/// The ifindex of `name` in the calling thread's namespace.
fn ifindex(name: &str) -> u32 {
    let c = std::ffi::CString::new(name).unwrap();
    // SAFETY: valid NUL-terminated string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    assert_ne!(i, 0, "no interface {name} in the test namespace");
    i
}
