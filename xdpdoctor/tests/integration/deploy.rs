//! `deploy` / `teardown` / `status` by hand on a lab's router: bad configs are refused naming
//! the file and field and change nothing; teardown removes exactly what deploy made; commands
//! work under `nsenter` without `--netns`.

use crate::common::*;

fn write_cfg(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
#[ignore = "needs root: builds a namespace lab, deploys XDP"]
fn deploy_validates_then_teardown_removes_everything() {
    require_root();
    let lab = Lab::up("d", &["--no-faults"]);
    let vm = lab.ns("vm");
    let dir = std::env::temp_dir().join(format!("xdt-{}", lab.prefix));
    std::fs::create_dir_all(&dir).unwrap();

    // The lab deployed one; a second deploy is refused.
    let cfg = format!("/run/xdpdoctor/labs/{}/forwarder.json", lab.prefix);
    let out = xdpdoctor(&["--netns", &vm, "deploy", "--config", &cfg]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already deployed"));

    // Teardown: no XDP left on any interface, no pins.
    let inode = status_json_inode(&vm);
    assert!(xdpdoctor(&["--netns", &vm, "teardown"]).status.success());
    let links = in_ns(&vm, &["ip", "-d", "link"]);
    assert!(!links.contains("prog/xdp"), "{links}");
    assert!(crate::common::keyed("/sys/fs/bpf/xdpdoctor", "fwd-", "", &[inode]).is_empty());
    assert_eq!(
        xdpdoctor(&["--netns", &vm, "teardown"]).status.code(),
        Some(2)
    );

    // Bad configs name file, field and value, and change nothing.
    let bad_iface = write_cfg(
        &dir,
        "bad-iface.json",
        r#"{"interfaces":{"external":["eth9"]},"entries":[{"from":"192.168.9.1:8080","to":"10.123.1.1:80"}]}"#,
    );
    let out = xdpdoctor(&["--netns", &vm, "deploy", "--config", &bad_iface]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("bad-iface.json")
            && err.contains("interfaces.external[0]")
            && err.contains("eth9"),
        "{err}"
    );
    let bad_port = write_cfg(
        &dir,
        "bad-port.json",
        r#"{"interfaces":{"external":["eth0"]},"entries":[{"from":"192.168.9.1:80800","to":"10.123.1.1:80"}]}"#,
    );
    let out = xdpdoctor(&["--netns", &vm, "deploy", "--config", &bad_port]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        err.contains("entries[0].from") && err.contains("80800"),
        "{err}"
    );
    assert!(!in_ns(&vm, &["ip", "-d", "link"]).contains("prog/xdp"));
    assert!(crate::common::keyed("/sys/fs/bpf/xdpdoctor", "fwd-", "", &[inode]).is_empty());

    // Deploy under nsenter, no --netns: the same namespace is found by status and teardown.
    let out = std::process::Command::new("nsenter")
        .args([
            &format!("--net=/run/netns/{vm}"),
            BIN,
            "deploy",
            "--config",
            &cfg,
            "--mode",
            "skb",
        ])
        .output()
        .unwrap();
    if crate::common::kernel_version() < (5, 15) {
        // 5.8-5.14 refuse generic XDP for a program using a devmap whose values can hold a
        // program (struct bpf_devmap_val, the forwarder's): EINVAL, and nothing is left.
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains("Skb mode"), "{err}");
        assert!(err.contains("Invalid argument"), "{err}");
        assert!(!in_ns(&vm, &["ip", "-d", "link"]).contains("prog/xdp"));
        assert!(!std::path::Path::new(&format!("/sys/fs/bpf/xdpdoctor/fwd-{inode}")).exists());
        std::fs::remove_dir_all(&dir).ok();
        return;
    }
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let st = crate::lab::status_json(&vm);
    assert_eq!(st["forwarder"]["mode"], "skb");
    assert!(st["forwarder"]["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["attach_mode"] == "skb"));
    assert!(
        lab.connect().iter().all(|(_, ok)| *ok),
        "skb-mode forwarder must forward"
    );
    let out = std::process::Command::new("nsenter")
        .args([&format!("--net=/run/netns/{vm}"), BIN, "teardown"])
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::remove_dir_all(&dir).ok();
}

fn status_json_inode(ns: &str) -> u64 {
    crate::lab::status_json(ns)["netns_inode"].as_u64().unwrap()
}

/// The second fix for the incident's checksum problem: with `full_checksum` the forwarder
/// recomputes the TCP checksum, so replies that leave host0 with a partial checksum (tx
/// offload on) arrive correct, connections work and diagnose has nothing to report.
#[test]
#[ignore = "needs root: builds a namespace lab, deploys XDP"]
fn full_checksum_forwarder_repairs_partial_checksums() {
    require_root();
    let lab = Lab::up("c", &["--fault", "tx-csum"]);
    let vm = lab.ns("vm");
    assert!(
        lab.connect().iter().all(|(_, ok)| !ok),
        "tx-csum alone must break the lab"
    );
    let cfg = format!("/run/xdpdoctor/labs/{}/forwarder.json", lab.prefix);
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    v["full_checksum"] = serde_json::Value::Bool(true);
    let full = std::env::temp_dir().join(format!("xdt-{}-full.json", lab.prefix));
    std::fs::write(&full, v.to_string()).unwrap();
    assert!(xdpdoctor(&["--netns", &vm, "teardown"]).status.success());
    let out = xdpdoctor(&["--netns", &vm, "deploy", "--config", full.to_str().unwrap()]);
    std::fs::remove_file(&full).ok();
    assert!(out.status.success());
    assert!(
        lab.connect().iter().all(|(_, ok)| *ok),
        "full checksum must repair the replies"
    );
    let out = xdpdoctor(&["--netns", &vm, "diagnose", "--observe", "0"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "no finding expected with full_checksum"
    );
}
