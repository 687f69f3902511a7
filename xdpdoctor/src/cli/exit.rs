//! Exit codes (documented in docs/cli.md): every verb's `run` returns one.

/// Success (diagnose, check: healthy).
pub const EXIT_OK: i32 = 0;
/// The command ran and found problems (findings, failed connections, a failed fix step).
pub const EXIT_FINDINGS: i32 = 1;
/// It could not do its job (bad input, missing privileges, a kernel refusal, interrupted).
pub const EXIT_ERROR: i32 = 2;
