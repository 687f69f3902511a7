//! The seed lab: the incident reproduces with all faults and with each
//! fault alone; the healthy lab answers HTTP through the forwarder; labs run side by side;
//! nothing is left behind; `ip`/`ethtool` agree with what the lab says it set.

use crate::common::*;

#[test]
#[ignore = "needs root: builds a namespace lab"]
fn seed_all_faults_connection_fails() {
    require_root();
    let lab = Lab::up("a", &[]);
    let res = lab.connect();
    assert!(
        res.iter().any(|(t, ok)| t == "192.168.9.1:8080" && !ok),
        "{res:?}"
    );
}

#[test]
#[ignore = "needs root: builds a namespace lab"]
fn seed_each_fault_alone_fails() {
    require_root();
    for fault in ["no-address", "peer-no-xdp", "tx-csum"] {
        let lab = Lab::up("f", &["--fault", fault]);
        let res = lab.connect();
        assert!(res.iter().all(|(_, ok)| !ok), "fault {fault}: {res:?}");
    }
}

#[test]
#[ignore = "needs root: builds a namespace lab"]
fn seed_healthy_answers_http_and_counters_move() {
    require_root();
    let lab = Lab::up("h", &["--no-faults"]);
    let vm = lab.ns("vm");
    let before = forwarder_json(&vm);
    let res = lab.connect();
    assert_eq!(res.len(), 2);
    assert!(res.iter().all(|(_, ok)| *ok), "{res:?}");
    let after = forwarder_json(&vm);
    let redirected = |v: &serde_json::Value| {
        v["counters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c[0] == "redirected")
            .map(|c| c[1].as_u64().unwrap())
            .unwrap()
    };
    assert!(
        redirected(&after) > redirected(&before),
        "redirected counter did not move"
    );
    // status shows the forwarder on the three interfaces with both entries.
    let ifs: Vec<&str> = after["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(ifs, ["eth0", "ve-m1", "ve-m2"]);
    assert!(after["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["attached"] == true));
    assert_eq!(after["dnat"].as_array().unwrap().len(), 2);
    // Independent check: ip sees an XDP program on each, ethtool sees the lab's features.
    let links = in_ns(&vm, &["ip", "-d", "link"]);
    assert_eq!(links.matches("prog/xdp id").count(), 3, "{links}");
    let host0 = in_ns(&lab.ns("m1"), &["ethtool", "-k", "host0"]);
    assert!(host0.contains("tx-checksum-ip-generic: off"), "{host0}");
    assert!(host0.contains("generic-receive-offload: on"), "{host0}");
}

#[test]
#[ignore = "needs root: builds a namespace lab"]
fn faults_are_visible_to_ip_and_ethtool() {
    require_root();
    let lab = Lab::up("v", &[]);
    let addrs = in_ns(&lab.ns("vm"), &["ip", "-4", "-br", "addr"]);
    assert!(
        !addrs.contains("10.123.1.254") && addrs.contains("192.168.9.1/24"),
        "{addrs}"
    );
    let host0 = in_ns(&lab.ns("m1"), &["ethtool", "-k", "host0"]);
    assert!(host0.contains("tx-checksum-ip-generic: on"), "{host0}");
    assert!(host0.contains("generic-receive-offload: off"), "{host0}");
    let client = in_ns(&lab.ns("client"), &["ethtool", "-k", "eth0"]);
    assert!(client.contains("tx-checksum-ip-generic: off"), "{client}");
}

#[test]
#[ignore = "needs root: builds a namespace lab"]
fn two_labs_side_by_side_then_nothing_left() {
    require_root();
    let (p1, p2);
    {
        let healthy = Lab::up("s", &["--no-faults"]);
        let broken = Lab::up("s", &["--fault", "peer-no-xdp"]);
        p1 = healthy.prefix.clone();
        p2 = broken.prefix.clone();
        assert!(healthy.connect().iter().all(|(_, ok)| *ok));
        assert!(broken.connect().iter().all(|(_, ok)| !ok));
        assert!(
            healthy.connect().iter().all(|(_, ok)| *ok),
            "healthy lab disturbed by the other"
        );
        // The two forwarders are pinned apart.
        let s1 = forwarder_json(&healthy.ns("vm"));
        let s2 = forwarder_json(&broken.ns("vm"));
        assert_ne!(s1["pin_dir"], s2["pin_dir"]);
    }
    assert_nothing_left(&p1);
    assert_nothing_left(&p2);
}

/// The `forwarder` part of `status --json` (xdpdoctor's own deployment).
pub fn forwarder_json(ns: &str) -> serde_json::Value {
    let v = status_json(ns)["forwarder"].clone();
    assert!(v.is_object(), "no forwarder in status of {ns}");
    v
}

pub fn status_json(ns: &str) -> serde_json::Value {
    let out = xdpdoctor(&["--netns", ns, "status", "--json"]);
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}
