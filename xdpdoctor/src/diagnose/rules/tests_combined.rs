//! Offline tests of causes side by side: the seed's default faults with a macvlan target
//! (`lab up seed --fault no-address --fault peer-no-xdp --fault tx-csum --fault macvlan-m1`,
//! saved as `tests/fixtures/seed-macvlan-faults.json`), and a failed connection with a
//! warning and an error on its path.

use super::tests::iface;
use crate::diagnose::evidence::{ConnectResult, Evidence, Traffic};
use crate::diagnose::{run_rules, Finding, RuleId, Severity};
use crate::snapshot::Snapshot;

const HEALTHY: &str = include_str!("../../../tests/fixtures/seed-healthy.json");
const MACVLAN: &str = include_str!("../../../tests/fixtures/seed-macvlan-faults.json");

const E1: &str = "192.168.9.1:8080 -> 10.123.1.1:80";
const E2: &str = "192.168.9.1:8081 -> 10.123.2.1:80";

fn one<'a>(f: &'a [Finding], id: RuleId, ns_suffix: &str) -> &'a Finding {
    let mut it = f
        .iter()
        .filter(|x| x.id == id && x.subject.netns.name.ends_with(ns_suffix));
    let hit = it
        .next()
        .unwrap_or_else(|| panic!("{id} on {ns_suffix} missing: {f:#?}"));
    assert!(it.next().is_none(), "{id} twice on {ns_suffix}");
    hit
}

/// The lab's client saw the connection to `to` fail.
fn failed(to: &str) -> Evidence {
    let mut ev = Evidence::static_only("t");
    ev.traffic = Traffic::Client {
        by: "lab".into(),
        results: vec![ConnectResult {
            target: "192.168.9.1:8080".parse().unwrap(),
            backend: Some(to.parse().unwrap()),
            ok: false,
            elapsed_ms: 2000,
            detail: "connect: connection timed out".into(),
        }],
    };
    ev
}

#[test]
fn replies_behind_a_stacked_target_are_credited_to_their_entry() {
    let s: Snapshot = serde_json::from_str(MACVLAN).expect("fixture");
    let f = run_rules(&s, &failed("10.123.1.1:80")).findings;
    let roots: Vec<(RuleId, &str)> = f
        .iter()
        .filter(|x| x.is_root())
        .map(|x| (x.id, x.subject.netns.name.as_str()))
        .collect();
    assert_eq!(
        roots,
        [
            (RuleId::InterfaceNoAddress, "fx-vm"),
            (RuleId::RedirectTargetNoXdpXmit, "fx-vm"),
            (RuleId::VethPeerNoXdp, "fx-m2"),
            (RuleId::VethTxCsumOffload, "fx-m1"),
            (RuleId::VethTxCsumOffload, "fx-m2"),
        ]
    );
    // The route to m1 leaves through mv-m1, but m1's replies arrive on ve-m1 below it: its
    // tx checksum offload is on m1's entry (not on every entry for want of one).
    assert_eq!(one(&f, RuleId::VethTxCsumOffload, "-m1").entries, [E1]);
    assert_eq!(one(&f, RuleId::VethTxCsumOffload, "-m2").entries, [E2]);
    assert_eq!(
        one(&f, RuleId::RedirectTargetNoXdpXmit, "-vm").entries,
        [E1]
    );
    // The first error on m1's path is the macvlan.
    let c = one(&f, RuleId::ConnectionFailed, "-vm");
    assert_eq!(
        c.caused_by.as_ref().unwrap().id,
        RuleId::RedirectTargetNoXdpXmit
    );

    // The same for the reverse-path filter on the veth the replies arrive on.
    let mut s = s;
    let vm = s
        .namespaces
        .iter_mut()
        .find(|n| n.ns.name == "fx-vm")
        .unwrap();
    vm.rp_filter_all = Some(2);
    let f = run_rules(&s, &Evidence::static_only("t")).findings;
    let rp: Vec<(&str, &[String])> = f
        .iter()
        .filter(|x| x.id == RuleId::ReversePathFilter)
        .map(|x| (x.subject.interface.as_deref().unwrap(), &x.entries[..]))
        .collect();
    assert!(rp.contains(&("ve-m1", &[E1.to_string()][..])), "{rp:?}");
}

#[test]
fn a_failed_connection_names_the_error_on_its_path_before_a_warning() {
    // m1's pair after the printed fix of xdp-mtu-too-large: host0 lowered to the veth XDP
    // limit, ve-m1 left at 9000, so m1 can send frames larger than eth0 and ve-m2 take (two
    // warnings, about no entry in particular); m1's tx checksum offload is on (an error on
    // m1's entry).
    let mut s: Snapshot = serde_json::from_str(HEALTHY).expect("fixture");
    s.veth_xdp_max_mtu = Some(3506);
    iface(&mut s, "-vm", "ve-m1").link.mtu = 9000;
    iface(&mut s, "-m1", "host0").link.mtu = 3506;
    iface(&mut s, "-m1", "host0").tx_csum_active = Some(true);
    let f = run_rules(&s, &failed("10.123.1.1:80")).findings;
    let warnings: Vec<&Finding> = f
        .iter()
        .filter(|x| x.id == RuleId::RedirectTargetMtu)
        .collect();
    assert!(!warnings.is_empty(), "{f:#?}");
    assert!(warnings.iter().all(|w| w.severity == Severity::Warning));
    // Those come first in packet-path order (devmap before reply), yet the connection
    // failed because of the error.
    let c = one(&f, RuleId::ConnectionFailed, "-vm");
    assert_eq!(c.caused_by.as_ref().unwrap().id, RuleId::VethTxCsumOffload);

    // With only warnings on the path, the first of them explains it.
    iface(&mut s, "-m1", "host0").tx_csum_active = Some(false);
    let f = run_rules(&s, &failed("10.123.1.1:80")).findings;
    let c = one(&f, RuleId::ConnectionFailed, "-vm");
    assert_eq!(c.caused_by.as_ref().unwrap().id, RuleId::RedirectTargetMtu);
}
