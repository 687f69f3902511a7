//! The bench's result as data (the CLI prints it as tables or JSON): what the kernel allowed
//! and which methods ran; per method its figures (live frames: throughput per variant and
//! frame size with the spread over rounds; program cost: ns per run; af-packet: CPU per
//! delivered packet), every ratio within its method with its target, whether it was met and
//! whether that is within the round-to-round noise; and where the figures came from.

use serde::Serialize;

use super::cost::CostRow;
use super::method::MethodStatus;
use super::path_summary::{BasisNote, GeneratorCost, PathCost};
use crate::bpf::capabilities::Capability;

pub use super::ratios::{Ratio, RatioDef, Target, RATIOS};
pub use super::summary::Throughput;

/// The report of one `xdpdoctor bench` run.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Where it ran.
    pub machine: Machine,
    /// The bench's own lab (removed at the end).
    pub lab_prefix: String,
    /// What the kernel allowed, probed at the start.
    pub capabilities: Vec<Capability>,
    /// Every method: ran, refused (with the reason) or not requested.
    pub methods: Vec<MethodStatus>,
    /// `--quick`.
    pub quick: bool,
    /// Frames pushed per measurement (live frames).
    pub packets: u64,
    /// Seconds of sending per measurement (af-packet).
    pub af_packet_seconds: f64,
    /// af-packet: which CPU reading its figures come from.
    pub af_packet_basis: Option<BasisNote>,
    /// af-packet: how vm's eth0 handed the frames over (bench/handover.rs).
    pub af_packet_handover: Option<super::handover::HandoverReport>,
    /// Flows (source ports) per frame size.
    pub flows: u16,
    /// Measurements per variant and frame size; `mpps` is their median.
    pub rounds: usize,
    /// live-frames: one row per variant and frame size (empty when the method did not run).
    pub throughput: Vec<Throughput>,
    /// Every ratio of every method that ran, at every frame size ([`RATIOS`]).
    pub ratios: Vec<Ratio>,
    /// program-cost: non-live ns per run, per frame size.
    pub ns_per_packet: Vec<CostRow>,
    /// af-packet: the generator's own cost per frame size.
    pub generator: Vec<GeneratorCost>,
    /// af-packet: CPU per delivered packet per variant and frame size.
    pub path_cost: Vec<PathCost>,
    /// The forwarder's decision log on at its default rate: records against the rate
    /// limit's bound, per frame size.
    pub decision_log: Vec<super::decision_log::LogRow>,
    /// `diagnose` on the seed lab and generated fleets (second table).
    pub diagnose_timing: Option<Vec<super::diagnose_timing::DiagnoseTiming>>,
    /// How the diagnose table was taken.
    pub diagnose_timing_note: String,
    /// Checks made along the way (warm-up, forwarder path taken, kernel path clean).
    pub notes: Vec<String>,
    /// Wall time of the whole run.
    pub total_seconds: f64,
}

/// The machine the figures come from.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// `uname -r`.
    pub kernel: String,
    /// CPUs available to the process.
    pub cpus: usize,
    /// UTC, RFC 3339.
    pub date: String,
    /// /proc/loadavg (1, 5, 15 min) before the bench built its lab: other work on the
    /// machine.
    pub loadavg_at_start: Option<[f64; 3]>,
    /// The same when the measurements ended (includes the bench's own ~1 CPU).
    pub loadavg_at_end: Option<[f64; 3]>,
}

impl Machine {
    /// This machine, now; `loadavg_at_start` as read by [`loadavg`] when the run began.
    pub fn here(loadavg_at_start: Option<[f64; 3]>) -> Machine {
        Machine {
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "unknown".into()),
            cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0),
            date: utc_now(),
            loadavg_at_start,
            loadavg_at_end: loadavg(),
        }
    }
}

/// The 1, 5 and 15 minute load averages (/proc/loadavg).
pub fn loadavg() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
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

    #[test]
    fn date_is_utc() {
        let d = utc_now();
        assert_eq!(d.len(), 20, "{d}");
        assert!(d.starts_with("20") && d.ends_with('Z'));
    }
}
