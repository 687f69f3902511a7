//! `devmap-missing-target`: the interface `bpf_fib_lookup` picks for a NAT target (or an
//! external interface replies go out of) is not in the forwarder's devmap, so
//! `bpf_redirect_map` misses. This forwarder then passes the packet to the stack (counted as
//! `devmap_miss`); the seed's forwarder returned XDP_ABORTED, a silent drop.

use std::collections::BTreeSet;

use super::{Ctx, Kind, Rule, RuleId};
use crate::bpf::forwarder_abi::Counter;
use crate::diagnose::{Finding, Severity, Subject};
use crate::model::action::DevmapAdd;
use crate::model::{Action, Fix};
use crate::probes::EventKind;
use crate::snapshot::PathStage;
use crate::xdp::RedirectKind;

pub const RULE: Rule = Rule {
    id: RuleId::DevmapMissingTarget,
    kind: Kind::Cause,
    title: "a redirect target is missing from the forwarder's devmap",
    check,
};

/// The keys the programs' devmaps hold (`bpf_redirect_map(&devmap, ifindex, ...)` looks the
/// egress ifindex up as the key), or None when there is no devmap to check.
fn devmap_keys(c: &Ctx) -> Option<BTreeSet<u32>> {
    if let Some(ours) = c.ours() {
        return Some(ours.devmap.iter().copied().collect());
    }
    let xdp = &c.snap.xdp;
    let maps: Vec<_> = xdp
        .attachments
        .iter()
        .filter_map(|a| xdp.program(a.prog_id))
        .flat_map(|p| p.map_ids.iter().filter_map(|m| xdp.map(*m)))
        .filter(|m| matches!(m.kind, RedirectKind::Devmap | RedirectKind::DevmapHash))
        .collect();
    if maps.is_empty() {
        return None;
    }
    Some(
        maps.iter()
            .flat_map(|m| m.entries.iter().map(|e| e.key))
            .collect(),
    )
}

fn check(c: &Ctx) -> Vec<Finding> {
    // Which targets are needed is known only from NAT entries (ours or a config).
    if !c.snap.entries_known() {
        return Vec::new();
    }
    let Some(devmap) = devmap_keys(c) else {
        return Vec::new();
    };
    let fwd = c.home();
    let (total, delta) = c.counter(Counter::DevmapMiss);
    let mut out = Vec::new();
    for (iface, t) in c.redirect_targets() {
        let idx = t.ifindex;
        // A device that cannot take XDP frames is left out on purpose (the fix of
        // redirect-target-no-xdp-xmit takes it out): packets for it go to the stack.
        if devmap.contains(&idx) || super::cannot_take_frames(iface).is_some() {
            continue;
        }
        let external = c.is_external(idx);
        // Ours falls back to the stack; anyone else's may abort (the seed's did).
        let severity = if c.ours().is_some() {
            Severity::Warning
        } else {
            Severity::Error
        };
        let mut f = Finding::new(
            RULE.id,
            severity,
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
            "{} (ifindex {idx}) is not in the devmap of {}, so bpf_redirect_map cannot \
             send packets there. xdpdoctor's forwarder falls back to the kernel stack for them \
             (slow path, dropped wherever the stack would not forward); a forwarder without \
             that fallback, like the seed's, drops them silently (XDP_ABORTED).",
            iface.name(),
            c.who()
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
                .filter(|p| p.kind == EventKind::XdpException && p.netns_inode == fwd.ns.inode)
        {
            f.observe(format!("xdp:xdp_exception act={}", pc.code_name), pc.count);
        }
        if c.ours().is_none() {
            f.manual_fix = Some(format!(
                "add {} (ifindex {idx}) to the program's devmap, from inside {}",
                iface.name(),
                fwd.ns.name
            ));
            out.push(f);
            continue;
        }
        f.fix = Some(Fix::new(
            format!("add {} (ifindex {idx}) to the devmap", iface.name()),
            Action::DevmapAdd(DevmapAdd {
                netns: fwd.ns.clone(),
                interface: iface.name().to_string(),
                ifindex: idx,
            }),
        ));
        out.push(f);
    }
    out
}
