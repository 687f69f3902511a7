//! The bench's result as data (the CLI prints it as tables or JSON): throughput per variant
//! and frame size, the ratios the issue sets targets for, the programs' own cost, and where
//! the figures came from.

use std::collections::BTreeMap;

use serde::Serialize;

use super::cost::CostRow;
use super::variants::Variant;

/// Targets from the benchmark issue (ratios of delivered Mpps).
pub const TARGET_FWD_OVER_KERNEL_NAT: f64 = 3.0;
pub const TARGET_FWD_OVER_REDIRECT_ONLY: f64 = 0.90;
pub const TARGET_TRACE_OVER_FWD: f64 = 0.95;

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub machine: Machine,
    pub lab_prefix: String,
    pub quick: bool,
    /// Frames pushed per measurement.
    pub packets: u64,
    pub flows: u16,
    /// Measurements per variant and frame size; `mpps` is their median.
    pub rounds: usize,
    pub throughput: Vec<Throughput>,
    pub ratios: Vec<Ratios>,
    pub ns_per_packet: Vec<CostRow>,
    /// `diagnose` on the seed lab and generated fleets (second table).
    pub diagnose_timing: Option<Vec<super::diagnose_timing::DiagnoseTiming>>,
    pub diagnose_timing_note: String,
    /// Checks made along the way (warm-up, forwarder path taken, kernel path clean).
    pub notes: Vec<String>,
    pub total_seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub kernel: String,
    pub cpus: usize,
    /// UTC, RFC 3339.
    pub date: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    pub variant: Variant,
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
    pub rounds_mpps: Vec<f64>,
    pub sent: u64,
    pub delivered: u64,
    /// Why there is no number.
    pub skipped: Option<String>,
}

/// Ratios of delivered Mpps at one frame size; `None` when a side has no number.
#[derive(Debug, Clone, Serialize)]
pub struct Ratios {
    pub frame_size: usize,
    pub forwarder_over_kernel_nat: Option<f64>,
    pub forwarder_over_redirect_only: Option<f64>,
    /// The forwarder with its next-hop cache on (`forwarder-fib-cache`) over redirect-only.
    pub fib_cache_over_redirect_only: Option<f64>,
    pub with_trace_over_without: Option<f64>,
    /// Target name -> met (absent when the ratio is unknown).
    pub targets_met: BTreeMap<String, bool>,
}

impl Ratios {
    pub fn compute(frame_size: usize, rows: &[Throughput]) -> Ratios {
        let get = |v: Variant| {
            rows.iter()
                .find(|t| t.variant == v && t.frame_size == frame_size)
                .and_then(|t| t.mpps)
                .filter(|m| *m > 0.0)
        };
        let ratio = |a: Option<f64>, b: Option<f64>| Some(a? / b?);
        let fwd = get(Variant::Forwarder);
        let r = Ratios {
            frame_size,
            forwarder_over_kernel_nat: ratio(fwd, get(Variant::KernelNat)),
            forwarder_over_redirect_only: ratio(fwd, get(Variant::RedirectOnly)),
            fib_cache_over_redirect_only: ratio(
                get(Variant::ForwarderFibCache),
                get(Variant::RedirectOnly),
            ),
            with_trace_over_without: ratio(get(Variant::ForwarderTrace), fwd),
            targets_met: BTreeMap::new(),
        };
        let mut met = BTreeMap::new();
        for (name, val, target) in [
            (
                "forwarder_over_kernel_nat>=3",
                r.forwarder_over_kernel_nat,
                TARGET_FWD_OVER_KERNEL_NAT,
            ),
            (
                "forwarder_over_redirect_only>=0.90",
                r.forwarder_over_redirect_only,
                TARGET_FWD_OVER_REDIRECT_ONLY,
            ),
            (
                "fib_cache_over_redirect_only>=0.90",
                r.fib_cache_over_redirect_only,
                TARGET_FWD_OVER_REDIRECT_ONLY,
            ),
            (
                "with_trace_over_without>=0.95",
                r.with_trace_over_without,
                TARGET_TRACE_OVER_FWD,
            ),
        ] {
            if let Some(v) = val {
                met.insert(name.to_string(), v >= target);
            }
        }
        Ratios {
            targets_met: met,
            ..r
        }
    }
}

impl Machine {
    pub fn here() -> Machine {
        Machine {
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "unknown".into()),
            cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0),
            date: utc_now(),
        }
    }
}

/// "YYYY-MM-DDTHH:MM:SSZ" from the system clock (civil-from-days, H. Hinnant).
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(v: Variant, mpps: Option<f64>) -> Throughput {
        Throughput {
            variant: v,
            frame_size: 64,
            mpps,
            offered_mpps: mpps,
            wall_mpps: mpps,
            delivered_ratio: Some(1.0),
            rounds_mpps: vec![],
            sent: 1,
            delivered: 1,
            skipped: mpps.is_none().then(|| "skipped".into()),
        }
    }

    #[test]
    fn ratios_and_targets() {
        let rows = [
            row(Variant::RedirectOnly, Some(4.0)),
            row(Variant::Forwarder, Some(3.0)),
            row(Variant::ForwarderFibCache, Some(3.8)),
            row(Variant::ForwarderTrace, None),
            row(Variant::KernelNat, Some(0.5)),
        ];
        let r = Ratios::compute(64, &rows);
        assert_eq!(r.forwarder_over_kernel_nat, Some(6.0));
        assert_eq!(r.forwarder_over_redirect_only, Some(0.75));
        assert_eq!(r.fib_cache_over_redirect_only, Some(0.95));
        assert!(r.targets_met["fib_cache_over_redirect_only>=0.90"]);
        assert_eq!(r.with_trace_over_without, None);
        assert!(r.targets_met["forwarder_over_kernel_nat>=3"]);
        assert!(!r.targets_met["forwarder_over_redirect_only>=0.90"]);
        assert!(!r.targets_met.contains_key("with_trace_over_without>=0.95"));
    }

    #[test]
    fn date_is_utc() {
        let d = utc_now();
        assert_eq!(d.len(), 20, "{d}");
        assert!(d.starts_with("20") && d.ends_with('Z'));
    }
}
