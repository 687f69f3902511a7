//! The forwarder's decision log.
//!
//! - The real forwarder (BPF_PROG_TEST_RUN in the `nat_ns` test namespace) writes one record
//!   per NAT decision, decoded by aya-log itself (`decisions::DecisionLog`) and parsed into
//!   every typed field (`forwarder::decision::Decision`): DNAT redirect, SNAT redirect, no
//!   entry, TTL exceeded; nothing for a packet that is not a NAT decision, and nothing at all
//!   (no record, no bucket activity) while the log is off.
//! - `trace --decisions --json` on the seed lab with only the peer-no-xdp fault: during
//!   `lab connect`, every SYN the forwarder sends towards a container is logged as translated
//!   to 10.123.x.1:80 and redirected to ve-m1 / ve-m2's ifindex, next to the `redirect_err`
//!   EOPNOTSUPP events that kill them (ENXIO `devmap_xmit` before 6.3); a second reader is
//!   refused while it runs; the log is off after it exits and writes nothing then; a
//!   namespace without xdpdoctor's forwarder is refused with exit 2.

use std::net::{Ipv4Addr, SocketAddrV4};

use aya::programs::Xdp;
use serde_json::Value;
use xdpdoctor::bpf::forwarder_abi::{self as abi, Endpoint};
use xdpdoctor::bpf::test_run::run_xdp;
use xdpdoctor::decisions::{Control, DecisionLog, EbpfRecord, Settings, Stats};
use xdpdoctor::forwarder::decision::{self, Decision, Fib, Reason, Translation, Verdict};

use crate::common::*;
use crate::frames::{random_client, random_frame, with_ttl, Rng};
use crate::fwd_run::{load_forwarder, load_program, XDP_PASS, XDP_REDIRECT};
use crate::nat_ns::{ifindex, random_entries_n, TestNs, EXT_MAC, GW_MAC, INT_MAC};
use crate::tracer::{ifindex_in, Trace};

const OBJECT: &str = "forwarder.bpf.o";

fn ep(e: Endpoint) -> decision::Endpoint {
    decision::Endpoint {
        addr: e.ip(),
        port: e.port(),
    }
}

/// The one decision in `records`, checked for the header fields every decision carries.
fn only_decision(records: Vec<EbpfRecord>) -> Decision {
    assert_eq!(records.len(), 1, "{records:#?}");
    let r = &records[0];
    assert_eq!(r.level, log::Level::Info);
    assert_eq!(r.program_target(), decision::TARGET);
    assert_eq!(r.module.as_deref(), Some(decision::MODULE));
    assert_eq!(r.file.as_deref(), Some("fwd_decision.h"));
    Decision::parse(&r.message).unwrap_or_else(|e| panic!("{e}: {}", r.message))
}

#[test]
#[ignore = "needs root: creates a namespace, runs BPF programs"]
fn forwarder_decision_records_decode_into_every_field() {
    require_root();
    let mut rng = Rng::new();
    let entries = random_entries_n(&mut rng, 4);
    let ns = TestNs::create(&entries);
    ns.0.run(|| {
        let (ext, int) = (ifindex("ext0"), ifindex("int0"));
        let mut fwd = load_forwarder(0, None, &entries, &[ext, int]);
        let mut ctl = Control::from_ebpf(&mut fwd.bpf, OBJECT).expect("xd_log_ctl");
        let mut log = DecisionLog::collect(&mut fwd.bpf, OBJECT).expect("AYA_LOGS");
        let e = entries[0];
        let client = Endpoint::new(random_client(&mut rng), rng.port());
        let inbound = with_ttl(random_frame(&mut rng, client, e.from, false), 64);
        let stranger = Endpoint::new(Ipv4Addr::new(192, 0, 2, 1), 9);
        let no_entry = with_ttl(random_frame(&mut rng, client, stranger, false), 64);
        let expiring = with_ttl(random_frame(&mut rng, client, e.from, false), 1);
        let mut not_ipv4 = inbound.bytes.clone();
        not_ipv4[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());

        load_program(&mut fwd.bpf, abi::Direction::Inbound);
        load_program(&mut fwd.bpf, abi::Direction::Outbound);
        let prog = |dir: abi::Direction| -> &Xdp {
            fwd.bpf.program(dir.program()).unwrap().try_into().unwrap()
        };
        let (p_in, p_out) = (
            prog(abi::Direction::Inbound),
            prog(abi::Direction::Outbound),
        );

        // Off (a fresh object): the packets pass through, no record, no bucket activity.
        let r = run_xdp(p_in, ext, &inbound.bytes, 1, 0).expect("test run");
        assert_eq!(r.retval, XDP_REDIRECT);
        assert_eq!(log.take().unwrap(), vec![]);
        assert_eq!(ctl.stats().unwrap(), Stats::default());

        ctl.set(&Settings::on(log::Level::Info)).unwrap();
        let mut one = |frame: &[u8], verdict: u32| {
            let r = run_xdp(p_in, ext, frame, 1, 0).expect("test run");
            assert_eq!(r.retval, verdict);
            log.take().unwrap()
        };
        // DNAT, redirected to int0 with the target's MAC.
        let d = only_decision(one(&inbound.bytes, XDP_REDIRECT));
        assert_eq!(d.ingress_ifindex, ext);
        assert_eq!(d.translation, Translation::Dnat);
        assert_eq!((d.received.src, d.received.dst), (ep(client), ep(e.from)));
        assert_eq!(d.nat, Some(ep(e.to)));
        assert_eq!((d.sent.src, d.sent.dst), (ep(client), ep(e.to)));
        assert_eq!(
            d.fib,
            Some(Fib::Lookup {
                code: 0,
                name: Some("success")
            })
        );
        let hop = d.next_hop.expect("next hop");
        assert_eq!(
            (hop.ifindex, hop.smac.0, hop.dmac.0),
            (int, INT_MAC, e.to_mac)
        );
        assert_eq!((d.verdict, d.reason), (Verdict::Redirect, None));
        eprintln!("forwarder_decisions: {d:?}");
        // No entry: passed as received, no lookup.
        let d = only_decision(one(&no_entry.bytes, XDP_PASS));
        assert_eq!((d.nat, d.fib, d.next_hop), (None, None, None));
        assert_eq!(
            (d.verdict, d.reason),
            (Verdict::Pass, Some(Reason::NoEntry))
        );
        assert_eq!(d.received, d.sent);
        assert_eq!(d.received.dst, ep(stranger));
        // TTL 1: the entry is named, the packet passed unmodified, no lookup.
        let d = only_decision(one(&expiring.bytes, XDP_PASS));
        assert_eq!(d.nat, Some(ep(e.to)));
        assert_eq!((d.fib, d.reason), (None, Some(Reason::TtlExceeded)));
        assert_eq!(d.received, d.sent);
        // Not a NAT decision: no record, and no token taken.
        let before = ctl.stats().unwrap();
        assert_eq!(one(&not_ipv4, XDP_PASS), vec![]);
        assert_eq!(ctl.stats().unwrap(), before);

        // SNAT of the reply, redirected to the gateway out of ext0.
        let reply = with_ttl(random_frame(&mut rng, e.to, client, false), 64);
        let r = run_xdp(p_out, int, &reply.bytes, 1, 0).expect("test run");
        assert_eq!(r.retval, XDP_REDIRECT);
        let d = only_decision(log.take().unwrap());
        assert_eq!((d.ingress_ifindex, d.translation), (int, Translation::Snat));
        assert_eq!(d.nat, Some(ep(e.from)));
        assert_eq!((d.sent.src, d.sent.dst), (ep(e.from), ep(client)));
        let hop = d.next_hop.expect("next hop");
        assert_eq!(
            (hop.ifindex, hop.smac.0, hop.dmac.0),
            (ext, EXT_MAC, GW_MAC)
        );
        let s = ctl.stats().unwrap();
        assert_eq!((s.allowed, s.lost, s.overflow), (4, 0, 0), "{s:?}");

        // Off again: the same packets write nothing, the bucket is not even asked.
        ctl.set(&Settings::default()).unwrap();
        for _ in 0..10 {
            run_xdp(p_out, int, &reply.bytes, 1, 0).expect("test run");
        }
        for f in [&inbound.bytes, &no_entry.bytes, &expiring.bytes] {
            run_xdp(p_in, ext, f, 100, 0).expect("test run");
        }
        assert_eq!(log.take().unwrap(), vec![]);
        assert_eq!(ctl.stats().unwrap(), s);
        Ok(())
    })
    .expect("namespace thread");
}

/// The decision lines of the trace output (`{"decision": {...}}`), in order.
fn decisions(lines: &[Value]) -> Vec<&Value> {
    lines
        .iter()
        .filter_map(|l| l.get("decision"))
        .filter(|d| d.get("unparsed").is_none())
        .collect()
}

fn addr(v: &Value) -> SocketAddrV4 {
    format!("{}:{}", v["addr"].as_str().unwrap(), v["port"])
        .parse()
        .unwrap()
}

/// The pin directory of the forwarder deployed in lab namespace `ns`.
fn pins_of(ns: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(format!(
        "/sys/fs/bpf/xdpdoctor/fwd-{}",
        crate::common::netns_key(ns)
    ))
}

#[test]
#[ignore = "needs root: builds a namespace lab, attaches BPF probes"]
fn trace_decisions_show_each_redirect_to_ve_m1_next_to_its_error() {
    require_root();
    let (kind, code, errno) = PeerNoXdpEra::current().event();
    let lab = Lab::up("dl", &["--fault", "peer-no-xdp"]);
    let vm = lab.ns("vm");
    // vm resolves the containers first (the very first SYN would otherwise be passed to the
    // stack as NO_NEIGH), so every SYN the forwarder sees is redirected and dies: a TCP
    // connection from vm itself goes through the stack, not through XDP.
    for target in ["10.123.1.1", "10.123.2.1"] {
        let connect = format!("exec 3<>/dev/tcp/{target}/80");
        in_ns(&vm, &["timeout", "2", "bash", "-c", &connect]);
    }
    // Under emulation and load the ARP answer can take longer than the connect's 2 s: the
    // test needs resolved entries (`lladdr`), so it waits for them (and says so if never).
    for target in ["10.123.1.1", "10.123.2.1"] {
        let start = std::time::Instant::now();
        loop {
            let out = std::process::Command::new("ip")
                .args(["-n", &vm, "neigh", "show", "to", target])
                .output()
                .expect("ip neigh");
            if String::from_utf8_lossy(&out.stdout).contains("lladdr") {
                break;
            }
            assert!(
                start.elapsed() < std::time::Duration::from_secs(20),
                "vm never resolved {target}"
            );
            let connect = format!("exec 3<>/dev/tcp/{target}/80");
            in_ns(&vm, &["timeout", "2", "bash", "-c", &connect]);
        }
    }
    let veth = [
        ("10.123.1.1", ifindex_in(&vm, "ve-m1"), "ve-m1"),
        ("10.123.2.1", ifindex_in(&vm, "ve-m2"), "ve-m2"),
    ];
    let eth0 = ifindex_in(&vm, "eth0");

    // Ended after the traffic (Ctrl-C); 60 s only bounds it: the second reader and the
    // connections take seconds in an emulated guest, and a 5 s trace ended before them.
    let t = Trace::start(&["--netns", &vm, "--decisions"], "60");
    // One reader at a time: a second `trace --decisions` is refused while this one runs.
    let second = xdpdoctor(&["--netns", &vm, "trace", "--decisions", "--duration", "1"]);
    assert_eq!(second.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("another xdpdoctor reads it"),
        "second reader"
    );
    let res = lab.connect();
    assert!(res.iter().all(|(_, ok)| !ok), "{res:?}");
    let (lines, summary) = t.stop();

    let ds = decisions(&lines);
    let mut redirects = [0usize; 2];
    for d in &ds {
        assert_eq!(d["netns"], vm.as_str(), "{d}");
        if d["translation"] != "dnat" {
            continue;
        }
        assert_eq!(d["ingress_ifindex"], eth0, "{d}");
        assert_eq!(d["ingress"], "eth0", "{d}");
        assert_eq!(
            addr(&d["received"]["dst"]).ip(),
            &Ipv4Addr::new(192, 168, 9, 1)
        );
        let to = addr(&d["nat"]);
        let i = veth
            .iter()
            .position(|(a, _, _)| to.ip().to_string() == *a)
            .unwrap_or_else(|| panic!("translated to {to}: {d}"));
        let (_, ifindex, name) = veth[i];
        // For each SYN: translated to the container's :80 and redirected into its veth.
        assert_eq!(to.port(), 80, "{d}");
        assert_eq!(addr(&d["sent"]["dst"]), to, "{d}");
        assert_eq!(d["fib"]["name"], "success", "{d}");
        assert_eq!(d["verdict"], "redirect", "{d}");
        assert_eq!(d["next_hop"]["ifindex"], ifindex, "{d}");
        assert_eq!(d["egress"], name, "{d}");
        redirects[i] += 1;
    }
    // Next to the errors that killed them: one logged redirect per failed one.
    let errors = |target: &str| {
        lines
            .iter()
            .filter(|e| {
                e["kind"] == kind
                    && e["code"] == code
                    && e["netns"] == vm.as_str()
                    && e["ifname"] == "eth0"
                    && e["target_ifname"] == target
            })
            .count()
    };
    for (i, (_, ifindex, name)) in veth.iter().enumerate() {
        let died = errors(name);
        eprintln!(
            "forwarder_decisions: {} redirect(s) to {name} ({ifindex}) logged, {died} {kind} {errno}",
            redirects[i]
        );
        assert!(died > 0, "no {kind} {errno} into {name}");
        assert!(
            redirects[i] >= died,
            "{} logged < {died} died",
            redirects[i]
        );
        // The decision is printed before the drop it led to.
        let first_decision = lines
            .iter()
            .position(|l| l["decision"]["egress"] == *name)
            .unwrap();
        let first_error = lines
            .iter()
            .position(|e| e["kind"] == kind && e["target_ifname"] == *name)
            .unwrap();
        assert!(
            first_decision < first_error,
            "{name}: error before decision"
        );
    }
    let s = &summary["decisions"];
    assert_eq!(s["off"], true, "{summary}");
    assert_eq!(s["shown"].as_u64(), Some(ds.len() as u64));
    assert_eq!(s["stats"]["lost"], 0);

    // After the trace: off, and traffic through the forwarder writes nothing.
    let pins = pins_of(&vm);
    let ctl = Control::from_pins(&pins).expect("pinned xd_log_ctl");
    assert_eq!(ctl.settings().unwrap().level, None);
    let before = ctl.stats().unwrap();
    let seen_before = status_counter(&vm, "seen");
    lab.connect();
    assert!(
        status_counter(&vm, "seen") > seen_before,
        "no traffic went through"
    );
    assert_eq!(ctl.stats().unwrap(), before, "the log wrote while off");
    assert!(
        !std::path::Path::new(&format!(
            "/run/xdpdoctor/locks/decisions-{}.lock",
            crate::common::netns_key(&vm)
        ))
        .exists(),
        "reader lock left"
    );

    // No forwarder of ours in the client's namespace: refused, exit 2, before any probe.
    let out = xdpdoctor(&[
        "--netns",
        &lab.ns("client"),
        "trace",
        "--decisions",
        "--duration",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no forwarder deployed by xdpdoctor"));

    // `lab down` (teardown) removes the log's pins with the others; no reader lock stays.
    let inodes: Vec<u64> = ["client", "vm", "m1", "m2"]
        .iter()
        .map(|n| netns_inode(&lab.ns(n)))
        .collect();
    assert!(pins.join("AYA_LOGS").exists() && pins.join("xd_log_state").exists());
    drop(lab);
    let left = leftovers_of(&inodes);
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// A forwarder counter of `xdpdoctor status --json` in namespace `ns`.
fn status_counter(ns: &str, name: &str) -> u64 {
    let out = xdpdoctor(&["--netns", ns, "status", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("status json");
    v["forwarder"]["counters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c[0] == name)
        .and_then(|c| c[1].as_u64())
        .unwrap_or(0)
}
