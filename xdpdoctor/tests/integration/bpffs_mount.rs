//! bpffs mounted by xdpdoctor goes with its last pin; one mounted by anyone else stays.
//!
//! Each case runs in a private mount namespace (`unshare --mount --propagation private`) with
//! bpffs unmounted there and a private tmpfs over /run/xdpdoctor, so it can start from a
//! machine without bpffs and neither sees nor disturbs the host's bpffs or the other tests'
//! state. A seed lab is brought up (the forwarder pins: bpffs is needed) and down; what
//! /sys/fs/bpf is before, between and after is read with `stat -f`.

use std::process::Command;

use crate::common::*;

/// `stat -f -c %T /sys/fs/bpf` at each step of a lab's life in a private mount namespace,
/// bpffs first mounted there by the script when `premounted`.
fn lifecycle(premounted: bool) -> Vec<String> {
    let prefix = unique_prefix("bm");
    let pre = if premounted {
        "mount -t bpf bpf /sys/fs/bpf"
    } else {
        ":"
    };
    let script = format!(
        r#"set -e
umount -l /sys/fs/bpf 2>/dev/null || true
mount -t tmpfs xdpdoctor-test /run/xdpdoctor
{pre}
trap '"{BIN}" lab down --prefix {prefix} >/dev/null 2>&1 || true' EXIT
echo "before $(stat -f -c %T /sys/fs/bpf)"
"{BIN}" lab up seed --prefix {prefix} --no-faults >/dev/null
echo "up $(stat -f -c %T /sys/fs/bpf) $(ls /sys/fs/bpf | tr '\n' ' ')"
"{BIN}" lab down --prefix {prefix} >/dev/null
echo "down $(stat -f -c %T /sys/fs/bpf) $(ls /run/xdpdoctor | tr '\n' ' ')"
"#
    );
    std::fs::create_dir_all("/run/xdpdoctor").unwrap();
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .output()
        .expect("unshare");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the script failed");
    text.lines().map(|l| l.trim().to_string()).collect()
}

#[test]
#[ignore = "needs root: a private mount namespace, a seed lab"]
fn a_bpffs_xdpdoctor_mounted_goes_with_its_last_pin() {
    require_root();
    let steps = lifecycle(false);
    assert_eq!(steps[0], "before sysfs", "{steps:?}");
    assert!(
        steps[1].starts_with("up bpf_fs") && steps[1].contains("xdpdoctor"),
        "{steps:?}"
    );
    assert!(steps[2].starts_with("down sysfs"), "unmounted: {steps:?}");
    assert!(
        !steps[2].contains("bpffs-mounted"),
        "the mark goes with the mount: {steps:?}"
    );
}

#[test]
#[ignore = "needs root: a private mount namespace, a seed lab"]
fn a_bpffs_someone_else_mounted_stays() {
    require_root();
    let steps = lifecycle(true);
    assert_eq!(steps[0], "before bpf_fs", "{steps:?}");
    assert!(steps[1].starts_with("up bpf_fs"), "{steps:?}");
    assert_eq!(
        steps[2].split_whitespace().nth(1),
        Some("bpf_fs"),
        "{steps:?}"
    );
}
