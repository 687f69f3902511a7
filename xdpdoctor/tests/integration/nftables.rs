//! `netlink::nftables` against a real kernel in a throwaway namespace, with `nft` (which reads
//! the kernel's rules back in its own words) as the independent check: the bench's
//! kernel-NAT table arrives as the ruleset it stands for, a second table of the same name is
//! refused without touching the first, and a bad interface name is refused before anything is
//! sent. Needs root: ignored (not run) otherwise.

#![allow(clippy::print_stderr)]

use std::process::Command;

use xdpdoctor::bench::nft::{kernel_nat_table, TABLE};
use xdpdoctor::forwarder::Entry;
use xdpdoctor::netlink::nftables;

use crate::common::{require_root, ScratchNs};

/// `nft list table ip TABLE` in `ns`, one rule per line, trimmed.
fn listed(ns: &ScratchNs) -> Vec<String> {
    let out = Command::new("ip")
        .args([
            "netns", "exec", &ns.name, "nft", "list", "table", "ip", TABLE,
        ])
        .output()
        .expect("run nft");
    assert!(
        out.status.success(),
        "nft list: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
#[ignore = "needs root: creates a network namespace and nftables rules in it"]
fn the_kernel_nat_table_is_what_nft_lists() {
    require_root();
    let ns = ScratchNs::new("nf", "vm");
    let entries = [
        Entry {
            from: "192.168.9.1:8080".parse().unwrap(),
            to: "10.123.1.1:80".parse().unwrap(),
        },
        Entry {
            from: "192.168.9.1:8081".parse().unwrap(),
            to: "10.123.2.1:80".parse().unwrap(),
        },
    ];
    let t = kernel_nat_table("eth0", &entries);
    ns.netns().run(|| nftables::apply(&t)).expect("apply");
    let rules = listed(&ns);
    eprintln!("{rules:#?}");
    for want in [
        format!("table ip {TABLE} {{"),
        "chain prerouting {".into(),
        "type nat hook prerouting priority dstnat; policy accept;".into(),
        "iifname \"eth0\" ip daddr 192.168.9.1 tcp dport 8080 dnat to 10.123.1.1:80".into(),
        "iifname \"eth0\" ip daddr 192.168.9.1 tcp dport 8081 dnat to 10.123.2.1:80".into(),
        "chain postrouting {".into(),
        "type nat hook postrouting priority srcnat; policy accept;".into(),
        "oifname \"eth0\" ip saddr 10.123.1.1 masquerade".into(),
        "oifname \"eth0\" ip saddr 10.123.2.1 masquerade".into(),
    ] {
        assert!(rules.contains(&want), "missing {want:?} in {rules:#?}");
    }
    // Two chains, four rules, nothing else.
    assert_eq!(rules.iter().filter(|l| l.contains("dnat to")).count(), 2);
    assert_eq!(
        rules.iter().filter(|l| l.ends_with("masquerade")).count(),
        2
    );

    // The same table again: refused (EEXIST), the first one untouched.
    let again = ns.netns().run(|| nftables::apply(&t)).unwrap_err();
    assert_eq!(again.errno(), Some(libc::EEXIST), "{again:#}");
    assert_eq!(listed(&ns), rules);

    // A name longer than IFNAMSIZ: refused before sending, nothing added.
    let mut bad = t.clone();
    bad.name = "other".into();
    bad.dnat[0].iifname = "x".repeat(20);
    assert!(ns.netns().run(|| nftables::apply(&bad)).is_err());
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.name, "nft", "list", "tables"])
        .output()
        .expect("run nft");
    let tables = String::from_utf8_lossy(&out.stdout);
    assert_eq!(tables.trim(), format!("table ip {TABLE}"), "{tables}");
}
