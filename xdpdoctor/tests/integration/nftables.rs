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

/// `cmd` in namespace `ns`, its stdout; panics on failure.
fn sh(ns: &ScratchNs, cmd: &[&str]) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.name])
        .args(cmd)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `iptables-save` without its timestamp lines and counters: what two saves of the same
/// ruleset have in common byte for byte.
fn saved(ns: &ScratchNs) -> String {
    sh(ns, &["iptables-save"])
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
#[ignore = "needs root: creates a network namespace and iptables-nft rules in it"]
fn an_accept_rule_in_docker_user_reads_as_iptables_writes_it_and_goes_away_exactly() {
    require_root();
    use std::net::Ipv4Addr;
    use xdpdoctor::netlink::nftables::{evaluate, AcceptRule, CtState, Flow, Style};
    let ns = ScratchNs::new("nf", "dk");
    // Docker's shape, written by iptables (nf_tables backend) as Docker does.
    for cmd in [
        vec!["iptables", "-N", "DOCKER-USER"],
        vec!["iptables", "-A", "DOCKER-USER", "-j", "RETURN"],
        vec!["iptables", "-P", "FORWARD", "DROP"],
        vec!["iptables", "-A", "FORWARD", "-j", "DOCKER-USER"],
        vec![
            "iptables", "-A", "FORWARD", "-i", "br-lab", "!", "-o", "br-lab", "-j", "ACCEPT",
        ],
    ] {
        sh(&ns, &cmd);
    }
    let before = saved(&ns);
    let flow = Flow {
        iif: ("xq0".into(), 7),
        oif: ("br-lab".into(), 3),
        saddr: None,
        daddr: Ipv4Addr::new(172, 18, 0, 2),
        protocol: 6,
        sport: None,
        dport: 80,
        state: CtState::New,
    };
    let rs = ns.netns().run(xdpdoctor::netlink::nftables::read).unwrap();
    let fate = evaluate(&rs, &flow);
    assert!(fate.certain, "{fate:?}");
    assert_eq!(
        fate.drops[0].describe(),
        "table ip filter, chain FORWARD (hook forward, priority 0): policy drop, after \
         DOCKER-USER (return)"
    );

    let rule = AcceptRule {
        family: "ip".into(),
        table: "filter".into(),
        chain: "DOCKER-USER".into(),
        iifname: "xq0".into(),
        daddr: flow.daddr,
        dport: 80,
        comment: "xdpdoctor test".into(),
        style: Style::Iptables,
    };
    ns.netns().run(|| rule.insert()).unwrap();
    let with = saved(&ns);
    eprintln!("{with}");
    assert!(
        with.contains(
            "-A DOCKER-USER -d 172.18.0.2/32 -i xq0 -p tcp -m tcp --dport 80 -m comment \
             --comment \"xdpdoctor test\" -j ACCEPT\n-A DOCKER-USER -j RETURN"
        ),
        "first in DOCKER-USER, as iptables writes it:\n{with}"
    );
    // iptables itself finds it (what Docker's iptables calls rely on: the table parses).
    sh(
        &ns,
        &[
            "iptables",
            "-C",
            "DOCKER-USER",
            "-i",
            "xq0",
            "-d",
            "172.18.0.2/32",
            "-p",
            "tcp",
            "-m",
            "tcp",
            "--dport",
            "80",
            "-m",
            "comment",
            "--comment",
            "xdpdoctor test",
            "-j",
            "ACCEPT",
        ],
    );
    let rs = ns.netns().run(xdpdoctor::netlink::nftables::read).unwrap();
    assert!(evaluate(&rs, &flow).accepted());
    assert_eq!(ns.netns().run(|| rule.handles()).unwrap().len(), 1);

    // A rule iptables added with another comment is never ours.
    sh(
        &ns,
        &[
            "iptables",
            "-I",
            "DOCKER-USER",
            "-i",
            "xq0",
            "-j",
            "ACCEPT",
            "-m",
            "comment",
            "--comment",
            "someone else",
        ],
    );
    let theirs = saved(&ns);
    assert_eq!(ns.netns().run(|| rule.delete()).unwrap(), 1);
    assert_eq!(ns.netns().run(|| rule.delete()).unwrap(), 0, "idempotent");
    let after = saved(&ns);
    assert!(after.contains("someone else"));
    sh(
        &ns,
        &[
            "iptables",
            "-D",
            "DOCKER-USER",
            "-i",
            "xq0",
            "-j",
            "ACCEPT",
            "-m",
            "comment",
            "--comment",
            "someone else",
        ],
    );
    assert_eq!(saved(&ns), before, "restored byte for byte");
    assert_ne!(theirs, after);

    // The nft spelling, in an inet table of the user's: listed by nft with its comment.
    sh(&ns, &["nft", "add table inet mine"]);
    sh(
        &ns,
        &[
            "nft",
            "add chain inet mine passing { type filter hook forward priority 10; policy drop; }",
        ],
    );
    let nft_rule = AcceptRule {
        family: "inet".into(),
        table: "mine".into(),
        chain: "passing".into(),
        style: Style::Nft,
        ..rule
    };
    ns.netns().run(|| nft_rule.insert()).unwrap();
    let listed = sh(&ns, &["nft", "list", "chain", "inet", "mine", "passing"]);
    assert!(
        listed.contains("iifname \"xq0\" ip daddr 172.18.0.2 tcp dport 80 counter")
            && listed.contains("accept comment \"xdpdoctor test\""),
        "{listed}"
    );
    assert_eq!(ns.netns().run(|| nft_rule.delete()).unwrap(), 1);
}
