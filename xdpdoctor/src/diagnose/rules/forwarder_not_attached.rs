//! `forwarder-not-attached`: an interface the forwarder was deployed on no longer runs its
//! program (detached, replaced, or the interface was recreated).

use super::{Ctx, Kind, Rule, RuleId};
use crate::diagnose::{Finding, Severity, Subject};
use crate::forwarder::Role;
use crate::snapshot::PathStage;

pub const RULE: Rule = Rule {
    id: RuleId::ForwarderNotAttached,
    kind: Kind::Cause,
    title: "the forwarder's program is not attached where it was deployed",
    check,
};

fn check(c: &Ctx) -> Vec<Finding> {
    let fwd = c.home();
    let Some(ours) = c.ours() else {
        return Vec::new();
    };
    ours.interfaces
        .iter()
        .filter(|i| !i.attached)
        .map(|i| {
            let mut f = Finding::new(
                RULE.id,
                Severity::Error,
                PathStage::Attach,
                Subject::new(fwd, Some(&i.name)),
            );
            f.why = format!(
                "The forwarder's {} program (id {}) is not what runs on {}: {}. Packets arriving \
                 there are not translated and reach the kernel stack unchanged.",
                i.role,
                i.prog_id,
                i.name,
                match (i.attached_prog_id, fwd.iface(i.ifindex)) {
                    (Some(p), _) => format!("program {p} is attached instead"),
                    (None, None) => "the interface no longer exists".into(),
                    (None, Some(_)) => "no XDP program is attached".into(),
                }
            );
            f.evidence
                .push(format!("IFLA_XDP on {}: {:?}", i.name, i.attached_prog_id));
            let ns = fwd.ns.clone();
            f.entries = match i.role {
                Role::External => c
                    .paths
                    .iter()
                    .map(|p| format!("{} -> {}", p.from, p.to))
                    .collect(),
                Role::Internal => c.entries_replying_via(i.ifindex),
            };
            f.manual_fix = Some(match ours.config_file.as_deref() {
                Some(cfg) => format!(
                    "redeploy: {} && {}",
                    ns.xdpdoctor("teardown"),
                    ns.xdpdoctor(&format!("deploy --config {cfg}"))
                ),
                None => format!(
                    "redeploy: {}, then deploy it again from its config",
                    ns.xdpdoctor("teardown")
                ),
            });
            f
        })
        .collect()
}
