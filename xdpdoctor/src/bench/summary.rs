//! From samples to figures: one [`Throughput`] row per variant and frame size (median over
//! rounds, the rounds themselves and their spread), from which `ratios::Ratio` computes the
//! ratios; and the decision log's row per frame size from the forwarder+log samples.

use std::time::Duration;

use serde::Serialize;

use super::decision_log::LogRow;
use super::method::Method;
use super::rounds::Sample;
use super::stats::median;
use super::variants::Variant;

/// One variant at one frame size (live frames).
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    /// Always `live-frames`.
    pub method: Method,
    /// The variant.
    pub variant: Variant,
    /// Bytes per frame.
    pub frame_size: usize,
    /// Delivered (counted at the container's host0) per second of the kernel's test-run
    /// time; median over rounds. `None` when skipped.
    pub mpps: Option<f64>,
    /// Frames pushed per second (same time base).
    pub offered_mpps: Option<f64>,
    /// Delivered per second of wall time, the per-call test-run setup included (a lower
    /// bound; the setup is the same for every variant).
    pub wall_mpps: Option<f64>,
    /// delivered / sent over all rounds.
    pub delivered_ratio: Option<f64>,
    /// Delivered Mpps of each round, in round order.
    pub rounds_mpps: Vec<f64>,
    /// (max - min) / median of the rounds, in percent: the round-to-round noise.
    pub spread_pct: Option<f64>,
    /// Frames pushed over all rounds.
    pub sent: u64,
    /// Frames delivered over all rounds.
    pub delivered: u64,
    /// Why there is no number.
    pub skipped: Option<String>,
}

/// Mpps of `n` frames in `d` (0 for no time).
fn mpps(n: u64, d: Duration) -> f64 {
    if d.is_zero() {
        0.0
    } else {
        n as f64 / d.as_secs_f64() / 1e6
    }
}

/// The row of `v` at `size` from its samples (one per round), or a skipped row.
pub(super) fn throughput(
    v: Variant,
    size: usize,
    ss: Option<&Vec<Sample>>,
    skipped: Option<&String>,
) -> Throughput {
    let ss = ss.map(Vec::as_slice).unwrap_or_default();
    let rounds: Vec<f64> = ss
        .iter()
        .map(|s| mpps(s.delivered, s.kernel_time))
        .collect();
    let mut offered: Vec<f64> = ss.iter().map(|s| mpps(s.sent, s.kernel_time)).collect();
    let mut wall: Vec<f64> = ss.iter().map(|s| mpps(s.delivered, s.elapsed)).collect();
    let sent = ss.iter().map(|s| s.sent).sum();
    let delivered = ss.iter().map(|s| s.delivered).sum();
    let has = !ss.is_empty();
    let med = has.then(|| median(&mut rounds.clone()));
    Throughput {
        method: Method::LiveFrames,
        variant: v,
        frame_size: size,
        mpps: med,
        offered_mpps: has.then(|| median(&mut offered)),
        wall_mpps: has.then(|| median(&mut wall)),
        delivered_ratio: has.then(|| delivered as f64 / (sent as f64).max(1.0)),
        spread_pct: spread_pct(&rounds, med),
        rounds_mpps: rounds,
        sent,
        delivered,
        skipped: if has {
            None
        } else {
            Some(
                skipped
                    .cloned()
                    .unwrap_or_else(|| "skipped: not measured".into()),
            )
        },
    }
}

/// (max - min) / median in percent, for two or more rounds.
/// One decision-log row per frame size that has forwarder+log samples.
pub(super) fn decision_log(
    samples: &std::collections::BTreeMap<(Variant, usize), Vec<Sample>>,
    cpus: usize,
) -> Vec<LogRow> {
    samples
        .iter()
        .filter(|((v, _), _)| *v == Variant::ForwarderLog)
        .map(|((_, size), ss)| {
            let logs: Vec<_> = ss.iter().filter_map(|s| s.log).collect();
            LogRow::new(*size, ss.iter().map(|s| s.sent).sum(), &logs, cpus)
        })
        .collect()
}

fn spread_pct(rounds: &[f64], median: Option<f64>) -> Option<f64> {
    let m = median.filter(|m| *m > 0.0)?;
    if rounds.len() < 2 {
        return None;
    }
    let lo = rounds.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = rounds.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some((hi - lo) / m * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(delivered: u64, ms: u64) -> Sample {
        Sample {
            sent: delivered,
            delivered,
            kernel_time: Duration::from_millis(ms),
            elapsed: Duration::from_millis(ms * 2),
            ..Sample::default()
        }
    }

    #[test]
    fn median_rounds_and_spread() {
        let ss = vec![
            sample(2_000_000, 1000),
            sample(3_000_000, 1000),
            sample(2_500_000, 1000),
        ];
        let t = throughput(Variant::Forwarder, 64, Some(&ss), None);
        assert_eq!(t.rounds_mpps, vec![2.0, 3.0, 2.5]);
        assert_eq!(t.mpps, Some(2.5));
        assert_eq!(t.wall_mpps, Some(1.25));
        assert!((t.spread_pct.unwrap() - 40.0).abs() < 1e-9);
        let skipped = throughput(
            Variant::ForwarderTrace,
            64,
            None,
            Some(&"skipped: x".into()),
        );
        assert_eq!((skipped.mpps, skipped.spread_pct), (None, None));
        assert_eq!(skipped.skipped.as_deref(), Some("skipped: x"));
    }
}
