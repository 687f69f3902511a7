//! `fix --apply` / `fix --revert` on the seed lab with all faults: the plan fixes the three
//! causes, connections succeed, a second apply changes nothing, diagnose is clean; revert
//! brings every fault back and removes the pins; `--prefer gro` works too; `lab down` after
//! an apply leaves no pin or journal behind; `--csum forwarder` repairs partial checksums in
//! the forwarder (BPF_LINK_UPDATE, no downtime) without touching the containers.
#![allow(clippy::print_stderr)]

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::{in_ns, require_root, stdout, xdpdoctor, Lab};
use crate::diagnose::findings;

/// Fix pins of this lab's containers (`fix-<container netns inode>-<ifname>`); other tests
/// running in parallel have their own.
fn fix_pins(inodes: &[u64]) -> BTreeSet<String> {
    std::fs::read_dir("/sys/fs/bpf/xdpdoctor")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| {
                    n.strip_prefix("fix-")
                        .and_then(|r| r.split_once('-'))
                        .is_some_and(|(k, _)| {
                            inodes.iter().any(|i| crate::common::is_key_of(k, *i))
                        })
                })
                .collect()
        })
        .unwrap_or_default()
}

fn containers(lab: &Lab) -> Vec<u64> {
    vec![inode(&lab.ns("m1")), inode(&lab.ns("m2"))]
}

fn inode(ns: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/run/netns/{ns}")).unwrap().ino()
}

#[test]
#[ignore = "needs root: builds a namespace lab, attaches XDP"]
fn fix_apply_then_revert_on_seed_all_faults() {
    require_root();
    let lab = Lab::up("fxa", &[]);
    let vm = lab.ns("vm");
    let (before, _) = findings(&lab, &["--observe", "0"]);
    assert_eq!(before.len(), 6);
    assert!(
        lab.connect().iter().all(|(_, ok)| !*ok),
        "faulty lab must fail"
    );

    // Dry run changes nothing.
    let out = xdpdoctor(&["--netns", &vm, "fix"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("attach-xdp-pass"));
    assert_eq!(findings(&lab, &["--observe", "0"]).0, before);

    let cs = containers(&lab);
    let out = xdpdoctor(&["--netns", &vm, "fix", "--apply", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["result"] == "changed"));
    let journal = format!(
        "/run/xdpdoctor/fixes/{}.json",
        crate::common::netns_key(&vm)
    );
    assert!(Path::new(&journal).exists());
    assert_eq!(fix_pins(&cs).len(), 2);

    assert!(
        lab.connect().iter().all(|(_, ok)| *ok),
        "fixed lab must answer"
    );
    let (after, code) = findings(&lab, &[]);
    assert_eq!(after, BTreeSet::new());
    assert_eq!(code, Some(0));

    // Idempotent: nothing left to do, the journal is unchanged.
    let j1 = std::fs::read_to_string(&journal).unwrap();
    let out = xdpdoctor(&["--netns", &vm, "fix", "--apply"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("nothing to fix"));
    assert_eq!(std::fs::read_to_string(&journal).unwrap(), j1);

    // Revert restores the faults exactly.
    let out = xdpdoctor(&["--netns", &vm, "fix", "--revert"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!Path::new(&journal).exists());
    assert_eq!(fix_pins(&cs), BTreeSet::new());
    assert_eq!(findings(&lab, &["--observe", "0"]).0, before);
    assert!(
        lab.connect().iter().all(|(_, ok)| !*ok),
        "reverted lab must fail"
    );
}

#[test]
#[ignore = "needs root: builds a namespace lab, attaches XDP"]
fn fix_prefer_gro_and_lab_down_cleans_pins() {
    require_root();
    let (vm_inode, cs);
    {
        let lab = Lab::up("fxg", &["--fault", "peer-no-xdp"]);
        let vm = lab.ns("vm");
        vm_inode = inode(&vm);
        cs = containers(&lab);
        let out = xdpdoctor(&["--netns", &vm, "fix", "--apply", "--prefer", "gro"]);
        if crate::common::kernel_version() >= (5, 13) {
            assert_eq!(out.status.code(), Some(0));
            assert!(stdout(&out).contains("set-gro"));
            assert_eq!(fix_pins(&cs), BTreeSet::new(), "GRO fix pins nothing");
            assert!(lab.connect().iter().all(|(_, ok)| *ok));
            assert_eq!(findings(&lab, &["--observe", "0"]).1, Some(0));
            let out = xdpdoctor(&["--netns", &vm, "fix", "--revert"]);
            assert_eq!(out.status.code(), Some(0));
        } else {
            // Before 5.13 GRO gives a veth peer no NAPI, so it is no fix: refused, nothing
            // changed (docs/kernel-matrix.md).
            assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("--prefer gro")
                    && err.contains("5.13")
                    && err.contains("nothing changed"),
                "{err}"
            );
            assert_eq!(fix_pins(&cs), BTreeSet::new(), "a refused fix pins nothing");
            assert!(
                !Path::new(&format!("/run/xdpdoctor/fixes/{vm_inode}.json")).exists(),
                "a refused fix journals nothing"
            );
        }
        assert_eq!(findings(&lab, &["--observe", "0"]).0.len(), 2);

        // Apply the XDP fix and take the lab down without reverting.
        let out = xdpdoctor(&["--netns", &vm, "fix", "--apply"]);
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(fix_pins(&cs).len(), 2);
    }
    let left = fix_pins(&cs);
    assert!(
        crate::common::keyed("/run/xdpdoctor/fixes", "", ".json", &[vm_inode]).is_empty(),
        "journal left"
    );
    assert!(left.is_empty(), "pins left: {left:?}");
}

/// `status --json` of the lab's forwarder: (full_checksum, [(name, prog_id, attached)]).
fn fwd_status(vm: &str) -> (bool, Vec<(String, u64, bool)>) {
    let v = crate::lab::forwarder_json(vm);
    let ifs = v["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().to_string(),
                i["prog_id"].as_u64().unwrap(),
                i["attached"].as_bool().unwrap(),
            )
        })
        .collect();
    (v["full_checksum"].as_bool().unwrap(), ifs)
}

#[test]
#[ignore = "needs root: builds a namespace lab, attaches XDP"]
fn fix_csum_forwarder_switches_programs_then_reverts() {
    require_root();
    let lab = Lab::up("fxc", &["--fault", "tx-csum"]);
    let vm = lab.ns("vm");
    let m1 = lab.ns("m1");
    assert!(
        lab.connect().iter().all(|(_, ok)| !*ok),
        "tx-csum must break"
    );
    let (full0, ifs0) = fwd_status(&vm);
    assert!(!full0);
    assert!(ifs0.iter().all(|(_, _, att)| *att), "{ifs0:?}");

    let out = xdpdoctor(&["--netns", &vm, "fix", "--csum", "forwarder"]);
    if crate::common::kernel_version() < (5, 18) {
        // The full-checksum forwarder needs bpf_xdp_load_bytes (5.18+): refused, and the
        // programs, the flag and the containers are as they were.
        let out2 = xdpdoctor(&["--netns", &vm, "fix", "--apply", "--csum", "forwarder"]);
        for o in [&out, &out2] {
            assert_eq!(o.status.code(), Some(2), "{}", stdout(o));
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                err.contains("bpf_xdp_load_bytes") && err.contains("nothing changed"),
                "{err}"
            );
        }
        assert_eq!(fwd_status(&vm), (full0, ifs0));
        assert!(in_ns(&m1, &["ethtool", "-k", "host0"]).contains("tx-checksumming: on"));
        return;
    }
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).contains("forwarder-full-csum"),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains("set-tx-csum"));

    let out = xdpdoctor(&[
        "--netns",
        &vm,
        "fix",
        "--apply",
        "--csum",
        "forwarder",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let res = v["results"].as_array().unwrap();
    assert_eq!(res.len(), 1, "{v}");
    assert_eq!(res[0]["fix"], "forwarder-full-csum");
    assert_eq!(res[0]["result"], "changed");

    assert!(
        lab.connect().iter().all(|(_, ok)| *ok),
        "full checksum must repair the replies"
    );
    let (full1, ifs1) = fwd_status(&vm);
    assert!(full1);
    assert_eq!(ifs1.len(), ifs0.len());
    for ((n0, id0, _), (n1, id1, att)) in ifs0.iter().zip(&ifs1) {
        assert_eq!(n0, n1);
        assert_ne!(id0, id1, "{n1} must run a new program");
        assert!(*att, "{n1} must be attached with its new program");
    }
    // Independent check: ip sees the new programs.
    let links = in_ns(&vm, &["ip", "-d", "link"]);
    for (_, id, _) in &ifs1 {
        assert!(links.contains(&format!("prog/xdp id {id} ")), "{links}");
    }
    let out = xdpdoctor(&["--netns", &vm, "diagnose", "--observe", "0"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let host0 = in_ns(&m1, &["ethtool", "-k", "host0"]);
    assert!(host0.contains("tx-checksum-ip-generic: on"), "{host0}");

    // Idempotent.
    let journal = format!(
        "/run/xdpdoctor/fixes/{}.json",
        crate::common::netns_key(&vm)
    );
    let j1 = std::fs::read_to_string(&journal).unwrap();
    let out = xdpdoctor(&["--netns", &vm, "fix", "--apply", "--csum", "forwarder"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("nothing to fix"));
    assert_eq!(std::fs::read_to_string(&journal).unwrap(), j1);
    assert_eq!(fwd_status(&vm), (true, ifs1.clone()));

    // Revert: full_csum = 0 again, swapped the same way.
    let out = xdpdoctor(&["--netns", &vm, "fix", "--revert"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(!Path::new(&journal).exists());
    let (full2, ifs2) = fwd_status(&vm);
    assert!(!full2);
    for ((_, id1, _), (n2, id2, att)) in ifs1.iter().zip(&ifs2) {
        assert_ne!(id1, id2);
        assert!(*att, "{n2} must be attached after revert");
    }
    assert!(
        lab.connect().iter().all(|(_, ok)| !*ok),
        "reverted lab must fail again"
    );
    let (after, code) = findings(&lab, &["--observe", "0"]);
    assert_eq!(code, Some(1));
    assert!(
        after.iter().all(|(id, _, _)| id == "veth-tx-csum-offload") && !after.is_empty(),
        "{after:?}"
    );
}
