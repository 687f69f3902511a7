//! A veth's ring to its peer overflowing under load (`veth-ring-overflow`): the seed lab with
//! `ring-m1` (the uplink pair with two queues, as a NIC spreads flows over the CPUs, and m1's
//! pair with one), a burst of TCP SYNs from the client on every CPU (the bench's AF_PACKET
//! generator, through the library) while `diagnose` watches a passive window. The kernel's
//! own counter (ve-m1's TX dropped, `ip -s link`) says frames died; the diagnosis names the
//! ring of ve-m1 as the cause, with a drop count no larger than the kernel's and a rate, and
//! the redirect-errors symptom linked to it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::{in_ns, require_root, stdout, xdpdoctor, Lab};
use xdpdoctor::bench::generator::{pin_to_cpu, Generator};
use xdpdoctor::bench::traffic::{parse_mac, Dest, Endpoints, FlowSet, TTL};
use xdpdoctor::netns::Netns;

/// `ip -s -j link show DEV` in `ns`: (tx dropped, rx dropped).
fn dropped(ns: &str, dev: &str) -> (u64, u64) {
    let out = in_ns(ns, &["ip", "-s", "-j", "link", "show", dev]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("ip -s -j link");
    let s = &v[0]["stats64"];
    (
        s["tx"]["dropped"].as_u64().unwrap(),
        s["rx"]["dropped"].as_u64().unwrap(),
    )
}

fn mac(ns: &str, dev: &str) -> [u8; 6] {
    let out = in_ns(ns, &["ip", "-j", "link", "show", dev]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("ip -j link");
    parse_mac(v[0]["address"].as_str().unwrap()).unwrap()
}

/// Sends SYNs to 192.168.9.1:8080 from the client's eth0, one sender pinned to each CPU,
/// until `stop`; returns the frames sent.
fn burst(lab: &Lab, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    let ep = Endpoints {
        src_mac: mac(&lab.ns("client"), "eth0"),
        dst_mac: mac(&lab.ns("vm"), "eth0"),
        client: "192.168.9.254".parse().unwrap(),
        service: "192.168.9.1:8080".parse().unwrap(),
        target: "10.123.1.1:80".parse().unwrap(),
        // The seed lab has no bridged container; no frames go to it.
        bridged: "192.168.9.1:8080".parse().unwrap(),
    };
    let flows = FlowSet::new(&ep, 64, 256, Dest::Service, TTL).unwrap();
    let client = lab.ns("client");
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::spawn(move || {
        let senders: Vec<_> = (0..cpus)
            .map(|cpu| {
                let (stop, flows, client) = (stop.clone(), flows.clone(), client.clone());
                std::thread::spawn(move || {
                    Netns::named(&client)
                        .run(|| {
                            pin_to_cpu(cpu)?;
                            let g = Generator::open("eth0")?;
                            let mut sent = 0;
                            while !stop.load(Ordering::Relaxed) {
                                sent += g.send_for(&flows, Duration::from_millis(200))?.sent;
                            }
                            Ok(sent)
                        })
                        .expect("burst")
                })
            })
            .collect();
        senders.into_iter().map(|s| s.join().unwrap()).sum()
    })
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

    let before = dropped(&vm, "ve-m1");
    let stop = Arc::new(AtomicBool::new(false));
    let sender = burst(&lab, stop.clone());
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
    let after = dropped(&vm, "ve-m1");
    let kernel = after.0 - before.0;
    eprintln!("sent {sent} frames; ve-m1 TX dropped grew by {kernel}");
    assert!(kernel > 0, "the kernel counted no drop at ve-m1's ring");

    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("diagnose json");
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
}
