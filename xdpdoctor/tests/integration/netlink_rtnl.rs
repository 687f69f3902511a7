//! `netlink::rtnl` against a real kernel in a throwaway namespace, with `ip -j` (iproute2, a
//! separate reading of the same messages) as the independent check: which link lookups are
//! "not found", the interface's own address on a point-to-point peer, route types and
//! multipath next hops, and what `NsState::route_to` makes of them. Needs root: ignored (not
//! run) otherwise.

#![allow(clippy::print_stderr)]

use std::net::Ipv4Addr;

use xdpdoctor::error::chain;
use xdpdoctor::netlink::rtnl::{Route, RouteKind, Rtnl};
use xdpdoctor::snapshot::NsState;
use xdpdoctor::Error;

use crate::common::{require_root, ScratchNs};

/// `ip -j -n NS ARGS` parsed.
fn ip_json(ns: &ScratchNs, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["-j"];
    all.extend_from_slice(args);
    serde_json::from_str(&ns.ip(&all)).expect("ip -j prints JSON")
}

fn ifindex(ns: &ScratchNs, dev: &str) -> u32 {
    let v = ip_json(ns, &["link", "show", "dev", dev]);
    v[0]["ifindex"].as_u64().expect("ifindex") as u32
}

/// A veth pair `a` <-> `b` in `ns`, both up.
fn veth(ns: &ScratchNs, a: &str, b: &str) {
    ns.ip(&["link", "add", a, "type", "veth", "peer", "name", b]);
    ns.ip(&["link", "set", a, "up"]);
    ns.ip(&["link", "set", b, "up"]);
}

/// Regression: every failed lookup was "interface X not found", also when the kernel refused
/// the request for another reason.
#[test]
#[ignore = "needs root: creates a network namespace"]
fn link_lookup_is_not_found_only_for_a_missing_link() {
    require_root();
    let ns = ScratchNs::new("nl", "lk");
    let long = "x".repeat(40);
    let (lo, by_index, missing, missing_index, refused) = ns
        .netns()
        .block_on(|| async {
            let rt = Rtnl::new()?;
            let lo = rt.link("lo").await?;
            let by_index = rt.link_by_index(lo.index).await?;
            Ok((
                lo,
                by_index,
                rt.link("xnope0").await.unwrap_err(),
                rt.link_by_index(999_999).await.unwrap_err(),
                // A name longer than IFNAMSIZ: the kernel rejects the request itself.
                rt.link(&long).await.unwrap_err(),
            ))
        })
        .unwrap();
    assert_eq!((lo.name.as_str(), lo.index), ("lo", 1));
    assert_eq!(by_index, lo);
    eprintln!(
        "missing: {} | missing index: {} | refused: {}",
        chain(&missing),
        chain(&missing_index),
        chain(&refused)
    );
    assert!(
        matches!(&missing, Error::NotFound { what, .. } if what == "interface xnope0"),
        "{missing:?}"
    );
    assert!(
        matches!(&missing_index, Error::NotFound { what, .. } if what == "ifindex 999999"),
        "{missing_index:?}"
    );
    // Not "not found": the kernel's own answer, with its errno, naming the interface.
    assert!(
        matches!(&refused, Error::Netlink { op: "get link", .. }),
        "{refused:?}"
    );
    let errno = refused.errno();
    assert!(
        errno.is_some() && errno != Some(libc::ENODEV),
        "errno {errno:?}"
    );
    assert!(chain(&refused).contains(&long), "{}", chain(&refused));
}

/// Regression: with `ip addr add A peer P`, the peer P (IFA_ADDRESS) was recorded as the
/// interface's own address.
#[test]
#[ignore = "needs root: creates a network namespace with a veth pair"]
fn point_to_point_address_is_the_local_one() {
    require_root();
    let ns = ScratchNs::new("nl", "pp");
    veth(&ns, "xa", "xb");
    ns.ip(&[
        "addr",
        "add",
        "10.9.0.1",
        "peer",
        "10.9.0.2/32",
        "dev",
        "xa",
    ]);
    ns.ip(&["addr", "add", "10.8.0.1/24", "dev", "xb"]);
    let shown = ip_json(&ns, &["addr", "show", "dev", "xa"]);
    let info = shown[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["family"] == "inet")
        .unwrap()
        .clone();
    eprintln!("ip -j addr show dev xa: {info}");
    assert_eq!(
        (info["local"].as_str(), info["address"].as_str()),
        (Some("10.9.0.1"), Some("10.9.0.2"))
    );
    let (xa, xb) = (ifindex(&ns, "xa"), ifindex(&ns, "xb"));

    let (addrs, after) = ns
        .netns()
        .block_on(|| async move {
            let rt = Rtnl::new()?;
            let addrs = rt.addresses().await?;
            // Deleting what `addresses()` lists must find it.
            rt.del_address(xa, Ipv4Addr::new(10, 9, 0, 1), 32).await?;
            Ok((addrs, rt.addresses().await?))
        })
        .unwrap();
    let of = |v: &[xdpdoctor::netlink::rtnl::Addr], i: u32| {
        v.iter()
            .filter(|a| a.ifindex == i)
            .map(|a| (a.addr, a.prefix))
            .collect::<Vec<_>>()
    };
    assert_eq!(of(&addrs, xa), [(Ipv4Addr::new(10, 9, 0, 1), 32)]);
    assert_eq!(of(&addrs, xb), [(Ipv4Addr::new(10, 8, 0, 1), 24)]);
    assert_eq!(of(&after, xa), []);
    let left = ip_json(&ns, &["-4", "addr", "show", "dev", "xa"]);
    assert!(
        left[0]["addr_info"].as_array().is_none_or(|a| a.is_empty()),
        "still on xa: {left}"
    );
}

/// Regression: blackhole / unreachable / prohibit routes looked like on-link routes that
/// `route_to` could pick, and a multipath route had no output interface.
#[test]
#[ignore = "needs root: creates a network namespace with veth pairs and routes"]
fn route_types_and_multipath_next_hops() {
    require_root();
    let ns = ScratchNs::new("nl", "rt");
    veth(&ns, "xa", "xb");
    veth(&ns, "ya", "yb");
    ns.ip(&["addr", "add", "10.1.0.1/24", "dev", "xa"]);
    ns.ip(&["addr", "add", "10.2.0.1/24", "dev", "ya"]);
    ns.ip(&["route", "add", "default", "via", "10.1.0.254"]);
    ns.ip(&[
        "route",
        "add",
        "10.200.0.0/16",
        "nexthop",
        "via",
        "10.1.0.2",
        "nexthop",
        "via",
        "10.2.0.2",
    ]);
    ns.ip(&["route", "add", "blackhole", "10.201.0.0/16"]);
    ns.ip(&["route", "add", "unreachable", "10.202.0.0/16"]);
    ns.ip(&["route", "add", "prohibit", "10.203.0.0/16"]);
    // A unicast route inside the blackholed range still leads out.
    ns.ip(&["route", "add", "10.201.5.0/24", "via", "10.2.0.2"]);
    eprintln!("{}", ns.ip(&["route", "show"]));
    let (xa, ya) = (ifindex(&ns, "xa"), ifindex(&ns, "ya"));
    // iproute2's view of the multipath route: its first hop.
    let mp = ip_json(&ns, &["route", "show", "10.200.0.0/16"]);
    assert_eq!(mp[0]["nexthops"][0]["gateway"], "10.1.0.2", "{mp}");
    assert_eq!(mp[0]["nexthops"][0]["dev"], "xa", "{mp}");

    let routes = ns
        .netns()
        .block_on(|| async { Rtnl::new()?.routes().await })
        .unwrap();
    let find = |dst: &str, prefix: u8| -> &Route {
        let dst: Ipv4Addr = dst.parse().unwrap();
        routes
            .iter()
            .find(|r| r.dst == dst && r.prefix == prefix)
            .unwrap_or_else(|| panic!("no route {dst}/{prefix} in {routes:?}"))
    };
    let mp = find("10.200.0.0", 16);
    assert_eq!(
        (mp.kind, mp.oif, mp.gateway),
        (
            RouteKind::Unicast,
            Some(xa),
            Some(Ipv4Addr::new(10, 1, 0, 2))
        )
    );
    for (dst, kind) in [
        ("10.201.0.0", RouteKind::Blackhole),
        ("10.202.0.0", RouteKind::Unreachable),
        ("10.203.0.0", RouteKind::Prohibit),
    ] {
        let r = find(dst, 16);
        assert_eq!((r.kind, r.oif, r.gateway), (kind, None, None), "{r:?}");
    }
    let connected = find("10.1.0.0", 24);
    assert_eq!(
        (connected.kind, connected.oif),
        (RouteKind::Unicast, Some(xa))
    );

    let state = NsState {
        ns: xdpdoctor::netns::NsRef {
            name: ns.name.clone(),
            path: format!("/run/netns/{}", ns.name),
            inode: 0,
            cookie: None,
        },
        forwarding_all: None,
        rp_filter_all: None,
        accept_local_all: None,
        forwarding6_all: None,
        addresses6: Vec::new(),
        routes6: Vec::new(),
        neighbours6: Vec::new(),
        interfaces: Vec::new(),
        addresses: Vec::new(),
        routes: routes.clone(),
        neighbours: Vec::new(),
        tcp_listen: None,
        fdb: Vec::new(),
        netfilter: None,
    };
    let to = |a: &str| state.route_to(a.parse().unwrap());
    for target in ["10.201.1.1", "10.202.1.1", "10.203.1.1"] {
        assert_eq!(to(target), None, "{target} has no way out");
    }
    assert_eq!(to("10.200.1.1").and_then(|r| r.oif), Some(xa));
    assert_eq!(to("10.201.5.1").and_then(|r| r.oif), Some(ya));
    assert_eq!(
        to("10.9.9.9").and_then(|r| r.gateway),
        Some(Ipv4Addr::new(10, 1, 0, 254))
    );
    assert_eq!(state.default_gateway(), Some(Ipv4Addr::new(10, 1, 0, 254)));
    // The kernel agrees: a lookup of the blackholed target fails (EINVAL), one inside the
    // unicast hole in it leaves through ya.
    for (target, dev) in [("10.201.1.1", None), ("10.201.5.1", Some("ya"))] {
        let out = std::process::Command::new("ip")
            .args(["-j", "-n", &ns.name, "route", "get", target])
            .output()
            .unwrap();
        eprintln!(
            "ip route get {target}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        match dev {
            None => assert!(!out.status.success(), "the kernel routes {target}"),
            Some(dev) => {
                let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                assert_eq!(v[0]["dev"], dev, "{v}");
            }
        }
    }
}
