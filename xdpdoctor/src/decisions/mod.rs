//! Log records our eBPF programs write with `forwarder-ebpf/include/aya_log.h` (the
//! forwarder's per-packet decisions, the header's self-test): decoded by the `aya-log` crate
//! itself and handed to the `log` facade under [`TARGET_PREFIX`], so a caller (the CLI's
//! `trace --decisions`) can tell them from xdpdoctor's own diagnostics; and the switch that
//! turns them on or off and sets their rate while the program runs, without a reload.
//!
//! Nothing here knows the forwarder: any loaded object (or program id, or pin directory) that
//! carries the header's maps works. Why aya-log and not our own decoder, the wire format, the
//! rate limit and its cost: docs/decision-log.md.

pub mod control;
pub mod logger;
pub mod session;

pub use control::{Control, Settings, Stats};
pub use logger::{DecisionLog, EbpfRecord, TARGET_PREFIX};
pub use session::Session;
