//! Evidence a user can take away: pcapng of what the diagnose window captured and
//! of what the probes saw die, read by independent readers (tshark for comments and
//! interface names, `tcpdump -r` for the packets), the Prometheus file of `check`, shell
//! completions that bash loads, and manual pages `man -l` renders.

use std::process::Command;

use crate::common::*;
use crate::pcapng::{tool, tshark_fields, TempFile};
use crate::prom::{sum, validate, value};
use crate::tracer::Trace;

#[test]
fn bash_loads_the_completions() {
    let script = format!("source <({BIN} completions bash) && complete -p xdpdoctor");
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success());
    assert!(
        text.contains("complete") && text.trim_end().ends_with(" xdpdoctor"),
        "{text}"
    );
    for shell in ["zsh", "fish"] {
        let o = xdpdoctor(&["completions", shell]);
        assert!(o.status.success() && !o.stdout.is_empty(), "{shell}");
    }
    let o = xdpdoctor(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2), "unknown shell is a usage error");
}

#[test]
fn man_renders_every_page() {
    let dir = TempFile::new("man");
    let out = xdpdoctor(&["man", "--dir", dir.0.to_str().unwrap()]);
    assert!(out.status.success());
    let mut pages: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    for want in [
        "xdpdoctor.1",
        "xdpdoctor-diagnose.1",
        "xdpdoctor-check.1",
        "xdpdoctor-trace.1",
        "xdpdoctor-lab-up.1",
    ] {
        assert!(pages.iter().any(|p| p == want), "{want} missing: {pages:?}");
    }
    assert!(
        !pages.iter().any(|p| p.contains("serve-http")),
        "hidden commands get no page"
    );
    for p in &pages {
        let path = dir.0.join(p);
        let out = Command::new("man")
            .args(["-l", path.to_str().unwrap()])
            .env("MANWIDTH", "100")
            .output()
            .expect("man (install man-db: scripts/setup.sh)");
        // Off a terminal man still overstrikes bold ("N\bN"): keep the last of each pair.
        let mut text = String::new();
        for c in String::from_utf8_lossy(&out.stdout).chars() {
            if c == '\u{8}' {
                text.pop();
            } else {
                text.push(c);
            }
        }
        assert!(out.status.success(), "man -l {p}");
        assert!(
            text.contains("NAME") && text.contains("SYNOPSIS"),
            "{p}: {text}"
        );
        if p == "xdpdoctor-diagnose.1" {
            assert!(text.contains("--pcap"), "{text}");
        }
    }
    // The main page on stdout renders too.
    let main = xdpdoctor(&["man"]);
    assert!(
        String::from_utf8_lossy(&main.stdout).starts_with(".ie"),
        "roff on stdout"
    );
}

#[test]
#[ignore = "needs root: builds a namespace lab, captures in its namespaces"]
fn diagnose_pcap_holds_the_partial_syn_acks_labelled() {
    require_root();
    let lab = Lab::up("ep", &["--fault", "tx-csum"]);
    let dir = TempFile::new("diag-pcap");
    let vm = lab.ns("vm");
    let out = xdpdoctor(&[
        "--netns",
        &vm,
        "diagnose",
        "--json",
        "--pcap",
        dir.0.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "findings expected");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("wrote "), "{err}");
    let file = dir.0.join(format!("{vm}.pcapng"));
    assert!(file.exists(), "{} missing", file.display());

    // tcpdump reads every packet, and itself calls the SYN-ACKs' checksums incorrect.
    let dump = tool(
        "tcpdump",
        &["-r", file.to_str().unwrap(), "-nn", "-v", "tcp"],
    );
    assert!(
        dump.lines().any(|l| l.contains("10.123.1.1.80 >")
            && l.contains("Flags [S.]")
            && l.contains("incorrect")),
        "no SYN-ACK from m1 with a bad checksum in tcpdump's reading:\n{dump}"
    );

    // tshark: capture points named namespace/interface, each packet labelled.
    let rows = tshark_fields(
        &file,
        &[
            "frame.interface_name",
            "ip.src",
            "tcp.srcport",
            "tcp.flags",
            "frame.comment",
        ],
    );
    let m1 = format!("{}/host0", lab.ns("m1"));
    let syn_acks: Vec<_> = rows
        .iter()
        .filter(|r| r[0] == m1 && r[1] == "10.123.1.1" && r[2] == "80" && r[3] == "0x0012")
        .collect();
    assert!(!syn_acks.is_empty(), "no SYN-ACK on {m1}: {rows:?}");
    for r in &syn_acks {
        assert!(r[4].contains("TCP checksum partial"), "{r:?}");
    }
    assert!(
        rows.iter()
            .all(|r| r[4].starts_with("xdpdoctor: TCP checksum ")),
        "every packet has its verdict: {rows:?}"
    );
    assert!(rows
        .iter()
        .any(|r| r[0] == format!("{}/host0", lab.ns("m2"))));
}

#[test]
#[ignore = "needs root: builds a namespace lab, attaches BPF probes"]
fn trace_pcap_holds_the_syn_acks_the_client_dropped() {
    require_root();
    let lab = Lab::up("et", &["--fault", "tx-csum"]);
    let file = TempFile::new("trace.pcapng");
    let path = file.0.to_str().unwrap().to_string();
    let t = Trace::start(&["--pcap", &path], "5");
    let res = lab.connect();
    assert!(res.iter().all(|(_, ok)| !ok), "{res:?}");
    let (events, _) = t.finish();
    let client = lab.ns("client");
    let csum_events = events
        .iter()
        .filter(|e| e["netns"] == client.as_str() && e["code_name"] == "TCP_CSUM")
        .count();
    assert!(csum_events > 0, "no TCP_CSUM events from the client");

    tool("tcpdump", &["-r", &path, "-nn", "-c", "1"]);
    let rows = tshark_fields(
        &file.0,
        &[
            "frame.interface_name",
            "ip.src",
            "tcp.srcport",
            "tcp.flags",
            "frame.comment",
        ],
    );
    let point = format!("{client}/eth0");
    let drops: Vec<_> = rows
        .iter()
        .filter(|r| r[0] == point && r[4].contains("drop reason TCP_CSUM"))
        .collect();
    eprintln!(
        "{} records, {} TCP_CSUM drops in {point}",
        rows.len(),
        drops.len()
    );
    assert_eq!(drops.len(), csum_events, "one record per event shown");
    for r in &drops {
        // The packet itself: the SYN-ACK from the public side of the NAT.
        assert_eq!(
            (r[1].as_str(), r[3].as_str()),
            ("192.168.9.1", "0x0012"),
            "{r:?}"
        );
        assert!(["8080", "8081"].contains(&r[2].as_str()), "{r:?}");
        assert!(
            r[4].contains("kfree_skb via tp_btf"),
            "names the probe: {r:?}"
        );
        assert!(
            r[4].contains(&format!("on eth0 in {client}")),
            "names the place: {r:?}"
        );
    }
    assert!(
        rows.iter().any(|r| r[0] == point
            && r[4].contains("tcp_bad_csum via tp_btf")
            && r[1] == "192.168.9.1"),
        "tcp_bad_csum records with their packet"
    );
}

#[test]
#[ignore = "needs root: builds a namespace lab, runs a check"]
fn check_prometheus_file_parses() {
    require_root();
    let lab = Lab::up("em", &["--fault", "tx-csum"]);
    let dir = TempFile::new("prom");
    std::fs::create_dir_all(&dir.0).unwrap();
    let file = dir.0.join("xdpdoctor.prom");
    let vm = lab.ns("vm");
    let out = xdpdoctor(&[
        "--netns",
        &vm,
        "check",
        "--observe",
        "2",
        "--prometheus",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = std::fs::read_to_string(&file).unwrap();
    let s = validate(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let ns = [("netns", vm.as_str())];
    assert_eq!(value(&s, "xdpdoctor_check_healthy", &ns), Some(0.0));
    // One finding per container, each under the namespace it is in.
    assert_eq!(
        sum(
            &s,
            "xdpdoctor_check_findings",
            &[("checked_netns", &vm), ("rule", "veth-tx-csum-offload")]
        ),
        2.0
    );
    assert_eq!(
        sum(
            &s,
            "xdpdoctor_check_findings",
            &[("netns", &vm), ("rule", "veth-tx-csum-offload")]
        ),
        0.0
    );
    assert_eq!(
        value(
            &s,
            "xdpdoctor_check_connections",
            &[("netns", &vm), ("result", "failed")]
        ),
        Some(2.0)
    );
    assert!(
        value(
            &s,
            "xdpdoctor_forwarder_packets_total",
            &[("netns", &vm), ("counter", "seen")]
        )
        .unwrap()
            > 0.0
    );
    // Only the file itself is left: the temporary file was renamed.
    let names: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, [std::ffi::OsString::from("xdpdoctor.prom")]);
}

/// The classic skb fallbacks (a kernel without BTF) read the skb pointer from the record and
/// copy the packet like the tp_btf programs: the client's TCP_CSUM drops carry the SYN-ACK.
#[test]
#[ignore = "needs root: builds a namespace lab, attaches BPF probes"]
fn classic_skb_probes_carry_the_packet_too() {
    use std::time::{Duration, Instant};
    use xdpdoctor::probes::{EventKind, Filter, PacketStart, ProbeKind, ProbeSet};
    require_root();
    let lab = Lab::up("ec", &["--fault", "tx-csum"]);
    let client = crate::tracer::netns_inode(&lab.ns("client"));
    let mut set = ProbeSet::attach_excluding(&Filter::netns(client), &[ProbeKind::TpBtf])
        .expect("attach probes");
    for name in ["skb:kfree_skb", "tcp:tcp_bad_csum"] {
        assert!(
            set.report()
                .iter()
                .any(|p| p.name == name && p.kind == ProbeKind::Tracepoint && p.active),
            "{name} classic tracepoint not active: {:#?}",
            set.report()
        );
    }
    lab.connect();
    let mut events = Vec::new();
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until {
        events.extend(set.poll_events(Duration::from_millis(200)).expect("poll"));
    }
    drop(set);
    let drops: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::KfreeSkb && e.code_name == "TCP_CSUM")
        .collect();
    assert!(!drops.is_empty(), "no TCP_CSUM drop: {events:#?}");
    for e in &drops {
        assert_eq!(e.probe, "tracepoint");
        let p = e.packet.as_ref().expect("packet bytes");
        assert_eq!(p.start, PacketStart::Mac, "{e:?}");
        let s = p.summary().unwrap_or_default();
        assert!(
            s.starts_with("IPv4 192.168.9.1:808") && s.ends_with("TCP [S.]"),
            "{s}"
        );
        // A SYN-ACK with options: the whole frame is 74 bytes, all of it copied.
        assert_eq!(p.data.len() as u32, p.len.min(128), "{e:?}");
    }
    assert!(
        events
            .iter()
            .any(|e| e.kind == EventKind::TcpBadCsum && e.packet.is_some()),
        "tcp_bad_csum with its packet"
    );
}
