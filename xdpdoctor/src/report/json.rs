//! The `--json` document of `diagnose` and `check` (schema: docs/diagnose.md).

use serde::Serialize;

use crate::diagnose::{evidence::Evidence, Finding, Report, RuleId, Timing};

/// Identifies the document layout; bumped on incompatible changes. 2: the `deployment`
/// section (any XDP program, not only xdpdoctor's forwarder).
pub const JSON_SCHEMA: &str = "xdpdoctor.diagnose/2";

/// What runs in the diagnosed namespace.
#[derive(Serialize)]
struct Deployment<'a> {
    /// xdpdoctor deployed the forwarder running here.
    xdpdoctor_forwarder: bool,
    attachments: &'a [crate::xdp::Attachment],
    programs: &'a [crate::xdp::XdpProgram],
    maps: &'a [crate::xdp::RedirectMap],
    nat: &'a crate::snapshot::NatInfo,
}

#[derive(Serialize)]
struct Doc<'a> {
    schema: &'static str,
    netns: &'a str,
    netns_inode: u64,
    kernel: &'a str,
    deployment: Deployment<'a>,
    healthy: bool,
    exit_code: i32,
    rules: &'a [RuleId],
    findings: &'a [Finding],
    evidence: &'a Evidence,
    timing: Timing,
}

/// The JSON document; `exit_code` is what the command exits with.
pub fn to_json(r: &Report, exit_code: i32) -> String {
    super::escape::json(
        serde_json::to_string_pretty(&to_value(r, exit_code)).expect("report serializes"),
    )
}

/// The JSON document as a value (`diagnose --all-netns --json` prints an array of them).
pub fn to_value(r: &Report, exit_code: i32) -> serde_json::Value {
    let d = Doc {
        schema: JSON_SCHEMA,
        netns: &r.snapshot.home().ns.name,
        netns_inode: r.snapshot.netns_inode,
        kernel: &r.snapshot.kernel,
        deployment: Deployment {
            xdpdoctor_forwarder: r.snapshot.forwarder.is_some(),
            attachments: &r.snapshot.xdp.attachments,
            programs: &r.snapshot.xdp.programs,
            maps: &r.snapshot.xdp.maps,
            nat: &r.snapshot.nat,
        },
        healthy: r.diagnosis.healthy(),
        exit_code,
        rules: &r.diagnosis.rules,
        findings: &r.diagnosis.findings,
        evidence: &r.evidence,
        timing: r.timing,
    };
    serde_json::to_value(&d).expect("report serializes")
}
