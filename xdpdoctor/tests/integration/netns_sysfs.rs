//! `netns::set_device_attrs` and `netns::device_attrs` (a device's sysfs attributes inside
//! its namespace, what the bench's batched hand-over writes) on a veth in a throwaway
//! namespace, with `ip netns exec NS cat` (its own sysfs mount) as the independent check.
//! Also: the host sees no new mount, and a failure part-way changes nothing. Needs root:
//! ignored (not run) otherwise.

use xdpdoctor::netns::{device_attrs, set_device_attrs, DeviceAttr};

use crate::common::{require_root, ScratchNs};

const TIMEOUT: DeviceAttr = DeviceAttr("gro_flush_timeout");
const DEFER: DeviceAttr = DeviceAttr("napi_defer_hard_irqs");

/// `cat /sys/class/net/DEV/ATTR` inside `ns`, by `ip netns exec`.
fn cat(ns: &ScratchNs, dev: &str, attr: DeviceAttr) -> u64 {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &ns.name, "cat"])
        .arg(format!("/sys/class/net/{dev}/{}", attr.0))
        .output()
        .expect("ip netns exec");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a number")
}

/// The host's sysfs mounts (mountinfo lines of type sysfs).
fn sysfs_mounts() -> usize {
    std::fs::read_to_string("/proc/self/mountinfo")
        .expect("mountinfo")
        .lines()
        .filter(|l| l.contains(" - sysfs "))
        .count()
}

fn veth_ns(tag: &str) -> ScratchNs {
    let ns = ScratchNs::new(tag, "a");
    ns.ip(&["link", "add", "xs0", "type", "veth", "peer", "name", "xs1"]);
    ns
}

#[test]
#[ignore = "needs root: creates a network namespace with a veth pair"]
fn device_attrs_are_written_in_the_device_namespace_and_written_back() {
    require_root();
    let ns = veth_ns("sysfs");
    let mounts = sysfs_mounts();
    let before = (cat(&ns, "xs0", TIMEOUT), cat(&ns, "xs0", DEFER));
    let old = set_device_attrs(&ns.netns(), "xs0", &[(TIMEOUT, 123_000), (DEFER, 7)])
        .expect("set attributes");
    assert_eq!(old, vec![(TIMEOUT, before.0), (DEFER, before.1)]);
    assert_eq!(
        (cat(&ns, "xs0", TIMEOUT), cat(&ns, "xs0", DEFER)),
        (123_000, 7)
    );
    // The peer is another device: untouched.
    assert_eq!(cat(&ns, "xs1", TIMEOUT), before.0);
    assert_eq!(
        device_attrs(&ns.netns(), "xs0", &[TIMEOUT, DEFER]).expect("read back"),
        vec![123_000, 7]
    );
    // The sysfs mount lived in the worker thread's own mount namespace.
    assert_eq!(
        sysfs_mounts(),
        mounts,
        "a sysfs mount is left in this namespace"
    );
    set_device_attrs(&ns.netns(), "xs0", &old).expect("write back");
    assert_eq!((cat(&ns, "xs0", TIMEOUT), cat(&ns, "xs0", DEFER)), before);
}

#[test]
#[ignore = "needs root: creates a network namespace with a veth pair"]
fn a_failure_part_way_names_the_file_and_changes_nothing() {
    require_root();
    let ns = veth_ns("sysfs-bad");
    let before = cat(&ns, "xs0", TIMEOUT);
    let e = set_device_attrs(
        &ns.netns(),
        "xs0",
        &[(TIMEOUT, 55_000), (DeviceAttr("no_such_attribute"), 1)],
    )
    .expect_err("a missing attribute");
    let msg = xdpdoctor::error::chain(&e);
    assert!(
        msg.contains("/sys/class/net/xs0/no_such_attribute"),
        "{msg}"
    );
    assert_eq!(
        cat(&ns, "xs0", TIMEOUT),
        before,
        "the first write was not undone"
    );
    // A device that is not there, and a name that is not one path component.
    let e = set_device_attrs(&ns.netns(), "nosuchdev", &[(TIMEOUT, 1)]).expect_err("no device");
    assert!(xdpdoctor::error::chain(&e).contains("nosuchdev"));
    assert!(set_device_attrs(&ns.netns(), "../xs0", &[(TIMEOUT, 1)]).is_err());
}
