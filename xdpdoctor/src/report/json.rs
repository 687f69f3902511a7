//! The `--json` document of `diagnose` and `check` (schema: docs/diagnose.md).

use serde::Serialize;

use crate::diagnose::{evidence::Evidence, Finding, Report, Timing};

/// Identifies the document layout; bumped on incompatible changes.
pub const JSON_SCHEMA: &str = "xdpdoctor.diagnose/1";

#[derive(Serialize)]
struct Doc<'a> {
    schema: &'static str,
    netns: &'a str,
    netns_inode: u64,
    kernel: &'a str,
    healthy: bool,
    exit_code: i32,
    rules: &'a [String],
    findings: &'a [Finding],
    evidence: &'a Evidence,
    timing: Timing,
}

/// The JSON document; `exit_code` is what the command exits with.
pub fn to_json(r: &Report, exit_code: i32) -> String {
    let d = Doc {
        schema: JSON_SCHEMA,
        netns: &r.snapshot.forwarder_ns().name,
        netns_inode: r.snapshot.forwarder_netns_inode,
        kernel: &r.snapshot.kernel,
        healthy: r.diagnosis.healthy(),
        exit_code,
        rules: &r.diagnosis.rules,
        findings: &r.diagnosis.findings,
        evidence: &r.evidence,
        timing: r.timing,
    };
    serde_json::to_string_pretty(&d).expect("report serializes")
}
