//! Offline tests of the MTU and reverse-path rules (`redirect-target-mtu`,
//! `xdp-mtu-too-large`, `reverse-path-filter`), of IPv6 forwarding for a dual-stack foreign
//! program, and of UDP in the checksum evidence, on the seed lab's saved healthy snapshot,
//! mutated.

use super::tests::iface;
use crate::diagnose::evidence::{CsumErrors, Evidence, ProbeCount, ProbeEvidence};
use crate::diagnose::{run_rules, Finding, RuleId, Severity};
use crate::model::Action;
use crate::probes::{Attribution, EventKind};
use crate::snapshot::Snapshot;

const HEALTHY: &str = include_str!("../../../tests/fixtures/seed-healthy.json");

fn healthy() -> Snapshot {
    let mut s: Snapshot = serde_json::from_str(HEALTHY).expect("fixture");
    s.veth_xdp_max_mtu = Some(3506);
    s
}

/// (id, netns, interface, root?) of every finding.
fn ids(f: &[Finding]) -> Vec<(RuleId, String, String, bool)> {
    f.iter()
        .map(|f| {
            (
                f.id,
                f.subject.netns.name.clone(),
                f.subject.interface.clone().unwrap_or_default(),
                f.is_root(),
            )
        })
        .collect()
}

fn row(id: RuleId, ns: &str, ifname: &str, root: bool) -> (RuleId, String, String, bool) {
    (id, ns.into(), ifname.into(), root)
}

fn with_counts(s: &Snapshot, counts: Vec<ProbeCount>) -> Evidence {
    let mut ev = Evidence::static_only("test");
    ev.probes = ProbeEvidence {
        available: true,
        counts,
        ..Default::default()
    };
    let _ = s;
    ev
}

fn count(
    s: &Snapshot,
    kind: EventKind,
    ifindex: u32,
    target: u32,
    code: i32,
    name: &str,
) -> ProbeCount {
    ProbeCount {
        netns_inode: s.netns_inode,
        ifindex,
        kind,
        code,
        code_name: name.into(),
        target_ifindex: target,
        target_netns_inode: if target == 0 { 0 } else { s.netns_inode },
        count: 5,
        prog_id: 0,
        attribution: Attribution::Device,
    }
}

#[test]
fn redirect_target_mtu_raises_a_veth_to_its_peer() {
    let mut s = healthy();
    iface(&mut s, "-vm", "ve-m1").link.mtu = 1400;
    let f = run_rules(&s, &Evidence::static_only("t")).findings;
    assert_eq!(
        ids(&f),
        vec![row(RuleId::RedirectTargetMtu, "fx-vm", "ve-m1", true)]
    );
    assert_eq!(f[0].severity, Severity::Error, "the peer's MTU is larger");
    assert!(f[0].why.contains("(the MTU of eth0)"), "{}", f[0].why);
    match &f[0].fix.as_ref().unwrap().action {
        Action::SetMtu(a) => assert_eq!((a.interface.as_str(), a.mtu), ("ve-m1", 1500)),
        a => panic!("{a:?}"),
    }
    // Both ends small: TCP adapts (MSS), a warning, and no MTU is changed for the user.
    iface(&mut s, "-m1", "host0").link.mtu = 1400;
    let f = run_rules(&s, &Evidence::static_only("t")).findings;
    assert_eq!(f[0].severity, Severity::Warning);
    assert!(f[0].fix.is_none() && f[0].manual_fix.is_some());
    // EMSGSIZE seen towards it: an error, and the redirect-errors symptom is linked to it.
    let m1 = s.home().iface_by_name("ve-m1").unwrap().index();
    let ev = with_counts(
        &s,
        vec![count(&s, EventKind::RedirectErr, 3, m1, -90, "EMSGSIZE")],
    );
    let f = run_rules(&s, &ev).findings;
    assert_eq!(
        ids(&f),
        vec![
            row(RuleId::RedirectTargetMtu, "fx-vm", "ve-m1", true),
            row(RuleId::RedirectErrors, "fx-vm", "ve-m1", false),
        ]
    );
    assert_eq!(f[0].severity, Severity::Error);
    assert_eq!(f[0].observed[0].count, 5);
    // A larger target is fine.
    let mut s = healthy();
    iface(&mut s, "-vm", "ve-m1").link.mtu = 9000;
    assert_eq!(
        ids(&run_rules(&s, &Evidence::static_only("t")).findings),
        vec![]
    );
}

#[test]
fn xdp_mtu_too_large_explains_forwarder_not_attached() {
    let mut s = healthy();
    let fwd = s.forwarder.as_mut().unwrap();
    let i = fwd
        .interfaces
        .iter_mut()
        .find(|i| i.name == "ve-m1")
        .unwrap();
    i.attached = false;
    i.attached_prog_id = None;
    iface(&mut s, "-vm", "ve-m1").link.xdp = None;
    iface(&mut s, "-m1", "host0").link.mtu = 9000;
    let f = run_rules(&s, &Evidence::static_only("t")).findings;
    assert_eq!(
        ids(&f),
        vec![
            row(RuleId::ForwarderNotAttached, "fx-vm", "ve-m1", false),
            row(RuleId::XdpMtuTooLarge, "fx-vm", "ve-m1", true),
        ]
    );
    let root = &f[1];
    assert!(
        root.why.contains("9000") && root.why.contains("3506"),
        "{}",
        root.why
    );
    let cmd = root.manual_fix.as_deref().unwrap();
    assert!(
        cmd.starts_with("ip -n fx-m1 link set dev host0 mtu 3506"),
        "{cmd}"
    );
    // At the limit it attaches: only the detached forwarder remains.
    iface(&mut s, "-m1", "host0").link.mtu = 3506;
    let f = run_rules(&s, &Evidence::static_only("t")).findings;
    assert_eq!(
        ids(&f),
        vec![row(RuleId::ForwarderNotAttached, "fx-vm", "ve-m1", true)]
    );
    // Unknown limit (an old snapshot): no guess.
    iface(&mut s, "-m1", "host0").link.mtu = 9000;
    s.veth_xdp_max_mtu = None;
    let f = run_rules(&s, &Evidence::static_only("t")).findings;
    assert_eq!(
        ids(&f),
        vec![row(RuleId::ForwarderNotAttached, "fx-vm", "ve-m1", true)]
    );
}

#[test]
fn peer_no_xdp_proposes_gro_where_a_program_would_be_refused() {
    let mut s = healthy();
    let p = iface(&mut s, "-m1", "host0");
    p.gro_requested = Some(false);
    let v = iface(&mut s, "-vm", "ve-m1");
    v.xdp_features = Some(v.xdp_features.unwrap_or(0) & !crate::snapshot::XDP_FEATURE_NDO_XMIT);
    let f = run_rules(&s, &Evidence::static_only("t")).findings;
    assert_eq!(f[0].id, RuleId::VethPeerNoXdp);
    assert_eq!(f[0].fix.as_ref().unwrap().id(), "attach-xdp-pass");
    iface(&mut s, "-vm", "ve-m1").link.mtu = 9000;
    let f = run_rules(&s, &Evidence::static_only("t")).findings;
    let p = f.iter().find(|f| f.id == RuleId::VethPeerNoXdp).unwrap();
    assert_eq!(p.fix.as_ref().unwrap().id(), "set-gro");
    assert!(
        p.evidence.iter().any(|e| e.contains("9000 > 3506")),
        "{:?}",
        p.evidence
    );
}

#[test]
fn reverse_path_filter_static_for_our_forwarder() {
    let mut s = healthy();
    s.namespaces[0].rp_filter_all = Some(2);
    for n in ["ve-m1", "ve-m2", "eth0"] {
        iface(&mut s, "-vm", n).accept_local = Some(false);
    }
    let f = run_rules(&s, &Evidence::static_only("t")).findings;
    assert_eq!(
        ids(&f),
        vec![
            row(RuleId::ReversePathFilter, "fx-vm", "ve-m1", true),
            row(RuleId::ReversePathFilter, "fx-vm", "ve-m2", true),
        ]
    );
    assert!(f.iter().all(|f| f.severity == Severity::Warning));
    match &f[0].fix.as_ref().unwrap().action {
        Action::SetRpFilter(a) => assert_eq!((a.loose, a.accept_local), (false, true)),
        a => panic!("{a:?}"),
    }
    // accept_local on (all or the interface): nothing to say.
    s.namespaces[0].accept_local_all = Some(true);
    assert_eq!(
        ids(&run_rules(&s, &Evidence::static_only("t")).findings),
        vec![]
    );
    // rp_filter off: no source check, nothing dropped.
    s.namespaces[0].accept_local_all = Some(false);
    s.namespaces[0].rp_filter_all = Some(0);
    assert_eq!(
        ids(&run_rules(&s, &Evidence::static_only("t")).findings),
        vec![]
    );
}

#[test]
fn reverse_path_filter_from_the_window() {
    let mut s = healthy();
    s.namespaces[0].rp_filter_all = Some(1);
    let eth0 = s.home().iface_by_name("eth0").unwrap().index();
    let m1 = s.home().iface_by_name("ve-m1").unwrap().index();
    // Strict mode dropped translated SYNs on eth0 (IP_RPFILTER): loose fixes it.
    let ev = with_counts(
        &s,
        vec![count(&s, EventKind::KfreeSkb, eth0, 0, 104, "IP_RPFILTER")],
    );
    let f = run_rules(&s, &ev).findings;
    assert_eq!(
        ids(&f),
        vec![row(RuleId::ReversePathFilter, "fx-vm", "eth0", true)]
    );
    assert_eq!(f[0].severity, Severity::Error);
    assert_eq!(f[0].entries.len(), 2, "every entry arrives on eth0");
    match &f[0].fix.as_ref().unwrap().action {
        Action::SetRpFilter(a) => assert_eq!((a.loose, a.accept_local), (true, false)),
        a => panic!("{a:?}"),
    }
    // Martian sources (translated replies) on ve-m1 under strict mode: both settings.
    let ev = with_counts(
        &s,
        vec![count(&s, EventKind::KfreeSkb, m1, 0, 89, "IP_LOCAL_SOURCE")],
    );
    let f = run_rules(&s, &ev).findings;
    assert_eq!(
        ids(&f),
        vec![row(RuleId::ReversePathFilter, "fx-vm", "ve-m1", true)]
    );
    match &f[0].fix.as_ref().unwrap().action {
        Action::SetRpFilter(a) => assert_eq!((a.loose, a.accept_local), (true, true)),
        a => panic!("{a:?}"),
    }
    // Other drop reasons are not this rule's.
    let ev = with_counts(
        &s,
        vec![count(&s, EventKind::KfreeSkb, m1, 0, 2, "NOT_SPECIFIED")],
    );
    assert_eq!(ids(&run_rules(&s, &ev).findings), vec![]);
}

#[test]
fn udp_checksum_drops_are_checksum_errors_explained_by_tx_csum() {
    let mut s = healthy();
    iface(&mut s, "-m1", "host0").tx_csum_active = Some(true);
    let client = s
        .namespaces
        .iter()
        .find(|n| n.ns.name.ends_with("-client"))
        .unwrap()
        .ns
        .clone();
    let mut ev = Evidence::static_only("t");
    ev.csum_errors = vec![CsumErrors {
        netns: client.name.clone(),
        netns_inode: client.inode,
        delta: 0,
        udp_delta: 4,
    }];
    let f = run_rules(&s, &ev).findings;
    assert_eq!(
        ids(&f),
        vec![
            row(RuleId::VethTxCsumOffload, "fx-m1", "host0", true),
            row(RuleId::ChecksumErrors, "fx-client", "", false),
        ]
    );
    let cause = &f[0];
    assert!(cause
        .observed
        .iter()
        .any(|o| o.what.starts_with("UdpInCsumErrors") && o.count == 4));
    assert!(f[1].observed.iter().any(|o| o.what == "UdpInCsumErrors"));
}

#[test]
fn ipv6_forwarding_off_is_found_for_a_dual_stack_foreign_router() {
    use crate::netlink::rtnl::{Route6, RouteKind};
    let mut s = healthy();
    s.forwarder = None;
    s.nat = Default::default();
    let m1 = s.home().iface_by_name("ve-m1").unwrap().index();
    s.namespaces[0].routes6 = vec![
        Route6 {
            dst: "fe80::".parse().unwrap(),
            prefix: 64,
            kind: RouteKind::Unicast,
            gateway: None,
            oif: Some(m1),
        },
        Route6 {
            dst: "fd00:123:1::".parse().unwrap(),
            prefix: 64,
            kind: RouteKind::Unicast,
            gateway: None,
            oif: Some(m1),
        },
    ];
    assert_eq!(
        s.home()
            .route6_match("fd00:123:1::1".parse().unwrap())
            .map(|r| r.prefix),
        Some(64)
    );
    assert!(s
        .home()
        .route6_match("fd00:9::1".parse().unwrap())
        .is_none());
    for i in ["eth0", "ve-m1", "ve-m2"] {
        iface(&mut s, "-vm", i).forwarding6 = Some(true);
    }
    assert_eq!(
        ids(&run_rules(&s, &Evidence::static_only("t")).findings),
        vec![]
    );
    iface(&mut s, "-vm", "eth0").forwarding6 = Some(false);
    let f = run_rules(&s, &Evidence::static_only("t")).findings;
    assert_eq!(
        ids(&f),
        vec![row(RuleId::ForwardingDisabled, "fx-vm", "eth0", true)]
    );
    assert!(
        f[0].why.contains("net.ipv6.conf.eth0.forwarding"),
        "{}",
        f[0].why
    );
    match &f[0].fix.as_ref().unwrap().action {
        Action::SetForwarding(a) => assert!(a.ipv6 && a.on),
        a => panic!("{a:?}"),
    }
    // Only link-local IPv6 (the seed's veths): nothing routes IPv6, nothing to say.
    s.namespaces[0].routes6.truncate(1);
    assert_eq!(
        ids(&run_rules(&s, &Evidence::static_only("t")).findings),
        vec![]
    );
}
