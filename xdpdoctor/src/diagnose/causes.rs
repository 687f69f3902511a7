//! Root causes, not symptoms: after the rules ran, a pass links each finding that another
//! explains to that cause (`Finding::caused_by`). A link needs proof in the snapshot or the
//! evidence (the same veth pair, the same NAT entry), never a guess; independent causes (the
//! seed's three faults) stay independent roots. A consequence loses its own fix: fixing the
//! cause resolves it, and fixing the symptom (a permanent neighbour for a peer that is down)
//! would only hide the cause.
//!
//! The links, cause -> consequence, are [`LINKS`] (documented in docs/rules.md); each has a
//! proof function. Two passes: static consequences first (a finding caused by another static
//! finding), then the window's symptoms (rules of [`Kind::Symptom`]), linked only to findings
//! that are roots by then, so every `caused_by` names a root.

use super::rules::{self, Ctx, Kind, RuleId};
use super::{CauseRef, Finding, Severity};

/// One causal link: findings of rule `cause` can explain findings of rule `consequence`,
/// when `proof` holds for the pair.
pub struct Link {
    /// The rule of the cause.
    pub cause: RuleId,
    /// The rule of the consequence.
    pub consequence: RuleId,
    /// Whether this cause explains this consequence.
    pub proof: fn(&Ctx, cause: &Finding, consequence: &Finding) -> bool,
    /// The explanation, a few words.
    pub because: &'static str,
}

/// Every causal link.
pub const LINKS: &[Link] = &[
    Link {
        cause: RuleId::PeerLinkDown,
        consequence: RuleId::FibNoNeighbor,
        proof: same_veth_pair,
        because: "the neighbour cannot answer ARP while its link is down",
    },
    Link {
        cause: RuleId::NatTargetStale,
        consequence: RuleId::FibNoNeighbor,
        proof: same_entry,
        because: "nobody answers ARP for an address the container no longer has",
    },
    Link {
        cause: RuleId::NatTargetGone,
        consequence: RuleId::ForwarderNotAttached,
        proof: interface_vanished,
        because: "the interface went away with the container",
    },
    Link {
        cause: RuleId::PeerLinkDown,
        consequence: RuleId::RedirectErrors,
        proof: same_veth_pair,
        because: "a veth pair with an end down takes no frames",
    },
    Link {
        cause: RuleId::VethPeerNoXdp,
        consequence: RuleId::RedirectErrors,
        proof: same_veth_pair,
        because: "the veth cannot take XDP frames while its peer has no XDP",
    },
    Link {
        cause: RuleId::RedirectTargetNoXdpXmit,
        consequence: RuleId::RedirectErrors,
        proof: same_interface,
        because: "a device without ndo_xdp_xmit takes no XDP frames",
    },
    Link {
        cause: RuleId::NetfilterDrop,
        consequence: RuleId::FibNoNeighbor,
        proof: same_entry,
        because: "netfilter drops the first packet, so the neighbour is never resolved",
    },
    Link {
        cause: RuleId::VethRingOverflow,
        consequence: RuleId::RedirectErrors,
        proof: same_interface,
        because: "a full ring takes no more frames until the peer drains it",
    },
    Link {
        cause: RuleId::RedirectTargetMtu,
        consequence: RuleId::RedirectErrors,
        proof: same_interface,
        because: "frames larger than the target's MTU are refused (EMSGSIZE)",
    },
    Link {
        cause: RuleId::XdpMtuTooLarge,
        consequence: RuleId::ForwarderNotAttached,
        proof: same_interface,
        because: "the kernel refuses XDP there while the peer's MTU is above the veth XDP limit",
    },
    Link {
        cause: RuleId::VethTxCsumOffload,
        consequence: RuleId::ChecksumErrors,
        proof: partial_sums_from_elsewhere,
        because: "partial checksums crossed an XDP redirect",
    },
];

/// Findings on the path of a failed connection's entry explain it (any root: the first error
/// in packet-path order, else the first warning).
fn on_entry_path(c: &Ctx, cause: &Finding, failed: &Finding) -> bool {
    let Some(entry) = failed.entries.first() else {
        return false;
    };
    cause.entries.contains(entry)
        || (cause.entries.is_empty() && cause.subject.netns.inode == c.snap.netns_inode)
}

/// The consequence's interface no longer exists in the diagnosed namespace.
fn interface_vanished(c: &Ctx, _: &Finding, consequence: &Finding) -> bool {
    consequence
        .subject
        .interface
        .as_deref()
        .is_some_and(|n| c.home().iface_by_name(n).is_none())
}

/// Both are about the same interface of the same namespace.
fn same_interface(_: &Ctx, cause: &Finding, consequence: &Finding) -> bool {
    cause.subject.netns.inode == consequence.subject.netns.inode
        && cause.subject.interface.is_some()
        && cause.subject.interface == consequence.subject.interface
}

/// Both name the same NAT entry.
fn same_entry(_: &Ctx, cause: &Finding, consequence: &Finding) -> bool {
    consequence
        .entries
        .iter()
        .any(|e| cause.entries.contains(e))
}

/// The consequence's subject and the cause's are the two ends of one veth (or the same end).
fn same_veth_pair(c: &Ctx, cause: &Finding, consequence: &Finding) -> bool {
    let home = c.home();
    let Some(v) = consequence
        .subject
        .interface
        .as_deref()
        .and_then(|n| home.iface_by_name(n))
    else {
        return false;
    };
    if consequence.subject.netns.inode != home.ns.inode {
        return false;
    }
    let same = |inode: u64, name: &str| {
        cause.subject.netns.inode == inode && cause.subject.interface.as_deref() == Some(name)
    };
    same(home.ns.inode, v.name())
        || c.snap
            .peer_of(v)
            .is_some_and(|(pns, pif)| same(pns.ns.inode, pif.name()))
}

/// Partial sums sent from one namespace are dropped in another: any tx-csum finding whose
/// sender is not where the drops were counted.
fn partial_sums_from_elsewhere(_: &Ctx, cause: &Finding, consequence: &Finding) -> bool {
    cause.subject.netns.inode != consequence.subject.netns.inode
}

/// Whether findings of rule `id` only report what the window saw (linked in the second pass).
pub fn is_symptom(id: RuleId) -> bool {
    rules::by_id(id).is_some_and(|r| r.kind == Kind::Symptom)
}

/// Links consequences to their causes in `findings` (sorted in packet-path order).
pub fn link(c: &Ctx, findings: &mut [Finding]) {
    // Pass 1: static consequences of static causes.
    for i in 0..findings.len() {
        if is_symptom(findings[i].id) {
            continue;
        }
        if let Some(r) = find_cause(c, findings, i, |_| true) {
            attach(findings, i, r);
        }
    }
    // Pass 2: symptoms, to roots only.
    for i in 0..findings.len() {
        if !is_symptom(findings[i].id) {
            continue;
        }
        let is_root = |f: &Finding| f.is_root() && !is_symptom(f.id);
        let r = if findings[i].id == RuleId::ConnectionFailed {
            // An error on the path before a warning: a warning loses packets only sometimes
            // (or once another cause is fixed), so it is the explanation only when nothing
            // on the path certainly loses them.
            findings
                .iter()
                .enumerate()
                .filter(|(j, f)| *j != i && is_root(f) && on_entry_path(c, f, &findings[i]))
                .min_by_key(|(j, f)| (f.severity != Severity::Error, *j))
                .map(|(j, f)| (j, format!("{} is on the path of this entry", f.id)))
        } else {
            find_cause(c, findings, i, is_root)
        };
        if let Some(r) = r {
            attach(findings, i, r);
        }
    }
}

/// The first finding (packet-path order) that explains finding `i` by a link, among those
/// `eligible` accepts: its index and why.
fn find_cause(
    c: &Ctx,
    findings: &[Finding],
    i: usize,
    eligible: impl Fn(&Finding) -> bool,
) -> Option<(usize, String)> {
    let f = &findings[i];
    LINKS
        .iter()
        .filter(|l| l.consequence == f.id)
        .flat_map(|l| {
            findings
                .iter()
                .enumerate()
                .filter(move |(j, g)| *j != i && g.id == l.cause)
                .map(move |(j, g)| (j, g, l))
        })
        .filter(|(_, g, l)| eligible(g) && (l.proof)(c, g, f))
        .min_by_key(|(j, _, _)| *j)
        .map(|(j, _, l)| (j, l.because.to_string()))
}

/// Marks finding `i` as caused by finding `j`, and takes its own fix away.
fn attach(findings: &mut [Finding], i: usize, (j, because): (usize, String)) {
    let cause = CauseRef {
        id: findings[j].id,
        subject: findings[j].subject.clone(),
        because,
    };
    let f = &mut findings[i];
    f.fix = None;
    f.manual_fix = Some(format!(
        "fix the cause, {} on {}: {}",
        cause.id, cause.subject, cause.because
    ));
    f.caused_by = Some(cause);
}

#[cfg(test)]
mod tests;
