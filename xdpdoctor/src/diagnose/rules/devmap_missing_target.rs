//! `devmap-missing-target`: the interface `bpf_fib_lookup` picks for a NAT target (or an
//! external interface replies go out of) is not in the forwarder's devmap, so
//! `bpf_redirect_map` misses. This forwarder then passes the packet to the stack (counted as
//! `devmap_miss`); the seed's forwarder returned XDP_ABORTED, a silent drop.

use super::{Ctx, Rule};
use crate::bpf::forwarder_abi::Counter;
use crate::diagnose::{Finding, Severity, Subject};
use crate::model::{Action, Fix};
use crate::probes::EventKind;
use crate::snapshot::PathStage;

pub const RULE: Rule = Rule {
    id: "devmap-missing-target",
    title: "a redirect target is missing from the forwarder's devmap",
    check,
};

fn check(c: &Ctx) -> Vec<Finding> {
    let fwd = c.fwd();
    let devmap = &c.snap.forwarder.devmap;
    let targets = c.redirect_ifindexes();
    let (total, delta) = c.counter(Counter::DevmapMiss);
    let mut out = Vec::new();
    for idx in targets {
        if devmap.contains(&idx) {
            continue;
        }
        let Some(iface) = fwd.iface(idx) else {
            continue;
        };
        let external = c.is_external(idx);
        let mut f = Finding::new(
            RULE.id,
            Severity::Warning,
            if external {
                PathStage::Reply
            } else {
                PathStage::Devmap
            },
            Subject::new(fwd, Some(iface.name())),
        );
        f.order = c.order_of(idx);
        f.entries = c.entries_via(idx);
        f.why = format!(
            "{} (ifindex {idx}) is not in the forwarder's devmap, so bpf_redirect_map cannot \
             send packets there. The forwarder falls back to the kernel stack for them (slow \
             path, dropped wherever the stack would not forward); a forwarder without that \
             fallback drops them silently (XDP_ABORTED).",
            iface.name()
        );
        f.evidence.push(format!(
            "devmap holds ifindexes {:?}; {} is {idx}",
            devmap,
            iface.name()
        ));
        f.observe("forwarder devmap_miss (since deploy)", total);
        f.observe("forwarder devmap_miss (window)", delta);
        for pc in
            c.ev.probes
                .counts
                .iter()
                .filter(|p| p.kind == EventKind::XdpException)
        {
            f.observe(format!("xdp:xdp_exception act={}", pc.code_name), pc.count);
        }
        f.fix = Some(Fix::new(
            format!("add {} (ifindex {idx}) to the devmap", iface.name()),
            Action::DevmapAdd {
                netns: fwd.ns_ref(),
                interface: iface.name().to_string(),
                ifindex: idx,
            },
        ));
        out.push(f);
    }
    out
}
