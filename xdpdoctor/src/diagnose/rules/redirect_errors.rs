//! `redirect-errors`: the symptom. The window saw XDP redirects from the diagnosed namespace
//! fail towards a device (`xdp:xdp_redirect_err`, `xdp:xdp_devmap_xmit` drops,
//! `veth_xdp_xmit` errors): packets died right after the program decided to send them there.
//! A static cause usually explains it (the causal pass links it: `veth-peer-no-xdp`,
//! `peer-link-down`); when none does, this finding is the root the user starts from.

use std::collections::BTreeMap;

use super::{Ctx, Kind, Rule, RuleId};
use crate::diagnose::{Finding, Severity, Subject};
use crate::probes::EventKind;
use crate::snapshot::PathStage;

pub const RULE: Rule = Rule {
    id: RuleId::RedirectErrors,
    kind: Kind::Symptom,
    title: "XDP redirects towards a device failed during the window",
    check,
};

fn check(c: &Ctx) -> Vec<Finding> {
    let home = c.home();
    // target ifindex -> (kind, code, code name, count)
    let mut by_target: BTreeMap<u32, Vec<(EventKind, i32, String, u64)>> = BTreeMap::new();
    for pc in &c.ev.probes.counts {
        let failed = matches!(
            pc.kind,
            EventKind::RedirectErr | EventKind::DevmapXmit | EventKind::VethXdpXmit
        );
        if !failed || pc.netns_inode != home.ns.inode || pc.count == 0 {
            continue;
        }
        let elsewhere = pc.target_netns_inode != 0 && pc.target_netns_inode != home.ns.inode;
        if elsewhere {
            continue; // redirect-target-other-netns says where they went
        }
        // veth_xdp_xmit reports the veth itself; the redirect kinds name the target.
        let target = if pc.kind == EventKind::VethXdpXmit {
            pc.ifindex
        } else {
            pc.target_ifindex
        };
        by_target.entry(target).or_default().push((
            pc.kind,
            pc.code,
            pc.code_name.clone(),
            pc.count,
        ));
    }
    by_target
        .into_iter()
        .map(|(target, hits)| {
            let ifname = home.iface(target).map(|i| i.name().to_string());
            let mut f = Finding::new(
                RULE.id,
                Severity::Error,
                PathStage::Veth,
                Subject::new(home, ifname.as_deref()),
            );
            f.order = c.order_of(target);
            f.entries = c.entries_via(target);
            let total: u64 = hits.iter().map(|h| h.3).sum();
            f.why = format!(
                "{total} packet(s) {} redirected to {} died in the kernel right after the \
                 decision: the device did not accept the XDP frames.",
                c.who(),
                ifname
                    .clone()
                    .unwrap_or_else(|| format!("ifindex {target}"))
            );
            for (kind, code, name, count) in hits {
                f.observe(format!("{kind} {code} ({name})"), count);
            }
            let shown = ifname
                .clone()
                .unwrap_or_else(|| format!("ifindex {target}"));
            if let Some(line) = c.decided_redirects(target, &shown, true) {
                f.evidence.push(line);
            }
            f.manual_fix = Some(
                "find why the target refuses XDP frames: `xdpdoctor trace` shows each failure"
                    .into(),
            );
            f
        })
        .collect()
}
