//! The one adapter between diagnosis and `crate::probes` (the tracing probes): runs
//! `probes::observe` for the window and turns its aggregates into plain, serializable
//! [`ProbeCount`]s. If the probes cannot attach, the evidence says so (never faked) and the
//! diagnosis goes on with the other evidence.
//!
//! Counts whose namespace the probe could not read (classic xdp tracepoints) arrive already
//! attributed by program id to the namespace of the forwarder that owns the program
//! (`probes::attribute`); those still without a namespace go to
//! [`ProbeEvidence::unattributed`], never into `counts`, so no rule can match them by ifindex.

use super::{ProbeCount, ProbeEvidence};
use crate::probes::{self, Aggregate, Attribution};

/// Observes for `window`, keeping events of these namespaces (and those whose namespace
/// cannot be known, apart).
/// `ready` is told once the probes are attached (see `probes::observe_ready`).
pub fn observe(
    netns_inodes: &[u64],
    window: &crate::cancel::Window,
    ready: Option<std::sync::mpsc::Sender<()>>,
) -> ProbeEvidence {
    let filter = probes::Filter {
        netns_inodes: netns_inodes.to_vec(),
    };
    match probes::observe_ready(&filter, window, ready) {
        Ok(o) => {
            let active: Vec<String> = o
                .probes
                .iter()
                .filter(|p| p.active)
                .map(|p| format!("{} ({})", p.name, p.kind.as_str()))
                .collect();
            let refused: Vec<String> = o
                .probes
                .iter()
                .filter(|p| !p.active)
                .map(|p| {
                    format!(
                        "{} ({}): {}",
                        p.name,
                        p.kind.as_str(),
                        p.reason.as_deref().unwrap_or("not attached")
                    )
                })
                .collect();
            let (counts, unattributed) = split_counts(o.aggregates, netns_inodes);
            // Redirect targets in namespaces outside the diagnosis: name them now.
            let others: std::collections::BTreeSet<u64> = counts
                .iter()
                .map(|c| c.target_netns_inode)
                .filter(|t| *t != 0 && !netns_inodes.contains(t))
                .collect();
            let netns_names = if others.is_empty() {
                Vec::new()
            } else {
                crate::netns::all()
                    .into_iter()
                    .filter(|n| others.contains(&n.inode))
                    .map(|n| (n.inode, n.label()))
                    .collect()
            };
            let mut note = if active.is_empty() {
                "no probe could attach".to_string()
            } else {
                format!("{} probe(s) active", active.len())
            };
            let lost_ns: u64 = unattributed.iter().map(|c| c.count).sum();
            if lost_ns > 0 {
                note += &format!(
                    "; {lost_ns} packet(s) seen by classic tracepoints could not be attributed \
                     to a namespace (not counted)"
                );
            }
            let dropped_flows = o
                .dropped_flows
                .into_iter()
                .filter(|f| f.netns_inode != 0)
                .filter(|f| netns_inodes.is_empty() || netns_inodes.contains(&f.netns_inode))
                .collect();
            ProbeEvidence {
                dropped_flows,
                available: !active.is_empty(),
                note,
                active,
                refused,
                counts,
                unattributed,
                lost: o.lost,
                netns_names,
            }
        }
        Err(e) => ProbeEvidence::unavailable(format!("probes unavailable: {e:#}")),
    }
}

/// (counts attributed to one of `netns_inodes` (all namespaces if empty), unattributed
/// counts). Counts attributed to other namespaces are dropped: they are not this diagnosis'.
fn split_counts(
    aggregates: Vec<Aggregate>,
    netns_inodes: &[u64],
) -> (Vec<ProbeCount>, Vec<ProbeCount>) {
    let mut counts = Vec::new();
    let mut unattributed = Vec::new();
    for a in aggregates {
        let unknown = a.attribution == Attribution::Unattributed || a.netns_inode == 0;
        let c = ProbeCount {
            netns_inode: if unknown { 0 } else { a.netns_inode },
            ifindex: a.ifindex,
            kind: a.kind,
            code: a.code,
            code_name: a.code_name,
            target_ifindex: a.target_ifindex,
            target_netns_inode: a.target_netns_inode,
            count: a.count,
            prog_id: a.prog_id,
            attribution: if unknown {
                Attribution::Unattributed
            } else {
                a.attribution
            },
        };
        if unknown {
            unattributed.push(c);
        } else if netns_inodes.is_empty() || netns_inodes.contains(&c.netns_inode) {
            counts.push(c);
        }
    }
    (counts, unattributed)
}

#[cfg(test)]
mod tests {
    use super::super::{Evidence, ProbeEvidence};
    use super::*;
    use crate::probes::attribute::{self, ProgOwners};
    use crate::probes::{EventKind, Filter};

    const LAB_A: u64 = 4_026_530_001;
    const LAB_B: u64 = 4_026_530_002;

    /// XDP programs attached per namespace: (ifindex, program id).
    fn attached(labs: &[(u64, &[(u32, u32)])]) -> ProgOwners {
        let mut o = ProgOwners::default();
        for (ns, progs) in labs {
            for (ifindex, prog) in progs.iter() {
                o.add(*ns, *ifindex, *prog);
            }
        }
        o
    }

    /// What the kernel counted with classic tracepoints only (namespace 0 everywhere).
    fn classic(prog_id: u32, ifindex: u32, kind: EventKind, code: i32, n: u64) -> Aggregate {
        Aggregate {
            netns_inode: 0,
            ifindex,
            kind,
            code,
            code_name: crate::probes::decode::errno_name(code),
            target_ifindex: 5,
            target_netns_inode: 0,
            prog_id,
            attribution: Attribution::Unattributed,
            count: n,
        }
    }

    fn evidence(counts: Vec<ProbeCount>, unattributed: Vec<ProbeCount>) -> Evidence {
        let mut e = Evidence::static_only("test");
        e.probes = ProbeEvidence {
            available: true,
            counts,
            unattributed,
            ..Default::default()
        };
        e
    }

    fn total(v: &[&ProbeCount]) -> u64 {
        v.iter().map(|c| c.count).sum()
    }

    /// Two labs with the same ifindexes (eth0 = 3 -> ve-m1 = 5), only their programs differ.
    /// Diagnosing lab A must count A's redirect errors and none of B's, and must not count
    /// drops of a program no forwarder owns.
    #[test]
    fn each_namespace_gets_only_its_forwarders_counts() {
        let owners = attached(&[(LAB_A, &[(3, 11), (5, 12)]), (LAB_B, &[(3, 21), (5, 22)])]);
        let raw = vec![
            classic(11, 3, EventKind::RedirectErr, -95, 40),
            classic(21, 3, EventKind::RedirectErr, -95, 900),
            classic(77, 3, EventKind::RedirectErr, -95, 5),
            classic(0, 3, EventKind::DevmapXmit, -6, 3),
            classic(12, 5, EventKind::XdpException, 0, 2),
        ];
        let filter = Filter {
            netns_inodes: vec![LAB_A],
        };
        let aggs = attribute::aggregates(raw, &owners, &filter);
        let (counts, unattributed) = split_counts(aggs, &[LAB_A]);

        assert!(counts.iter().all(|c| c.netns_inode == LAB_A), "{counts:?}");
        assert!(counts.iter().all(|c| c.attribution == Attribution::ProgId));
        assert_eq!(
            unattributed.iter().map(|c| c.count).sum::<u64>(),
            5 + 3,
            "{unattributed:?}"
        );
        assert!(unattributed
            .iter()
            .all(|c| c.netns_inode == 0 && c.attribution == Attribution::Unattributed));

        let ev = evidence(counts, unattributed);
        assert_eq!(
            total(&ev.probe_count(EventKind::RedirectErr, LAB_A, 5, true)),
            40
        );
        assert_eq!(
            total(&ev.probe_count(EventKind::RedirectErr, LAB_B, 5, true)),
            0
        );
        assert_eq!(
            total(&ev.probe_count(EventKind::XdpException, LAB_A, 5, false)),
            2
        );
        // devmap_xmit has no program id: never counted for a namespace by its ifindex.
        assert!(ev
            .probe_count(EventKind::DevmapXmit, LAB_A, 5, true)
            .is_empty());
        assert!(ev.probe_count(EventKind::DevmapXmit, 0, 5, true).is_empty());
    }

    #[test]
    fn all_namespaces_each_gets_its_own() {
        let owners = attached(&[(LAB_A, &[(3, 11)]), (LAB_B, &[(3, 21)])]);
        let raw = vec![
            classic(11, 3, EventKind::RedirectErr, -95, 40),
            classic(21, 3, EventKind::RedirectErr, -95, 900),
        ];
        let aggs = attribute::aggregates(raw, &owners, &Filter::all());
        let (counts, unattributed) = split_counts(aggs, &[]);
        assert!(unattributed.is_empty());
        let ev = evidence(counts, unattributed);
        assert_eq!(
            total(&ev.probe_count(EventKind::RedirectErr, LAB_A, 5, true)),
            40
        );
        assert_eq!(
            total(&ev.probe_count(EventKind::RedirectErr, LAB_B, 5, true)),
            900
        );
    }

    #[test]
    fn device_namespaces_pass_through_and_others_are_dropped() {
        let mut a = classic(0, 3, EventKind::RedirectErr, -95, 7);
        a.netns_inode = LAB_A;
        a.attribution = Attribution::Device;
        let mut b = a.clone();
        b.netns_inode = LAB_B;
        let (counts, unattributed) = split_counts(vec![a, b], &[LAB_A]);
        assert_eq!(counts.len(), 1);
        assert_eq!(
            (counts[0].netns_inode, counts[0].attribution),
            (LAB_A, Attribution::Device)
        );
        assert!(unattributed.is_empty());
    }

    #[test]
    fn old_evidence_json_still_reads() {
        let c: ProbeCount = serde_json::from_str(
            r#"{"netns_inode":1,"ifindex":3,"kind":"redirect_err","code":-95,
                "code_name":"EOPNOTSUPP","target_ifindex":5,"count":2}"#,
        )
        .unwrap();
        assert_eq!((c.prog_id, c.attribution), (0, Attribution::Device));
    }
}
