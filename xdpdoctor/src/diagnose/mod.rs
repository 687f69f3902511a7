//! Diagnosis: rules over a [`Snapshot`] and an [`Evidence`] window produce [`Finding`]s, in
//! the order a packet meets them (external ingress -> fib -> devmap -> veth -> container ->
//! reply path -> client).
//!
//! Each rule lives in its own file under `rules/`, has a stable id (documented in
//! docs/rules.md) and reports only what the snapshot or the observed evidence supports: static
//! facts are required, observed counts are added to the finding when there are any.

pub mod causes;
pub mod evidence;
pub mod finding;
pub mod rules;

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::netns::Netns;
use crate::snapshot::{self, NatHint, Snapshot};
use crate::Result;

pub use evidence::{Evidence, ObserveOptions};
pub use finding::{CauseRef, Finding, Observed, Severity, Subject};
pub use rules::RuleId;

/// Result of one diagnosis.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    /// Ids of every rule that ran.
    pub rules: Vec<RuleId>,
    /// Every finding, in packet-path order (stage, then NAT entry order), consequences linked to
    /// their causes through `caused_by`.
    pub findings: Vec<Finding>,
}

impl Diagnosis {
    /// No finding at all.
    pub fn healthy(&self) -> bool {
        self.findings.is_empty()
    }

    /// The root causes, in packet-path order.
    pub fn roots(&self) -> impl Iterator<Item = &Finding> + '_ {
        self.findings.iter().filter(|f| f.is_root())
    }

    /// The findings `root` explains.
    pub fn consequences_of<'a>(
        &'a self,
        root: &'a Finding,
    ) -> impl Iterator<Item = &'a Finding> + 'a {
        self.findings.iter().filter(move |f| {
            f.caused_by
                .as_ref()
                .is_some_and(|c| c.id == root.id && c.subject == root.subject)
        })
    }
}

/// Runs every rule on a snapshot and its evidence.
pub fn run_rules(snap: &Snapshot, ev: &Evidence) -> Diagnosis {
    let ctx = rules::Ctx::new(snap, ev);
    let mut findings = Vec::new();
    for r in rules::ALL {
        let mut f = (r.check)(&ctx);
        for x in &mut f {
            debug_assert_eq!(x.id, r.id);
        }
        findings.extend(f);
    }
    findings.sort_by(|a, b| {
        (
            a.stage,
            a.order,
            &a.subject.netns.name,
            &a.subject.interface,
        )
            .cmp(&(
                b.stage,
                b.order,
                &b.subject.netns.name,
                &b.subject.interface,
            ))
    });
    causes::link(&ctx, &mut findings);
    Diagnosis {
        rules: rules::ALL.iter().map(|r| r.id).collect(),
        findings,
    }
}

/// How long each part took.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Timing {
    /// Taking the snapshot, in milliseconds (0 for a snapshot loaded from a file).
    pub snapshot_ms: u64,
    /// The observation window, in milliseconds, attaching the observers included (0 without a
    /// window).
    pub evidence_ms: u64,
    /// Running the rules and linking consequences to causes, in milliseconds.
    pub rules_ms: u64,
    /// All phases, in milliseconds.
    pub total_ms: u64,
}

/// A full diagnosis with everything it was based on.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The static state the rules ran on (what `snapshot --json` saves).
    pub snapshot: Snapshot,
    /// What the window observed ([`Evidence::static_only`] when there was none).
    pub evidence: Evidence,
    /// The rules that ran and what they found.
    pub diagnosis: Diagnosis,
    /// How long each phase took.
    pub timing: Timing,
}

/// Snapshot -> evidence -> rules for the XDP programs attached in `ns` (xdpdoctor's forwarder
/// or anyone's); `hint` names the NAT entries of a program xdpdoctor did not deploy.
pub fn diagnose(ns: &Netns, hint: Option<&NatHint>, opts: &ObserveOptions) -> Result<Report> {
    let t0 = Instant::now();
    let snap = snapshot::take(ns, hint)?;
    let t1 = Instant::now();
    let ev = evidence::observe(&snap, opts)?;
    let t2 = Instant::now();
    let diagnosis = run_rules(&snap, &ev);
    let t3 = Instant::now();
    Ok(Report {
        snapshot: snap,
        evidence: ev,
        diagnosis,
        timing: Timing {
            snapshot_ms: ms(t1 - t0),
            evidence_ms: ms(t2 - t1),
            rules_ms: ms(t3 - t2),
            total_ms: ms(t3 - t0),
        },
    })
}

/// Rules on a saved snapshot (no root, no evidence).
pub fn diagnose_saved(snap: Snapshot) -> Report {
    let t0 = Instant::now();
    let ev = Evidence::static_only("snapshot loaded from a file: no observation");
    let diagnosis = run_rules(&snap, &ev);
    let total = ms(t0.elapsed());
    Report {
        snapshot: snap,
        evidence: ev,
        diagnosis,
        timing: Timing {
            rules_ms: total,
            total_ms: total,
            ..Default::default()
        },
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}
