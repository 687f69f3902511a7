//! Measurement for docs/probes.md, not a test: how many events per second `xdpdoctor trace
//! --json` follows without losing any, and its CPU cost. It prints figures and asserts nothing
//! (project rule: speed is measured by benchmarks that print figures, never by timed tests).
//!
//! Run as root; `cargo bench` builds in release, like the figures in docs/probes.md:
//!
//! ```text
//! cargo bench --bench trace_throughput
//! ```
//!
//! `cargo test` never builds or runs it (a `[[bench]]` target with `harness = false`), so
//! `scripts/test.sh --include-ignored` does not either.
//!
//! Method: a seed lab with `peer-no-xdp`; in its vm namespace `redirect_only.bpf.o` runs with
//! BPF_PROG_TEST_RUN live frames "received" on eth0 and redirected into ve-m1, whose peer has
//! no XDP, so each frame is one `xdp_redirect_err`. Frames are pushed every 10 ms for 3 s per
//! rate while `xdpdoctor trace --json --netns <vm>` runs alongside; its CPU is utime + stime
//! from /proc. The lab's helpers are the integration tests' own (`common.rs`, `tracer.rs`).

#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "../tests/integration/common.rs"]
mod common;
#[path = "../tests/integration/tracer.rs"]
mod tracer;

use std::time::{Duration, Instant};

use aya::maps::DevMapHash;
use aya::programs::Xdp;
use xdpdoctor::bpf::test_run::{run_xdp, BPF_F_TEST_XDP_LIVE_FRAMES};
use xdpdoctor::netns::Netns;

use common::Lab;
use tracer::{ifindex_in, Trace};

/// Offered rates, events per second.
const RATES: [u64; 8] = [
    1_000, 10_000, 50_000, 100_000, 200_000, 400_000, 1_000_000, 4_000_000,
];
/// Seconds of generated traffic per rate.
const SECS: f64 = 3.0;

fn main() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!(
            "trace_throughput: needs root (builds a namespace lab, loads BPF programs); \
             nothing was measured"
        );
        std::process::exit(2);
    }
    let lab = Lab::up("tt", &["--fault", "peer-no-xdp"]);
    let vm = lab.ns("vm");
    let (eth0, ve_m1) = (ifindex_in(&vm, "eth0"), ifindex_in(&vm, "ve-m1"));
    println!("target_ev/s actual_ev/s  generated     seen kernel_count     lost trace_cpu%");
    for rate in RATES {
        measure(&vm, eth0, ve_m1, rate);
    }
}

/// One row: `rate` redirect errors per second for `SECS`, traced; prints the figures.
fn measure(vm: &str, eth0: u32, ve_m1: u32, rate: u64) {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let t = Trace::start(&["--netns", vm], "5");
    let pid = t.pid();
    let c0 = cpu_ticks(pid);
    let t0 = Instant::now();
    let (generated, gen_secs) = Netns::named(vm)
        .run(|| {
            let mut ebpf = aya::EbpfLoader::new()
                .override_global("target_ifindex", &ve_m1, true)
                .load(xdpdoctor::bpf::objects::REDIRECT_ONLY)
                .unwrap();
            let mut dm: DevMapHash<_> =
                DevMapHash::try_from(ebpf.map_mut("redirect_devmap").unwrap()).unwrap();
            dm.insert(ve_m1, ve_m1, None, 0).unwrap();
            let p: &mut Xdp = ebpf
                .program_mut("xdp_redirect_only")
                .unwrap()
                .try_into()
                .unwrap();
            p.load().unwrap();
            let frame = vec![0x02u8; 64];
            let tick = Duration::from_millis(10);
            let per_tick = (rate / 100).max(1) as u32;
            let start = Instant::now();
            let mut sent = 0u64;
            let mut next = start;
            while start.elapsed().as_secs_f64() < SECS {
                run_xdp(p, eth0, &frame, per_tick, BPF_F_TEST_XDP_LIVE_FRAMES)?;
                sent += u64::from(per_tick);
                next += tick;
                if let Some(d) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(d);
                }
            }
            Ok((sent, start.elapsed().as_secs_f64()))
        })
        .unwrap();
    // Let the consumer catch up, then sample its CPU before it exits.
    std::thread::sleep(Duration::from_millis(500));
    let busy = (cpu_ticks(pid) - c0) as f64 / hz;
    let wall = t0.elapsed().as_secs_f64();
    let (events, summary) = t.finish();
    let seen = events
        .iter()
        .filter(|e| e["kind"] == "redirect_err")
        .count();
    let counted: u64 = summary["aggregates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "redirect_err")
        .map(|a| a["count"].as_u64().unwrap())
        .sum();
    println!(
        "{:>11} {:>11.0} {:>10} {:>8} {:>12} {:>8} {:>10.1}",
        rate,
        generated as f64 / gen_secs,
        generated,
        seen,
        counted,
        summary["lost"].as_u64().unwrap_or(0),
        100.0 * busy / wall
    );
}

/// CPU ticks (utime + stime) of a process so far.
fn cpu_ticks(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the ")" of comm: state is field 3; utime 14, stime 15.
    let rest = s.rsplit_once(')').map(|x| x.1).unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| {
        f.get(i - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    get(14) + get(15)
}
