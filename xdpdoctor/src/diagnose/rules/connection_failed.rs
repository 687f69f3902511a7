//! `connection-failed`: the symptom the user sees. The client the window used (the lab's)
//! could not get an answer through a NAT entry. The causal pass links it to the first root
//! cause on that entry's path; when nothing explains it, it stands alone and says so.

use super::{Ctx, Kind, Rule, RuleId};
use crate::diagnose::evidence::Traffic;
use crate::diagnose::{Finding, Severity, Subject};
use crate::snapshot::PathStage;

pub const RULE: Rule = Rule {
    id: RuleId::ConnectionFailed,
    kind: Kind::Symptom,
    title: "a connection through a NAT entry failed during the window",
    check,
};

fn check(c: &Ctx) -> Vec<Finding> {
    let Traffic::Client { by, results } = &c.ev.traffic else {
        return Vec::new();
    };
    let home = c.home();
    results
        .iter()
        .filter(|r| !r.ok)
        .map(|r| {
            let entry = match r.backend {
                Some(b) => format!("{} -> {b}", r.target),
                None => r.target.to_string(),
            };
            let mut f = Finding::new(
                RULE.id,
                Severity::Error,
                PathStage::Client,
                Subject::new(home, None),
            );
            f.order = c
                .paths
                .iter()
                .position(|p| Some(p.to) == r.backend && p.from == r.target)
                .unwrap_or(0) as u32;
            f.entries = vec![entry.clone()];
            f.why = format!(
                "{by} connected to {} and the connection failed ({}, after {} ms).",
                r.target, r.detail, r.elapsed_ms
            );
            f.manual_fix = Some(format!(
                "no cause on the path of {entry} was found: `xdpdoctor trace` during \
                 `xdpdoctor lab connect` shows where its packets die"
            ));
            f
        })
        .collect()
}
