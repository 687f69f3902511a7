//! A veth's ring to its peer overflowing under load (`veth-ring-overflow`): the seed lab with
//! `ring-m1` (the uplink pair with two queues, as a NIC spreads flows over the CPUs, and m1's
//! pair with one), a burst of TCP SYNs from the client on every CPU (the bench's AF_PACKET
//! generator, through `xdpdoctor lab burst`'s library half) while `diagnose` watches a
//! passive window. The kernel's own counter (ve-m1's TX dropped, `ip -s link`) says frames
//! died; the diagnosis names the ring of ve-m1 as the cause, with a drop count no larger than
//! the kernel's and a rate, and the redirect-errors symptom linked to it. `lab burst` itself
//! then overflows the ring again, and refuses bad input naming it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::{bin, in_ns, require_root, stdout, xdpdoctor, Lab};
use xdpdoctor::bench::burst;
use xdpdoctor::lab::LabState;

/// `ip -s -j link show DEV` in `ns`: (tx dropped, rx dropped).
pub(crate) fn dropped(ns: &str, dev: &str) -> (u64, u64) {
    let out = in_ns(ns, &["ip", "-s", "-j", "link", "show", dev]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("ip -s -j link");
    let s = &v[0]["stats64"];
    (
        s["tx"]["dropped"].as_u64().unwrap(),
        s["rx"]["dropped"].as_u64().unwrap(),
    )
}

/// Sends SYNs from the lab's client to its first entry (192.168.9.1:8080), one sender pinned
/// to each CPU (`xdpdoctor lab burst`'s library half), until `stop`; returns the frames sent.
pub(crate) fn burst(lab: &Lab, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    let st = LabState::load(&lab.prefix)
        .unwrap()
        .expect("the lab's state");
    let path = burst::path(&st).expect("the burst's path");
    assert_eq!(path.endpoints.service.to_string(), "192.168.9.1:8080");
    std::thread::spawn(move || {
        let r = burst::run(&path, 64, &|| stop.load(Ordering::Relaxed), || {}).expect("burst");
        assert!(r.cpus >= 1 && r.sent > 0, "{r:?}");
        r.sent
    })
}

/// `diagnose --json --no-traffic --observe 3` in vm while [`burst`] runs; returns the report
/// and how much ve-m1's TX dropped (the kernel's count) grew over the burst.
pub(crate) fn diagnose_under_burst(lab: &Lab) -> (serde_json::Value, u64) {
    let vm = lab.ns("vm");
    let before = dropped(&vm, "ve-m1").0;
    let stop = Arc::new(AtomicBool::new(false));
    let sender = burst(lab, stop.clone());
    std::thread::sleep(Duration::from_millis(500));
    let out = xdpdoctor(&[
        "--netns",
        &vm,
        "diagnose",
        "--json",
        "--no-traffic",
        "--observe",
        "3",
    ]);
    stop.store(true, Ordering::Relaxed);
    let sent = sender.join().unwrap();
    let grew = dropped(&vm, "ve-m1").0 - before;
    eprintln!("sent {sent} frames; ve-m1 TX dropped grew by {grew}");
    let v = serde_json::from_str(&stdout(&out)).expect("diagnose json");
    (v, grew)
}

#[test]
#[ignore = "needs root: builds a namespace lab, attaches XDP and probes, floods a veth pair"]
fn a_burst_overflows_the_ring_of_a_single_queue_veth() {
    require_root();
    let lab = Lab::up("ring", &["--fault", "ring-m1"]);
    let vm = lab.ns("vm");
    // The uplink has two queues each side, m1's pair one.
    let q = in_ns(&vm, &["ip", "-d", "-j", "link", "show", "eth0"]);
    let v: serde_json::Value = serde_json::from_str(&q).unwrap();
    assert_eq!(v[0]["num_rx_queues"], 2, "{q}");
    // Healthy otherwise: both entries answer (and the neighbours are resolved).
    assert!(lab.connect().iter().all(|(_, ok)| *ok));

    let (v, kernel) = diagnose_under_burst(&lab);
    assert!(kernel > 0, "the kernel counted no drop at ve-m1's ring");

    let all = v["findings"].as_array().unwrap();
    let ring = all
        .iter()
        .find(|f| f["id"] == "veth-ring-overflow")
        .unwrap_or_else(|| panic!("no veth-ring-overflow: {v:#}"));
    assert!(ring["caused_by"].is_null(), "a root: {ring:#}");
    assert_eq!(ring["subject"]["interface"], "ve-m1");
    let seen = ring["observed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["what"] == "xdp_devmap_xmit drops (ring full) to ve-m1")
        .and_then(|o| o["count"].as_u64())
        .expect("the drop count");
    // The window saw part of the burst; the kernel's counter covers all of it.
    assert!(seen > 0 && seen <= kernel, "seen {seen}, kernel {kernel}");
    let why = ring["why"].as_str().unwrap();
    assert!(
        why.contains(&format!("{seen} frame(s)")) && why.contains("frames/s over the"),
        "{why}"
    );
    let sym = all
        .iter()
        .find(|f| f["id"] == "redirect-errors")
        .expect("the symptom");
    assert_eq!(sym["caused_by"]["id"], "veth-ring-overflow");
    // Nothing else is wrong with this lab.
    for f in all.iter().filter(|f| f["caused_by"].is_null()) {
        assert_eq!(f["id"], "veth-ring-overflow", "{f:#}");
    }
    // The command users run: a second burst from the CLI overflows the ring again. Ctrl-C or
    // SIGTERM ends it with what it sent (exit 0), as `--seconds` does.
    let before = dropped(&vm, "ve-m1").0;
    let child = std::process::Command::new(bin())
        .args([
            "lab",
            "burst",
            "--prefix",
            &lab.prefix,
            "--seconds",
            "60",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    // SAFETY: kill(2) on the PID of the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "lab burst, then SIGTERM");
    let r: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("burst json");
    assert!(
        r["sent"].as_u64().unwrap() > 0 && r["rate"].as_u64().unwrap() > 0,
        "{r:#}"
    );
    assert!(r["elapsed_ms"].as_u64().unwrap() < 30_000, "{r:#}");
    assert_eq!(r["to"], "192.168.9.1:8080");
    assert_eq!(r["netns"], lab.ns("client").as_str());
    assert!(
        dropped(&vm, "ve-m1").0 > before,
        "the CLI's burst overflowed the ring"
    );
    let out = xdpdoctor(&[
        "lab",
        "burst",
        "--prefix",
        &lab.prefix,
        "--seconds",
        "1",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "lab burst --seconds 1");
    let r: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("burst json");
    let ms = r["elapsed_ms"].as_u64().unwrap();
    assert!((1000..10_000).contains(&ms), "{r:#}");
    for (args, names) in [
        (vec!["--prefix", "xt-no-such-lab"], "xt-no-such-lab"),
        (
            vec!["--prefix", lab.prefix.as_str(), "--seconds", "0"],
            "--seconds",
        ),
    ] {
        let mut a = vec!["lab", "burst"];
        a.extend(args);
        let out = xdpdoctor(&a);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(names), "{err}");
    }
}
