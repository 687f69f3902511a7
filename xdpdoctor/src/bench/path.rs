//! The af-packet method: what the path costs the CPU per delivered packet, with real frames.
//!
//! Frames come from [`super::generator`] in the lab's client namespace, pinned to one CPU,
//! into vm's eth0. The program under test runs where a deployment runs it: vm's eth0, native
//! XDP. The deployed forwarder's pinned link on eth0 is switched between programs with
//! `BPF_LINK_UPDATE` (`BPF_F_REPLACE`) and switched back to the deployed program at the end
//! ([`Eth0`], also on errors). Every round measures, per frame size:
//!
//! | run | program on vm's eth0 | frames to | path after it |
//! |---|---|---|---|
//! | generator | `xdp_count`, dropping (the XDP_DROP sink) | the public endpoint | none: the generator's own cost |
//! | xdp-redirect-only | `xdp_redirect_only` | the public endpoint | redirect -> ve-m1 -> host0 sink: the hand-over alone |
//! | router-peer | `xdp_router` | the container | redirect -> ve-m1 -> host0 sink |
//! | forwarder | `xdp_fwd_external` (the deployed maps) | the public endpoint | same |
//! | kernel-nat | `xdp_pass` | the public endpoint | stack: conntrack, nft DNAT, forward -> ve-m1 -> host0 sink |
//! | forwarder-bridged | `xdp_fwd_external` (the deployed maps) | the bridged container's public endpoint | redirect -> bridge port vb-b1 -> b1's eth0 sink |
//! | kernel-nat-bridged | `xdp_pass` | the same | stack: conntrack, nft DNAT, forward -> bridge xdb-br -> vb-b1 -> b1's eth0 sink |
//!
//! vm's eth0 hands the frames to its NAPI in batches, as a loaded NIC does, unless
//! `--handover per-frame` ([`super::handover`], applied around the whole measurement).
//! Kernel NAT runs behind `xdp_pass`, not without a program, so vm's veth receives in the
//! same mode (NAPI) for every run, the generator's included: what is subtracted is then the
//! same hand-over. The runs take turns in slices ([`SLICE`], `Runner::rounds`); around every
//! slice both readings of the generator CPU's time are taken ([`super::cpu`]); delivery is
//! counted at the container (`xdp_count` on host0, as in the live method) and, for the
//! generator run, by the dropping sink. A second, shorter pass with BPF runtime statistics on
//! (where the kernel allows them) reads `run_time_ns / run_cnt` of the program on eth0 and
//! of the sink; it is separate because statistics add two clock reads to every program run
//! on the machine, which the accounting pass must not carry.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use aya::maps::{MapData, PerCpuArray};
use aya::programs::Xdp;
use aya::Ebpf;

use super::cpu::{self, Basis, Meter, Usage};
use super::generator::{generator_cpu, pin_to_cpu, Generator};
use super::handover::{Deferral, HandoverReport};
use super::plan::Plan;
use super::programs;
use super::setup::Prepared;
use super::topology::Topology;
use super::traffic::{Dest, FlowSet, FRAME_SIZES, TTL};
use super::variants::Variant;
use crate::bpf::capabilities::{enable_stats, stats_sysctl, Capability};
use crate::bpf::forwarder_abi::{self as abi, Counter};
use crate::bpf::object::take_map;
use crate::bpf::sys::{link_prog_id, link_update, obj_get, prog_fd_by_id};
use crate::forwarder::maps::counters_of;
use crate::forwarder::object::{Tunables, OBJECT};
use crate::forwarder::pins::link_pin;
use crate::progress::Progress;
use crate::{cancel, Error, Result};

/// The variants measured, in order within a round (after the generator's own run).
pub const VARIANTS: [Variant; 6] = [
    Variant::RedirectOnly,
    Variant::RouterPeer,
    Variant::Forwarder,
    Variant::KernelNat,
    Variant::ForwarderBridged,
    Variant::KernelNatBridged,
];

/// Frames per path and size in the warm-up.
const WARM_UP: u64 = 10_000;

/// One measuring slice: runs take turns in slices this long (see `Runner::rounds`).
const SLICE: Duration = Duration::from_millis(250);

/// Time for the last frames' softirqs to finish before the readings.
const SETTLE: Duration = Duration::from_millis(20);

/// One run: the generator alone (`None`) or a variant.
pub type Run = Option<Variant>;

/// Per-program runtime statistics over the statistics pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct RunStats {
    /// Frames sent in the pass.
    pub frames: u64,
    /// `run_time_ns` of the program on vm's eth0 over the pass.
    pub program_ns: u64,
    /// Its `run_cnt`.
    pub program_runs: u64,
    /// `run_time_ns` of the sink on host0.
    pub sink_ns: u64,
    /// Its `run_cnt`.
    pub sink_runs: u64,
}

/// One measurement of one run at one frame size.
#[derive(Debug, Clone, Copy, Default)]
pub struct PathSample {
    /// Frames the client's device accepted.
    pub sent: u64,
    /// Frames it refused (ENOBUFS).
    pub refused: u64,
    /// Frames counted: at host0 for a variant, by the dropping sink for the generator.
    pub delivered: u64,
    /// CPU time of the generator's CPU.
    pub usage: Usage,
    /// Wall time of the sending.
    pub elapsed: Duration,
    /// The deployed forwarder's counters over the measurement: `seen`,
    pub fwd_seen: u64,
    /// `redirected`.
    pub fwd_redirected: u64,
    /// The statistics pass, where the kernel allows it.
    pub stats: Option<RunStats>,
}

impl PathSample {
    /// Adds another slice's counts and times.
    fn add(&mut self, o: &PathSample) {
        self.sent += o.sent;
        self.refused += o.refused;
        self.delivered += o.delivered;
        self.usage.add(&o.usage);
        self.elapsed += o.elapsed;
        self.fwd_seen += o.fwd_seen;
        self.fwd_redirected += o.fwd_redirected;
    }
}

/// How BPF runtime statistics are had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsMode {
    /// `kernel.bpf_stats_enabled = 1`: on for the whole run, accounting pass included.
    AlreadyOn,
    /// `BPF_ENABLE_STATS` during each statistics pass only.
    OnRequest,
    /// Refused: why.
    Refused(String),
}

impl StatsMode {
    /// From the kernel's `bpf-stats` capability.
    pub fn from(cap: &Capability) -> StatsMode {
        match (cap.allowed, stats_sysctl()) {
            (true, Some(true)) => StatsMode::AlreadyOn,
            (true, _) => StatsMode::OnRequest,
            (false, _) => StatsMode::Refused(cap.reason.clone().unwrap_or_default()),
        }
    }
}

/// Everything the af-packet method measured.
#[derive(Debug)]
pub struct PathRounds {
    /// Per (run, frame size), in round order.
    pub samples: BTreeMap<(Run, usize), Vec<PathSample>>,
    /// The CPU the generator was pinned to.
    pub cpu: usize,
    /// The client interface the frames left from.
    pub client_if: String,
    /// How runtime statistics were had.
    pub stats: StatsMode,
    /// Which CPU reading the figures come from, and why.
    pub basis: (Basis, String),
    /// What the warm-up did.
    pub warm_up: String,
    /// How vm's eth0 handed the frames over.
    pub handover: HandoverReport,
}

/// The programs put on vm's eth0, loaded inside vm (the router's devmap names vm's devices).
struct PathPrograms {
    drop: Ebpf,
    redirect: Ebpf,
    drop_count: PerCpuArray<MapData, u64>,
    router: Ebpf,
    forwarder: Ebpf,
    pass: Ebpf,
    fwd_counters: PerCpuArray<MapData, u64>,
}

impl PathPrograms {
    fn load(
        target: u32,
        devices: &[u32],
        pin_dir: &std::path::Path,
        t: Tunables,
    ) -> Result<PathPrograms> {
        let (drop, drop_count) = programs::drop_counter()?;
        let mut forwarder = programs::forwarder_pinned(
            pin_dir,
            Tunables {
                fib_cache_ns: 0,
                ..t
            },
        )?;
        let fwd_counters = take_map(&mut forwarder, OBJECT, abi::COUNTERS_MAP)?;
        Ok(PathPrograms {
            drop,
            drop_count,
            redirect: programs::redirect_only(target)?,
            router: programs::router_peer(devices)?,
            forwarder,
            pass: programs::pass()?,
            fwd_counters,
        })
    }

    fn program(&self, run: Run) -> Result<&Xdp> {
        match run {
            None => programs::xdp(&self.drop, abi::PROG_COUNT),
            Some(Variant::RedirectOnly) => programs::xdp(&self.redirect, abi::PROG_REDIRECT_ONLY),
            Some(Variant::RouterPeer) => programs::xdp(&self.router, abi::PROG_ROUTER),
            Some(Variant::Forwarder | Variant::ForwarderBridged) => {
                programs::xdp(&self.forwarder, abi::PROG_EXTERNAL)
            }
            Some(Variant::KernelNat | Variant::KernelNatBridged) => {
                programs::xdp(&self.pass, abi::PROG_PASS)
            }
            Some(v) => Err(Error::invalid("af-packet variant", v.name())),
        }
    }

    fn counted(&self) -> Result<u64> {
        let v = self
            .drop_count
            .get(&0, 0)
            .map_err(|e| Error::bpf("read", abi::RX_COUNT_MAP, e))?;
        Ok(v.iter().sum())
    }
}

fn prog_fd(p: &Xdp, name: &str) -> Result<OwnedFd> {
    p.fd()
        .map_err(|e| Error::bpf("program fd", name, e))?
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| Error::io("dup", name, e))
}

fn run_stats(p: &Xdp) -> Result<(u64, u64)> {
    let info = p
        .info()
        .map_err(|e| Error::bpf("program info", "af-packet program", e))?;
    Ok((info.run_time().as_nanos() as u64, info.run_count()))
}

/// vm's eth0 link, switched between programs; the deployed program again when dropped.
struct Eth0 {
    name: String,
    link: OwnedFd,
    original: OwnedFd,
    /// What the link runs now, when not the original.
    current: Option<OwnedFd>,
}

impl Eth0 {
    fn open(pin_dir: &std::path::Path, ifname: &str) -> Result<Eth0> {
        let pin = link_pin(pin_dir, ifname);
        let link = obj_get(&pin)?;
        let id = link_prog_id(link.as_fd())
            .map_err(|e| Error::bpf("link info", pin.display().to_string(), e))?;
        let original =
            prog_fd_by_id(id).map_err(|e| Error::bpf("open program", format!("id {id}"), e))?;
        Ok(Eth0 {
            name: ifname.to_string(),
            link,
            original,
            current: None,
        })
    }

    /// Makes the link run `prog`.
    fn set(&mut self, prog: BorrowedFd<'_>) -> Result<()> {
        let old = self.current.as_ref().unwrap_or(&self.original);
        link_update(self.link.as_fd(), prog, old.as_fd())
            .map_err(|e| Error::bpf("BPF_LINK_UPDATE", format!("link-{}", self.name), e))?;
        self.current = Some(
            prog.try_clone_to_owned()
                .map_err(|e| Error::io("dup", "program fd", e))?,
        );
        Ok(())
    }

    /// Makes the link run the deployed program again.
    fn restore(&mut self) -> Result<()> {
        if let Some(cur) = self.current.take() {
            if let Err(e) = link_update(self.link.as_fd(), self.original.as_fd(), cur.as_fd()) {
                self.current = Some(cur);
                return Err(Error::bpf(
                    "BPF_LINK_UPDATE (restore)",
                    format!("link-{}", self.name),
                    e,
                ));
            }
        }
        Ok(())
    }
}

impl Drop for Eth0 {
    fn drop(&mut self) {
        if let Err(e) = self.restore() {
            log::error!("bench: {}", crate::error::chain(&e));
        }
    }
}

/// The frames of one size, to every destination.
struct Frames {
    size: usize,
    service: FlowSet,
    target: FlowSet,
    bridged: FlowSet,
}

impl Frames {
    fn for_run(&self, run: Run) -> &FlowSet {
        match run.map(Variant::dest) {
            Some(Dest::Target) => &self.target,
            Some(Dest::Bridged) => &self.bridged,
            _ => &self.service,
        }
    }
}

/// Measures the af-packet method in the bench's lab.
pub(super) fn measure(
    topo: &Topology,
    prep: &Prepared,
    plan: &Plan,
    stats_cap: &Capability,
    progress: &Progress,
) -> Result<PathRounds> {
    let dep = &prep.deployment;
    let (devices, pin_dir, t) = (&topo.all_indexes, dep.pin_dir.clone(), dep.tunables());
    let target = topo.int_index;
    let progs = topo
        .vm
        .run(|| PathPrograms::load(target, devices, &pin_dir, t))?;
    let frames = FRAME_SIZES
        .iter()
        .map(|&size| {
            Ok(Frames {
                size,
                service: FlowSet::new(&topo.endpoints, size, plan.flows, Dest::Service, TTL)?,
                target: FlowSet::new(&topo.endpoints, size, plan.flows, Dest::Target, TTL)?,
                bridged: FlowSet::new(&topo.endpoints, size, plan.flows, Dest::Bridged, TTL)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut eth0 = Eth0::open(&dep.pin_dir, &topo.ext_name)?;
    let mut deferral = Deferral::apply(&topo.vm, &topo.ext_name, plan.handover);
    let handover = deferral.report.clone();
    let stats = StatsMode::from(stats_cap);
    let client_if = topo.client_if.clone();
    let sinks = &prep.sinks;
    let res = topo.client.run(|| {
        let cpu = generator_cpu()?;
        pin_to_cpu(cpu)?;
        let meter = Meter::new(cpu)?;
        let basis = cpu::basis();
        let gen = Generator::open(&client_if)?;
        let mut runner = Runner {
            progs: &progs,
            eth0: &mut eth0,
            gen: &gen,
            meter: &meter,
            sinks,
            stats: &stats,
            basis: basis.0,
        };
        let warm_up = runner.warm_up(&frames)?;
        let samples = runner.rounds(&frames, plan, progress)?;
        Ok(PathRounds {
            samples,
            cpu,
            client_if: client_if.clone(),
            stats: stats.clone(),
            basis,
            warm_up,
            handover: handover.clone(),
        })
    });
    let restored = eth0.restore();
    let undeferred = deferral.restore();
    let r = res?;
    restored?;
    undeferred?;
    Ok(r)
}

/// What one af-packet measurement works with (on the generator's thread).
struct Runner<'a> {
    progs: &'a PathPrograms,
    eth0: &'a mut Eth0,
    gen: &'a Generator,
    meter: &'a Meter,
    sinks: &'a super::sink::Sinks,
    stats: &'a StatsMode,
    /// Which CPU reading the figures come from (for the per-round log line).
    basis: Basis,
}

impl Runner<'_> {
    fn put(&mut self, run: Run) -> Result<()> {
        let p = self.progs.program(run)?;
        let fd = prog_fd(p, "af-packet program")?;
        self.eth0.set(fd.as_fd())
    }

    /// Lets vm resolve the container's MAC (the forwarder passes frames to the stack until it
    /// has a neighbour entry), then runs every path once.
    fn warm_up(&mut self, frames: &[Frames]) -> Result<String> {
        self.put(Some(Variant::Forwarder))?;
        let mut tries = 0;
        loop {
            cancel::check()?;
            let before = counters_of(&self.progs.fwd_counters)?;
            self.gen
                .send(frames[0].for_run(Some(Variant::Forwarder)), 64)?;
            std::thread::sleep(SETTLE);
            let after = counters_of(&self.progs.fwd_counters)?;
            let r = Counter::Redirected as usize;
            if after[r] > before[r] {
                break;
            }
            tries += 1;
            if tries >= 40 {
                return Err(Error::unexpected(
                    "bench af-packet warm-up",
                    "the forwarder never redirected (no neighbour entry for the container?)",
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let n = WARM_UP;
        for f in frames {
            for run in runs() {
                self.put(run)?;
                self.gen.send(f.for_run(run), n)?;
            }
        }
        Ok(format!(
            "af-packet warm-up: the forwarder redirected after {tries} retries; every path pre-run with {n} frames"
        ))
    }

    /// Per round and frame size, every run measured in [`SLICE`]-long slices taken in turn
    /// (generator, router peer, forwarder, kernel NAT, generator, ...) until each has had
    /// `plan.af_packet_time`, then summed per run: a slowdown of the host (another tenant, a
    /// build on the other core) falls on every run alike instead of on the one that
    /// happened to be measuring, and the generator's cost that is subtracted comes from the
    /// same moments as the variants'. Then the statistics pass, per run.
    fn rounds(
        &mut self,
        frames: &[Frames],
        plan: &Plan,
        progress: &Progress,
    ) -> Result<BTreeMap<(Run, usize), Vec<PathSample>>> {
        let mut out: BTreeMap<(Run, usize), Vec<PathSample>> = BTreeMap::new();
        let slices = (plan.af_packet_time.as_millis() / SLICE.as_millis()).max(1) as u32;
        let slice = plan.af_packet_time / slices;
        let total = (plan.rounds * frames.len()) as u64 * u64::from(slices);
        let mut done = 0;
        for round in 0..plan.rounds {
            for f in frames {
                let mut sums: BTreeMap<Run, PathSample> = BTreeMap::new();
                for _ in 0..slices {
                    progress.steps("measuring (af-packet)", done, total);
                    done += 1;
                    for run in runs() {
                        self.put(run)?;
                        let s = self.one(run, f.for_run(run), slice)?;
                        sums.entry(run).or_default().add(&s);
                    }
                }
                for (run, mut s) in sums {
                    if !matches!(self.stats, StatsMode::Refused(_)) {
                        self.put(run)?;
                        let quarter = plan.af_packet_time / 4;
                        s.stats = Some(self.stats_pass(run, f.for_run(run), quarter)?);
                    }
                    log::info!(
                        "bench: af-packet round {round} {} {}B: {} sent, {} counted, {:.0} ns/frame per-CPU, {:.0} tasks, busy {:.1}% of {:.0} ms",
                        run.map(Variant::name).unwrap_or("generator"),
                        f.size,
                        s.sent,
                        s.delivered,
                        s.usage.kernel_ns() as f64 / s.delivered.max(1) as f64,
                        s.usage.threads_ns() as f64 / s.delivered.max(1) as f64,
                        self.basis.busy_pct(&s.usage, s.elapsed),
                        s.elapsed.as_secs_f64() * 1000.0,
                    );
                    out.entry((run, f.size)).or_default().push(s);
                }
            }
        }
        Ok(out)
    }

    fn counted(&self, run: Run) -> Result<u64> {
        match run {
            None => self.progs.counted(),
            Some(v) => self.sinks.of(v).delivered(),
        }
    }

    /// One accounting measurement.
    fn one(&self, run: Run, flows: &FlowSet, time: Duration) -> Result<PathSample> {
        let f0 = counters_of(&self.progs.fwd_counters)?;
        let c0 = self.counted(run)?;
        let m0 = self.meter.snapshot()?;
        let sent = self.gen.send_for(flows, time)?;
        std::thread::sleep(SETTLE);
        let m1 = self.meter.snapshot()?;
        let c1 = self.counted(run)?;
        let f1 = counters_of(&self.progs.fwd_counters)?;
        let delta = |c: Counter| f1[c as usize] - f0[c as usize];
        Ok(PathSample {
            sent: sent.sent,
            refused: sent.refused,
            delivered: c1 - c0,
            usage: m0.until(&m1),
            elapsed: sent.elapsed,
            fwd_seen: delta(Counter::Seen),
            fwd_redirected: delta(Counter::Redirected),
            stats: None,
        })
    }

    /// The statistics pass: frames for `time` with runtime statistics on.
    fn stats_pass(&self, run: Run, flows: &FlowSet, time: Duration) -> Result<RunStats> {
        let _on = match self.stats {
            StatsMode::OnRequest => {
                Some(enable_stats().map_err(|e| Error::bpf("BPF_ENABLE_STATS", "run time", e))?)
            }
            _ => None,
        };
        let p = self.progs.program(run)?;
        let sink = run.map_or(&self.sinks.routed, |v| self.sinks.of(v));
        let (p0, s0) = (run_stats(p)?, sink.run_stats()?);
        let sent = self.gen.send_for(flows, time)?;
        std::thread::sleep(SETTLE);
        let (p1, s1) = (run_stats(p)?, sink.run_stats()?);
        Ok(RunStats {
            frames: sent.sent,
            program_ns: p1.0 - p0.0,
            program_runs: p1.1 - p0.1,
            sink_ns: s1.0 - s0.0,
            sink_runs: s1.1 - s0.1,
        })
    }
}

/// The generator's run, then every variant.
fn runs() -> impl Iterator<Item = Run> + Clone {
    std::iter::once(None).chain(VARIANTS.into_iter().map(Some))
}
