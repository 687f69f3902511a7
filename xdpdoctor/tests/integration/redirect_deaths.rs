//! Ways an XDP redirect dies beyond the incident's, each a seed-lab fault: a redirect target
//! with a smaller MTU than its ingress (`mtu-m1`), a veth whose peer's MTU keeps XDP off it
//! (`jumbo-m1`, with the kernel's own refusal from `deploy`), and translated replies the
//! stack drops as martians (`rp-filter`). Each alone is the one root cause, its fix (or its
//! printed command) makes the traffic flow, revert restores it (beside the seed's default
//! faults: `combined_faults.rs`). Also: the capture classifies TCP and UDP over IPv6 as it
//! does over IPv4 (partial with tx offload on, correct with it off).

use std::time::Duration;

use crate::common::{in_ns, mtu_of, require_root, stdout, sysctl, xdpdoctor, Lab, ScratchNs};
use crate::diagnose::{findings, set};

#[test]
#[ignore = "needs root: builds a namespace lab, attaches XDP and probes"]
fn mtu_m1_is_the_one_root_cause_and_set_mtu_fixes_it() {
    require_root();
    let lab = Lab::up("rdm", &["--fault", "mtu-m1"]);
    // A SYN crosses, the 3000-byte request does not: m1 fails, m2 answers.
    assert_eq!(lab.answers(), vec![false, true]);
    let (got, code) = findings(&lab, &[]);
    assert_eq!(got, set(&lab, &[("redirect-target-mtu", "vm", "ve-m1")]));
    assert_eq!(code, Some(1));
    let vm = lab.ns("vm");
    let out = xdpdoctor(&["--netns", &vm, "fix", "--apply", "--json"]);
    assert_eq!(out.status.code(), Some(0), "fix --apply");
    assert!(stdout(&out).contains("set-mtu"), "{}", stdout(&out));
    assert_eq!(mtu_of(&vm, "ve-m1"), 1500, "ip sees the fix");
    assert_eq!(lab.answers(), vec![true, true]);
    let (got, _) = findings(&lab, &[]);
    assert!(got.is_empty(), "{got:?}");
    let out = xdpdoctor(&["--netns", &vm, "fix", "--revert"]);
    assert_eq!(out.status.code(), Some(0), "fix --revert");
    assert_eq!(mtu_of(&vm, "ve-m1"), 1400, "revert restores the MTU");
    assert_eq!(lab.answers(), vec![false, true]);
}

#[test]
#[ignore = "needs root: builds a namespace lab, attaches XDP and probes"]
fn jumbo_m1_explains_the_detached_forwarder_and_deploy_says_why() {
    require_root();
    let lab = Lab::up("rdj", &["--fault", "jumbo-m1"]);
    let vm = lab.ns("vm");
    let (got, code) = findings(&lab, &[]);
    assert_eq!(got, set(&lab, &[("xdp-mtu-too-large", "vm", "ve-m1")]));
    assert_eq!(code, Some(1));
    let out = xdpdoctor(&["--netns", &vm, "diagnose", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let all = v["findings"].as_array().unwrap();
    let detached = all
        .iter()
        .find(|f| f["id"] == "forwarder-not-attached")
        .expect("the detached forwarder is reported");
    assert_eq!(detached["caused_by"]["id"], "xdp-mtu-too-large");
    let cmd = all
        .iter()
        .find(|f| f["id"] == "xdp-mtu-too-large")
        .and_then(|f| f["manual_fix"].as_str())
        .unwrap()
        .split(" (then")
        .next()
        .unwrap()
        .to_string();
    assert!(cmd.starts_with("ip -n "), "{cmd}");

    // Redeploying as is fails, with the kernel's own words; nothing stays attached.
    let cfg = format!("/run/xdpdoctor/labs/{}/forwarder.json", lab.prefix);
    assert_eq!(
        xdpdoctor(&["--netns", &vm, "teardown"]).status.code(),
        Some(0)
    );
    let out = xdpdoctor(&["--netns", &vm, "deploy", "--config", &cfg]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("ve-m1")
            && err.contains("the kernel says \"veth: Peer MTU is too large to set XDP\""),
        "{err}"
    );
    assert!(
        !in_ns(&vm, &["ip", "link", "show", "eth0"]).contains(" xdp"),
        "a refused deploy leaves nothing attached"
    );
    // The printed command runs as printed; then the deploy works and traffic flows.
    let sh = std::process::Command::new("sh")
        .args(["-c", &cmd])
        .status()
        .unwrap();
    assert!(sh.success(), "{cmd}");
    let out = xdpdoctor(&["--netns", &vm, "deploy", "--config", &cfg]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(lab.answers(), vec![true, true]);
}

#[test]
#[ignore = "needs root: builds a namespace lab, attaches XDP and probes"]
fn rp_filter_is_the_one_root_cause_and_set_rp_filter_fixes_it() {
    require_root();
    let lab = Lab::up("rdr", &["--fault", "rp-filter"]);
    let vm = lab.ns("vm");
    assert_eq!(lab.answers(), vec![false, false]);
    let (got, code) = findings(&lab, &[]);
    assert_eq!(
        got,
        set(
            &lab,
            &[
                ("reverse-path-filter", "vm", "ve-m1"),
                ("reverse-path-filter", "vm", "ve-m2"),
            ]
        )
    );
    assert_eq!(code, Some(1));
    let out = xdpdoctor(&["--netns", &vm, "fix", "--apply", "--json"]);
    assert_eq!(out.status.code(), Some(0), "fix --apply");
    assert_eq!(sysctl(&vm, "net.ipv4.conf.ve-m1.accept_local"), "1");
    assert_eq!(lab.answers(), vec![true, true]);
    let (got, _) = findings(&lab, &[]);
    assert!(got.is_empty(), "{got:?}");
    let out = xdpdoctor(&["--netns", &vm, "fix", "--revert"]);
    assert_eq!(out.status.code(), Some(0), "fix --revert");
    assert_eq!(sysctl(&vm, "net.ipv4.conf.ve-m1.accept_local"), "0");
    // The client's neighbour is known now, so replies no longer go through the stack; the
    // static warning stays.
    let (got, _) = findings(&lab, &["--observe", "0"]);
    assert_eq!(got.len(), 2, "{got:?}");
}

/// Sends UDP to port 9 and opens TCP to port 9 (closed: reset) at `v4` and `v6` from the
/// calling thread's namespace.
fn poke(v4: &str, v6: &str) {
    for dst in [format!("{v4}:9"), format!("[{v6}]:9")] {
        let bind = if dst.starts_with('[') {
            "[::]:0"
        } else {
            "0.0.0.0:0"
        };
        let u = std::net::UdpSocket::bind(bind).unwrap();
        for _ in 0..3 {
            u.send_to(b"xdpdoctor udp checksum probe", &dst).unwrap();
        }
        let addr: std::net::SocketAddr = dst.parse().unwrap();
        let r = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500));
        assert!(r.is_err(), "nothing listens on {dst}");
    }
}

#[test]
#[ignore = "needs root: builds namespaces, captures with libpcap"]
fn capture_classifies_ipv6_and_udp_like_ipv4_tcp() {
    require_root();
    let a = ScratchNs::new("cap6", "a");
    let b = ScratchNs::new("cap6", "b");
    a.ip(&[
        "link", "add", "xa", "type", "veth", "peer", "name", "xb", "netns", &b.name,
    ]);
    for (ns, dev, v4, v6) in [
        (&a, "xa", "10.77.0.1/24", "fd77::1/64"),
        (&b, "xb", "10.77.0.2/24", "fd77::2/64"),
    ] {
        ns.ip(&["addr", "add", v4, "dev", dev]);
        ns.ip(&["addr", "add", v6, "dev", dev, "nodad"]);
        ns.ip(&["link", "set", dev, "up"]);
    }
    for (tx, partial) in [("on", true), ("off", false)] {
        in_ns(&a.name, &["ethtool", "-K", "xa", "tx", tx]);
        in_ns(&b.name, &["ethtool", "-K", "xb", "tx", tx]);
        let window = xdpdoctor::cancel::Window::new(Duration::from_secs(10));
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let st = std::thread::scope(|s| {
            let cap = s.spawn(|| {
                xdpdoctor::capture::capture_tcp(&a.netns(), "xa", &window, Some(ready_tx))
            });
            ready
                .recv_timeout(Duration::from_secs(20))
                .expect("capture open");
            // The links settle (IPv6 link-local addresses leave their tentative state).
            std::thread::sleep(Duration::from_millis(1500));
            a.netns()
                .run(|| {
                    poke("10.77.0.2", "fd77::2");
                    Ok(())
                })
                .unwrap();
            std::thread::sleep(Duration::from_millis(800));
            window.end_now();
            cap.join().unwrap().expect("capture")
        });
        eprintln!("tx {tx}: {st:?}");
        // Our SYNs (v4 and v6) and the peer's resets (full checksums), both families.
        assert!(st.tcp >= 4 && st.tcp_ipv6 >= 2 && st.resets >= 2, "{st:?}");
        assert!(st.udp.packets >= 6 && st.udp.ipv6 >= 3, "{st:?}");
        assert_eq!(st.corrupt + st.udp.corrupt, 0, "{st:?}");
        if partial {
            // Every datagram and SYN we sent, v4 and v6, carries the pseudo-header sum (and
            // so does the peer's IPv6 reset: tcp_v6_send_response leaves it to offload).
            assert!(st.udp.partial >= 6 && st.partial >= 2, "{st:?}");
        } else {
            assert_eq!(st.partial_any(), 0, "{st:?}");
            assert!(st.udp.correct >= 6, "{st:?}");
        }
    }
}
