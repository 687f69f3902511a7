//! The programs' own cost: non-live `BPF_PROG_TEST_RUN` (verdict returned, not executed), the
//! kernel's duration / repeat, for a bare XDP_PASS program (the harness floor),
//! `xdp_restore_pass`, redirect-only, the router peer and private forwarder instances (cache
//! off and on; decision log compiled out, off and on).
//!
//! Non-live repeats run on the *same* buffer, so every run sees the previous run's output:
//! - the forwarder's frame is already translated after the first run: an identity DNAT entry
//!   per target keeps every repeat on the full path (lookup hit, `bpf_fib_lookup` SUCCESS,
//!   rewrite, redirect), checked with its counters;
//! - the forwarder and the router decrement the TTL on every run: frames start at TTL
//!   [`COST_TTL`] and one call repeats at most [`REPEAT_PER_CALL`] times, so no run reaches
//!   TTL 1 (which would measure the early-exit path). A figure is the kernel time of all calls
//!   divided by their runs; it excludes the per-call copy in and out, which happens outside
//!   the kernel's timer.
//!
//! Each program is attached to the bench's idle pin device while it is timed
//! (`programs::pin_in_dispatcher`), so the many short calls do not each wait for an XDP
//! dispatcher update.
//!
//! **Every program is loaded [`LOADS`] times**, and a figure's runs are shared out evenly
//! among [`SAMPLES`] samples of all its loads ([`QUICK_SAMPLES`] with `--quick`). Loading
//! the same object again moves its ns per run (a standard deviation of ~2-3 ns on the
//! machines of 2026-12-07); the mean over loads halves that. Samples are taken in turn over
//! every program.
//!
//! **A figure is the fastest of its samples.** What disturbs a sample (an interrupt, another
//! tenant of the host, a frequency dip) only ever adds time: on the machines of 2026-12-08
//! it added 30-60 ns to most ~130 ns samples, unevenly across programs. Over five runs of
//! one build each, forwarder / router-peer (64 B and 1500 B) moved:
//! - median of 9 samples: 81.8% - 93.4%; fastest of 9: 90.5% - 91.4% (a calm hour) and
//!   86.8% - 94.8% (a noisy one, when some programs had no undisturbed sample);
//! - fastest of 27 samples (the same runs per figure), in the noisy hour: 89.9% - 91.9%.
//!
//! Each program's samples are in the JSON (`samples_ns`); docs/performance.md, "Method
//! program-cost".
//!
//! Phases: `CostPrograms::load` -> `CostPrograms::row` per frame size (timing each load of
//! each program, `time_program`) -> `check_full_path` on the forwarders' counters.

use std::collections::BTreeMap;
use std::time::Duration;

use aya::maps::{MapData, PerCpuArray};
use aya::programs::Xdp;
use aya::Ebpf;
use serde::Serialize;

use super::method::Method;
use super::programs::{self, Pristine};
use super::traffic::{Dest, Endpoints, FlowSet};
use super::variants::FIB_CACHE_MS;
use crate::bpf::forwarder_abi::{self as abi, Counter};
use crate::bpf::object::take_map;
use crate::bpf::test_run::run_xdp;
use crate::decisions::{Control, Settings};
use crate::forwarder::maps::counters_of;
use crate::forwarder::object::{Build, Tunables, OBJECT};
use crate::forwarder::Entry;
use crate::{cancel, Error, Result};

const XDP_PASS: u32 = 2;
const XDP_REDIRECT: u32 = 4;
/// Samples per figure; the fastest is reported (module docs). A figure's runs are shared out
/// among them (`CostPrograms::row`), so more samples interleave the programs more finely
/// without a longer run; each costs an XDP attach per program and load (~20 ms on the
/// machines of 2026-12-08: 27 samples instead of 9 made `bench` ~25 s longer).
pub const SAMPLES: usize = 27;
/// Samples per figure with `--quick` (a check that the method works, not a figure to quote).
pub const QUICK_SAMPLES: usize = 9;
/// Instances of each program timed; a sample is the mean over them (module docs).
pub const LOADS: usize = 4;
/// TTL of the cost frames: the most hops one buffer can take.
pub const COST_TTL: u8 = 255;
/// Runs per call: below [`COST_TTL`] - 1, so a TTL-decrementing program never reaches TTL 1.
pub const REPEAT_PER_CALL: u32 = 250;

/// ns/packet of every program at one frame size.
#[derive(Debug, Clone, Serialize)]
pub struct CostRow {
    /// Always `program-cost`: the method these figures come from.
    pub method: Method,
    /// Bytes per frame.
    pub frame_size: usize,
    /// Loads of each program a figure averages over ([`LOADS`]).
    pub loads: usize,
    /// `xdp_pass`: the test-run floor (context setup, program call).
    pub xdp_pass_ns: f64,
    /// `xdp_restore_pass`, the kernel-NAT variant's entry program: its excess over
    /// `xdp_pass` is the generator's extra cost in that variant.
    pub restore_pass_ns: f64,
    /// `xdp_redirect_only`.
    pub redirect_only_ns: f64,
    /// `xdp_router`: parse, TTL, fib lookup, MACs, redirect.
    pub router_peer_ns: f64,
    /// The default forwarder (next-hop cache off).
    pub forwarder_ns: f64,
    /// The forwarder with the next-hop cache on (every run after the first is a hit).
    pub forwarder_fib_cache_ns: f64,
    /// The forwarder built without its decision log (`forwarder_nolog.bpf.o`).
    pub forwarder_nolog_ns: f64,
    /// The forwarder with its decision log on at the default rate: after the burst, nearly
    /// every run is refused by the token bucket (and the ring, not read here, fills).
    pub forwarder_log_on_ns: f64,
    /// forwarder - forwarder_nolog: what the log costs when off (its gate).
    pub log_off_cost_ns: f64,
    /// forwarder - xdp_pass: what parsing, lookups, fib and rewrite add per packet.
    pub forwarder_own_ns: f64,
    /// forwarder - router peer: what NAT adds to a router (map lookup, L4 checksum, the
    /// forwarder's counter and parsing of TCP).
    pub forwarder_over_router_ns: f64,
    /// Every program's samples ([`SAMPLES`], [`QUICK_SAMPLES`]) in the order taken (ns per
    /// run, each the mean over its loads), by the stem of its `_ns` field above
    /// (`router_peer`, `forwarder`, ...); each `_ns` figure is the smallest of its samples
    /// (module docs).
    pub samples_ns: BTreeMap<&'static str, Vec<f64>>,
    /// Per program, how many of its samples are within [`UNDISTURBED`] of its fastest: few
    /// ([`FEW_UNDISTURBED`] or fewer) mean a busy host, where even the fastest sample may be
    /// disturbed and the figure high.
    pub undisturbed: BTreeMap<&'static str, usize>,
}

/// A sample this close to its program's fastest (3%) counts as undisturbed.
pub const UNDISTURBED: f64 = 0.03;
/// At most this many undisturbed samples: the fastest may itself be disturbed. Seen
/// 2026-12-08 over 20 figures of each of forwarder and router peer: the only two 7-10 ns
/// above the program's usual fastest had 2 and 3 of 27; most with 1-3 were not high, so
/// the bench says "may".
pub const FEW_UNDISTURBED: usize = 3;

/// The programs timed, in [`CostRow`] order.
#[derive(Debug, Clone, Copy)]
enum Timed {
    Pass,
    Restore,
    RedirectOnly,
    Router,
    Forwarder,
    ForwarderCached,
    ForwarderNolog,
    ForwarderLogOn,
}

impl Timed {
    const ALL: [Timed; 8] = [
        Timed::Pass,
        Timed::Restore,
        Timed::RedirectOnly,
        Timed::Router,
        Timed::Forwarder,
        Timed::ForwarderCached,
        Timed::ForwarderNolog,
        Timed::ForwarderLogOn,
    ];

    /// The verdict every run must return.
    fn verdict(self) -> u32 {
        match self {
            Timed::Pass | Timed::Restore => XDP_PASS,
            _ => XDP_REDIRECT,
        }
    }
}

/// The programs timed, private to this measurement (maps never pinned; each program attached
/// only to the idle pin device while it is timed).
struct CostPrograms {
    /// [`LOADS`] instances of each program, indexed by [`Timed`].
    loads: Vec<Vec<Ebpf>>,
    /// The restore instances' pristine-header maps.
    pristine: Vec<Pristine>,
    /// The log-on instances' switches: on while they exist, off again when dropped.
    log_switches: Vec<Control>,
    /// The counters of each forwarder instance, per kind ([`Timed::forwarder_kind`]).
    counters: [Vec<PerCpuArray<MapData, u64>>; 4],
}

impl Timed {
    /// Which of [`CostPrograms::counters`] a forwarder instance counts in.
    fn forwarder_kind(self) -> Option<usize> {
        match self {
            Timed::Forwarder => Some(0),
            Timed::ForwarderCached => Some(1),
            Timed::ForwarderNolog => Some(2),
            Timed::ForwarderLogOn => Some(3),
            _ => None,
        }
    }

    /// The stem of its [`CostRow`] field (`router_peer` for `router_peer_ns`).
    fn field(self) -> &'static str {
        match self {
            Timed::Pass => "xdp_pass",
            Timed::Restore => "restore_pass",
            Timed::RedirectOnly => "redirect_only",
            Timed::Router => "router_peer",
            Timed::Forwarder => "forwarder",
            Timed::ForwarderCached => "forwarder_fib_cache",
            Timed::ForwarderNolog => "forwarder_nolog",
            Timed::ForwarderLogOn => "forwarder_log_on",
        }
    }

    /// The program's name in its object.
    fn name(self) -> &'static str {
        match self {
            Timed::Pass => abi::PROG_PASS,
            Timed::Restore => abi::PROG_RESTORE_PASS,
            Timed::RedirectOnly => abi::PROG_REDIRECT_ONLY,
            Timed::Router => abi::PROG_ROUTER,
            _ => abi::PROG_EXTERNAL,
        }
    }
}

impl CostPrograms {
    /// `target` is ve-m1 (redirect-only's target), `devices` every ifindex of vm. Loads
    /// round-robin (every program once, then again), so no program's loads sit together.
    fn load(target: u32, devices: &[u32], entries: &[Entry], t: Tunables) -> Result<Self> {
        let mut p = CostPrograms {
            loads: (0..Timed::ALL.len()).map(|_| Vec::new()).collect(),
            pristine: Vec::new(),
            log_switches: Vec::new(),
            counters: Default::default(),
        };
        for _ in 0..LOADS {
            for which in Timed::ALL {
                let ebpf = p.load_one(which, target, devices, entries, t)?;
                p.loads[which as usize].push(ebpf);
            }
        }
        Ok(p)
    }

    /// One instance of `which`; its pristine map, log switch and counters are kept.
    fn load_one(
        &mut self,
        which: Timed,
        target: u32,
        devices: &[u32],
        entries: &[Entry],
        t: Tunables,
    ) -> Result<Ebpf> {
        let uncached = Tunables {
            fib_cache_ns: 0,
            ..t
        };
        let mut ebpf = match which {
            Timed::Pass => return programs::pass(),
            Timed::Restore => {
                let (ebpf, pristine) = programs::restore_pass()?;
                self.pristine.push(pristine);
                return Ok(ebpf);
            }
            Timed::RedirectOnly => return programs::redirect_only(target),
            Timed::Router => return programs::router_peer(devices),
            Timed::Forwarder => programs::forwarder_private(uncached, entries, devices)?,
            Timed::ForwarderCached => {
                let cached = Tunables {
                    fib_cache_ns: u64::from(FIB_CACHE_MS) * 1_000_000,
                    ..t
                };
                programs::forwarder_private(cached, entries, devices)?
            }
            Timed::ForwarderNolog => {
                programs::forwarder_private_build(Build::NoDecisionLog, uncached, entries, devices)?
            }
            Timed::ForwarderLogOn => {
                let mut ebpf = programs::forwarder_private(uncached, entries, devices)?;
                // A private instance: its switch is its own, on at the default rate.
                let mut switch = Control::from_ebpf(&mut ebpf, OBJECT)?;
                switch.set(&Settings::on(log::Level::Info))?;
                self.log_switches.push(switch);
                ebpf
            }
        };
        let object = match which {
            Timed::ForwarderNolog => Build::NoDecisionLog.object(),
            _ => OBJECT,
        };
        if let Some(kind) = which.forwarder_kind() {
            self.counters[kind].push(take_map(&mut ebpf, object, abi::COUNTERS_MAP)?);
        }
        Ok(ebpf)
    }

    /// Times every program on one frame of `service` (to the public endpoint) and, for the
    /// router, of `target` (to the container), in `ingress`'s namespace; each program is kept
    /// in the XDP dispatcher by the device `pin_ifindex` while it is timed.
    fn row(
        &mut self,
        ingress: u32,
        pin_ifindex: u32,
        service: &FlowSet,
        target: &FlowSet,
        repeat: u32,
        n_samples: usize,
    ) -> Result<CostRow> {
        let size = service.frame_size;
        for pristine in &mut self.pristine {
            programs::set_pristine(pristine, service.frame(0))?;
        }
        let before = self.forwarder_counters()?;
        // A figure's `repeat` runs, shared out evenly among its samples and loads.
        let n_samples = n_samples.max(1);
        let per_load = (repeat / (LOADS * n_samples) as u32).max(1);
        // Sample k of every program, then sample k + 1 of every program: a slowdown of the
        // machine falls on all of them alike instead of on the one being timed.
        let mut samples = vec![Vec::with_capacity(n_samples); Timed::ALL.len()];
        for _ in 0..n_samples {
            for (i, p) in Timed::ALL.into_iter().enumerate() {
                let frame = match p {
                    Timed::Router => target.frame(0),
                    _ => service.frame(0),
                };
                let name = p.name();
                let (mut kernel, mut runs) = (Duration::ZERO, 0u32);
                for ebpf in &mut self.loads[p as usize] {
                    let pin = programs::pin_in_dispatcher(ebpf, name, pin_ifindex)?;
                    let prog = programs::xdp(ebpf, name)?;
                    let timed = Timing {
                        name,
                        ingress,
                        frame,
                        verdict: p.verdict(),
                        size,
                    };
                    kernel += time_program(prog, &timed, per_load)?;
                    runs += per_load;
                    drop(pin);
                }
                samples[i].push(kernel.as_nanos() as f64 / f64::from(runs));
            }
        }
        let mut ns = [0f64; Timed::ALL.len()];
        for (n, s) in ns.iter_mut().zip(&samples) {
            *n = s.iter().copied().reduce(f64::min).unwrap_or(0.0);
        }
        let undisturbed = Timed::ALL
            .into_iter()
            .zip(&samples)
            .zip(ns)
            .map(|((p, s), fastest)| {
                let near = s.iter().filter(|&&v| v <= fastest * (1.0 + UNDISTURBED));
                (p.field(), near.count())
            })
            .collect();
        let samples_ns = Timed::ALL
            .into_iter()
            .map(|p| p.field())
            .zip(samples)
            .collect();
        let after = self.forwarder_counters()?;
        let runs = u64::from(per_load) * (LOADS * n_samples) as u64;
        check_full_path(&before, &after, runs)?;
        let [xdp_pass_ns, restore_pass_ns, redirect_only_ns, router_peer_ns, forwarder_ns, forwarder_fib_cache_ns, forwarder_nolog_ns, forwarder_log_on_ns] =
            ns;
        Ok(CostRow {
            method: Method::ProgramCost,
            frame_size: size,
            loads: LOADS,
            xdp_pass_ns,
            restore_pass_ns,
            redirect_only_ns,
            router_peer_ns,
            forwarder_ns,
            forwarder_fib_cache_ns,
            forwarder_nolog_ns,
            forwarder_log_on_ns,
            log_off_cost_ns: forwarder_ns - forwarder_nolog_ns,
            forwarder_own_ns: (forwarder_ns - xdp_pass_ns).max(0.0),
            forwarder_over_router_ns: forwarder_ns - router_peer_ns,
            samples_ns,
            undisturbed,
        })
    }

    /// Each forwarder kind's counters, summed over its loads.
    fn forwarder_counters(&self) -> Result<[[u64; Counter::COUNT]; 4]> {
        let mut sums = [[0u64; Counter::COUNT]; 4];
        for (sum, maps) in sums.iter_mut().zip(&self.counters) {
            for m in maps {
                for (s, c) in sum.iter_mut().zip(counters_of(m)?) {
                    *s += c;
                }
            }
        }
        Ok(sums)
    }
}

impl Drop for CostPrograms {
    fn drop(&mut self) {
        // Private maps die with the instances; switching off is only tidy.
        for switch in &mut self.log_switches {
            let _ = switch.set(&Settings::default());
        }
    }
}

/// What the measurement runs against: vm's interfaces and the deployment's entries.
pub struct CostSetup<'a> {
    /// vm's eth0: the frames arrive here.
    pub ingress: u32,
    /// The idle device that keeps the measured program in the XDP dispatcher.
    pub pin_ifindex: u32,
    /// ve-m1: redirect-only's target.
    pub target: u32,
    /// Every ifindex of vm, for the devmaps.
    pub devices: &'a [u32],
    /// The deployment's NAT entries.
    pub entries: &'a [Entry],
    /// The deployment's tunables.
    pub tunables: Tunables,
    /// Frame addresses.
    pub endpoints: &'a Endpoints,
}

/// Measures in the current thread's namespace (vm's): one row per frame size, `repeat` runs
/// per figure shared out over `samples` samples.
pub fn measure(
    s: &CostSetup,
    sizes: &[usize],
    repeat: u32,
    samples: usize,
) -> Result<Vec<CostRow>> {
    let mut progs = CostPrograms::load(s.target, s.devices, s.entries, s.tunables)?;
    let mut rows = Vec::new();
    for &size in sizes {
        let service = FlowSet::new(s.endpoints, size, 1, Dest::Service, COST_TTL)?;
        let routed = FlowSet::new(s.endpoints, size, 1, Dest::Target, COST_TTL)?;
        rows.push(progs.row(s.ingress, s.pin_ifindex, &service, &routed, repeat, samples)?);
    }
    Ok(rows)
}

/// What one program is timed on, for [`time_program`].
struct Timing<'a> {
    name: &'static str,
    ingress: u32,
    frame: &'a [u8],
    /// The verdict every call must end with.
    verdict: u32,
    size: usize,
}

/// Kernel time of `runs` runs of `prog` (at least one), in calls of at most
/// [`REPEAT_PER_CALL`], summed over the calls.
fn time_program(prog: &Xdp, t: &Timing, runs: u32) -> Result<Duration> {
    let (mut done, mut kernel) = (0u32, Duration::ZERO);
    while done < runs.max(1) {
        cancel::check()?;
        let n = (runs - done).clamp(1, REPEAT_PER_CALL);
        let r = run_xdp(prog, t.ingress, t.frame, n, 0)?;
        if r.retval != t.verdict {
            return Err(Error::unexpected(
                format!("{} on a {}-byte SYN", t.name, t.size),
                format!("verdict {} (expected {})", r.retval, t.verdict),
            ));
        }
        kernel += r.duration * n;
        done += n;
    }
    Ok(kernel)
}

/// Every run of every forwarder instance took the full NAT path: redirected, the uncached
/// ones (0, 2, 3: log off, compiled out, on) through a lookup each time, the cached one (1)
/// from its cache after its first lookup.
fn check_full_path(
    before: &[[u64; Counter::COUNT]; 4],
    after: &[[u64; Counter::COUNT]; 4],
    runs: u64,
) -> Result<()> {
    let d = |i: usize, c: Counter| after[i][c as usize] - before[i][c as usize];
    let bad = |what: &str, got: u64| {
        Error::unexpected(
            "forwarder cost measurement",
            format!("{what}: {got} of {runs} runs (identity entry missing? TTL ran out?)"),
        )
    };
    for i in 0..4 {
        if d(i, Counter::Redirected) != runs {
            return Err(bad("redirected", d(i, Counter::Redirected)));
        }
    }
    for i in [0, 2, 3] {
        if d(i, Counter::FibSuccess) != runs {
            return Err(bad(
                "fib lookups without the cache",
                d(i, Counter::FibSuccess),
            ));
        }
    }
    // Misses: the first run on each CPU and one per cache lifetime (FIB_CACHE_MS).
    if d(1, Counter::FibCacheHit) * 100 < runs * 99 {
        return Err(bad("cache hits", d(1, Counter::FibCacheHit)));
    }
    Ok(())
}
