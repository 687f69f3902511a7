//! IPv6 end to end, on a program xdpdoctor did not load: the `router` lab (a client, a
//! router, a container; IPv4 and IPv6 on every link, no NAT) with the dual-stack router of the
//! kernel's xdp_fwd shape in `scenarios/foreign/dual_fwd.bpf.c`, compiled with clang and
//! loaded, attached and filled with `bpftool` as a user would. IPv4 and IPv6 connections work
//! on the healthy lab; with the container's tx checksum offload on, IPv6 connections die and
//! the diagnosis captures their partial checksums over IPv6 (the capture counts IPv6 as it
//! counts IPv4); with IPv6 forwarding off, IPv4 still flows and the finding names IPv6's
//! sysctl; with the container's GRO off, the peer without XDP. Each fix makes IPv6 flow.
//! All three at once: each is its own root beside the others, and one `fix --apply` makes
//! both families flow.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::common::{require_root, stdout, xdpdoctor, Lab};
use crate::foreign::{clang, ifindexes, nsenter, run};

/// The router lab with `dual_fwd` on the router's two interfaces; the pins go on drop
/// (before the lab's namespaces).
struct Router {
    pins: PathBuf,
    lab: Lab,
}

impl Drop for Router {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.pins);
    }
}

impl Router {
    fn up(tag: &str, faults: &[&str]) -> Router {
        let mut args = Vec::new();
        for f in faults {
            args.extend(["--fault", f]);
        }
        if faults.is_empty() {
            args.push("--no-faults");
        }
        let lab = Lab::up_scenario("router", tag, &args);
        let obj = std::env::temp_dir().join(format!("xt-dual-{}.o", lab.prefix));
        let src = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../scenarios/foreign/dual_fwd.bpf.c"
        );
        run(Command::new(clang())
            .args([
                "-O2",
                "-g",
                "-target",
                "bpf",
                "-I/usr/include/x86_64-linux-gnu",
                "-c",
            ])
            .arg(src)
            .arg("-o")
            .arg(&obj));
        let pins = PathBuf::from(format!("/sys/fs/bpf/xt-{}", lab.prefix));
        let r = Router {
            pins: pins.clone(),
            lab,
        };
        run(Command::new("bpftool")
            .args(["prog", "loadall"])
            .arg(&obj)
            .arg(&pins)
            .args(["type", "xdp", "pinmaps"])
            .arg(pins.join("maps")));
        let _ = std::fs::remove_file(&obj);
        let router = r.lab.ns("router");
        let idx = ifindexes(&router);
        for dev in ["eth0", "ve-m1"] {
            run(nsenter(&router, "bpftool")
                .args(["net", "attach", "xdpdrv", "pinned"])
                .arg(pins.join("xdp_fwd_prog"))
                .args(["dev", dev]));
            let i = idx.iter().find(|(n, _)| n == dev).unwrap().1.to_string();
            run(nsenter(&router, "bpftool")
                .args(["map", "update", "pinned"])
                .arg(pins.join("maps/xdp_tx_ports"))
                .args(["key", &i, "0", "0", "0", "value", &i, "0", "0", "0"]));
        }
        r
    }

    /// Whether an HTTP exchange with m1 at `target` works from the client.
    fn http_ok(&self, target: &str) -> bool {
        let addr: SocketAddr = target.parse().unwrap();
        xdpdoctor::netns::Netns::named(&self.lab.ns("client"))
            .run(move || {
                use std::io::{Read, Write};
                let ok = (|| -> std::io::Result<bool> {
                    let mut s =
                        std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(800))?;
                    s.set_read_timeout(Some(Duration::from_millis(1500)))?;
                    s.write_all(b"POST / HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello")?;
                    let mut out = Vec::new();
                    s.read_to_end(&mut out)?;
                    Ok(out.starts_with(b"HTTP/1.0 200"))
                })();
                eprintln!("HTTP to {addr}: {ok:?}");
                Ok(ok.unwrap_or(false))
            })
            .unwrap()
    }

    /// `diagnose --json` of the router, the client making IPv6 connections during the window
    /// (the lab has no NAT entries, so the window is passive).
    fn diagnose_with_v6_traffic(&self) -> Value {
        let router = self.lab.ns("router");
        std::thread::scope(|s| {
            let t = s.spawn(|| {
                std::thread::sleep(Duration::from_millis(1500));
                for _ in 0..3 {
                    self.http_ok(V6);
                }
            });
            let out = xdpdoctor(&["--netns", &router, "diagnose", "--json", "--observe", "6"]);
            t.join().unwrap();
            serde_json::from_str(&stdout(&out)).expect("diagnose json")
        })
    }
}

const V4: &str = "10.124.1.1:80";
const V6: &str = "[fd00:124:1::1]:80";

/// (id, netns, interface) of the root causes.
fn roots(v: &Value) -> Vec<(String, String, String)> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["caused_by"].is_null())
        .map(|f| {
            (
                f["id"].as_str().unwrap().into(),
                f["subject"]["netns"].as_str().unwrap().into(),
                f["subject"]["interface"].as_str().unwrap_or("").into(),
            )
        })
        .collect()
}

fn fix_apply(r: &Router) {
    let out = xdpdoctor(&["--netns", &r.lab.ns("router"), "fix", "--apply"]);
    assert_eq!(out.status.code(), Some(0), "fix --apply");
}

#[test]
#[ignore = "needs root: builds a namespace lab, loads XDP with bpftool, attaches probes"]
fn dual_stack_router_ipv6_partial_checksums_are_captured_and_fixed() {
    require_root();
    let healthy = Router::up("dsh", &[]);
    assert!(healthy.http_ok(V4) && healthy.http_ok(V6), "healthy lab");
    let v = healthy.diagnose_with_v6_traffic();
    assert_eq!(roots(&v), vec![], "{v:#}");
    drop(healthy);

    let r = Router::up("dsc", &["tx-csum"]);
    assert!(
        !r.http_ok(V6),
        "partial checksums over IPv6 die after the redirect"
    );
    let v = r.diagnose_with_v6_traffic();
    let m1 = r.lab.ns("m1");
    assert_eq!(
        roots(&v),
        vec![("veth-tx-csum-offload".into(), m1.clone(), "host0".into())],
        "{v:#}"
    );
    let cap = v["evidence"]["captures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["netns"] == m1.as_str())
        .expect("a capture on m1's host0");
    let st = &cap["stats"];
    assert!(
        st["tcp_ipv6"].as_u64().unwrap() > 0 && st["partial"].as_u64().unwrap() > 0,
        "{cap:#}"
    );
    fix_apply(&r);
    assert!(r.http_ok(V6) && r.http_ok(V4));
}

#[test]
#[ignore = "needs root: builds a namespace lab, loads XDP with bpftool, attaches probes"]
fn dual_stack_router_ipv6_forwarding_and_peer_without_xdp() {
    require_root();
    let r = Router::up("dsf", &["forwarding6-disabled"]);
    assert!(r.http_ok(V4), "IPv4 still flows");
    assert!(!r.http_ok(V6), "IPv6 is not forwarded");
    let router = r.lab.ns("router");
    let out = xdpdoctor(&["--netns", &router, "diagnose", "--json", "--observe", "0"]);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let got = roots(&v);
    assert!(
        got.contains(&("forwarding-disabled".into(), router.clone(), "eth0".into())),
        "{got:?}"
    );
    assert!(got.iter().all(|f| f.0 == "forwarding-disabled"), "{got:?}");
    let why = v["findings"][0]["why"].as_str().unwrap();
    assert!(why.contains("net.ipv6.conf."), "{why}");
    fix_apply(&r);
    assert!(r.http_ok(V6), "IPv6 flows after the fix");
    drop(r);

    let r = Router::up("dsp", &["peer-no-xdp"]);
    assert!(!r.http_ok(V6) && !r.http_ok(V4));
    let out = xdpdoctor(&[
        "--netns",
        &r.lab.ns("router"),
        "diagnose",
        "--json",
        "--observe",
        "0",
    ]);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        roots(&v),
        vec![("veth-peer-no-xdp".into(), r.lab.ns("m1"), "host0".into())]
    );
    fix_apply(&r);
    assert!(r.http_ok(V6) && r.http_ok(V4));
}

#[test]
#[ignore = "needs root: builds a namespace lab, loads XDP with bpftool, attaches probes"]
fn dual_stack_router_ipv6_causes_together_all_fixed_at_once() {
    require_root();
    let r = Router::up("dsa", &["peer-no-xdp", "tx-csum", "forwarding6-disabled"]);
    assert!(!r.http_ok(V4) && !r.http_ok(V6));
    let (router, m1) = (r.lab.ns("router"), r.lab.ns("m1"));
    let v = r.diagnose_with_v6_traffic();
    let mut got = roots(&v);
    got.sort();
    // Forwarding is off for both interfaces the program runs on (the `all` sysctl), as with
    // the fault alone.
    let mut want = vec![
        (
            "forwarding-disabled".to_string(),
            router.clone(),
            "eth0".to_string(),
        ),
        ("forwarding-disabled".into(), router.clone(), "ve-m1".into()),
        ("veth-peer-no-xdp".into(), m1.clone(), "host0".into()),
        ("veth-tx-csum-offload".into(), m1.clone(), "host0".into()),
    ];
    want.sort();
    assert_eq!(got, want, "{v:#}");
    let fwd = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "forwarding-disabled")
        .unwrap();
    assert!(
        fwd["why"].as_str().unwrap().contains("net.ipv6.conf."),
        "{fwd:#}"
    );
    fix_apply(&r);
    assert!(
        r.http_ok(V6) && r.http_ok(V4),
        "both families flow after one fix"
    );
}
