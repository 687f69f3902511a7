//! `peer-link-down`: a veth the forwarder redirects into, or its peer, is down. Redirects
//! into it fail (-100 ENETDOWN, or -6 ENXIO when the peer has XDP but is down).

use super::{Ctx, Kind, Rule, RuleId};
use crate::diagnose::{Finding, Severity, Subject};
use crate::probes::EventKind;
use crate::snapshot::PathStage;

pub const RULE: Rule = Rule {
    id: RuleId::PeerLinkDown,
    kind: Kind::Cause,
    title: "a redirect target veth or its peer is down",
    check,
};

fn check(c: &Ctx) -> Vec<Finding> {
    let fwd = c.home();
    let mut out = Vec::new();
    for (v, _) in c.redirect_targets() {
        let peer = c.snap.peer_of(v);
        let (ns, down) = match peer {
            Some((pns, p)) if !p.link.up => (pns, p),
            _ if !v.link.up => (fwd, v),
            _ => continue,
        };
        let mut f = Finding::new(
            RULE.id,
            Severity::Error,
            if c.is_external(v.index()) {
                PathStage::Client
            } else {
                PathStage::Veth
            },
            Subject::new(ns, Some(down.name())),
        );
        f.order = c.order_of(v.index());
        f.entries = c.entries_via(v.index());
        f.why = format!(
            "{} in {} is administratively down, so the veth pair carries nothing: XDP \
             redirects into {} fail (ENETDOWN, or ENXIO when the peer has XDP) and the \
             target is unreachable.",
            down.name(),
            ns.ns.name,
            v.name()
        );
        f.evidence.push(format!(
            "{}/{}: down (lower_up {})",
            ns.ns.name,
            down.name(),
            down.link.lower_up
        ));
        for kind in [EventKind::RedirectErr, EventKind::DevmapXmit] {
            for pc in c.ev.probe_count(kind, fwd.ns.inode, v.index(), true) {
                f.observe(format!("{kind} {} ({})", pc.code, pc.code_name), pc.count);
            }
        }
        f.manual_fix = Some(ns.ns.clone().shell(&format!(
            "ip link set {} up",
            crate::netns::quote(down.name())
        )));
        out.push(f);
    }
    out
}
