//! Running the forwarder's (and the router peer's) real programs on crafted frames with
//! BPF_PROG_TEST_RUN, inside the test namespace of `nat_ns`, and the frames they must
//! produce, computed from scratch by etherparse (no code shared with the programs or with
//! `frames`' own RFC 1071 sums). Helpers of `checksum.rs` and `router.rs`.
#![allow(dead_code)]

use aya::maps::{DevMapHash, HashMap, MapData, PerCpuArray};
use aya::programs::Xdp;
use aya::{Ebpf, EbpfLoader};
use etherparse::{Ipv4Header, TcpHeader};
use xdpdoctor::bpf::forwarder_abi::{self as abi, Counter, Endpoint};
use xdpdoctor::bpf::objects::{FORWARDER, ROUTER_PEER};
use xdpdoctor::forwarder::maps::counters_of;
use xdpdoctor::forwarder::nat_index;

use crate::frames::Frame;
use crate::nat_ns::Entry;

pub const XDP_DROP: u32 = 1;
pub const XDP_PASS: u32 = 2;
pub const XDP_REDIRECT: u32 = 4;

/// The forwarder object with its maps filled. The maps taken out of it are kept here: their
/// fds must stay open until the programs are loaded and run.
pub struct Loaded {
    pub counters: PerCpuArray<MapData, u64>,
    pub devmap: DevMapHash<MapData>,
    _snat: HashMap<MapData, Endpoint, Endpoint>,
    _dnat: HashMap<MapData, Endpoint, Endpoint>,
    pub bpf: Ebpf,
}

/// The forwarder's counters now (derived from its outcome slots). A free function so that
/// it borrows only the map while a program of the same object is borrowed.
pub fn read_counters(map: &PerCpuArray<MapData, u64>) -> [u64; Counter::COUNT] {
    counters_of(map).expect("read forwarder counters")
}

/// Loads FORWARDER with `full_csum` (and `fib_cache_ns` if given; else the object's
/// default), fills the NAT maps (and their index) with `entries` and the devmap with `devs`. The programs are
/// not loaded yet (the verifier runs in the caller, per direction).
pub fn load_forwarder(
    full: u32,
    fib_cache_ns: Option<u64>,
    entries: &[Entry],
    devs: &[u32],
) -> Loaded {
    let mut loader = EbpfLoader::new();
    loader.override_global(abi::GLOBAL_FULL_CSUM, &full, true);
    if let Some(ttl_ns) = &fib_cache_ns {
        loader.override_global(abi::GLOBAL_FIB_CACHE_NS, ttl_ns, true);
    }
    let mut bpf = loader.load(FORWARDER).expect("load forwarder object");
    let pairs: Vec<_> = entries.iter().map(|e| (e.from, e.to)).collect();
    nat_index::fill(&mut bpf, "forwarder", &pairs).expect("fill the NAT index");

    let mut dnat: HashMap<_, Endpoint, Endpoint> =
        HashMap::try_from(bpf.take_map(abi::DNAT_MAP).unwrap()).unwrap();
    let mut snat: HashMap<_, Endpoint, Endpoint> =
        HashMap::try_from(bpf.take_map(abi::SNAT_MAP).unwrap()).unwrap();
    for e in entries {
        dnat.insert(e.from, e.to, 0).unwrap();
        snat.insert(e.to, e.from, 0).unwrap();
    }
    let mut devmap = DevMapHash::try_from(bpf.take_map(abi::DEVMAP).unwrap()).unwrap();
    for &i in devs {
        devmap.insert(i, i, None, 0).expect("devmap insert");
    }
    let counters: PerCpuArray<_, u64> =
        PerCpuArray::try_from(bpf.take_map(abi::COUNTERS_MAP).unwrap()).unwrap();
    Loaded {
        counters,
        devmap,
        _snat: snat,
        _dnat: dnat,
        bpf,
    }
}

/// Loads the program of `dir`. The verifier runs here: a rejected program fails the test
/// with its log.
pub fn load_program(bpf: &mut Ebpf, dir: abi::Direction) -> &mut Xdp {
    let prog: &mut Xdp = bpf.program_mut(dir.program()).unwrap().try_into().unwrap();
    prog.load()
        .unwrap_or_else(|e| panic!("verifier rejected {}: {e:?}", dir.program()));
    prog
}

/// The router peer (`router_peer.bpf.c`) with `devs` in its devmap, loaded. The devmap is
/// returned too: its fd must stay open while the program runs.
pub fn load_router(devs: &[u32]) -> (Ebpf, DevMapHash<MapData>) {
    let mut bpf = Ebpf::load(ROUTER_PEER).expect("load router_peer object");
    let mut devmap = DevMapHash::try_from(bpf.take_map(abi::ROUTER_DEVMAP).unwrap()).unwrap();
    for &i in devs {
        devmap.insert(i, i, None, 0).expect("devmap insert");
    }
    let prog: &mut Xdp = bpf
        .program_mut(abi::PROG_ROUTER)
        .unwrap()
        .try_into()
        .unwrap();
    prog.load()
        .unwrap_or_else(|e| panic!("verifier rejected {}: {e:?}", abi::PROG_ROUTER));
    (bpf, devmap)
}

pub fn assert_bytes_eq(got: &[u8], want: &[u8], ctx: &str) {
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

/// How the frame leaves.
#[derive(Clone, Copy)]
pub enum Leaves {
    /// Redirected by XDP: next-hop MACs (source, destination) and TTL - 1.
    Redirected([u8; 6], [u8; 6]),
    /// Passed to the stack after NAT: MACs and TTL as received.
    Passed,
}

/// The frame the forwarder must produce: endpoint translated, and for a redirect the MACs
/// from the fib and the TTL one lower; checksums recomputed from scratch by etherparse.
pub fn expected_frame(f: &Frame, to: &Endpoint, dir: abi::Direction, leaves: Leaves) -> Vec<u8> {
    let mut b = f.bytes.clone();
    let ip = 14;
    if let Leaves::Redirected(smac, dmac) = leaves {
        b[0..6].copy_from_slice(&dmac);
        b[6..12].copy_from_slice(&smac);
        b[ip + 8] -= 1;
    }
    let t = f.l4();
    let (addr_off, port_off) = match dir {
        abi::Direction::Inbound => (ip + 16, t + 2),
        abi::Direction::Outbound => (ip + 12, t),
    };
    b[addr_off..addr_off + 4].copy_from_slice(&to.addr);
    b[port_off..port_off + 2].copy_from_slice(&to.port.to_ne_bytes());
    recompute(&mut b, f);
    b
}

/// The frame a router must produce: next-hop MACs, TTL - 1, IPv4 checksum recomputed.
pub fn expected_routed(f: &Frame, smac: [u8; 6], dmac: [u8; 6]) -> Vec<u8> {
    let mut b = f.bytes.clone();
    b[0..6].copy_from_slice(&dmac);
    b[6..12].copy_from_slice(&smac);
    b[14 + 8] -= 1;
    recompute(&mut b, f);
    b
}

/// Writes etherparse's IPv4 header and TCP checksums into `b` (a copy of `f`, edited).
fn recompute(b: &mut [u8], f: &Frame) {
    let ip = 14;
    let t = f.l4();
    let (iph, _) = Ipv4Header::from_slice(&b[ip..ip + f.tot_len]).expect("etherparse ipv4");
    let ip_ck = iph.calc_header_checksum();
    let (tcph, payload) = TcpHeader::from_slice(&b[t..ip + f.tot_len]).expect("etherparse tcp");
    let tcp_ck = tcph
        .calc_checksum_ipv4(&iph, payload)
        .expect("etherparse tcp checksum");
    b[ip + 10..ip + 12].copy_from_slice(&ip_ck.to_be_bytes());
    b[t + 16..t + 18].copy_from_slice(&tcp_ck.to_be_bytes());
}
