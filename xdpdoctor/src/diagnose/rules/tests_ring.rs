//! Offline tests of `veth-ring-overflow` on the seed lab's saved healthy snapshot with the
//! window's evidence made up the way the probes report a full ring (`xdp_devmap_xmit`
//! drops with err=0), and of the cases it must leave alone.

use crate::bpf::forwarder_abi::Counter;
use crate::diagnose::evidence::{Evidence, ProbeCount, ProbeEvidence};
use crate::diagnose::{run_rules, Finding, RuleId, Severity};
use crate::probes::{Attribution, EventKind};
use crate::snapshot::Snapshot;

const HEALTHY: &str = include_str!("../../../tests/fixtures/seed-healthy.json");

fn healthy() -> Snapshot {
    serde_json::from_str(HEALTHY).expect("fixture")
}

/// A window of `ms` in which the probes saw `drops` frames to `target` dropped with `code`,
/// and the forwarder redirected `redirected` packets.
fn window(s: &Snapshot, target: u32, code: i32, drops: u64, ms: u64, redirected: u64) -> Evidence {
    let mut ev = Evidence::static_only("test");
    ev.window_ms = ms;
    ev.probes = ProbeEvidence {
        available: true,
        counts: vec![ProbeCount {
            netns_inode: s.netns_inode,
            ifindex: s.home().iface_by_name("eth0").unwrap().index(),
            kind: EventKind::DevmapXmit,
            code,
            code_name: if code == 0 {
                "OK".into()
            } else {
                "ENXIO".into()
            },
            target_ifindex: target,
            target_netns_inode: s.netns_inode,
            count: drops,
            prog_id: 0,
            attribution: Attribution::Device,
        }],
        ..Default::default()
    };
    ev.counter_deltas = vec![(Counter::Redirected, redirected)];
    ev
}

fn roots(f: &[Finding]) -> Vec<(RuleId, String)> {
    f.iter()
        .filter(|f| f.is_root())
        .map(|f| (f.id, f.subject.interface.clone().unwrap_or_default()))
        .collect()
}

#[test]
fn a_full_ring_is_the_cause_of_the_redirect_errors_with_count_and_rate() {
    let s = healthy();
    let m1 = s.home().iface_by_name("ve-m1").unwrap().index();
    let f = run_rules(&s, &window(&s, m1, 0, 12_000, 3_000, 200_000)).findings;
    assert_eq!(roots(&f), vec![(RuleId::VethRingOverflow, "ve-m1".into())]);
    let ring = f.iter().find(|f| f.id == RuleId::VethRingOverflow).unwrap();
    assert_eq!(ring.severity, Severity::Warning);
    assert!(ring.why.contains("12000 frame(s)"), "{}", ring.why);
    assert!(
        ring.why.contains("4000 frames/s over the 3.0 s window"),
        "{}",
        ring.why
    );
    assert!(
        ring.why.contains("256 frames per receive queue"),
        "{}",
        ring.why
    );
    let ev = ring.evidence.join("\n");
    assert!(
        ev.contains("12000 frame(s) dropped with err=0 (ring full)"),
        "{ev}"
    );
    assert!(ev.contains("6.0% of them"), "{ev}");
    assert!(ev.contains("GRO requested on"), "{ev}");
    assert_eq!(ring.observed[0].count, 12_000);
    assert!(ring.fix.is_none());
    let manual = ring.manual_fix.as_deref().unwrap();
    assert!(
        manual.contains("numrxqueues") && manual.contains("-s link show ve-m1"),
        "{manual}"
    );
    // The symptom is explained by it.
    let sym = f.iter().find(|f| f.id == RuleId::RedirectErrors).unwrap();
    assert_eq!(sym.caused_by.as_ref().unwrap().id, RuleId::VethRingOverflow);
}

#[test]
fn errors_other_targets_and_short_peer_mtus_are_left_alone() {
    let s = healthy();
    let m1 = s.home().iface_by_name("ve-m1").unwrap().index();
    // An error code is another story (ENXIO: the peer cannot take frames at all).
    let f = run_rules(&s, &window(&s, m1, -6, 40, 3_000, 40)).findings;
    assert!(f.iter().all(|f| f.id != RuleId::VethRingOverflow), "{f:?}");
    // A device that is not a veth (the loopback) has no such ring.
    let lo = s.home().iface_by_name("lo").unwrap().index();
    let f = run_rules(&s, &window(&s, lo, 0, 40, 3_000, 40)).findings;
    assert!(f.iter().all(|f| f.id != RuleId::VethRingOverflow), "{f:?}");
    // The peer's MTU below the veth's: the drops may be frames too long for it.
    let mut s = healthy();
    for ns in &mut s.namespaces {
        if ns.ns.name.ends_with("-m1") {
            for i in &mut ns.interfaces {
                if i.link.name == "host0" {
                    i.link.mtu = 1400;
                }
            }
        }
    }
    let f = run_rules(&s, &window(&s, m1, 0, 40, 3_000, 40)).findings;
    assert!(f.iter().all(|f| f.id != RuleId::VethRingOverflow), "{f:?}");
    // A static diagnosis (no window) has no rate to give and no drops to see.
    let s = healthy();
    let f = run_rules(&s, &Evidence::static_only("t")).findings;
    assert!(f.is_empty(), "{f:?}");
}
