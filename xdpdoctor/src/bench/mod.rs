//! `bench`: how fast the forwarder is next to a plain XDP router doing the same routing
//! without NAT, the kernel's NAT and the XDP redirect limit, and what watching it with
//! `trace` costs. Measured side by side in one run on one lab, by every method the kernel
//! allows ([`method`]), each named in the report; ratios are formed within one method.
//!
//! The bench first asks the kernel what it allows (`bpf::capabilities`: test runs, live-frame
//! test runs, BPF runtime statistics, AF_PACKET transmit) and picks its methods
//! ([`method::select`]); a method named with `--method` that the kernel refuses is an error
//! before anything is built. It then builds its own healthy `seed` lab, with a bridge and two
//! bridged containers added in vm ([`bridge_lab`]), under a unique prefix (`xdb<pid>`),
//! measures, and always takes the lab down again, on errors and Ctrl-C too.
//!
//! - **live-frames** ([`traffic`]: `BPF_PROG_TEST_RUN` live frames as if received on vm's
//!   eth0; [`rounds`]): delivered frames are counted at the container ([`sink`]:
//!   `xdp_count` on m1's host0); the variants ([`variants`]) differ only in the program the
//!   frames are pushed into ([`programs`] loads them).
//! - **program-cost** ([`cost`]): the programs' own ns per run from non-live test runs.
//! - **af-packet** ([`generator`], [`path`], [`cpu`]): real frames from the client's
//!   namespace into vm's eth0, the program under test attached there; CPU time per delivered
//!   packet of the generator's CPU, minus the generator's own cost.
//!
//! A run, phase by phase (one file each):
//! 1. [`run`] (here): check the options, probe the kernel, pick the methods, build the lab,
//!    measure, take the lab down, time `diagnose` ([`diagnose_timing`]).
//! 2. [`topology`]: resolve namespaces, interfaces, addresses and MACs.
//! 3. [`setup`]: kernel-NAT ruleset in vm ([`nft`]), sink on the container's host0, identity
//!    DNAT entries.
//! 4. [`measure`]: each method that runs.
//! 5. [`checks`] and [`path_summary`]: did each variant take its path; [`summary`],
//!    [`path_summary`], [`ratios`] and [`report`]: medians, spread over rounds, ratios
//!    against their targets; [`decision_log`]: the forwarder's decision log off, compiled out
//!    and on, and its rate limit under load.
//!
//! See docs/performance.md for the methods and caveats.

pub mod bridge_lab;
pub mod burst;
pub mod checks;
pub mod cost;
pub mod cpu;
pub mod decision_log;
pub mod diagnose_timing;
pub mod generator;
pub mod handover;
pub mod measure;
pub mod method;
pub mod nft;
pub mod path;
pub mod path_summary;
mod plan;
pub mod programs;
pub mod ratios;
pub mod report;
pub mod rounds;
pub mod setup;
pub mod sink;
pub mod stats;
pub mod summary;
pub mod topology;
pub mod traffic;
pub mod variants;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::forwarder::AttachMode;
use crate::lab::{self, UpOptions};
use crate::progress::{Progress, Update};
use crate::{Error, Result};

pub use method::{Method, MethodChoice};
use plan::Plan;
pub use report::BenchReport;

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Short run for tests: fewer packets, one round.
    pub quick: bool,
    /// Frames per live-frames measurement (default 2,000,000; quick 200,000). An af-packet
    /// measurement lasts 2 s (quick 0.5 s): the CPU accounting counts in 10 ms steps.
    pub packets: Option<u64>,
    /// Which methods (default: every one the kernel allows).
    pub methods: MethodChoice,
    /// How vm's eth0 hands the af-packet method's frames over (default: batched).
    pub handover: handover::Handover,
    /// The xdpdoctor binary (the lab re-executes it as the HTTP responder).
    pub exe: PathBuf,
    /// Lab prefix (default `xdb<pid>`).
    pub prefix: Option<String>,
    /// Where the bench reports its phases and measurements.
    pub progress: Progress,
}

const MIN_PACKETS: u64 = 10_000;
const MAX_PACKETS: u64 = 100_000_000;

impl BenchOptions {
    fn plan(&self) -> Result<Plan> {
        let packets = self
            .packets
            .unwrap_or(if self.quick { 200_000 } else { 2_000_000 });
        if !(MIN_PACKETS..=MAX_PACKETS).contains(&packets) {
            return Err(Error::invalid(
                format!("--packets {packets}"),
                format!("use {MIN_PACKETS}..={MAX_PACKETS}"),
            ));
        }
        Ok(Plan {
            quick: self.quick,
            packets,
            af_packet_time: Duration::from_millis(if self.quick { 500 } else { 2000 }),
            handover: self.handover,
            rounds: if self.quick { 1 } else { 3 },
            flows: 64,
            // Runs per program-cost figure, shared out over its samples of 4 loads each
            // (bench/cost.rs): more samples cost ~20 ms of XDP attach each, not runs.
            cost_repeat: if self.quick { 300_000 } else { 3_000_000 },
            cost_samples: if self.quick {
                cost::QUICK_SAMPLES
            } else {
                cost::SAMPLES
            },
            prefix: self
                .prefix
                .clone()
                .unwrap_or_else(|| format!("xdb{}", std::process::id())),
            loadavg_at_start: report::loadavg(),
        })
    }
}

/// Builds the lab, measures, takes the lab down (always), returns the report.
pub fn run(opts: &BenchOptions) -> Result<BenchReport> {
    let plan = opts.plan()?;
    // One bench per machine (state/lock.rs, LockKey::Bench): a second one waits, then fails
    // naming the first.
    let _one = crate::state::lock(crate::state::LockKey::Bench, crate::cancel::interrupted)?;
    let started = Instant::now();
    let caps = crate::bpf::capabilities::probe();
    let methods = method::select(&opts.methods, &caps)?;
    for m in &methods {
        match &m.reason {
            None => log::info!("bench: method {} runs", m.method),
            Some(why) => log::info!("bench: method {} does not run: {why}", m.method),
        }
    }
    let (seed, file) = lab::catalog::load("seed", None)?;
    let sc = bridge_lab::with_bridge(seed)?;
    let up = UpOptions {
        prefix: plan.prefix.clone(),
        faults: vec![],
        no_faults: true,
        exe: opts.exe.clone(),
        mode: AttachMode::Driver,
        forwarder: true,
        progress: opts.progress.clone(),
    };
    log::info!(
        "bench: building lab {} (healthy seed, bridged containers added)",
        plan.prefix
    );
    // `up` cleans up after itself when it fails or is interrupted.
    lab::up(&sc, &file, &up)?;
    let res = measure::measure_lab(&sc, &plan, &methods, &caps, &opts.progress);
    log::info!("bench: removing lab {}", plan.prefix);
    let down = lab::down(&plan.prefix).map(drop);
    match (res, down) {
        (Ok(mut r), Ok(())) => {
            // Second table: diagnose on the seed lab and on generated fleets.
            let window = Duration::from_secs(if opts.quick { 1 } else { 3 });
            let t = diagnose_timing::measure(
                &opts.exe,
                &plan.prefix,
                opts.quick,
                window,
                &opts.progress,
            );
            opts.progress.report(Update::Done);
            let t = t?;
            r.diagnose_timing_note = format!(
                "diagnose timing: {} lab(s), default faults on, observe window {} ms",
                t.len(),
                window.as_millis()
            );
            r.diagnose_timing = Some(t);
            r.total_seconds = started.elapsed().as_secs_f64();
            Ok(r)
        }
        (Ok(_), Err(e)) | (Err(e), Ok(())) => Err(e),
        (Err(e), Err(e2)) => Err(Error::Many(vec![e, e2])),
    }
}
