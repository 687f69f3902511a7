//! Probes and `xdpdoctor trace`: each seed-lab fault is seen where the kernel drops
//! the packet and attributed to the right namespace and interface by name; a healthy lab shows
//! nothing; two labs with identical ifindexes are never confused; `probes` explains refusals.
//!
//! Other labs may run on the machine at the same time (tracepoints are system-wide), so every
//! assertion looks only at events attributed to this test's own namespaces.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;
use crate::tracer::{ifindex_in, netns_inode, Trace};

/// Events attributed (by name) to one of the lab's namespaces.
fn of_lab<'a>(events: &'a [Value], lab: &Lab) -> Vec<&'a Value> {
    let p = format!("{}-", lab.prefix);
    events
        .iter()
        .filter(|e| {
            e["netns"].as_str().is_some_and(|n| n.starts_with(&p))
                || e["target_netns"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(&p))
        })
        .collect()
}

/// Summary aggregates in one of the given namespace inodes.
fn aggregates_in(summary: &Value, inodes: &[u64]) -> Vec<Value> {
    summary["aggregates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| inodes.contains(&a["netns_inode"].as_u64().unwrap()))
        .cloned()
        .collect()
}

fn lab_inodes(lab: &Lab) -> Vec<u64> {
    ["client", "vm", "m1", "m2"]
        .iter()
        .map(|n| netns_inode(&lab.ns(n)))
        .collect()
}

/// A redirect failure from vm's eth0 into ve-m1, in the lab's vm namespace, as this kernel
/// reports a peer without XDP: `redirect_err` EOPNOTSUPP (6.3+) or `devmap_xmit` ENXIO.
fn is_peer_no_xdp_drop_into_ve_m1(e: &Value, lab: &Lab) -> bool {
    let (kind, code, name) = PeerNoXdpEra::current().event();
    e["kind"] == kind
        && e["netns"] == lab.ns("vm").as_str()
        && e["ifname"] == "eth0"
        && e["target_ifname"] == "ve-m1"
        && e["code"] == code
        && e["code_name"] == name
}

/// `veth_xdp_xmit` returning ENXIO on vm's ve-m1 (kernels up to 6.2, where the function
/// probe attaches: fexit or kretprobe).
fn is_veth_enxio_on_ve_m1(e: &Value, lab: &Lab) -> bool {
    e["kind"] == "veth_xdp_xmit"
        && e["netns"] == lab.ns("vm").as_str()
        && e["ifname"] == "ve-m1"
        && e["code"] == -6
        && e["code_name"] == "ENXIO"
}

fn is_csum_drop(e: &Value) -> bool {
    (e["kind"] == "kfree_skb" && e["code_name"] == "TCP_CSUM") || e["kind"] == "tcp_bad_csum"
}

#[test]
#[ignore = "needs root: builds a namespace lab, attaches BPF probes"]
fn trace_peer_no_xdp_shows_redirect_drops_from_vm_eth0() {
    require_root();
    let era = PeerNoXdpEra::current();
    let (kind, _, errno) = era.event();
    let lab = Lab::up("tp", &["--fault", "peer-no-xdp"]);
    let vm = netns_inode(&lab.ns("vm"));
    let t = Trace::start(&[], "5");
    let res = lab.connect();
    assert!(res.iter().all(|(_, ok)| !ok), "{res:?}");
    let (events, summary) = t.finish();
    let mine = of_lab(&events, &lab);
    let hits = mine
        .iter()
        .filter(|e| is_peer_no_xdp_drop_into_ve_m1(e, &lab))
        .count();
    eprintln!(
        "{} events in the lab, {hits} {kind} {errno} eth0 -> ve-m1 ({era:?})",
        mine.len()
    );
    assert!(hits > 0, "no {kind} {errno} eth0 -> ve-m1: {mine:#?}");
    // Up to 6.2 the incident's own probe sees it too, on ve-m1, where it can attach.
    let veth_probe = summary["probes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "veth_xdp_xmit" && p["active"] == true);
    if era == PeerNoXdpEra::Enxio && veth_probe {
        assert!(
            mine.iter().any(|e| is_veth_enxio_on_ve_m1(e, &lab)),
            "veth_xdp_xmit is probed but saw no ENXIO on ve-m1: {mine:#?}"
        );
    }
    for e in &mine {
        if e["netns"] == lab.ns("vm").as_str() {
            assert_eq!(e["netns_inode"].as_u64(), Some(vm), "{e}");
        }
        // The forwarder's program id is named from its deployment.
        if e["kind"] == "redirect_err" {
            assert!(
                e["prog"].as_str().is_some_and(|p| p.contains("eth0")),
                "{e}"
            );
        }
    }
    // The kernel's counts agree: at least as many as the events seen.
    let agg = aggregates_in(&summary, &[vm]);
    let counted: u64 = agg
        .iter()
        .filter(|a| a["kind"] == kind && a["code_name"] == errno)
        .map(|a| a["count"].as_u64().unwrap())
        .sum();
    eprintln!(
        "kernel counted {counted} {kind} {errno} in vm; lost {}",
        summary["lost"]
    );
    assert!(counted >= hits as u64, "{agg:?}");
}

#[test]
#[ignore = "needs root: builds a namespace lab, attaches BPF probes"]
fn trace_tx_csum_shows_tcp_csum_drops_in_client() {
    require_root();
    let lab = Lab::up("tc", &["--fault", "tx-csum"]);
    let client = netns_inode(&lab.ns("client"));
    let t = Trace::start(&[], "5");
    let res = lab.connect();
    assert!(res.iter().all(|(_, ok)| !ok), "{res:?}");
    let (events, summary) = t.finish();
    let mine = of_lab(&events, &lab);
    let csum: Vec<_> = mine.iter().filter(|e| is_csum_drop(e)).collect();
    eprintln!(
        "{} events in the lab, {} checksum drops",
        mine.len(),
        csum.len()
    );
    assert!(!csum.is_empty(), "no checksum drops: {mine:#?}");
    for e in &csum {
        assert_eq!(e["netns"], lab.ns("client").as_str(), "{e}");
        assert_eq!(e["netns_inode"].as_u64(), Some(client), "{e}");
        assert_eq!(e["ifname"], "eth0", "{e}");
    }
    assert!(
        csum.iter()
            .any(|e| e["kind"] == "kfree_skb" && e["code_name"] == "TCP_CSUM"),
        "kfree_skb TCP_CSUM expected"
    );
    assert!(
        csum.iter().any(|e| e["kind"] == "tcp_bad_csum"),
        "tcp_bad_csum exists on this kernel and must fire"
    );
    // No redirect errors in this lab: the fault is the checksum only.
    assert!(
        !mine.iter().any(|e| e["kind"] == "redirect_err"),
        "{mine:#?}"
    );
    let agg = aggregates_in(&summary, &[client]);
    assert!(
        agg.iter()
            .any(|a| a["kind"] == "kfree_skb" && a["code_name"] == "TCP_CSUM"),
        "{agg:?}"
    );
}

#[test]
#[ignore = "needs root: builds a namespace lab, attaches BPF probes"]
fn trace_healthy_lab_shows_no_redirect_or_csum_events() {
    require_root();
    let lab = Lab::up("th", &["--no-faults"]);
    let t = Trace::start(&[], "4");
    let res = lab.connect();
    assert!(res.iter().all(|(_, ok)| *ok), "{res:?}");
    let (events, summary) = t.finish();
    let mine = of_lab(&events, &lab);
    let bad: Vec<_> = mine
        .iter()
        .filter(|e| {
            is_csum_drop(e)
                || e["kind"] == "redirect_err"
                || e["kind"] == "devmap_xmit"
                || e["kind"] == "xdp_exception"
        })
        .collect();
    assert!(bad.is_empty(), "healthy lab produced drop events: {bad:#?}");
    let agg = aggregates_in(&summary, &lab_inodes(&lab));
    assert!(
        !agg.iter().any(|a| a["kind"] == "redirect_err"
            || (a["kind"] == "kfree_skb" && a["code_name"] == "TCP_CSUM")
            || a["kind"] == "tcp_bad_csum"),
        "{agg:?}"
    );
}

#[test]
#[ignore = "needs root: builds a namespace lab, attaches BPF probes"]
fn trace_two_labs_are_never_confused() {
    require_root();
    // Same topology, same ifindexes (vm eth0 = 3 -> ve-m1 = 5): only the namespace tells
    // them apart.
    let a = Lab::up("ta", &["--fault", "peer-no-xdp"]);
    let b = Lab::up("tb", &["--fault", "peer-no-xdp"]);
    let (a_vm, b_vm) = (netns_inode(&a.ns("vm")), netns_inode(&b.ns("vm")));

    // 1. All namespaces, only lab A has traffic: nothing may be attributed to B.
    let t = Trace::start(&["--all-netns"], "5");
    a.connect();
    let (events, _) = t.finish();
    let in_a = of_lab(&events, &a);
    let in_b = of_lab(&events, &b);
    assert!(
        in_a.iter().any(|e| is_peer_no_xdp_drop_into_ve_m1(e, &a)),
        "lab A's redirect errors missing"
    );
    assert!(
        in_b.is_empty(),
        "events attributed to idle lab B: {in_b:#?}"
    );
    for e in &in_a {
        assert_eq!(e["netns_inode"].as_u64(), Some(a_vm), "{e}");
    }

    // 2. Both labs have traffic, trace filtered to A's vm: only A, by inode and by name.
    let t = Trace::start(&["--netns", &a.ns("vm")], "6");
    a.connect();
    b.connect();
    let (events, summary) = t.finish();
    assert!(
        events.iter().any(|e| is_peer_no_xdp_drop_into_ve_m1(e, &a)),
        "filtered trace lost lab A's events"
    );
    assert!(
        of_lab(&events, &b).is_empty()
            && !events
                .iter()
                .any(|e| e["netns_inode"].as_u64() == Some(b_vm)),
        "filtered trace shows lab B"
    );
    assert!(aggregates_in(&summary, &[b_vm]).is_empty(), "{summary}");
    assert!(!aggregates_in(&summary, &[a_vm]).is_empty(), "{summary}");
}

/// Without tp_btf (as on a kernel without BTF) the xdp probes are classic tracepoints, which
/// know ifindexes and the program id only, and both labs have the same ifindexes. Lab A's
/// redirect errors must be attributed to A's vm through the program id of A's forwarder, and
/// nothing to idle lab B, whose forwarder sits on the very same ifindexes.
#[test]
#[ignore = "needs root: builds a namespace lab, attaches BPF probes"]
fn classic_tracepoints_attribute_by_program_id_never_by_ifindex() {
    use xdpdoctor::probes::{Attribution, EventKind, Filter, ProbeKind, ProbeSet};
    require_root();
    let a = Lab::up("tq", &["--fault", "peer-no-xdp"]);
    let b = Lab::up("tr", &["--fault", "peer-no-xdp"]);
    let (a_vm, b_vm) = (netns_inode(&a.ns("vm")), netns_inode(&b.ns("vm")));
    let ifindex = |lab: &Lab, dev: &str| ifindex_in(&lab.ns("vm"), dev);
    let (eth0, ve_m1) = (ifindex(&a, "eth0"), ifindex(&a, "ve-m1"));
    assert_eq!(
        (eth0, ve_m1),
        (ifindex(&b, "eth0"), ifindex(&b, "ve-m1")),
        "the labs should share ifindexes, or this test proves nothing"
    );

    let mut set =
        ProbeSet::attach_excluding(&Filter::all(), &[ProbeKind::TpBtf]).expect("attach probes");
    let report = set.report();
    for name in [
        "xdp:xdp_redirect_err",
        "xdp:xdp_exception",
        "xdp:xdp_devmap_xmit",
    ] {
        assert!(
            report
                .iter()
                .any(|p| p.name == name && p.kind == ProbeKind::Tracepoint && p.active),
            "{name} classic tracepoint not active: {report:#?}"
        );
    }
    let res = a.connect();
    assert!(res.iter().all(|(_, ok)| !ok), "{res:?}");
    let mut events = Vec::new();
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until {
        events.extend(set.poll_events(Duration::from_millis(200)).expect("poll"));
    }
    let aggregates = set.aggregates().expect("aggregates");
    drop(set);

    if PeerNoXdpEra::current() == PeerNoXdpEra::Enxio {
        // Up to 6.2 the drop is a devmap flush (ENXIO), and the classic `xdp_devmap_xmit`
        // record has ifindexes only, no program id: those hits must stay unattributed,
        // never given to a lab because of their ifindexes.
        let flushes: Vec<_> = events
            .iter()
            .filter(|e| e.kind == EventKind::DevmapXmit && e.code == -6)
            .filter(|e| (e.ifindex, e.target_ifindex) == (eth0, ve_m1))
            .collect();
        eprintln!(
            "{} classic devmap_xmit ENXIO events eth0 -> ve-m1",
            flushes.len()
        );
        assert!(!flushes.is_empty(), "no devmap_xmit ENXIO: {events:#?}");
        for e in &flushes {
            assert_eq!(e.probe, "tracepoint", "{e:?}");
            assert_eq!(e.attribution, Attribution::Unattributed, "{e:?}");
            assert_eq!(e.netns_inode, 0, "{e:?}");
        }
        assert!(
            !events.iter().any(|e| e.netns_inode == b_vm),
            "events attributed to idle lab B"
        );
        assert!(
            !aggregates.iter().any(|g| g.netns_inode == b_vm),
            "counts attributed to idle lab B: {aggregates:#?}"
        );
        return;
    }

    let mine: Vec<_> = events
        .iter()
        .filter(|e| e.netns_inode == a_vm && e.kind == EventKind::RedirectErr)
        .collect();
    eprintln!(
        "{} redirect_err events attributed to lab A's vm",
        mine.len()
    );
    assert!(!mine.is_empty(), "no event attributed to lab A's vm");
    for e in &mine {
        assert_eq!(e.probe, "tracepoint", "{e:?}");
        assert_eq!(e.attribution, Attribution::ProgId, "{e:?}");
        assert_eq!(e.netns.as_deref(), Some(a.ns("vm").as_str()), "{e:?}");
        assert_eq!(e.ifname.as_deref(), Some("eth0"), "{e:?}");
        assert_eq!((e.ifindex, e.code), (eth0, -95), "{e:?}");
        assert!(
            e.prog.as_deref().is_some_and(|p| p.contains("eth0")),
            "{e:?}"
        );
    }
    assert!(
        mine.iter().any(|e| e.target_ifindex == ve_m1),
        "no redirect error into ve-m1: {mine:#?}"
    );
    assert!(
        !events.iter().any(|e| e.netns_inode == b_vm),
        "events attributed to idle lab B"
    );
    let counted: u64 = aggregates
        .iter()
        .filter(|g| {
            g.netns_inode == a_vm
                && g.kind == EventKind::RedirectErr
                && g.code == -95
                && g.attribution == Attribution::ProgId
        })
        .map(|g| g.count)
        .sum();
    eprintln!("kernel counted {counted} EOPNOTSUPP redirects, attributed to lab A's vm");
    assert!(
        counted >= mine.len() as u64 && counted > 0,
        "{aggregates:#?}"
    );
    assert!(
        !aggregates.iter().any(|g| g.netns_inode == b_vm),
        "counts attributed to idle lab B: {aggregates:#?}"
    );
}

#[test]
#[ignore = "needs root: loads BPF probes"]
fn probes_reports_refusals_and_active_tracepoints() {
    require_root();
    let out = xdpdoctor(&["probes", "--json"]);
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).expect("probes json");
    let find = |name: &str, kind: &str| -> Value {
        v.as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name && p["kind"] == kind)
            .unwrap_or_else(|| panic!("{name} ({kind}) not listed"))
            .clone()
    };
    let fexit = find("veth_xdp_xmit", "fexit");
    let kret = find("veth_xdp_xmit", "kretprobe");
    if !std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists() {
        // The development machines: no kprobes, fentry/fexit refused by a platform patch.
        assert_eq!(fexit["active"], false);
        assert_eq!(
            fexit["reason"],
            "fentry/fexit refused by the kernel (EPERM)"
        );
        assert_eq!(kret["active"], false);
        assert_eq!(
            kret["reason"],
            "kprobes not configured (CONFIG_KPROBES off)"
        );
    } else if !std::path::Path::new("/sys/kernel/btf/veth").exists()
        && std::path::Path::new("/sys/module/veth").exists()
    {
        // veth a module without module BTF (before 5.11: Debian's 5.10): no fexit on its
        // functions, the kretprobe pair takes it.
        assert_eq!(fexit["active"], false, "{fexit}");
        assert!(
            fexit["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("module veth has no BTF")),
            "{fexit}"
        );
        assert_eq!(kret["active"], true, "{kret}");
    } else {
        // Kernels with kprobes (Debian's, in the kernel matrix): fexit (through the veth
        // module's BTF where veth is a module) is preferred, the kretprobe pair stands by.
        // Other tests have created veths by now, so the module is loaded.
        assert_eq!(fexit["active"], true, "{fexit}");
        assert_eq!(kret["active"], false, "{kret}");
        assert_eq!(
            kret["reason"],
            "fallback, not needed: the fexit probe is active"
        );
    }
    for tp in [
        "xdp:xdp_redirect_err",
        "xdp:xdp_devmap_xmit",
        "xdp:xdp_exception",
    ] {
        let p = find(tp, "tp_btf");
        assert_eq!(p["active"], true, "{p}");
    }
    // The skb probes exist from 5.17 (kfree_skb's reason) and 5.14 (tcp_bad_csum); before,
    // both variants are refused in words (docs/kernel-matrix.md, measured on 5.10).
    let v = crate::common::kernel_version();
    for (tp, since, why) in [
        ("skb:kfree_skb", (5, 17), "drop reason names unavailable"),
        (
            "tcp:tcp_bad_csum",
            (5, 14),
            "tracepoint absent on this kernel",
        ),
    ] {
        let p = find(tp, "tp_btf");
        if v >= since {
            assert_eq!(p["active"], true, "{p}");
        } else {
            assert_eq!(p["active"], false, "{p}");
            assert!(
                p["reason"].as_str().is_some_and(|r| r.starts_with(why)),
                "{p}"
            );
        }
    }
    // Gone on 6.18; still defined (and attachable, though it stopped firing in 5.6) on 6.1.
    let old = find("xdp:xdp_redirect_map_err", "tracepoint");
    if std::path::Path::new("/sys/kernel/tracing/events/xdp/xdp_redirect_map_err").exists() {
        assert_eq!(old["active"], true, "{old}");
    } else {
        assert_eq!(old["active"], false);
        assert_eq!(old["reason"], "tracepoint absent on this kernel");
    }
}
