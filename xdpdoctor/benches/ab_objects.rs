//! A/B harness for forwarder objects (a measurement, not a test: a bench target, never run
//! by `cargo test`). Times every
//! `*.o` in `$XDT_AB_DIR` (a forwarder object, `xdp_fwd_external`, or a router peer,
//! `xdp_router`) with non-live BPF_PROG_TEST_RUN on one SYN, side by side in one test
//! namespace, and prints each object's ns per run per round on stdout
//! (`round<TAB>N<TAB>file<TAB>ns`) and the median, minimum and maximum over rounds on stderr.
//! How docs/performance.md's "one change at a time" tables were made: build variants of
//! forwarder.bpf.c with clang into a directory and run
//!
//! ```text
//! XDT_AB_DIR=/tmp/ab XDT_AB_ROUNDS=5 XDT_AB_SIZE=64 \
//!     cargo bench --bench ab_objects > rounds.tsv
//! ```
//!
//! **One file is one load, and one load is one draw.** The same object loaded again runs
//! faster or slower, as much as the differences between variants. So put several copies of
//! each object in the directory (`base_p0.o` .. `base_p15.o`) and compare means over copies;
//! two sets of copies of the same object show the residual bias (A/A).
//!
//! **Keep a run under ~40 objects.** Every attached XDP program enters the kernel's XDP
//! dispatcher, which holds at most 48 (`BPF_DISPATCHER_MAX`) and finds a program by a
//! search over them; the rest are called indirectly. Measured 2026-12-07 (64 B, forwarder and
//! router peer): the standard deviation over loads of one object was 2.3-2.9 ns with 24
//! objects attached and 5.4-5.7 ns with 60 (6-10 ns in the earlier runs of 64-96 objects).
//! More objects still compare fairly (the load order is shuffled), but each costs more
//! loads for the same precision.
//!
//! Objects are loaded in a shuffled order and each is attached in generic mode to an idle
//! veth of its own for the whole run (so test runs do not wait for XDP dispatcher
//! updates); a round is [`CALLS`] / `XDT_AB_BLOCK` cycles, each running `XDT_AB_BLOCK`
//! calls of every object in a fresh shuffled order (`XDT_AB_SEED` seeds both), so a
//! slowdown of the machine falls on all of them alike. Frames start at TTL 255 and a call
//! runs at most 250 times (the programs decrement the TTL on the one buffer). Whatever maps
//! an object has of `dnat_entries`, `nat_index`, `devmap`, `router_devmap` are filled like a
//! deployment's, with identity entries so the translated frame takes the same path again.
#![allow(clippy::print_stderr, clippy::print_stdout, dead_code)]

#[path = "../tests/integration/frames.rs"]
mod frames;
#[path = "../tests/integration/fwd_run.rs"]
mod fwd_run;
#[path = "../tests/integration/nat_ns.rs"]
mod nat_ns;

use aya::maps::{DevMapHash, HashMap};
use aya::programs::{Xdp, XdpMode};
use aya::{Ebpf, EbpfLoader};
use xdpdoctor::bench::traffic::{syn_frame, Endpoints};
use xdpdoctor::bpf::forwarder_abi::{self as abi, Direction, Endpoint};
use xdpdoctor::bpf::test_run::run_xdp;
use xdpdoctor::forwarder::nat_index;

use crate::frames::{random_client, Rng};
use crate::fwd_run::XDP_REDIRECT;
use crate::nat_ns::{ifindex, random_entries, Entry, TestNs};

const CALLS: usize = 800;
const PER_CALL: u32 = 250;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Loads one object with its maps filled; returns it and the program to time.
fn load(path: &std::path::Path, entries: &[Entry], devs: [u32; 2]) -> (Ebpf, &'static str) {
    let bytes = std::fs::read(path).expect("read object");
    let mut bpf = EbpfLoader::new().load(&bytes).expect("load object");
    let mut dnat_pairs = Vec::new();
    for e in entries {
        dnat_pairs.push((e.from, e.to));
        dnat_pairs.push((e.to, e.to));
    }
    if let Some(m) = bpf.map_mut(abi::DNAT_MAP) {
        let mut d: HashMap<_, Endpoint, Endpoint> = HashMap::try_from(m).unwrap();
        for (k, v) in &dnat_pairs {
            d.insert(k, v, 0).unwrap();
        }
    }
    if bpf.map(abi::NAT_INDEX_MAP).is_some() {
        let t = nat_index::build(dnat_pairs.iter().copied());
        nat_index::fill_tables(&mut bpf, "ab", &[(Direction::Inbound, &t)]).unwrap();
    }
    for name in [abi::DEVMAP, abi::ROUTER_DEVMAP] {
        if let Some(m) = bpf.map_mut(name) {
            let mut d = DevMapHash::try_from(m).unwrap();
            for i in devs {
                d.insert(i, i, None, 0).unwrap();
            }
        }
    }
    let prog = if bpf.program(abi::PROG_ROUTER).is_some() {
        abi::PROG_ROUTER
    } else {
        abi::PROG_EXTERNAL
    };
    let p: &mut Xdp = bpf.program_mut(prog).unwrap().try_into().unwrap();
    p.load().expect("verifier");
    (bpf, prog)
}

fn main() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("ab_objects: needs root (creates a namespace, runs BPF programs)");
        std::process::exit(2);
    }
    let Ok(dir) = std::env::var("XDT_AB_DIR") else {
        eprintln!("ab_objects: set XDT_AB_DIR to a directory of forwarder .o files");
        std::process::exit(2);
    };
    let rounds: usize = env("XDT_AB_ROUNDS", 11);
    let size: usize = env("XDT_AB_SIZE", 64);
    let mut objs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "o"))
        .collect();
    objs.sort();
    // xorshift64: the load order and each cycle's order.
    let mut st: u64 = env("XDT_AB_SEED", 0x9e37_79b9_7f4a_7c15u64) | 1;
    let mut next = move || {
        st ^= st << 13;
        st ^= st >> 7;
        st ^= st << 17;
        st
    };
    for i in (1..objs.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        objs.swap(i, j);
    }
    let mut rng = Rng::new();
    let entries = random_entries(&mut rng);
    let ns = TestNs::create(&entries);
    let mut batch = String::new();
    for i in 0..objs.len() {
        batch.push_str(&format!("link add xab{i} type veth peer xabp{i}\n"));
    }
    ns.ip_batch(&batch);
    let block: usize = env("XDT_AB_BLOCK", 4);
    ns.0.run(|| {
        let (ext, int) = (ifindex("ext0"), ifindex("int0"));
        let e = entries[0];
        let ep = Endpoints {
            src_mac: [2, 0, 0, 0, 9, 9],
            dst_mac: [2, 0, 0, 0, 1, 1],
            client: random_client(&mut rng),
            service: e.from.into(),
            target: e.to.into(),
            // No bridged container here; no frames go to it.
            bridged: e.from.into(),
        };
        let mut loaded: Vec<_> = objs
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let (mut bpf, prog) = load(p, &entries, [ext, int]);
                // The router forwards what is already addressed to the target.
                let dst = if prog == abi::PROG_ROUTER {
                    ep.target
                } else {
                    ep.service
                };
                let frame = syn_frame(&ep, 40000, dst, 255, size).unwrap();
                let pin = ifindex(&format!("xab{i}"));
                let x: &mut Xdp = bpf.program_mut(prog).unwrap().try_into().unwrap();
                // Detached with the namespace's devices when it is deleted.
                x.attach_to_if_index(pin, XdpMode::Skb).unwrap();
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    bpf,
                    prog,
                    frame,
                )
            })
            .collect();
        let n = loaded.len();
        let mut ns_per_run: Vec<Vec<f64>> = vec![Vec::new(); n];
        for r in 0..rounds {
            let mut tot = vec![0u128; n];
            let mut runs = vec![0u128; n];
            let mut order: Vec<usize> = (0..n).collect();
            for _ in 0..(CALLS / block) {
                for k in (1..n).rev() {
                    let j = (next() % (k as u64 + 1)) as usize;
                    order.swap(k, j);
                }
                for &i in &order {
                    let (_, bpf, prog, frame) = &mut loaded[i];
                    let p: &Xdp = bpf.program(prog).unwrap().try_into().unwrap();
                    for _ in 0..block {
                        let res = run_xdp(p, ext, frame, PER_CALL, 0).unwrap();
                        assert_eq!(res.retval, XDP_REDIRECT, "verdict");
                        tot[i] += res.duration.as_nanos() * u128::from(PER_CALL);
                        runs[i] += u128::from(PER_CALL);
                    }
                }
            }
            for i in 0..n {
                let v = tot[i] as f64 / runs[i] as f64;
                ns_per_run[i].push(v);
                println!("round\t{r}\t{}\t{v:.2}", loaded[i].0);
            }
        }
        for (i, (name, ..)) in loaded.iter().enumerate() {
            let mut v = ns_per_run[i].clone();
            v.sort_by(|a, b| a.total_cmp(b));
            eprintln!(
                "ab {size} B {name:30} median {:.1} ns  min {:.1}  max {:.1}",
                v[v.len() / 2],
                v[0],
                v[v.len() - 1]
            );
        }
        Ok(())
    })
    .unwrap();
}
