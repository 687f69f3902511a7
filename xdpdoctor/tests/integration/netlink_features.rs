//! `netlink::ethtool` and `netlink::xdp_features` against a real veth pair in a throwaway
//! namespace, with `ethtool -k` (a separate implementation: ethtool netlink) as the
//! independent check. Needs root: ignored (not run) otherwise.

#![allow(clippy::print_stderr)]

use std::{
    collections::HashMap,
    process::Command,
    sync::atomic::{AtomicUsize, Ordering},
};

use xdpdoctor::{
    netlink::{
        ethtool::{self, TX_CSUM_IP_GENERIC},
        xdp_features::{self, XdpFeatures},
    },
    netns::Netns,
};

static NEXT: AtomicUsize = AtomicUsize::new(0);

use crate::common::require_root;

/// Runs a command, fails the test if it fails, returns stdout.
fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A namespace `xdt-nl-<pid>-<n>` with veths `xa` <-> `xb`, both up; deleted on drop (also
/// when the test panics).
struct VethLab {
    ns: String,
}

impl VethLab {
    fn new() -> Self {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let lab = VethLab {
            ns: format!("xdt-nl-{}-{n}", std::process::id()),
        };
        sh(&["ip", "netns", "add", &lab.ns]);
        sh(&[
            "ip", "-n", &lab.ns, "link", "add", "xa", "type", "veth", "peer", "name", "xb",
        ]);
        sh(&["ip", "-n", &lab.ns, "link", "set", "xa", "up"]);
        sh(&["ip", "-n", &lab.ns, "link", "set", "xb", "up"]);
        lab
    }

    fn netns(&self) -> Netns {
        Netns::named(&self.ns)
    }

    /// `ethtool -k dev` inside the namespace, parsed.
    fn ethtool_k(&self, dev: &str) -> HashMap<String, EthtoolLine> {
        parse_ethtool_k(&sh(&[
            "ip", "netns", "exec", &self.ns, "ethtool", "-k", dev,
        ]))
    }
}

impl Drop for VethLab {
    fn drop(&mut self) {
        let ok = Command::new("ip")
            .args(["netns", "del", &self.ns])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("warning: could not delete netns {}", self.ns);
        }
    }
}

/// One `name: on|off [fixed] [requested on|off]` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EthtoolLine {
    active: bool,
    fixed: bool,
    /// Only printed for changeable features whose request differs from the active state.
    requested: Option<bool>,
}

/// `ethtool -k` prints some features under legacy names; the indented ones use kernel names.
fn kernel_name(ethtool_name: &str) -> &str {
    match ethtool_name {
        "rx-checksumming" => "rx-checksum",
        "generic-segmentation-offload" => "tx-generic-segmentation",
        "generic-receive-offload" => "rx-gro",
        "large-receive-offload" => "rx-lro",
        "rx-vlan-offload" => "rx-vlan-hw-parse",
        "tx-vlan-offload" => "tx-vlan-hw-insert",
        "ntuple-filters" => "rx-ntuple-filter",
        "receive-hashing" => "rx-hashing",
        other => other,
    }
}

fn parse_ethtool_k(out: &str) -> HashMap<String, EthtoolLine> {
    out.lines()
        .skip(1) // "Features for DEV:"
        .filter_map(|l| {
            let (name, rest) = l.trim().split_once(": ")?;
            let line = EthtoolLine {
                active: rest.starts_with("on"),
                fixed: rest.contains("[fixed]"),
                requested: if rest.contains("[requested on]") {
                    Some(true)
                } else if rest.contains("[requested off]") {
                    Some(false)
                } else {
                    None
                },
            };
            Some((kernel_name(name).to_string(), line))
        })
        .collect()
}

#[test]
#[ignore = "needs root: creates a namespace, changes veth features"]
fn tx_checksum_matches_ethtool_and_can_be_turned_off() {
    require_root();
    let lab = VethLab::new();
    let ns = lab.netns();

    // Every feature ethtool shows under a kernel name must read the same through the ioctl.
    let (feats, active, index, name) = ns
        .run(|| {
            let index = ethtool::ifindex("xb")?;
            Ok((
                ethtool::features("xb")?,
                ethtool::tx_csum_active("xb")?,
                index,
                ethtool::ifname(index)?,
            ))
        })
        .unwrap();
    assert_eq!(name, "xb", "ifindex {index} does not map back");
    let sysfs_index = sh(&[
        "ip",
        "netns",
        "exec",
        &lab.ns,
        "cat",
        "/sys/class/net/xb/ifindex",
    ]);
    assert_eq!(sysfs_index.trim(), index.to_string());
    let shown = lab.ethtool_k("xb");
    let mut compared = 0;
    for (fname, st) in feats.iter() {
        let Some(line) = shown.get(fname) else {
            continue;
        };
        assert_eq!(
            st.active, line.active,
            "{fname}: ioctl {st:?}, ethtool {line:?}"
        );
        assert_eq!(
            st.fixed, line.fixed,
            "{fname}: ioctl {st:?}, ethtool {line:?}"
        );
        if !st.fixed {
            assert_eq!(
                st.requested,
                line.requested.unwrap_or(line.active),
                "{fname}: ioctl {st:?}, ethtool {line:?}"
            );
        }
        compared += 1;
    }
    eprintln!(
        "xb: {} features from the ioctl, {compared} compared with ethtool -k",
        feats.names.len()
    );
    assert!(
        compared >= 40,
        "only {compared} features matched ethtool's names"
    );
    for (sub, _) in shown.iter().filter(|(n, _)| n.starts_with("tx-checksum-")) {
        assert!(
            feats.get(sub).is_some(),
            "ethtool shows {sub}, the ioctl does not know it"
        );
    }
    let csum = feats
        .get(TX_CSUM_IP_GENERIC)
        .expect("veth has tx-checksum-ip-generic");
    assert!(
        csum.active && !csum.fixed,
        "a new veth offloads tx checksums: {csum:?}"
    );
    assert!(active);
    assert!(shown["tx-checksumming"].active);

    // Off, like `ethtool -K xb tx off`, then confirmed by ethtool.
    let (after, active_after) = ns
        .run(|| {
            ethtool::set_tx_csum("xb", false)?;
            Ok((ethtool::features("xb")?, ethtool::tx_csum_active("xb")?))
        })
        .unwrap();
    let shown = lab.ethtool_k("xb");
    eprintln!(
        "xb after tx off: ethtool tx-checksumming {:?}",
        shown["tx-checksumming"]
    );
    assert!(!active_after);
    assert!(
        !shown["tx-checksumming"].active,
        "ethtool still shows tx-checksumming on"
    );
    assert!(!shown[TX_CSUM_IP_GENERIC].active && !shown["tx-checksum-sctp"].active);
    let csum = after.get(TX_CSUM_IP_GENERIC).unwrap();
    assert!(!csum.requested && !csum.active, "{csum:?}");
    // The peer is another device: untouched.
    assert!(lab.ethtool_k("xa")[TX_CSUM_IP_GENERIC].active);

    // And back on.
    ns.run(|| ethtool::set_tx_csum("xb", true)).unwrap();
    assert!(lab.ethtool_k("xb")[TX_CSUM_IP_GENERIC].active);
}

#[test]
#[ignore = "needs root: creates a namespace, changes veth features"]
fn ethtool_errors_name_interface_and_feature() {
    require_root();
    let lab = VethLab::new();
    let (unknown, fixed, no_dev, no_index) = lab
        .netns()
        .run(|| {
            Ok((
                ethtool::set_feature("xb", "no-such-feature", true).unwrap_err(),
                // fixed off on a veth (see `ethtool -k`): must not be reported as done
                ethtool::set_feature("xb", "tx-checksum-ipv4", true).unwrap_err(),
                ethtool::features("nodev0").unwrap_err(),
                ethtool::ifindex("nodev0").unwrap_err(),
            ))
        })
        .unwrap();
    // The error and its sources, as the CLI prints the chain.
    let msg = |e: &xdpdoctor::Error| {
        let mut s = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(c) = src {
            s += &format!(": {c}");
            src = c.source();
        }
        s
    };
    eprintln!(
        "errors: {} | {} | {} | {}",
        msg(&unknown),
        msg(&fixed),
        msg(&no_dev),
        msg(&no_index)
    );
    assert!(msg(&unknown).contains("no-such-feature") && msg(&unknown).contains("xb"));
    assert!(msg(&fixed).contains("tx-checksum-ipv4") && msg(&fixed).contains("fixed"));
    assert!(msg(&no_dev).contains("nodev0"));
    assert_eq!(no_dev.raw_os_error(), Some(libc::ENODEV));
    assert!(msg(&no_index).contains("nodev0"));
    assert!(!lab.ethtool_k("xb")["tx-checksum-ipv4"].active);
}

#[test]
#[ignore = "needs root: creates a namespace, changes veth features"]
fn gro_on_peer_flips_ndo_xmit() {
    require_root();
    let lab = VethLab::new();
    let ns = lab.netns();
    if crate::common::kernel_version() < (6, 3) {
        // No `xdp_features` before 6.3 (no netdev generic netlink family): the reader must
        // say "none" rather than fail, and the rules fall back to "peer has XDP or GRO".
        let none = ns
            .run(|| xdp_features::get(ethtool::ifindex("xa")?))
            .unwrap();
        assert_eq!(none, None, "a kernel before 6.3 reported xdp_features");
        eprintln!("kernel before 6.3: no xdp_features, checked that the reader says so");
        return;
    }
    let read = |ns: &Netns| {
        ns.run(|| {
            let (a, b) = (ethtool::ifindex("xa")?, ethtool::ifindex("xb")?);
            let fa = xdp_features::get(a)?.expect("Linux 6.3+ has the netdev family");
            let fb = xdp_features::get(b)?.expect("Linux 6.3+ has the netdev family");
            Ok((
                a,
                b,
                fa,
                fb,
                ethtool::gro_requested("xb")?,
                xdp_features::dump()?,
            ))
        })
        .unwrap()
    };

    let (a, b, before_a, before_b, gro0, _) = read(&ns);
    let gro_line = lab.ethtool_k("xb")["rx-gro"];
    eprintln!("xb GRO requested {gro0} (ethtool {gro_line:?}); xa {before_a}, xb {before_b}");
    assert!(!gro0, "a new veth has GRO off");
    assert_eq!(gro_line.requested.unwrap_or(gro_line.active), gro0);
    assert!(
        !before_a.ndo_xmit(),
        "xa advertises ndo-xmit although xb has no XDP/GRO: {before_a}"
    );

    ns.run(|| ethtool::set_gro("xb", true)).unwrap();
    let (_, _, on_a, on_b, gro1, devs) = read(&ns);
    let gro_line = lab.ethtool_k("xb")["rx-gro"];
    eprintln!("after gro on xb: requested {gro1} (ethtool {gro_line:?}); xa {on_a}, xb {on_b}");
    assert!(gro1);
    assert!(
        gro_line.requested.unwrap_or(gro_line.active),
        "ethtool does not see GRO requested"
    );
    assert!(on_a.ndo_xmit() && on_a.ndo_xmit_sg(), "xa {on_a}");
    assert_eq!(
        on_a.bits() ^ before_a.bits(),
        XdpFeatures::NDO_XMIT | XdpFeatures::NDO_XMIT_SG,
        "only the ndo-xmit bits change: {before_a} -> {on_a}"
    );
    assert_eq!(
        on_b, before_b,
        "xb's own features depend on xa, which did not change"
    );
    let dumped: HashMap<u32, XdpFeatures> = devs.into_iter().collect();
    assert_eq!(
        dumped.get(&a),
        Some(&on_a),
        "dump disagrees with get for xa"
    );
    assert_eq!(
        dumped.get(&b),
        Some(&on_b),
        "dump disagrees with get for xb"
    );
    assert!(dumped.contains_key(&1), "dump lacks lo: {dumped:?}");

    ns.run(|| ethtool::set_gro("xb", false)).unwrap();
    let (_, _, off_a, _, gro2, _) = read(&ns);
    let gro_line = lab.ethtool_k("xb")["rx-gro"];
    assert!(!gro2 && !gro_line.active && gro_line.requested != Some(true));
    assert_eq!(off_a, before_a, "gro off on xb restores xa's features");

    let missing = ns.run(|| xdp_features::get(999_999)).unwrap_err();
    eprintln!("unknown ifindex: {missing:#}");
    assert!(format!("{missing:#}").contains("999999"));
}
