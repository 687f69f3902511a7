//! The ratios the bench reports, each formed within one method (never across methods), with
//! its target where one is set, whether it was met and whether that verdict is within the
//! round-to-round noise.
//!
//! Every method gives a figure per variant and frame size where more is better
//! ([`Scores`]): live frames delivered Mpps per second of test-run time; program cost runs
//! per ns (1 / ns per run); af-packet packets per ns of path CPU (1 / path ns per packet). So
//! "forwarder / router-peer = 95%" reads the same in every method: the forwarder handles 95%
//! of what the router peer handles with the same CPU.

use std::collections::BTreeMap;

use serde::Serialize;

use super::cost::CostRow;
use super::method::Method;
use super::path_summary::PathCost;
use super::summary::Throughput;
use super::variants::Variant;

/// What a ratio is compared with.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Target {
    /// The ratio must be at least this.
    pub min: f64,
    /// Where the target comes from.
    pub source: &'static str,
}

/// A ratio the bench reports: `numerator` / `denominator` within `method`, with its target if
/// one is set.
#[derive(Debug, Clone, Copy)]
pub struct RatioDef {
    /// Stable JSON id, e.g. `forwarder_over_router_peer` (the same id in every method).
    pub id: &'static str,
    /// The method both sides come from.
    pub method: Method,
    /// Measured variant.
    pub numerator: Variant,
    /// What it is compared with.
    pub denominator: Variant,
    /// The goal, if any.
    pub target: Option<Target>,
}

const ISSUE_12: &str = "issue 12";
/// A NAT forwarder within 10% of a plain XDP router.
const ROUTER: Option<Target> = Some(Target {
    min: 0.90,
    source: ISSUE_12,
});
/// 3x kernel NAT into bridged containers (Docker's published-port DNAT).
const KERNEL_NAT_BRIDGED: Option<Target> = Some(Target {
    min: 3.0,
    source: "issue 22",
});
/// 3.5x kernel NAT.
const KERNEL_NAT: Option<Target> = Some(Target {
    min: 3.5,
    source: ISSUE_12,
});

const fn def(
    id: &'static str,
    method: Method,
    numerator: Variant,
    denominator: Variant,
    target: Option<Target>,
) -> RatioDef {
    RatioDef {
        id,
        method,
        numerator,
        denominator,
        target,
    }
}

use Method::{AfPacket, LiveFrames, ProgramCost};
use Variant::{
    Forwarder, ForwarderBridged, ForwarderFibCache, ForwarderLog, ForwarderNolog, ForwarderTrace,
    KernelNat, KernelNatBridged, RedirectOnly, RouterPeer,
};

/// Every ratio, in table order. Targets: the forwarder at least 90% of the router peer and
/// 3.5x kernel NAT in every method that measures both sides, into bridged containers 3x
/// kernel NAT through the bridge (issue 22), and watching it with `trace` costing at most 5%
/// (live frames). The others explain the figures and have no target; the
/// log ones are the decision log's (off within noise of the build without it; on at its
/// default rate).
pub const RATIOS: [RatioDef; 23] = [
    def(
        "forwarder_over_router_peer",
        LiveFrames,
        Forwarder,
        RouterPeer,
        ROUTER,
    ),
    def(
        "forwarder_over_kernel_nat",
        LiveFrames,
        Forwarder,
        KernelNat,
        KERNEL_NAT,
    ),
    def(
        "bridged_forwarder_over_kernel_nat",
        LiveFrames,
        ForwarderBridged,
        KernelNatBridged,
        KERNEL_NAT_BRIDGED,
    ),
    def(
        "bridged_forwarder_over_forwarder",
        LiveFrames,
        ForwarderBridged,
        Forwarder,
        None,
    ),
    def(
        "with_trace_over_without",
        LiveFrames,
        ForwarderTrace,
        Forwarder,
        Some(Target {
            min: 0.95,
            source: ISSUE_12,
        }),
    ),
    def(
        "forwarder_over_redirect_only",
        LiveFrames,
        Forwarder,
        RedirectOnly,
        None,
    ),
    def(
        "router_peer_over_redirect_only",
        LiveFrames,
        RouterPeer,
        RedirectOnly,
        None,
    ),
    def(
        "fib_cache_over_router_peer",
        LiveFrames,
        ForwarderFibCache,
        RouterPeer,
        None,
    ),
    def(
        "fib_cache_over_forwarder",
        LiveFrames,
        ForwarderFibCache,
        Forwarder,
        None,
    ),
    def(
        "log_off_over_compiled_out",
        LiveFrames,
        Forwarder,
        ForwarderNolog,
        None,
    ),
    def("log_on_over_off", LiveFrames, ForwarderLog, Forwarder, None),
    def(
        "forwarder_over_router_peer",
        ProgramCost,
        Forwarder,
        RouterPeer,
        ROUTER,
    ),
    def(
        "forwarder_over_redirect_only",
        ProgramCost,
        Forwarder,
        RedirectOnly,
        None,
    ),
    def(
        "router_peer_over_redirect_only",
        ProgramCost,
        RouterPeer,
        RedirectOnly,
        None,
    ),
    def(
        "fib_cache_over_router_peer",
        ProgramCost,
        ForwarderFibCache,
        RouterPeer,
        None,
    ),
    def(
        "fib_cache_over_forwarder",
        ProgramCost,
        ForwarderFibCache,
        Forwarder,
        None,
    ),
    def(
        "log_off_over_compiled_out",
        ProgramCost,
        Forwarder,
        ForwarderNolog,
        None,
    ),
    def(
        "log_on_over_off",
        ProgramCost,
        ForwarderLog,
        Forwarder,
        None,
    ),
    def(
        "forwarder_over_router_peer",
        AfPacket,
        Forwarder,
        RouterPeer,
        ROUTER,
    ),
    def(
        "forwarder_over_kernel_nat",
        AfPacket,
        Forwarder,
        KernelNat,
        KERNEL_NAT,
    ),
    def(
        "bridged_forwarder_over_kernel_nat",
        AfPacket,
        ForwarderBridged,
        KernelNatBridged,
        KERNEL_NAT_BRIDGED,
    ),
    def(
        "forwarder_over_redirect_only",
        AfPacket,
        Forwarder,
        RedirectOnly,
        None,
    ),
    def(
        "router_peer_over_redirect_only",
        AfPacket,
        RouterPeer,
        RedirectOnly,
        None,
    ),
];

/// One method's figures where more is better, per (variant, frame size): the median and each
/// round's.
#[derive(Debug, Default)]
pub struct Scores(BTreeMap<(Variant, usize), (Option<f64>, Vec<f64>)>);

impl Scores {
    /// Live frames: delivered Mpps.
    pub fn live(rows: &[Throughput]) -> Scores {
        Scores(
            rows.iter()
                .map(|t| ((t.variant, t.frame_size), (t.mpps, t.rounds_mpps.clone())))
                .collect(),
        )
    }

    /// Program cost: runs per ns (one figure, no rounds).
    pub fn program_cost(rows: &[CostRow]) -> Scores {
        let inv = |ns: f64| (ns > 0.0).then(|| 1.0 / ns);
        let mut m = BTreeMap::new();
        for c in rows {
            for (v, ns) in [
                (RedirectOnly, c.redirect_only_ns),
                (RouterPeer, c.router_peer_ns),
                (Forwarder, c.forwarder_ns),
                (ForwarderFibCache, c.forwarder_fib_cache_ns),
                (ForwarderNolog, c.forwarder_nolog_ns),
                (ForwarderLog, c.forwarder_log_on_ns),
            ] {
                m.insert((v, c.frame_size), (inv(ns), Vec::new()));
            }
        }
        Scores(m)
    }

    /// af-packet: packets per ns of the path's own CPU time.
    pub fn af_packet(rows: &[PathCost]) -> Scores {
        let inv = |ns: f64| (ns > 0.0).then(|| 1.0 / ns);
        Scores(
            rows.iter()
                .map(|p| {
                    let rounds = p.rounds_path_ns.iter().filter_map(|&ns| inv(ns)).collect();
                    (
                        (p.variant, p.frame_size),
                        (p.path_ns_per_packet.and_then(inv), rounds),
                    )
                })
                .collect(),
        )
    }

    fn get(&self, v: Variant, size: usize) -> Option<&(Option<f64>, Vec<f64>)> {
        self.0.get(&(v, size))
    }
}

/// One ratio at one frame size.
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    /// Stable id ([`RatioDef::id`]).
    pub id: &'static str,
    /// The method both sides come from.
    pub method: Method,
    /// Bytes per frame.
    pub frame_size: usize,
    /// Measured variant.
    pub numerator: Variant,
    /// What it is compared with.
    pub denominator: Variant,
    /// The numerator's median figure over the denominator's; `None` when a side was not
    /// measured (or its figure was not positive).
    pub value: Option<f64>,
    /// The ratio within each round (the variants of a round run back to back).
    pub rounds: Vec<f64>,
    /// Smallest and largest of `rounds`.
    pub min: Option<f64>,
    /// See `min`.
    pub max: Option<f64>,
    /// The goal, if any.
    pub target: Option<Target>,
    /// `value >= target.min`; `None` without a target or a value.
    pub met: Option<bool>,
    /// The target lies within [min, max] of the rounds: met or missed, the verdict is within
    /// the round-to-round noise. `None` without a target or with fewer than two rounds.
    pub within_noise: Option<bool>,
}

impl Ratio {
    /// The ratio `def` at `frame_size` from its method's `scores`.
    pub fn compute(def: &RatioDef, frame_size: usize, scores: &Scores) -> Ratio {
        let (num, den) = (
            scores.get(def.numerator, frame_size),
            scores.get(def.denominator, frame_size),
        );
        let median = |s: Option<&(Option<f64>, Vec<f64>)>| s.and_then(|s| s.0).filter(|m| *m > 0.0);
        let value = median(num).zip(median(den)).map(|(a, b)| a / b);
        let rounds: Vec<f64> = match (num, den) {
            (Some(n), Some(d)) => {
                n.1.iter()
                    .zip(&d.1)
                    .filter(|(_, b)| **b > 0.0)
                    .map(|(a, b)| a / b)
                    .collect()
            }
            _ => Vec::new(),
        };
        let min = rounds.iter().copied().reduce(f64::min);
        let max = rounds.iter().copied().reduce(f64::max);
        let met = def.target.zip(value).map(|(t, v)| v >= t.min);
        let within_noise = match (def.target, min, max) {
            (Some(t), Some(lo), Some(hi)) if rounds.len() >= 2 => Some(lo < t.min && t.min <= hi),
            _ => None,
        };
        Ratio {
            id: def.id,
            method: def.method,
            frame_size,
            numerator: def.numerator,
            denominator: def.denominator,
            value,
            rounds,
            min,
            max,
            target: def.target,
            met,
            within_noise,
        }
    }

    /// Every ratio of `method` ([`RATIOS`]) at every frame size of `sizes`.
    pub fn all(method: Method, sizes: &[usize], scores: &Scores) -> Vec<Ratio> {
        RATIOS
            .iter()
            .filter(|d| d.method == method)
            .flat_map(|d| sizes.iter().map(move |&s| Ratio::compute(d, s, scores)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(v: Variant, rounds: &[f64]) -> Throughput {
        let mut sorted = rounds.to_vec();
        let mpps = (!rounds.is_empty()).then(|| super::super::stats::median(&mut sorted));
        Throughput {
            method: LiveFrames,
            variant: v,
            frame_size: 64,
            mpps,
            offered_mpps: mpps,
            wall_mpps: mpps,
            delivered_ratio: Some(1.0),
            rounds_mpps: rounds.to_vec(),
            spread_pct: None,
            sent: 1,
            delivered: 1,
            skipped: mpps.is_none().then(|| "skipped".into()),
        }
    }

    fn find<'a>(r: &'a [Ratio], id: &str) -> &'a Ratio {
        r.iter().find(|q| q.id == id).unwrap()
    }

    #[test]
    fn ratios_targets_and_noise() {
        let rows = [
            row(RedirectOnly, &[4.0, 4.2, 3.8]),
            row(RouterPeer, &[3.0, 3.0, 3.0]),
            row(Forwarder, &[2.8, 2.6, 2.75]),
            row(ForwarderFibCache, &[3.3, 3.3, 3.3]),
            row(ForwarderTrace, &[]),
            row(KernelNat, &[0.5, 0.5, 0.5]),
            row(ForwarderBridged, &[2.0, 1.4, 2.2]),
            row(KernelNatBridged, &[0.5, 0.5, 0.5]),
        ];
        let r = Ratio::all(LiveFrames, &[64], &Scores::live(&rows));
        assert_eq!(
            r.len(),
            RATIOS.iter().filter(|d| d.method == LiveFrames).count()
        );
        assert!(r.iter().all(|q| q.method == LiveFrames));

        let peer = find(&r, "forwarder_over_router_peer");
        assert!((peer.value.unwrap() - 2.75 / 3.0).abs() < 1e-9);
        assert_eq!(peer.met, Some(true));
        // Rounds 0.933, 0.867, 0.917: the target 0.90 is inside them.
        assert_eq!(peer.within_noise, Some(true));
        assert!((peer.min.unwrap() - 2.6 / 3.0).abs() < 1e-9);

        let nat = find(&r, "forwarder_over_kernel_nat");
        assert!((nat.value.unwrap() - 5.5).abs() < 1e-9);
        assert_eq!((nat.met, nat.within_noise), (Some(true), Some(false)));

        // Into bridged containers: 4.0x, rounds 4.0, 2.8 and 4.4 around the 3x target.
        let bridged = find(&r, "bridged_forwarder_over_kernel_nat");
        assert!((bridged.value.unwrap() - 4.0).abs() < 1e-9);
        assert_eq!(bridged.target.map(|t| t.min), Some(3.0));
        assert_eq!(
            (bridged.met, bridged.within_noise),
            (Some(true), Some(true))
        );
        assert_eq!(
            (bridged.numerator, bridged.denominator),
            (ForwarderBridged, KernelNatBridged)
        );

        let trace = find(&r, "with_trace_over_without");
        assert_eq!(
            (trace.value, trace.met, trace.within_noise),
            (None, None, None)
        );
        assert!(trace.rounds.is_empty());

        let info = find(&r, "fib_cache_over_router_peer");
        assert!(info.target.is_none() && info.met.is_none());
        assert!((info.value.unwrap() - 1.1).abs() < 1e-9);
    }

    #[test]
    fn costs_become_ratios_of_inverse_time() {
        // ns per run / per packet: the forwarder costing 200 against the router's 180 is
        // 90% of the router; kernel NAT at 1000 against 250 is 4x.
        let mut m = BTreeMap::new();
        m.insert(
            (RouterPeer, 64),
            (Some(1.0 / 180.0), vec![1.0 / 180.0, 1.0 / 170.0]),
        );
        m.insert(
            (Forwarder, 64),
            (Some(1.0 / 200.0), vec![1.0 / 200.0, 1.0 / 180.0]),
        );
        m.insert(
            (KernelNat, 64),
            (Some(1.0 / 1000.0), vec![1.0 / 1000.0, 1.0 / 1000.0]),
        );
        let r = Ratio::all(AfPacket, &[64], &Scores(m));
        assert_eq!(r.len(), 5);
        let floor = find(&r, "forwarder_over_redirect_only");
        assert!(
            floor.value.is_none() && floor.met.is_none(),
            "not measured: {floor:?}"
        );
        let peer = find(&r, "forwarder_over_router_peer");
        assert!((peer.value.unwrap() - 0.9).abs() < 1e-9);
        assert_eq!(peer.met, Some(true));
        assert_eq!(peer.within_noise, Some(false), "rounds 0.90 and 0.944");
        let nat = find(&r, "forwarder_over_kernel_nat");
        assert!((nat.value.unwrap() - 5.0).abs() < 1e-9, "{nat:?}");
        assert_eq!(nat.method, AfPacket);
    }
}
