//! Offline tests of every rule on saved snapshots of the seed lab
//! (`tests/fixtures/seed-healthy.json`: `lab up seed --no-faults`, `seed-faults.json`: the
//! default faults), each mutated to show exactly one fault.

use crate::diagnose::{evidence::Evidence, run_rules, Finding, RuleId};
use crate::snapshot::{Iface, Snapshot};

const HEALTHY: &str = include_str!("../../../tests/fixtures/seed-healthy.json");
const FAULTS: &str = include_str!("../../../tests/fixtures/seed-faults.json");

fn healthy() -> Snapshot {
    serde_json::from_str(HEALTHY).expect("fixture")
}

fn run(s: &Snapshot) -> Vec<Finding> {
    run_rules(s, &Evidence::static_only("test")).findings
}

fn ids(f: &[Finding]) -> Vec<(RuleId, String, String)> {
    f.iter()
        .map(|f| {
            (
                f.id,
                f.subject.netns.name.clone(),
                f.subject.interface.clone().unwrap_or_default(),
            )
        })
        .collect()
}

/// The interface `name` of the namespace whose name ends with `ns_suffix` (fixtures' edits).
pub(super) fn iface<'a>(s: &'a mut Snapshot, ns_suffix: &str, name: &str) -> &'a mut Iface {
    s.namespaces
        .iter_mut()
        .find(|n| n.ns.name.ends_with(ns_suffix))
        .unwrap()
        .interfaces
        .iter_mut()
        .find(|i| i.link.name == name)
        .unwrap()
}

fn only(s: &Snapshot, id: RuleId) -> Vec<(RuleId, String, String)> {
    let f = run(s);
    assert!(!f.is_empty(), "{id}: no finding");
    assert!(f.iter().all(|f| f.id == id), "{id}: got {:?}", ids(&f));
    ids(&f)
}

#[test]
fn healthy_lab_has_no_findings() {
    assert_eq!(ids(&run(&healthy())), vec![]);
}

#[test]
fn seed_faults_are_exactly_the_three_causes_in_path_order() {
    let s: Snapshot = serde_json::from_str(FAULTS).unwrap();
    let got = ids(&run(&s));
    let want = [
        (RuleId::InterfaceNoAddress, "fx-vm", "ve-m1"),
        (RuleId::InterfaceNoAddress, "fx-vm", "ve-m2"),
        (RuleId::VethPeerNoXdp, "fx-m1", "host0"),
        (RuleId::VethPeerNoXdp, "fx-m2", "host0"),
        (RuleId::VethTxCsumOffload, "fx-m1", "host0"),
        (RuleId::VethTxCsumOffload, "fx-m2", "host0"),
    ];
    let want: Vec<_> = want
        .iter()
        .map(|(a, b, c)| (*a, b.to_string(), c.to_string()))
        .collect();
    assert_eq!(got, want);
    // The inferred address is the container's default gateway.
    let f = run(&s);
    let fix = f[0].fix.as_ref().unwrap();
    assert_eq!(fix.id(), "add-address");
    assert!(fix.text.contains("10.123.1.254/24"), "{}", fix.text);
}

#[test]
fn forwarder_not_attached() {
    let mut s = healthy();
    s.forwarder.as_mut().unwrap().interfaces[0].attached = false;
    s.forwarder.as_mut().unwrap().interfaces[0].attached_prog_id = None;
    assert_eq!(only(&s, RuleId::ForwarderNotAttached)[0].2, "eth0");
}

#[test]
fn forwarding_disabled() {
    let mut s = healthy();
    iface(&mut s, "-vm", "eth0").forwarding = Some(false);
    let f = run(&s);
    assert_eq!(
        ids(&f),
        vec![(RuleId::ForwardingDisabled, "fx-vm".into(), "eth0".into())]
    );
    assert_eq!(f[0].fix.as_ref().unwrap().id(), "set-forwarding");
}

#[test]
fn interface_no_address() {
    let mut s = healthy();
    let idx = iface(&mut s, "-vm", "ve-m1").link.index;
    s.namespaces[0].addresses.retain(|a| a.ifindex != idx);
    s.namespaces[0].routes.retain(|r| r.oif != Some(idx));
    assert_eq!(
        only(&s, RuleId::InterfaceNoAddress),
        vec![(RuleId::InterfaceNoAddress, "fx-vm".into(), "ve-m1".into())]
    );
}

#[test]
fn fib_no_neighbor_only_when_resolution_failed() {
    let mut s = healthy();
    // NO_NEIGH on first packets is normal: no finding while the neighbour resolves.
    for c in &mut s.forwarder.as_mut().unwrap().counters {
        if c.0 == crate::bpf::forwarder_abi::Counter::FibNoNeigh {
            c.1 = 5;
        }
    }
    assert_eq!(ids(&run(&s)), vec![]);
    let idx = iface(&mut s, "-vm", "ve-m1").link.index;
    let n = &mut s.namespaces[0].neighbours;
    n.retain(|n| n.addr != "10.123.1.1".parse::<std::net::Ipv4Addr>().unwrap());
    n.push(crate::netlink::rtnl::Neighbour {
        ifindex: idx,
        addr: "10.123.1.1".parse().unwrap(),
        mac: None,
        state: crate::netlink::rtnl::NudState::Failed,
        valid: false,
    });
    assert_eq!(only(&s, RuleId::FibNoNeighbor)[0].2, "ve-m1");
}

#[test]
fn devmap_missing_target() {
    let mut s = healthy();
    let idx = iface(&mut s, "-vm", "ve-m2").link.index;
    s.forwarder.as_mut().unwrap().devmap.retain(|i| *i != idx);
    let f = run(&s);
    assert_eq!(
        ids(&f),
        vec![(RuleId::DevmapMissingTarget, "fx-vm".into(), "ve-m2".into())]
    );
    assert_eq!(f[0].fix.as_ref().unwrap().id(), "devmap-add");
}

#[test]
fn peer_link_down() {
    let mut s = healthy();
    iface(&mut s, "-m1", "host0").link.up = false;
    assert_eq!(
        only(&s, RuleId::PeerLinkDown),
        vec![(RuleId::PeerLinkDown, "fx-m1".into(), "host0".into())]
    );
}

#[test]
fn veth_peer_no_xdp_by_xdp_features() {
    let mut s = healthy();
    iface(&mut s, "-vm", "ve-m1").xdp_features = Some(0x23);
    iface(&mut s, "-m1", "host0").gro_requested = Some(false);
    let f = run(&s);
    assert_eq!(
        ids(&f),
        vec![(RuleId::VethPeerNoXdp, "fx-m1".into(), "host0".into())]
    );
    assert!(f[0].why.contains("EOPNOTSUPP"));
    assert_eq!(f[0].fix.as_ref().unwrap().id(), "attach-xdp-pass");
}

#[test]
fn veth_peer_no_xdp_before_xdp_features() {
    let mut s = healthy();
    s.xdp_features_supported = false;
    s.kernel = "6.1.0".into();
    for n in &mut s.namespaces {
        for i in &mut n.interfaces {
            i.xdp_features = None;
        }
    }
    assert_eq!(ids(&run(&s)), vec![]);
    iface(&mut s, "-m2", "host0").gro_requested = Some(false);
    let f = run(&s);
    assert_eq!(
        ids(&f),
        vec![(RuleId::VethPeerNoXdp, "fx-m2".into(), "host0".into())]
    );
    assert!(f[0].why.contains("ENXIO"));
    // Generic XDP needs no ndo-xmit.
    for a in &mut s.xdp.attachments {
        a.mode = crate::netlink::rtnl::XdpMode::Skb;
    }
    assert_eq!(ids(&run(&s)), vec![]);
}

#[test]
fn veth_tx_csum_offload() {
    let mut s = healthy();
    iface(&mut s, "-m1", "host0").tx_csum_active = Some(true);
    let f = run(&s);
    assert_eq!(
        ids(&f),
        vec![(RuleId::VethTxCsumOffload, "fx-m1".into(), "host0".into())]
    );
    assert_eq!(f[0].fix.as_ref().unwrap().id(), "set-tx-csum");
    // A forwarder that recomputes checksums repairs partial ones.
    s.forwarder.as_mut().unwrap().full_checksum = true;
    assert_eq!(ids(&run(&s)), vec![]);
}

#[test]
fn nat_entry_asymmetric() {
    let mut s = healthy();
    s.forwarder
        .as_mut()
        .unwrap()
        .snat
        .retain(|e| e.key != "10.123.2.1:80".parse().unwrap());
    let f = run(&s);
    assert_eq!(
        ids(&f),
        vec![(RuleId::NatEntryAsymmetric, "fx-vm".into(), "ve-m2".into())]
    );
    assert_eq!(f[0].fix.as_ref().unwrap().id(), "snat-add");
}

/// A blackhole /32 for m1's address, while m1 and its addressed veth are there.
#[test]
fn nat_target_route_blocked() {
    use crate::netlink::rtnl::{Route, RouteKind};
    for kind in [
        RouteKind::Blackhole,
        RouteKind::Unreachable,
        RouteKind::Prohibit,
    ] {
        let mut s = healthy();
        s.namespaces[0].routes.push(Route {
            dst: "10.123.1.1".parse().unwrap(),
            prefix: 32,
            kind,
            gateway: None,
            oif: None,
        });
        let f = run(&s);
        assert_eq!(
            ids(&f)
                .into_iter()
                .map(|(id, _, i)| (id, i))
                .collect::<Vec<_>>(),
            [(RuleId::NatTargetRouteBlocked, "ve-m1".to_string())],
            "{kind}"
        );
        assert_eq!(f[0].entries, ["192.168.9.1:8080 -> 10.123.1.1:80"]);
        let fix = f[0].manual_fix.as_deref().unwrap();
        assert!(
            fix.contains(&format!("route del {kind} 10.123.1.1/32")),
            "{fix}"
        );
        // A unicast /32 the other way is a different story (no finding of this rule).
        let mut s = healthy();
        let ve_m2 = iface(&mut s, "-vm", "ve-m2").link.index;
        s.namespaces[0].routes.push(Route {
            dst: "10.123.1.1".parse().unwrap(),
            prefix: 32,
            kind: RouteKind::Unicast,
            gateway: None,
            oif: Some(ve_m2),
        });
        assert!(run(&s)
            .iter()
            .all(|f| f.id != RuleId::NatTargetRouteBlocked));
    }
}

#[test]
fn every_rule_is_tested_and_documented() {
    let docs = include_str!("../../../../docs/rules.md");
    for r in super::ALL {
        let symptom = if r.kind == super::Kind::Symptom {
            " (symptom)"
        } else {
            ""
        };
        assert!(
            docs.contains(&format!("## `{}`{symptom}\n", r.id)),
            "docs/rules.md lacks `## `{}`{symptom}`",
            r.id
        );
    }
    // Every entry of the catalogue is a rule id (serde reads it as the JSON does).
    for line in docs.lines().filter(|l| l.starts_with("## `")) {
        let id = line.split('`').nth(1).unwrap_or("");
        let parsed: Result<RuleId, _> = serde_json::from_value(serde_json::json!(id));
        assert!(parsed.is_ok(), "docs/rules.md: `{id}` is no rule id");
    }
}

/// Each id names exactly one rule of [`super::ALL`], and the JSON spells it as `as_str`.
#[test]
fn every_id_has_one_rule() {
    for id in RuleId::EVERY {
        let n = super::ALL.iter().filter(|r| r.id == *id).count();
        assert_eq!(n, 1, "{id}: {n} rules in ALL");
        assert_eq!(serde_json::json!(id), serde_json::json!(id.as_str()));
    }
    assert_eq!(super::ALL.len(), RuleId::EVERY.len());
    // Symptoms come last: the causes are in packet order, then what the window saw.
    let first_symptom = super::ALL
        .iter()
        .position(|r| r.kind == super::Kind::Symptom)
        .expect("symptom rules");
    assert!(super::ALL[first_symptom..]
        .iter()
        .all(|r| r.kind == super::Kind::Symptom));
}

#[test]
fn snapshot_round_trips() {
    let s = healthy();
    let back: Snapshot = serde_json::from_str(&s.to_json()).unwrap();
    assert_eq!(s, back);
}

/// The fixture as if a program xdpdoctor did not load ran there: no forwarder state, NAT
/// entries unknown, the programs foreign. The XDP view (attachments, devmap) stays.
fn foreign(mut s: Snapshot) -> Snapshot {
    s.forwarder = None;
    s.nat = crate::snapshot::NatInfo::default();
    for p in &mut s.xdp.programs {
        p.owner = crate::xdp::Owner::Foreign;
    }
    s
}

#[test]
fn foreign_program_gets_the_same_causes_without_entries() {
    let s = foreign(serde_json::from_str(FAULTS).unwrap());
    let got = ids(&run(&s));
    let want: Vec<(RuleId, String, String)> = [
        (RuleId::InterfaceNoAddress, "fx-vm", "ve-m1"),
        (RuleId::InterfaceNoAddress, "fx-vm", "ve-m2"),
        (RuleId::VethPeerNoXdp, "fx-m1", "host0"),
        (RuleId::VethPeerNoXdp, "fx-m2", "host0"),
        (RuleId::VethTxCsumOffload, "fx-m1", "host0"),
        (RuleId::VethTxCsumOffload, "fx-m2", "host0"),
    ]
    .iter()
    .map(|(a, b, c)| (*a, b.to_string(), c.to_string()))
    .collect();
    assert_eq!(got, want);
    // Nothing names an entry it does not know.
    assert!(run(&s).iter().all(|f| f.entries.is_empty()));
    assert_eq!(ids(&run(&foreign(healthy()))), vec![]);
}

#[test]
fn foreign_program_without_a_map_has_no_static_targets() {
    let mut s = foreign(serde_json::from_str(FAULTS).unwrap());
    for p in &mut s.xdp.programs {
        p.map_ids.clear(); // `return XDP_PASS`, or bpf_redirect(): nothing says which
    }
    // Nothing proves it redirects: no redirect-target finding, no checksum finding.
    assert_eq!(ids(&run(&s)), vec![]);
}

/// A mapless foreign program (`return XDP_PASS`) and a NAT config naming entries through
/// ve-m1 and ve-m2 (`--config`): the config says where packets *should* go, not that this
/// program sends them anywhere. Claims of "can redirect into" and their fixes (pass-through
/// programs on the containers) need a redirect map or a redirect the window saw.
#[test]
fn a_mapless_program_is_not_said_to_redirect_even_with_a_config() {
    use crate::diagnose::evidence::{ProbeCount, ProbeEvidence};
    use crate::probes::{Attribution, EventKind};
    let faults: Snapshot = serde_json::from_str(FAULTS).unwrap();
    let mut s = foreign(faults.clone());
    s.nat = faults.nat.clone();
    s.nat.source = crate::snapshot::NatSource::Config {
        file: "seed.json".into(),
    };
    for p in &mut s.xdp.programs {
        p.map_ids.clear();
    }
    s.xdp.maps.clear();
    let redirect_claims = |f: &[Finding]| {
        f.iter()
            .filter(|f| matches!(f.id, RuleId::VethPeerNoXdp | RuleId::VethTxCsumOffload))
            .count()
    };
    let f = run(&s);
    assert_eq!(redirect_claims(&f), 0, "{:?}", ids(&f));
    assert!(
        f.iter().all(|f| !f.why.contains("can redirect")),
        "{:?}",
        f.iter().map(|f| &f.why).collect::<Vec<_>>()
    );
    // The window sees it redirect from eth0 to ve-m1 (index 5): now it is proven, for m1.
    let mut ev = Evidence::static_only("test");
    ev.probes = ProbeEvidence {
        available: true,
        counts: vec![ProbeCount {
            netns_inode: s.netns_inode,
            ifindex: 3,
            kind: EventKind::RedirectErr,
            code: -95,
            code_name: "EOPNOTSUPP".into(),
            target_ifindex: 5,
            target_netns_inode: 0,
            count: 4,
            prog_id: 0,
            attribution: Attribution::Device,
        }],
        ..Default::default()
    };
    let f = run_rules(&s, &ev).findings;
    let got: Vec<_> = ids(&f)
        .into_iter()
        .filter(|(id, _, _)| *id == RuleId::VethPeerNoXdp)
        .collect();
    assert_eq!(
        got,
        vec![(RuleId::VethPeerNoXdp, "fx-m1".into(), "host0".into())]
    );
}

#[test]
fn generic_mode_foreign_program_is_exempt_from_ndo_xmit_and_checksum_rules() {
    let mut s = foreign(serde_json::from_str(FAULTS).unwrap());
    for a in &mut s.xdp.attachments {
        a.mode = crate::netlink::rtnl::XdpMode::Skb;
    }
    let got = ids(&run(&s));
    assert!(
        got.iter()
            .all(|(id, _, _)| *id == RuleId::InterfaceNoAddress),
        "{got:?}"
    );
}

#[test]
fn redirect_target_other_netns() {
    use crate::diagnose::evidence::{ProbeCount, ProbeEvidence};
    use crate::probes::{Attribution, EventKind};
    let s = healthy();
    let home = s.netns_inode;
    let count = |kind, target_netns| ProbeCount {
        netns_inode: home,
        ifindex: 3,
        kind,
        code: 0,
        code_name: "0".into(),
        target_ifindex: 5,
        target_netns_inode: target_netns,
        count: 7,
        prog_id: 0,
        attribution: Attribution::Device,
    };
    let mut ev = Evidence::static_only("test");
    ev.probes = ProbeEvidence {
        available: true,
        counts: vec![count(EventKind::Redirect, home)],
        ..Default::default()
    };
    // Redirects next door: nothing.
    assert_eq!(ids(&run_rules(&s, &ev).findings), vec![]);
    // The same redirects landing in another namespace.
    ev.probes.counts = vec![count(EventKind::Redirect, 4_026_531_840)];
    ev.probes.netns_names = vec![(4_026_531_840, "the host".into())];
    let f = run_rules(&s, &ev).findings;
    assert_eq!(
        ids(&f),
        vec![(
            RuleId::RedirectTargetOtherNetns,
            "fx-vm".into(),
            "ve-m1".into()
        )]
    );
    assert!(f[0].why.contains("the host"), "{}", f[0].why);
    // A devmap entry whose ifindex the namespace does not have.
    let mut s = healthy();
    s.xdp.maps[0].entries[0].value = 999;
    let f = run(&s);
    assert_eq!(
        ids(&f),
        vec![(RuleId::RedirectTargetOtherNetns, "fx-vm".into(), "".into())]
    );
}

/// m1's host0 re-addressed from 10.123.1.1 to `addr`.
fn readdressed(addr: &str) -> Snapshot {
    let mut s = healthy();
    let m1 = s
        .namespaces
        .iter_mut()
        .find(|n| n.ns.name.ends_with("-m1"))
        .unwrap();
    for a in &mut m1.addresses {
        if a.addr == "10.123.1.1".parse::<std::net::Ipv4Addr>().unwrap() {
            a.addr = addr.parse().unwrap();
        }
    }
    s
}

#[test]
fn nat_target_stale_names_the_new_address_and_retargets_ours() {
    let s = readdressed("10.123.1.9");
    let f = run(&s);
    assert_eq!(
        ids(&f),
        vec![(RuleId::NatTargetStale, "fx-m1".into(), "host0".into())]
    );
    assert!(f[0].why.contains("10.123.1.1") && f[0].why.contains("10.123.1.9/24"));
    let fix = f[0].fix.as_ref().unwrap();
    assert_eq!(fix.id(), "retarget-entry");
    assert!(
        fix.text.contains(r#""to": "10.123.1.9:80""#),
        "{}",
        fix.text
    );
    // Someone else's program: the proposal, by hand.
    let mut s = readdressed("10.123.1.9");
    s.forwarder = None;
    s.nat.source = crate::snapshot::NatSource::Config {
        file: "c.json".into(),
    };
    let f = run(&s);
    assert_eq!(f.len(), 1);
    assert!(f[0].fix.is_none());
    assert!(f[0]
        .manual_fix
        .as_deref()
        .unwrap()
        .contains("10.123.1.9:80"));
}

#[test]
fn nat_target_port_closed() {
    let mut s = healthy();
    let m1 = s
        .namespaces
        .iter_mut()
        .find(|n| n.ns.name.ends_with("-m1"))
        .unwrap();
    m1.tcp_listen.as_mut().unwrap().clear();
    assert_eq!(
        ids(&run(&s)),
        vec![(RuleId::NatTargetPortClosed, "fx-m1".into(), "host0".into())]
    );
    // Listeners not read: no proof, no finding.
    let m1 = s
        .namespaces
        .iter_mut()
        .find(|n| n.ns.name.ends_with("-m1"))
        .unwrap();
    m1.tcp_listen = None;
    assert_eq!(ids(&run(&s)), vec![]);
}

/// m2, its veth and the connected route vanish.
fn m2_gone(s: &mut Snapshot) {
    let idx = iface(s, "-vm", "ve-m2").link.index;
    let m2 = s
        .namespaces
        .iter()
        .position(|n| n.ns.name.ends_with("-m2"))
        .unwrap();
    s.namespaces.remove(m2);
    let vm = &mut s.namespaces[0];
    vm.interfaces.retain(|i| i.link.index != idx);
    vm.routes.retain(|r| r.oif != Some(idx));
    vm.addresses.retain(|a| a.ifindex != idx);
    for i in &mut s.forwarder.as_mut().unwrap().interfaces {
        if i.ifindex == idx {
            i.attached = false;
            i.attached_prog_id = None;
        }
    }
    // The kernel drops devmap entries of an unregistered device.
    s.forwarder.as_mut().unwrap().devmap.retain(|d| *d != idx);
    for m in &mut s.xdp.maps {
        m.entries.retain(|e| e.value != idx);
    }
    s.xdp.attachments.retain(|a| a.ifindex != idx);
}

#[test]
fn nat_target_gone() {
    let mut s = healthy();
    m2_gone(&mut s);
    let f = run(&s);
    let roots: Vec<_> = f.iter().filter(|x| x.is_root()).map(|x| x.id).collect();
    assert_eq!(roots, [RuleId::NatTargetGone], "{:?}", ids(&f));
    assert_eq!(
        f.iter()
            .find(|x| x.id == RuleId::NatTargetGone)
            .unwrap()
            .entries[0],
        "192.168.9.1:8081 -> 10.123.2.1:80"
    );
    // The vanished interface's detached forwarder is a consequence, not a second cause.
    let na = f
        .iter()
        .find(|x| x.id == RuleId::ForwarderNotAttached)
        .unwrap();
    assert_eq!(na.caused_by.as_ref().unwrap().id, RuleId::NatTargetGone);
}

/// Regression: a blackhole route covering the target was taken for an on-link way out, so a
/// gone target behind it was not reported.
#[test]
fn nat_target_gone_behind_a_blackhole_route() {
    use crate::netlink::rtnl::{Route, RouteKind};
    let mut s = healthy();
    m2_gone(&mut s);
    s.namespaces[0].routes.push(Route {
        dst: "10.123.0.0".parse().unwrap(),
        prefix: 16,
        kind: RouteKind::Blackhole,
        gateway: None,
        oif: None,
    });
    let f = run(&s);
    let gone = f
        .iter()
        .find(|x| x.id == RuleId::NatTargetGone)
        .unwrap_or_else(|| panic!("{:?}", ids(&f)));
    assert_eq!(gone.entries[0], "192.168.9.1:8081 -> 10.123.2.1:80");
    assert!(
        gone.evidence
            .iter()
            .any(|e| e.contains("blackhole 10.123.0.0/16")),
        "{:?}",
        gone.evidence
    );
}
