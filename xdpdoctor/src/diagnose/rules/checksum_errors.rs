//! `checksum-errors`: the symptom. During the window a namespace's TCP or UDP stack dropped
//! segments with bad checksums (`TcpInCsumErrors`, `UdpInCsumErrors` / `Udp6InCsumErrors`,
//! `skb:kfree_skb` TCP_CSUM / UDP_CSUM, `tcp:tcp_bad_csum`): segments arrived with partial or
//! corrupt checksums. The usual cause is
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
    title: "a TCP or UDP stack dropped segments with bad checksums during the window",
    check,
};

fn check(c: &Ctx) -> Vec<Finding> {
    // namespace inode -> what was seen there
    let mut seen: BTreeMap<u64, Vec<(String, u64)>> = BTreeMap::new();
    for e in &c.ev.csum_errors {
        for (what, n) in [
            ("TcpInCsumErrors", e.delta),
            ("UdpInCsumErrors", e.udp_delta),
        ] {
            if n > 0 {
                seen.entry(e.netns_inode)
                    .or_default()
                    .push((what.into(), n));
            }
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
            "The stack in {} discarded TCP segments or UDP datagrams whose checksum did not \
             verify: traffic through the XDP path stalls (ping still works).",
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
