//! `fix --apply` / `fix --revert` on the seed lab with all faults: the plan fixes the three
//! causes, connections succeed, a second apply changes nothing, diagnose is clean; revert
//! brings every fault back and removes the pins; `--prefer gro` works too; `lab down` after
//! an apply leaves no pin or journal behind.
#![allow(clippy::print_stderr)]

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::{skip_unless_root, stdout, xdpdoctor, Lab};
use crate::diagnose::findings;

/// Fix pins of this lab's containers (`fix-<container netns inode>-<ifname>`); other tests
/// running in parallel have their own.
fn fix_pins(inodes: &[u64]) -> BTreeSet<String> {
    std::fs::read_dir("/sys/fs/bpf/xdpdoctor")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| inodes.iter().any(|i| n.starts_with(&format!("fix-{i}-"))))
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
fn fix_apply_then_revert_on_seed_all_faults() {
    if skip_unless_root("fix_apply_then_revert_on_seed_all_faults") {
        return;
    }
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
    let journal = format!("/run/xdpdoctor/fixes/{}.json", inode(&vm));
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
fn fix_prefer_gro_and_lab_down_cleans_pins() {
    if skip_unless_root("fix_prefer_gro_and_lab_down_cleans_pins") {
        return;
    }
    let (vm_inode, cs);
    {
        let lab = Lab::up("fxg", &["--fault", "peer-no-xdp"]);
        let vm = lab.ns("vm");
        vm_inode = inode(&vm);
        cs = containers(&lab);
        let out = xdpdoctor(&["--netns", &vm, "fix", "--apply", "--prefer", "gro"]);
        assert_eq!(out.status.code(), Some(0));
        assert!(stdout(&out).contains("set-gro"));
        assert_eq!(fix_pins(&cs), BTreeSet::new(), "GRO fix pins nothing");
        assert!(lab.connect().iter().all(|(_, ok)| *ok));
        assert_eq!(findings(&lab, &["--observe", "0"]).1, Some(0));
        let out = xdpdoctor(&["--netns", &vm, "fix", "--revert"]);
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(findings(&lab, &["--observe", "0"]).0.len(), 2);

        // Apply the XDP fix and take the lab down without reverting.
        let out = xdpdoctor(&["--netns", &vm, "fix", "--apply"]);
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(fix_pins(&cs).len(), 2);
    }
    let left = fix_pins(&cs);
    assert!(
        !Path::new(&format!("/run/xdpdoctor/fixes/{vm_inode}.json")).exists(),
        "journal left"
    );
    assert!(left.is_empty(), "pins left: {left:?}");
}
