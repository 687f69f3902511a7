//! Every causal link, both ways: with the cause present the consequence names it (and loses
//! its own fix); without it the consequence stands alone as a root. On the seed lab's saved
//! snapshots, mutated.

use crate::bpf::forwarder_abi::Counter;
use crate::diagnose::evidence::{
    ConnectResult, CsumErrors, Evidence, ProbeCount, ProbeEvidence, Traffic,
};
use crate::diagnose::{run_rules, Finding, RuleId};
use crate::netlink::rtnl::Neighbour;
use crate::probes::{Attribution, EventKind};
use crate::snapshot::{Iface, Snapshot};

const HEALTHY: &str = include_str!("../../../tests/fixtures/seed-healthy.json");
const FAULTS: &str = include_str!("../../../tests/fixtures/seed-faults.json");

fn healthy() -> Snapshot {
    serde_json::from_str(HEALTHY).expect("fixture")
}

fn iface<'a>(s: &'a mut Snapshot, ns_suffix: &str, name: &str) -> &'a mut Iface {
    s.namespaces
        .iter_mut()
        .find(|n| n.ns.name.ends_with(ns_suffix))
        .unwrap()
        .interfaces
        .iter_mut()
        .find(|i| i.link.name == name)
        .unwrap()
}

fn find(f: &[Finding], id: RuleId) -> &Finding {
    f.iter().find(|x| x.id == id).unwrap_or_else(|| {
        panic!(
            "{id} missing: {:?}",
            f.iter().map(|x| &x.id).collect::<Vec<_>>()
        )
    })
}

/// (id, cause id) of every finding.
fn links(f: &[Finding]) -> Vec<(RuleId, Option<RuleId>)> {
    f.iter()
        .map(|x| (x.id, x.caused_by.as_ref().map(|c| c.id)))
        .collect()
}

/// The next hop 10.123.1.1 on ve-m1 failed ARP and the forwarder counted NO_NEIGH.
fn neighbour_failed(s: &mut Snapshot) {
    for c in &mut s.forwarder.as_mut().unwrap().counters {
        if c.0 == Counter::FibNoNeigh {
            c.1 = 5;
        }
    }
    let idx = iface(s, "-vm", "ve-m1").link.index;
    s.namespaces[0].neighbours.push(Neighbour {
        ifindex: idx,
        addr: "10.123.1.1".parse().unwrap(),
        mac: None,
        state: crate::netlink::rtnl::NudState::Failed,
        valid: false,
    });
}

fn with_probe(s: &Snapshot, kind: EventKind, code: i32, name: &str) -> Evidence {
    let mut ev = Evidence::static_only("test");
    ev.probes = ProbeEvidence {
        available: true,
        counts: vec![ProbeCount {
            netns_inode: s.netns_inode,
            ifindex: 3,
            kind,
            code,
            code_name: name.into(),
            target_ifindex: s.home().iface_by_name("ve-m1").unwrap().index(),
            target_netns_inode: s.netns_inode,
            count: 4,
            prog_id: 0,
            attribution: Attribution::Device,
        }],
        ..Default::default()
    };
    ev
}

#[test]
fn peer_down_explains_the_failed_neighbour() {
    let mut s = healthy();
    neighbour_failed(&mut s);
    let alone = run_rules(&s, &Evidence::static_only("t")).findings;
    assert_eq!(links(&alone), [(RuleId::FibNoNeighbor, None)]);
    assert!(alone[0]
        .manual_fix
        .as_deref()
        .unwrap()
        .contains("nud permanent"));

    iface(&mut s, "-m1", "host0").link.up = false;
    let f = run_rules(&s, &Evidence::static_only("t")).findings;
    let n = find(&f, RuleId::FibNoNeighbor);
    assert_eq!(n.caused_by.as_ref().unwrap().id, RuleId::PeerLinkDown);
    // The symptom's fix (a permanent neighbour) would hide the cause: gone.
    assert!(n.fix.is_none());
    assert!(!n.manual_fix.as_deref().unwrap().contains("nud permanent"));
    assert!(find(&f, RuleId::PeerLinkDown).is_root());
}

#[test]
fn redirect_errors_are_explained_by_the_peer_without_xdp_or_down() {
    let s = healthy();
    let ev = with_probe(&s, EventKind::RedirectErr, -95, "EOPNOTSUPP");
    // Nothing static explains them: the symptom is the root.
    let f = run_rules(&s, &ev).findings;
    assert_eq!(links(&f), [(RuleId::RedirectErrors, None)]);

    let mut s = healthy();
    iface(&mut s, "-m1", "host0").gro_requested = Some(false);
    iface(&mut s, "-vm", "ve-m1").xdp_features = Some(0x23);
    let f = run_rules(&s, &ev).findings;
    assert_eq!(
        find(&f, RuleId::RedirectErrors)
            .caused_by
            .as_ref()
            .unwrap()
            .id,
        RuleId::VethPeerNoXdp
    );

    let mut s = healthy();
    iface(&mut s, "-m1", "host0").link.up = false;
    let ev = with_probe(&s, EventKind::DevmapXmit, -100, "ENETDOWN");
    let f = run_rules(&s, &ev).findings;
    assert_eq!(
        find(&f, RuleId::RedirectErrors)
            .caused_by
            .as_ref()
            .unwrap()
            .id,
        RuleId::PeerLinkDown
    );
}

#[test]
fn checksum_errors_are_explained_by_tx_offload_elsewhere() {
    let s = healthy();
    let client = s
        .namespaces
        .iter()
        .find(|n| n.ns.name.ends_with("-client"))
        .unwrap();
    let mut ev = Evidence::static_only("t");
    ev.csum_errors = vec![CsumErrors {
        netns: client.ns.name.clone(),
        netns_inode: client.ns.inode,
        delta: 3,
        udp_delta: 0,
    }];
    let f = run_rules(&s, &ev).findings;
    assert_eq!(links(&f), [(RuleId::ChecksumErrors, None)]);

    let mut s = healthy();
    iface(&mut s, "-m1", "host0").tx_csum_active = Some(true);
    let f = run_rules(&s, &ev).findings;
    assert_eq!(
        find(&f, RuleId::ChecksumErrors)
            .caused_by
            .as_ref()
            .unwrap()
            .id,
        RuleId::VethTxCsumOffload
    );
}

#[test]
fn failed_connections_name_the_first_cause_on_their_path() {
    let failed = |to: &str| ConnectResult {
        target: "192.168.9.1:8080".parse().unwrap(),
        backend: Some(to.parse().unwrap()),
        ok: false,
        elapsed_ms: 2000,
        detail: "connect: connection timed out".into(),
    };
    let mut ev = Evidence::static_only("t");
    ev.traffic = Traffic::Client {
        by: "lab".into(),
        results: vec![failed("10.123.1.1:80")],
    };
    // Healthy static state: nothing explains it.
    let f = run_rules(&healthy(), &ev).findings;
    assert_eq!(links(&f), [(RuleId::ConnectionFailed, None)]);

    // The seed's faults: the first cause on 8080's path is the missing address; the three
    // causes stay independent roots.
    let s: Snapshot = serde_json::from_str(FAULTS).unwrap();
    let f = run_rules(&s, &ev).findings;
    assert_eq!(
        find(&f, RuleId::ConnectionFailed)
            .caused_by
            .as_ref()
            .unwrap()
            .id,
        RuleId::InterfaceNoAddress
    );
    let roots: Vec<RuleId> = f.iter().filter(|x| x.is_root()).map(|x| x.id).collect();
    assert_eq!(roots.len(), 6, "{roots:?}");
    assert!(roots.iter().all(|r| *r != RuleId::ConnectionFailed));
}

#[test]
fn independent_causes_stay_roots() {
    let s: Snapshot = serde_json::from_str(FAULTS).unwrap();
    let f = run_rules(&s, &Evidence::static_only("t")).findings;
    assert_eq!(f.len(), 6);
    assert!(f.iter().all(Finding::is_root));
}

/// Every link names two rules of `ALL`, by their ids: a link whose end no rule produces would
/// never fire. A symptom explains nothing (it is linked, never a cause), and every symptom is
/// something some cause can explain or stands alone by design (`connection-failed`: any
/// root on its entry's path).
#[test]
fn links_and_symptoms_name_rules_in_all() {
    use crate::diagnose::causes::{is_symptom, LINKS};
    use crate::diagnose::rules::{by_id, Kind, ALL};
    for l in LINKS {
        for id in [l.cause, l.consequence] {
            assert!(
                by_id(id).is_some(),
                "link {} -> {}: {id} is in no rule of ALL",
                l.cause,
                l.consequence
            );
        }
        assert!(
            !is_symptom(l.cause),
            "{} is a symptom: it explains nothing",
            l.cause
        );
        assert_ne!(l.cause, l.consequence);
    }
    let symptoms: Vec<RuleId> = ALL
        .iter()
        .filter(|r| r.kind == Kind::Symptom)
        .map(|r| r.id)
        .collect();
    assert!(!symptoms.is_empty());
    for s in &symptoms {
        assert!(is_symptom(*s));
        assert!(
            *s == RuleId::ConnectionFailed || LINKS.iter().any(|l| l.consequence == *s),
            "symptom {s} has no link: no cause can ever explain it"
        );
    }
}

const DOCKER: &str = include_str!("../../../tests/fixtures/docker-faults.json");

/// On the Docker lab: redirects to the bridge that fail are explained by the bridge having
/// no ndo_xdp_xmit; a bridge that took frames (mutated) leaves them a root.
#[test]
fn redirect_errors_to_a_bridge_are_explained_by_the_bridge() {
    let s: Snapshot = serde_json::from_str(DOCKER).unwrap();
    let br = s.home().iface_by_name("i21f-br").unwrap().index();
    let mut ev = Evidence::static_only("t");
    ev.probes = ProbeEvidence {
        available: true,
        counts: vec![ProbeCount {
            netns_inode: s.netns_inode,
            ifindex: s.home().iface_by_name("i21f-x").unwrap().index(),
            kind: EventKind::RedirectErr,
            code: -95,
            code_name: "EOPNOTSUPP".into(),
            target_ifindex: br,
            target_netns_inode: s.netns_inode,
            count: 6,
            prog_id: 0,
            attribution: Attribution::Device,
        }],
        ..Default::default()
    };
    let f = run_rules(&s, &ev).findings;
    let e = find(&f, RuleId::RedirectErrors);
    assert_eq!(
        e.caused_by.as_ref().unwrap().id,
        RuleId::RedirectTargetNoXdpXmit
    );
    let cause = find(&f, RuleId::RedirectTargetNoXdpXmit);
    assert!(cause
        .observed
        .iter()
        .any(|o| o.what.contains("EOPNOTSUPP") && o.count == 6));

    let mut s = s;
    s.namespaces[0]
        .interfaces
        .iter_mut()
        .find(|i| i.link.name == "i21f-br")
        .unwrap()
        .xdp_features = Some(0x7);
    let f = run_rules(&s, &ev).findings;
    assert!(find(&f, RuleId::RedirectErrors).is_root());
}

/// A neighbour that never resolves behind Docker's FORWARD drop: the netfilter drop explains
/// it; without a ruleset that drops, it stands alone.
#[test]
fn netfilter_drop_explains_the_unresolved_neighbour() {
    let mut s: Snapshot = serde_json::from_str(DOCKER).unwrap();
    for c in &mut s.forwarder.as_mut().unwrap().counters {
        if c.0 == Counter::FibNoNeigh {
            c.1 = 4;
        }
    }
    let br = s.home().iface_by_name("i21f-br").unwrap().index();
    s.namespaces[0].neighbours.push(Neighbour {
        ifindex: br,
        addr: "172.28.0.2".parse().unwrap(),
        mac: None,
        state: crate::netlink::rtnl::NudState::Failed,
        valid: false,
    });
    let f = run_rules(&s, &Evidence::static_only("t")).findings;
    let n = find(&f, RuleId::FibNoNeighbor);
    assert_eq!(n.caused_by.as_ref().unwrap().id, RuleId::NetfilterDrop);
    assert!(n.fix.is_none());

    s.namespaces[0].netfilter = None;
    let f = run_rules(&s, &Evidence::static_only("t")).findings;
    assert!(find(&f, RuleId::FibNoNeighbor).is_root());
}
