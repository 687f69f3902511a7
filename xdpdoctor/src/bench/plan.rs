//! The bench's checked plan: what `BenchOptions` asked for, validated, with the lab prefix and
//! the machine's load at the start. Its own file because every phase reads it and the phases
//! are what `bench/mod.rs` runs (a plan in mod.rs made the phases import their caller).

use std::time::Duration;

/// The checked plan.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    pub(super) quick: bool,
    pub(super) packets: u64,
    pub(super) af_packet_time: Duration,
    /// How vm's eth0 hands the af-packet method's frames over (bench/handover.rs).
    pub(super) handover: super::handover::Handover,
    pub(super) rounds: usize,
    pub(super) flows: u16,
    pub(super) cost_repeat: u32,
    /// Samples per program-cost figure (bench/cost.rs).
    pub(super) cost_samples: usize,
    pub(super) prefix: String,
    /// Other work on the machine before the bench started (/proc/loadavg).
    pub(super) loadavg_at_start: Option<[f64; 3]>,
}
