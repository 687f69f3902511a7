//! The af-packet method's figures, from its samples ([`super::path`]): per variant and frame
//! size, the CPU time per delivered packet with and without the generator's own cost, over
//! rounds; the generator's own cost; and the checks that each run took its path.
//!
//! The path's cost in one round is `cpu(variant) / delivered(variant) - cpu(generator) /
//! counted(generator)`, both read from the generator's CPU in that round at that frame size:
//! what is left is what the path adds to handing a frame to vm's eth0 and dropping it there.

use serde::Serialize;

use super::checks::pct;
use super::cpu::{Basis, Usage};
use super::handover::Handover;
use super::method::Method;
use super::path::{PathRounds, PathSample, Run, RunStats, StatsMode, VARIANTS};
use super::stats::median;
use super::variants::Variant;

/// Which CPU reading the af-packet figures come from (`bench::cpu`).
#[derive(Debug, Clone, Serialize)]
pub struct BasisNote {
    /// `tasks`, `tasks-and-irq` or `per-cpu`.
    pub basis: Basis,
    /// How it was decided.
    pub why: String,
    /// The reading the `cross_check_*` fields come from.
    pub cross_check: Basis,
}

impl BasisNote {
    /// The note of `r`.
    pub fn of(r: &PathRounds) -> BasisNote {
        BasisNote {
            basis: r.basis.0,
            why: r.basis.1.clone(),
            cross_check: r.basis.0.cross_check(),
        }
    }
}

/// One variant at one frame size, af-packet method.
#[derive(Debug, Clone, Serialize)]
pub struct PathCost {
    /// Always `af-packet`.
    pub method: Method,
    /// The variant.
    pub variant: Variant,
    /// Bytes per frame.
    pub frame_size: usize,
    /// CPU ns on the generator's CPU per delivered packet (the report's `af_packet_basis`
    /// says which reading), the generator's own cost included; median over rounds.
    pub cpu_ns_per_packet: Option<f64>,
    /// The path's own cost: the above minus the generator's per frame in the same round;
    /// median over rounds. Ratios are formed from this.
    pub path_ns_per_packet: Option<f64>,
    /// `path_ns_per_packet` of each round, in round order.
    pub rounds_path_ns: Vec<f64>,
    /// (max - min) / median of the rounds, in percent.
    pub spread_pct: Option<f64>,
    /// The same difference from the other reading (`af_packet_basis.cross_check`); median
    /// over rounds.
    pub cross_check_path_ns: Option<f64>,
    /// `cross_check_path_ns` of each round.
    pub rounds_cross_check_path_ns: Vec<f64>,
    /// Share of the per-CPU accounting's time spent in softirq.
    pub softirq_share: Option<f64>,
    /// The program on vm's eth0, ns per run (BPF runtime statistics pass).
    pub program_ns_per_run: Option<f64>,
    /// The sink on host0, ns per run (same pass).
    pub sink_ns_per_run: Option<f64>,
    /// Frames sent over all rounds.
    pub sent: u64,
    /// Frames counted at the container over all rounds.
    pub delivered: u64,
    /// delivered / sent.
    pub delivered_ratio: Option<f64>,
    /// The generator's sending rate (Mpps of wall time): what it offered, **not** the path's
    /// capacity (the generator is slower than the paths it feeds).
    pub generator_mpps: Option<f64>,
}

/// The generator's own cost at one frame size (frames into the XDP_DROP sink on vm's eth0).
#[derive(Debug, Clone, Serialize)]
pub struct GeneratorCost {
    /// Always `af-packet`.
    pub method: Method,
    /// Bytes per frame.
    pub frame_size: usize,
    /// CPU ns per frame on its CPU (the report's `af_packet_basis`), median over rounds.
    pub cpu_ns_per_packet: Option<f64>,
    /// Each round's.
    pub rounds_cpu_ns: Vec<f64>,
    /// The other reading.
    pub cross_check_cpu_ns: Option<f64>,
    /// The sink's ns per run (statistics pass).
    pub drop_ns_per_run: Option<f64>,
    /// Its sending rate, Mpps of wall time.
    pub mpps: Option<f64>,
    /// Frames sent, and counted by the sink, over all rounds.
    pub sent: u64,
    /// See `sent`.
    pub counted: u64,
    /// The CPU it was pinned to.
    pub cpu: usize,
}

fn per(ns: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| ns as f64 / n as f64)
}

fn med(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| median(&mut v.to_vec()))
}

fn spread_pct(rounds: &[f64], m: Option<f64>) -> Option<f64> {
    let m = m.filter(|m| *m > 0.0)?;
    if rounds.len() < 2 {
        return None;
    }
    let lo = rounds.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = rounds.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some((hi - lo) / m * 100.0)
}

fn stats_per_run(ss: &[PathSample], f: fn(&RunStats) -> (u64, u64)) -> Option<f64> {
    let (ns, runs) = ss
        .iter()
        .filter_map(|s| s.stats.as_ref().map(f))
        .fold((0, 0), |(a, b), (x, y)| (a + x, b + y));
    per(ns, runs)
}

fn mpps(ss: &[PathSample]) -> Option<f64> {
    let sent: u64 = ss.iter().map(|s| s.sent).sum();
    let secs: f64 = ss.iter().map(|s| s.elapsed.as_secs_f64()).sum();
    (secs > 0.0).then(|| sent as f64 / secs / 1e6)
}

/// The generator's rows and the variants' rows, one per frame size.
pub fn rows(r: &PathRounds, sizes: &[usize]) -> (Vec<GeneratorCost>, Vec<PathCost>) {
    let (basis, check) = (r.basis.0, r.basis.0.cross_check());
    let get = |run: Run, size: usize| {
        r.samples
            .get(&(run, size))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    };
    let per_frame = |b: Basis, ss: &[PathSample]| -> Vec<f64> {
        ss.iter()
            .filter_map(|s| per(b.of(&s.usage), s.delivered))
            .collect()
    };
    // Round i of a variant against round i of the generator.
    let path = |b: Basis, ss: &[PathSample], g: &[PathSample]| -> Vec<f64> {
        ss.iter()
            .zip(g)
            .filter_map(|(s, gs)| {
                Some(per(b.of(&s.usage), s.delivered)? - per(b.of(&gs.usage), gs.delivered)?)
            })
            .collect()
    };
    let mut gens = Vec::new();
    let mut paths = Vec::new();
    for &size in sizes {
        let g = get(None, size);
        let g_cpu = per_frame(basis, g);
        gens.push(GeneratorCost {
            method: Method::AfPacket,
            frame_size: size,
            cpu_ns_per_packet: med(&g_cpu),
            cross_check_cpu_ns: med(&per_frame(check, g)),
            rounds_cpu_ns: g_cpu,
            drop_ns_per_run: stats_per_run(g, |s| (s.program_ns, s.program_runs)),
            mpps: mpps(g),
            sent: g.iter().map(|s| s.sent).sum(),
            counted: g.iter().map(|s| s.delivered).sum(),
            cpu: r.cpu,
        });
        for v in VARIANTS {
            let ss = get(Some(v), size);
            let rounds = path(basis, ss, g);
            let cross = path(check, ss, g);
            let kernel: u64 = ss.iter().map(|s| s.usage.kernel_ns()).sum();
            let softirq: u64 = ss.iter().map(|s| s.usage.softirq_ns).sum();
            let sent: u64 = ss.iter().map(|s| s.sent).sum();
            let delivered: u64 = ss.iter().map(|s| s.delivered).sum();
            let path_med = med(&rounds);
            paths.push(PathCost {
                method: Method::AfPacket,
                variant: v,
                frame_size: size,
                cpu_ns_per_packet: med(&per_frame(basis, ss)),
                path_ns_per_packet: path_med,
                spread_pct: spread_pct(&rounds, path_med),
                rounds_path_ns: rounds,
                cross_check_path_ns: med(&cross),
                rounds_cross_check_path_ns: cross,
                softirq_share: (kernel > 0).then(|| softirq as f64 / kernel as f64),
                program_ns_per_run: stats_per_run(ss, |s| (s.program_ns, s.program_runs)),
                sink_ns_per_run: stats_per_run(ss, |s| (s.sink_ns, s.sink_runs)),
                sent,
                delivered,
                delivered_ratio: (sent > 0).then(|| delivered as f64 / sent as f64),
                generator_mpps: mpps(ss),
            });
        }
    }
    (gens, paths)
}

/// Below this share of the sending time on the generator's CPU, a run's figure may miss
/// work (see [`busy_pct`]).
const MIN_BUSY_PCT: f64 = 95.0;

/// Above this share of the frames sent refused (ENOBUFS), a run's figure carries the wasted
/// sends: a note says so with `WARNING`.
const MAX_REFUSED_PCT: u64 = 1;

/// [`Basis::busy_pct`] over a run's samples: below [`MIN_BUSY_PCT`] its figure may miss work.
pub fn busy_pct(basis: Basis, ss: &[PathSample]) -> f64 {
    let mut used = Usage::default();
    let mut wall = std::time::Duration::ZERO;
    for s in ss {
        used.add(&s.usage);
        wall += s.elapsed;
    }
    basis.busy_pct(&used, wall)
}

/// One note per run and frame size on the path it took, `WARNING ...` when it was not the
/// one measured; and how the method ran.
pub fn notes(r: &PathRounds) -> Vec<String> {
    let mut notes = vec![r.warm_up.clone()];
    notes.push(format!(
        "af-packet: frames from {} in the client namespace, AF_PACKET + PACKET_QDISC_BYPASS, \
         sendmmsg, generator pinned to CPU {}; CPU time: {:?} reading, {} (cross-check: {:?})",
        r.client_if,
        r.cpu,
        r.basis.0,
        r.basis.1,
        r.basis.0.cross_check()
    ));
    let h = &r.handover;
    notes.push(match (h.mode, &h.fallback) {
        (Handover::Batched, _) => format!(
            "af-packet: hand-over batched: vm's eth0 polls every {} µs while frames keep \
             coming (gro_flush_timeout {} ns, napi_defer_hard_irqs {}), as a loaded NIC hands \
             over up to 64 frames per poll",
            h.gro_flush_timeout_ns / 1000,
            h.gro_flush_timeout_ns,
            h.napi_defer_hard_irqs
        ),
        (Handover::PerFrame, None) => {
            "af-packet: hand-over per frame (--handover per-frame): one frame per poll".into()
        }
        (Handover::PerFrame, Some(why)) => {
            format!("WARNING af-packet: hand-over per frame, batched was refused: {why}")
        }
    });
    notes.push(match &r.stats {
        StatsMode::AlreadyOn => "af-packet: BPF runtime statistics were on for the whole run \
            (kernel.bpf_stats_enabled = 1): the CPU figures include their cost"
            .into(),
        StatsMode::OnRequest => "af-packet: BPF runtime statistics on (BPF_ENABLE_STATS) only \
            during a separate pass a quarter as long; the CPU figures come from \
            passes without them"
            .into(),
        StatsMode::Refused(why) => format!("af-packet: no BPF runtime statistics ({why})"),
    });
    for ((run, size), ss) in &r.samples {
        let sum = |f: fn(&PathSample) -> u64| ss.iter().map(f).sum::<u64>();
        let (sent, delivered, refused) =
            (sum(|s| s.sent), sum(|s| s.delivered), sum(|s| s.refused));
        let (seen, redirected) = (sum(|s| s.fwd_seen), sum(|s| s.fwd_redirected));
        let name = run.map(Variant::name).unwrap_or("generator");
        let busy = busy_pct(r.basis.0, ss);
        if busy < MIN_BUSY_PCT {
            notes.push(format!(
                "WARNING af-packet {name} {size}B: the generator's CPU was busy {busy:.1}% of \
                 the sending time: softirqs that ran while it idled are in no reading"
            ));
        }
        if refused * 100 > sent * MAX_REFUSED_PCT {
            notes.push(format!(
                "WARNING af-packet {name} {size}B: the client's device refused {refused} \
                 frames (ENOBUFS, {:.1}% of those sent): vm's ring was full, and each refused \
                 send is CPU time on the measured CPU that delivers nothing",
                pct(refused, sent)
            ));
        } else if refused > 0 {
            notes.push(format!(
                "af-packet {name} {size}B: the client's device refused {refused} frames (ENOBUFS)"
            ));
        }
        match run {
            None if delivered < sent => notes.push(format!(
                "WARNING af-packet generator {size}B: the XDP_DROP sink counted {delivered} of \
                 {sent} frames: the generator's cost is not per frame"
            )),
            Some(Variant::Forwarder | Variant::ForwarderBridged) if redirected < sent => notes
                .push(format!(
                    "WARNING af-packet {name} {size}B: the forwarder redirected {redirected} of \
                     {sent} frames ({:.1}%)",
                    pct(redirected, sent)
                )),
            Some(
                Variant::RedirectOnly
                | Variant::RouterPeer
                | Variant::KernelNat
                | Variant::KernelNatBridged,
            ) if seen * 1000 > sent => notes.push(format!(
                "WARNING af-packet {name} {size}B: the deployed forwarder saw {seen} of \
                     {sent} frames; the path is not clean"
            )),
            Some(v) => notes.push(format!(
                "af-packet {v} {size}B: delivered {delivered} of {sent} frames ({:.1}%)",
                pct(delivered, sent)
            )),
            None => {}
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn sample(thread_ms: u64, ksoftirqd_ms: u64, user_ms: u64, wall_ms: u64) -> PathSample {
        PathSample {
            usage: Usage {
                thread_ns: thread_ms * 1_000_000,
                ksoftirqd_ns: ksoftirqd_ms * 1_000_000,
                system_ns: (thread_ms + ksoftirqd_ms - user_ms) * 1_000_000,
                user_ns: user_ms * 1_000_000,
                ..Usage::default()
            },
            elapsed: Duration::from_millis(wall_ms),
            ..PathSample::default()
        }
    }

    #[test]
    fn busy_is_the_reading_over_the_sending_time() {
        // Never idle: the thread and ksoftirqd fill the sending time.
        let full = [sample(240, 10, 20, 250), sample(250, 0, 20, 250)];
        assert!((busy_pct(Basis::Tasks, &full) - 100.0).abs() < 1e-9);
        assert!((busy_pct(Basis::PerCpu, &full) - 100.0).abs() < 1e-9);
        // sendmmsg blocked half the time (a full send buffer): the CPU idled.
        let blocked = [sample(125, 0, 10, 250), sample(250, 0, 20, 250)];
        assert!((busy_pct(Basis::Tasks, &blocked) - 75.0).abs() < 1e-9);
        assert!(busy_pct(Basis::Tasks, &blocked) < MIN_BUSY_PCT);
        assert_eq!(busy_pct(Basis::Tasks, &[]), 100.0);
    }
}
