//! `checksum-errors`: the symptom. During the window a namespace's TCP stack dropped
//! segments with bad checksums (`TcpInCsumErrors`, `skb:kfree_skb` TCP_CSUM,
//! `tcp:tcp_bad_csum`): segments arrived with partial or corrupt checksums. The usual cause is
//! a veth with tx checksum offload whose packets an XDP redirect turned into frames
//! (`veth-tx-csum-offload`, linked by the causal pass); when none explains it, this is the
//! root.

use std::collections::BTreeMap;

use super::{Ctx, Kind, Rule, RuleId};
use crate::diagnose::{Finding, Severity, Subject};
use crate::probes::EventKind;
use crate::snapshot::PathStage;

pub const RULE: Rule = Rule {
    id: RuleId::ChecksumErrors,
    kind: Kind::Symptom,
    title: "a TCP stack dropped segments with bad checksums during the window",
    check,
};

fn check(c: &Ctx) -> Vec<Finding> {
    // namespace inode -> what was seen there
    let mut seen: BTreeMap<u64, Vec<(String, u64)>> = BTreeMap::new();
    for e in &c.ev.csum_errors {
        if e.delta > 0 {
            seen.entry(e.netns_inode)
                .or_default()
                .push(("TcpInCsumErrors".into(), e.delta));
        }
    }
    for pc in &c.ev.probes.counts {
        let csum = pc.kind == EventKind::TcpBadCsum
            || (pc.kind == EventKind::KfreeSkb && pc.code_name.contains("CSUM"));
        if csum && pc.count > 0 && pc.netns_inode != 0 {
            seen.entry(pc.netns_inode)
                .or_default()
                .push((format!("{} {}", pc.kind, pc.code_name), pc.count));
        }
    }
    let mut out = Vec::new();
    for (inode, hits) in seen {
        let Some(ns) = c.snap.ns(inode) else {
            continue;
        };
        let mut f = Finding::new(
            RULE.id,
            Severity::Error,
            if inode == c.snap.netns_inode {
                PathStage::Ingress
            } else {
                PathStage::Client
            },
            Subject::new(ns, None),
        );
        f.why = format!(
            "TCP in {} discarded segments whose checksum did not verify: connections through \
             the XDP path stall (ping still works).",
            ns.ns.name
        );
        for (what, n) in hits {
            f.observe(what, n);
        }
        f.manual_fix = Some(
            "find who sends partial checksums through an XDP redirect: `xdpdoctor diagnose` \
             with captures on the veths (partial checksums are classified)"
                .into(),
        );
        out.push(f);
    }
    out
}
