//! NAT entries against the containers' reality (issue 16): a re-addressed container, a closed
//! port and a vanished container each give exactly their own root finding after the lab's
//! traffic failed; the stale target is retargeted by `fix --apply` (the entry answers) and
//! restored by `fix --revert`; no advice anywhere pins a permanent neighbour.

use serde_json::Value;

use crate::common::{require_root, stdout, xdpdoctor, Lab};

/// `diagnose --json` after the lab's client tried every entry: the report.
fn after_traffic(lab: &Lab) -> Value {
    let _ = lab.connect();
    let out = xdpdoctor(&["--netns", &lab.ns("vm"), "diagnose", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

fn roots(v: &Value) -> Vec<(String, String)> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["caused_by"].is_null())
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_string(),
                f["subject"]["interface"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn no_permanent_neighbour(v: &Value) {
    let text = v["findings"].to_string();
    assert!(!text.contains("nud permanent"), "{v:#}");
}

#[test]
#[ignore = "needs root: builds a namespace lab"]
fn readdressed_container_is_one_stale_target_and_fix_retargets_it() {
    require_root();
    let lab = Lab::up("ra", &["--fault", "readdressed-m1"]);
    let v = after_traffic(&lab);
    assert_eq!(
        roots(&v),
        [("nat-target-stale".to_string(), "host0".to_string())]
    );
    let stale = &v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "nat-target-stale")
        .unwrap()
        .clone();
    let why = stale["why"].as_str().unwrap();
    assert!(
        why.contains("10.123.1.1") && why.contains("10.123.1.9"),
        "{why}"
    );
    assert_eq!(stale["fix"]["id"], "retarget-entry");
    assert_eq!(stale["fix"]["action"]["new"], "10.123.1.9:80");
    no_permanent_neighbour(&v);

    let vm = lab.ns("vm");
    assert_eq!(
        xdpdoctor(&["--netns", &vm, "fix", "--apply"]).status.code(),
        Some(0)
    );
    assert_eq!(
        lab.connect()
            .into_iter()
            .map(|(_, ok)| ok)
            .collect::<Vec<_>>(),
        [true, true]
    );
    assert_eq!(
        xdpdoctor(&["--netns", &vm, "fix", "--revert"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        lab.connect()
            .into_iter()
            .map(|(_, ok)| ok)
            .collect::<Vec<_>>(),
        [false, true]
    );
}

#[test]
#[ignore = "needs root: builds namespace labs"]
fn closed_port_and_vanished_container_each_give_their_root() {
    require_root();
    let lab = Lab::up("rp", &["--fault", "port-closed-m1"]);
    let v = after_traffic(&lab);
    assert_eq!(
        roots(&v),
        [("nat-target-port-closed".to_string(), "host0".to_string())]
    );
    drop(lab);
    let lab = Lab::up("rg", &["--fault", "gone-m2"]);
    let v = after_traffic(&lab);
    assert_eq!(roots(&v), [("nat-target-gone".to_string(), String::new())]);
    no_permanent_neighbour(&v);
}
