//! `redirect-target-other-netns`: a devmap entry resolves to a device in another namespace.
//! `bpf_map_update_elem` on a DEVMAP resolves the ifindex value with `dev_get_by_index()` in
//! the namespace of the process that writes it, so a devmap filled from the host for a
//! program running in a router or VM namespace points at the host's devices of those numbers
//! (KERNEL-NOTES). Seen in the window: redirects (successful or not) whose target device, as
//! the BTF tracepoints read it, lives in another namespace than the program. Seen statically:
//! devmap entries whose ifindex no interface of the namespace has (another namespace's, or
//! stale).

use std::collections::BTreeMap;

use super::{Ctx, Kind, Rule, RuleId};
use crate::diagnose::{Finding, Severity, Subject};
use crate::probes::EventKind;
use crate::snapshot::PathStage;
use crate::xdp::{summarize_entries, MapEntry, RedirectKind};

/// `1-4, 7, 9-12` for ifindexes, at most `max` runs shown.
fn summarize_indexes(idx: impl Iterator<Item = u32>, max: usize) -> String {
    let mut v: Vec<u32> = idx.collect();
    v.sort_unstable();
    v.dedup();
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for i in v {
        match runs.last_mut() {
            Some((_, hi)) if hi.checked_add(1) == Some(i) => *hi = i,
            _ => runs.push((i, i)),
        }
    }
    let mut s: Vec<String> = runs
        .iter()
        .take(max)
        .map(|&(lo, hi)| {
            if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}-{hi}")
            }
        })
        .collect();
    if runs.len() > max {
        s.push(format!("... ({} more runs)", runs.len() - max));
    }
    s.join(", ")
}

pub const RULE: Rule = Rule {
    id: RuleId::RedirectTargetOtherNetns,
    kind: Kind::Cause,
    title: "a devmap entry resolves to a device in another namespace (filled from the wrong one)",
    check,
};

fn check(c: &Ctx) -> Vec<Finding> {
    let mut out = observed(c);
    out.extend(dangling(c));
    out
}

/// One kind of hit towards a target: (kind, code name, count, ingress ifindex).
type Hit = (EventKind, String, u64, u32);

/// Redirects the tracepoints saw leaving the namespace, by (target ifindex, target netns).
fn observed(c: &Ctx) -> Vec<Finding> {
    let home = c.home();
    let mut seen: BTreeMap<(u32, u64), Vec<Hit>> = BTreeMap::new();
    for pc in &c.ev.probes.counts {
        let redirect = matches!(
            pc.kind,
            EventKind::Redirect | EventKind::RedirectErr | EventKind::DevmapXmit
        );
        if !redirect
            || pc.netns_inode != home.ns.inode
            || pc.target_netns_inode == 0
            || pc.target_netns_inode == home.ns.inode
        {
            continue;
        }
        seen.entry((pc.target_ifindex, pc.target_netns_inode))
            .or_default()
            .push((pc.kind, pc.code_name.clone(), pc.count, pc.ifindex));
    }
    let mut out = Vec::new();
    for ((target, other), hits) in seen {
        let other_name = c
            .snap
            .ns(other)
            .map(|n| n.ns.name.clone())
            .or_else(|| c.ev.probes.netns_name(other).map(str::to_string))
            .unwrap_or_else(|| format!("netns inode {other}"));
        let meant = home.iface(target).map(|i| i.name().to_string());
        let mut f = Finding::new(
            RULE.id,
            Severity::Error,
            PathStage::Devmap,
            Subject::new(home, meant.as_deref()),
        );
        f.order = c.order_of(target);
        f.entries = c.entries_via(target);
        f.why = format!(
            "Packets {} redirects to ifindex {target}{} go to a device in {other_name}, not in \
             {}: the devmap was filled from another namespace, where that ifindex is another \
             device (bpf_map_update_elem resolves ifindexes in the writer's namespace). They \
             never reach the container{}.",
            c.who(),
            meant
                .as_deref()
                .map(|m| format!(" (meant: {m})"))
                .unwrap_or_default(),
            home.ns.name,
            if hits.iter().all(|h| h.0 == EventKind::Redirect) {
                " although every redirect \"succeeds\""
            } else {
                ""
            }
        );
        for (kind, code, count, ingress) in &hits {
            let from = home
                .iface(*ingress)
                .map(|i| i.name().to_string())
                .unwrap_or_else(|| format!("ifindex {ingress}"));
            f.observe(
                format!("{kind} {code} from {from} to ifindex {target} in {other_name}"),
                *count,
            );
        }
        f.evidence.push(format!(
            "the redirect target device of ifindex {target} is in {other_name} (inode {other}); \
             the program runs in {} (inode {})",
            home.ns.name, home.ns.inode
        ));
        f.manual_fix = Some(refill(c, target));
        out.push(f);
    }
    out
}

/// Devmap entries of the programs' maps whose ifindex does not exist in the namespace.
fn dangling(c: &Ctx) -> Vec<Finding> {
    let home = c.home();
    let xdp = &c.snap.xdp;
    let mut out = Vec::new();
    for m in &xdp.maps {
        if !matches!(m.kind, RedirectKind::Devmap | RedirectKind::DevmapHash) {
            continue;
        }
        let missing: Vec<&MapEntry> = m
            .entries
            .iter()
            .filter(|e| home.iface(e.value).is_none())
            .collect();
        let Some(first) = missing.first() else {
            continue;
        };
        let mut f = Finding::new(
            RULE.id,
            Severity::Warning,
            PathStage::Devmap,
            Subject::new(home, None),
        );
        f.order = first.value;
        // Summaries, not lists: a devmap holds up to thousands of entries.
        f.why = format!(
            "The devmap {} (id {}) holds {}, whose ifindexes no interface of {} has: it was \
             filled from another namespace (bpf_map_update_elem resolves ifindexes in the \
             writer's namespace), or the devices are gone. Redirects through these entries \
             leave the namespace or fail.",
            m.name,
            m.id,
            summarize_entries(missing.iter().copied(), 4),
            home.ns.name
        );
        f.evidence.push(format!(
            "{}: {}; interfaces of {}: {}",
            m.name,
            summarize_entries(&m.entries, 8),
            home.ns.name,
            summarize_indexes(home.interfaces.iter().map(|i| i.index()), 16)
        ));
        f.evidence.push(
            "an entry whose ifindex exists here may still have been written from another \
             namespace: the kernel keeps the device, not the writer's namespace, and does not \
             say; redirects seen by the window (or `xdpdoctor trace --redirects`) show where \
             packets really go"
                .into(),
        );
        f.manual_fix = Some(format!(
            "refill {} from inside {}, or delete the stale entries",
            m.name, home.ns.name
        ));
        out.push(f);
    }
    out
}

/// Rewrite, from inside the program's namespace, the devmap entries keyed by `target` (the
/// kernel then resolves the ifindex there).
fn refill(c: &Ctx, target: u32) -> String {
    let home = c.home();
    let cmds: Vec<String> = c
        .snap
        .xdp
        .maps
        .iter()
        .filter(|m| matches!(m.kind, RedirectKind::Devmap | RedirectKind::DevmapHash))
        .filter(|m| m.entries.iter().any(|e| e.key == target))
        .map(|m| {
            let pad = if m.value_size >= 8 { " 0 0 0 0" } else { "" };
            home.ns.clone().shell(&format!(
                "bpftool map update id {} key {} value {}{pad}",
                m.id,
                le(target),
                le(target)
            ))
        })
        .collect();
    if cmds.is_empty() {
        format!("write the devmap entries from inside {}", home.ns.name)
    } else {
        format!(
            "write the devmap entries from inside {}: {}",
            home.ns.name,
            cmds.join(" && ")
        )
    }
}

/// A u32 as bpftool's little-endian byte list.
fn le(v: u32) -> String {
    v.to_le_bytes()
        .iter()
        .map(|b| b.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}
