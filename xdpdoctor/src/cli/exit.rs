//! Exit codes (documented in docs/cli.md): every verb's `run` returns one.

/// Success (diagnose, check: healthy).
pub const EXIT_OK: i32 = 0;
/// The command ran and found problems (findings, failed connections, a failed fix step).
pub const EXIT_FINDINGS: i32 = 1;
/// It could not do its job (bad input, missing privileges, a kernel refusal, interrupted).
pub const EXIT_ERROR: i32 = 2;
/// The result was produced (stdout has the report, the summary, the counts), but an output
/// file the user asked for (`--pcap`, `--junit`, `--prometheus`) could not be written, or
/// only cut short; stderr and the JSON's `outputs` say which and why. Wins over 0 and 1: the
/// report's `healthy` and findings still tell those apart.
pub const EXIT_OUTPUT: i32 = 3;
