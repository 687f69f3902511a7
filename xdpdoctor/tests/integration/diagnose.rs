//! `diagnose` on the seed lab: each default fault alone gives exactly its finding, all faults
//! give exactly the incident's three causes (per affected interface), a healthy lab gives none
//! (exit 0), and the non-default faults (forwarding disabled, devmap entry missing, asymmetric
//! NAT entry) give theirs. Also `check --junit` and `diagnose --from` a saved snapshot.
#![allow(clippy::print_stderr)]

use std::collections::BTreeSet;

use crate::common::{require_root, stdout, xdpdoctor, Lab, PeerNoXdpEra};

/// (fault, expected (id, node, interface) findings).
type Case = (
    &'static str,
    &'static [(&'static str, &'static str, &'static str)],
);

/// (id, netns, interface) of every root cause (findings no other explains: the symptoms the
/// window saw are linked to them), and the exit code.
pub fn findings(lab: &Lab, extra: &[&str]) -> (BTreeSet<(String, String, String)>, Option<i32>) {
    let ns = lab.ns("vm");
    let mut args = vec!["--netns", ns.as_str(), "diagnose", "--json"];
    args.extend_from_slice(extra);
    let out = xdpdoctor(&args);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("diagnose json");
    let all = v["findings"].as_array().unwrap();
    // Every consequence names a finding of the same report.
    for f in all.iter().filter(|f| !f["caused_by"].is_null()) {
        let c = &f["caused_by"];
        assert!(
            all.iter().any(|g| g["id"] == c["id"]
                && g["subject"] == c["subject"]
                && g["caused_by"].is_null()),
            "caused_by names no root of this report: {f:#}"
        );
    }
    let set = all
        .iter()
        .filter(|f| f["caused_by"].is_null())
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_string(),
                f["subject"]["netns"].as_str().unwrap().to_string(),
                f["subject"]["interface"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    (set, out.status.code())
}

/// (id, node, interface) with the lab's namespace names, as `findings` returns roots.
pub fn set(lab: &Lab, v: &[(&str, &str, &str)]) -> BTreeSet<(String, String, String)> {
    v.iter()
        .map(|(a, b, c)| (a.to_string(), lab.ns(b), c.to_string()))
        .collect()
}

#[test]
#[ignore = "needs root: builds a namespace lab, attaches BPF probes"]
fn diagnose_seed_all_faults_reports_exactly_the_three_causes() {
    require_root();
    let lab = Lab::up("dga", &[]);
    let t0 = std::time::Instant::now();
    let (got, code) = findings(&lab, &[]);
    eprintln!("diagnose (3 s window) took {:?}", t0.elapsed());
    assert_eq!(code, Some(1));
    assert_eq!(
        got,
        set(
            &lab,
            &[
                ("interface-no-address", "vm", "ve-m1"),
                ("interface-no-address", "vm", "ve-m2"),
                ("veth-peer-no-xdp", "m1", "host0"),
                ("veth-peer-no-xdp", "m2", "host0"),
                ("veth-tx-csum-offload", "m1", "host0"),
                ("veth-tx-csum-offload", "m2", "host0"),
            ]
        )
    );
}

#[test]
#[ignore = "needs root: builds a namespace lab, attaches BPF probes"]
fn diagnose_each_default_fault_alone() {
    require_root();
    let cases: [Case; 3] = [
        (
            "no-address",
            &[
                ("interface-no-address", "vm", "ve-m1"),
                ("interface-no-address", "vm", "ve-m2"),
            ],
        ),
        (
            "peer-no-xdp",
            &[
                ("veth-peer-no-xdp", "m1", "host0"),
                ("veth-peer-no-xdp", "m2", "host0"),
            ],
        ),
        (
            "tx-csum",
            &[
                ("veth-tx-csum-offload", "m1", "host0"),
                ("veth-tx-csum-offload", "m2", "host0"),
            ],
        ),
    ];
    for (fault, want) in cases {
        let lab = Lab::up("dg1", &["--fault", fault]);
        let (got, code) = findings(&lab, &[]);
        assert_eq!(got, set(&lab, want), "fault {fault}");
        assert_eq!(code, Some(1), "fault {fault}");
    }
}

#[test]
#[ignore = "needs root: builds a namespace lab, attaches BPF probes"]
fn diagnose_healthy_lab_exits_0() {
    require_root();
    let lab = Lab::up("dgh", &["--no-faults"]);
    let (got, code) = findings(&lab, &[]);
    assert_eq!(got, BTreeSet::new());
    assert_eq!(code, Some(0));
    // The healthy lab's connections really work during the window.
    assert!(lab.connect().iter().all(|(_, ok)| *ok));
}

#[test]
#[ignore = "needs root: builds a namespace lab, attaches BPF probes"]
fn diagnose_non_default_faults() {
    require_root();
    let cases: [Case; 3] = [
        (
            "forwarding-disabled",
            &[
                ("forwarding-disabled", "vm", "eth0"),
                ("forwarding-disabled", "vm", "ve-m1"),
                ("forwarding-disabled", "vm", "ve-m2"),
            ],
        ),
        (
            "devmap-missing",
            &[("devmap-missing-target", "vm", "ve-m2")],
        ),
        ("nat-asymmetric", &[("nat-entry-asymmetric", "vm", "ve-m2")]),
    ];
    for (fault, want) in cases {
        let lab = Lab::up("dgn", &["--fault", fault]);
        let (got, code) = findings(&lab, &["--observe", "1"]);
        assert_eq!(got, set(&lab, want), "fault {fault}");
        assert_eq!(code, Some(1), "fault {fault}");
    }
}

#[test]
#[ignore = "needs root: builds a namespace lab, attaches BPF probes"]
fn check_writes_junit_and_diagnose_reads_saved_snapshot() {
    require_root();
    let lab = Lab::up("dgc", &["--fault", "tx-csum"]);
    let ns = lab.ns("vm");
    let dir = std::env::temp_dir().join(format!("xdpdoctor-check-{}", lab.prefix));
    std::fs::create_dir_all(&dir).unwrap();
    let junit = dir.join("junit.xml");
    let out = xdpdoctor(&[
        "--netns",
        &ns,
        "check",
        "--timeout",
        "20",
        "--observe",
        "1",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let x = std::fs::read_to_string(&junit).unwrap();
    assert!(x.contains("<testcase classname=\"xdpdoctor.rules\" name=\"veth-tx-csum-offload\">"));
    assert!(x.contains("name=\"veth-peer-no-xdp\"/>"));
    assert_eq!(x.matches("<failure").count(), 2, "{x}");

    let snap = dir.join("snap.json");
    let out = xdpdoctor(&[
        "--netns",
        &ns,
        "snapshot",
        "--output",
        snap.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let out = xdpdoctor(&["diagnose", "--from", snap.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["id"] == "veth-tx-csum-offload"));
    std::fs::remove_dir_all(&dir).ok();
}

/// The observed evidence is real: with the lab's client making traffic during the window,
/// the probes see the failed redirects behind `veth-peer-no-xdp` (EOPNOTSUPP from 6.3, ENXIO
/// before: [`PeerNoXdpEra`]), and the capture on
/// host0 (or the client's counters) sees the partial checksums behind `veth-tx-csum-offload`.
#[test]
#[ignore = "needs root: builds a namespace lab, attaches BPF probes"]
fn diagnose_evidence_is_observed_not_only_static() {
    require_root();
    let lab = Lab::up("o", &["--fault", "peer-no-xdp", "--fault", "tx-csum"]);
    let ns = lab.ns("vm");
    let out = xdpdoctor(&["--netns", &ns, "diagnose", "--json", "--observe", "4"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("diagnose json");
    let observed = |id: &str, needle: &str| -> u64 {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["id"] == id && f["subject"]["netns"] == lab.ns("m1"))
            .flat_map(|f| f["observed"].as_array().cloned().unwrap_or_default())
            .filter(|o| o["what"].as_str().unwrap_or("").contains(needle))
            .map(|o| o["count"].as_u64().unwrap_or(0))
            .sum()
    };
    let (_, _, errno) = PeerNoXdpEra::current().event();
    assert!(
        observed("veth-peer-no-xdp", errno) > 0,
        "no redirect error ({errno}) observed: {v:#}"
    );
    let csum = observed("veth-tx-csum-offload", "partial")
        + observed("veth-tx-csum-offload", "TcpInCsumErrors")
        + observed("veth-tx-csum-offload", "TCP_CSUM");
    assert!(csum > 0, "no checksum evidence observed: {v:#}");
    // The forwarder's decision log, read for the window: it redirected into ve-m1,
    // so the packet dies after the program. Off again afterwards.
    let said = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "veth-peer-no-xdp" && f["subject"]["netns"] == lab.ns("m1"))
        .flat_map(|f| f["evidence"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e.as_str().map(str::to_string))
        .find(|e| e.starts_with("decision log: the forwarder redirected"));
    let said = said.unwrap_or_else(|| panic!("no decision log evidence: {v:#}"));
    assert!(
        said.contains("to ve-m1") && said.ends_with("the packet dies after the program"),
        "{said}"
    );
    let pins = format!(
        "/sys/fs/bpf/xdpdoctor/fwd-{}",
        crate::common::netns_key(&ns)
    );
    let ctl = xdpdoctor::decisions::Control::from_pins(std::path::Path::new(&pins)).unwrap();
    assert_eq!(ctl.settings().unwrap().level, None, "decision log left on");
}

/// The generated `fleet` scenario: every container gets the seed's three causes, attributed
/// to its own namespace and interfaces.
#[test]
#[ignore = "needs root: builds a namespace lab, attaches BPF probes"]
fn diagnose_fleet_finds_every_container() {
    require_root();
    let prefix = crate::common::unique_prefix("n");
    let out = xdpdoctor(&[
        "lab",
        "up",
        "fleet",
        "--containers",
        "3",
        "--prefix",
        &prefix,
    ]);
    let lab = Lab { prefix };
    assert!(out.status.success());
    let (found, code) = findings(&lab, &["--observe", "0"]);
    assert_eq!(code, Some(1));
    let mut want = BTreeSet::new();
    for k in 1..=3 {
        let c = format!("c{k}");
        want.insert((
            "interface-no-address".to_string(),
            lab.ns("vm"),
            format!("ve-{c}"),
        ));
        want.insert((
            "veth-peer-no-xdp".to_string(),
            lab.ns(&c),
            "host0".to_string(),
        ));
        want.insert((
            "veth-tx-csum-offload".to_string(),
            lab.ns(&c),
            "host0".to_string(),
        ));
        // The fleet starts no HTTP responders: nothing listens on the targets' port.
        want.insert((
            "nat-target-port-closed".to_string(),
            lab.ns(&c),
            "host0".to_string(),
        ));
    }
    assert_eq!(found, want);
}

/// A container's own veth end down and nothing else wrong: one root (`peer-link-down`), the
/// failed neighbour and the failed connection linked to it, and no fix that would mask it.
#[test]
#[ignore = "needs root: builds a namespace lab"]
fn peer_down_is_the_one_root_cause() {
    require_root();
    let lab = Lab::up("pd", &["--fault", "peer-down-m1"]);
    // Traffic first, so the router's neighbour entry for 10.123.1.1 has failed.
    assert_eq!(
        lab.connect()
            .into_iter()
            .map(|(_, ok)| ok)
            .collect::<Vec<_>>(),
        [false, true]
    );
    let ns = lab.ns("vm");
    let out = xdpdoctor(&["--netns", &ns, "diagnose", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let all = v["findings"].as_array().unwrap();
    let roots: Vec<_> = all.iter().filter(|f| f["caused_by"].is_null()).collect();
    assert_eq!(roots.len(), 1, "{v:#}");
    assert_eq!(roots[0]["id"], "peer-link-down");
    assert_eq!(roots[0]["subject"]["netns"], lab.ns("m1").as_str());
    assert_eq!(roots[0]["subject"]["interface"], "host0");
    let others: Vec<&str> = all
        .iter()
        .filter(|f| !f["caused_by"].is_null())
        .map(|f| {
            assert_eq!(f["caused_by"]["id"], "peer-link-down", "{f:#}");
            assert!(f["fix"].is_null(), "a consequence offers no fix: {f:#}");
            assert!(
                !f["manual_fix"]
                    .as_str()
                    .unwrap_or("")
                    .contains("nud permanent"),
                "{f:#}"
            );
            f["id"].as_str().unwrap()
        })
        .collect();
    assert!(others.contains(&"connection-failed"), "{others:?}");
    assert!(others.contains(&"fib-no-neighbor"), "{others:?}");
    // The table nests them under their cause.
    let out = xdpdoctor(&["--netns", &ns, "diagnose", "--observe", "0"]);
    assert!(
        stdout(&out).contains("↳ fib-no-neighbor (because of #1)"),
        "{}",
        stdout(&out)
    );
}
