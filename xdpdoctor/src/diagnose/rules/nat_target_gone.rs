//! `nat-target-gone`: a NAT entry's target is nowhere: no veth of the diagnosed namespace
//! leads to a container that holds it or its subnet, and no route (not even a default one)
//! leads to it (a blackhole, unreachable or prohibit route is none: `NsState::route_to`). The
//! container (its namespace, its veth, the connected route) vanished and the NAT table still
//! points at it.

use super::{Ctx, Kind, Rule, RuleId};
use crate::diagnose::{Finding, Severity, Subject};
use crate::snapshot::PathStage;

pub const RULE: Rule = Rule {
    id: RuleId::NatTargetGone,
    kind: Kind::Cause,
    title: "a NAT entry points at a target no interface or route leads to any more",
    check,
};

fn check(c: &Ctx) -> Vec<Finding> {
    let home = c.home();
    let mut out = Vec::new();
    for (n, p) in c.paths.iter().enumerate() {
        if p.intended.is_some() || p.route.is_some() {
            continue;
        }
        let mut f = Finding::new(
            RULE.id,
            Severity::Error,
            PathStage::Fib,
            Subject::new(home, None),
        );
        f.order = n as u32;
        let entry = format!("{} -> {}", p.from, p.to);
        f.entries = vec![entry.clone()];
        f.why = format!(
            "The entry {entry} sends connections to {}, but {} has no route to it and no veth \
             whose container holds it: the container is gone (its namespace and veth were \
             deleted) and the entry was left behind. bpf_fib_lookup finds no way there.",
            p.to.ip(),
            home.ns.name
        );
        f.evidence.push(format!(
            "routes of {}: [{}]",
            home.ns.name,
            home.routes
                .iter()
                .map(|r| if r.is_unicast() {
                    format!("{}/{}", r.dst, r.prefix)
                } else {
                    format!("{} {}/{}", r.kind, r.dst, r.prefix)
                })
                .collect::<Vec<_>>()
                .join(", ")
        ));
        f.evidence.push(format!(
            "veth peers of {}: [{}]",
            home.ns.name,
            home.interfaces
                .iter()
                .filter_map(|i| c.snap.peer_of(i).map(|(ns, pi)| format!(
                    "{}/{}",
                    ns.ns.name,
                    pi.name()
                )))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        f.manual_fix = Some(format!(
            "remove the entry {entry}, or bring its container back (with the address {})",
            p.to.ip()
        ));
        out.push(f);
    }
    out
}
