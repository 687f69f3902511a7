//! Route lookups on a namespace's saved routes, and saved snapshots read back, without a kernel.

use std::net::Ipv4Addr;

use super::{NsState, Snapshot};
use crate::netlink::rtnl::{Route, RouteKind};

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn route(dst: &str, prefix: u8, kind: RouteKind, gateway: Option<&str>, oif: Option<u32>) -> Route {
    Route {
        dst: ip(dst),
        prefix,
        kind,
        gateway: gateway.map(ip),
        oif,
    }
}

fn ns(routes: Vec<Route>) -> NsState {
    NsState {
        ns: crate::netns::NsRef {
            name: "t".into(),
            path: "/run/netns/t".into(),
            inode: 1,
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
        routes,
        neighbours: Vec::new(),
        tcp_listen: None,
        fdb: Vec::new(),
        netfilter: None,
    }
}

#[test]
fn route_to_is_the_longest_prefix_match() {
    let n = ns(vec![
        route(
            "0.0.0.0",
            0,
            RouteKind::Unicast,
            Some("192.0.2.254"),
            Some(2),
        ),
        route("10.123.1.0", 24, RouteKind::Unicast, None, Some(5)),
    ]);
    assert_eq!(n.route_to(ip("10.123.1.1")).unwrap().oif, Some(5));
    assert_eq!(n.route_to(ip("10.9.9.9")).unwrap().oif, Some(2));
    assert_eq!(n.default_gateway(), Some(ip("192.0.2.254")));
}

/// Regression: a blackhole/unreachable/prohibit route has no gateway and no oif, and was
/// picked as if the target were on-link.
#[test]
fn a_non_unicast_route_to_the_target_means_no_route() {
    for kind in [
        RouteKind::Blackhole,
        RouteKind::Unreachable,
        RouteKind::Prohibit,
        RouteKind::Throw,
        RouteKind::Other,
    ] {
        let n = ns(vec![
            route(
                "0.0.0.0",
                0,
                RouteKind::Unicast,
                Some("192.0.2.254"),
                Some(2),
            ),
            route("10.123.0.0", 16, kind, None, None),
            route("10.123.2.0", 24, RouteKind::Unicast, None, Some(7)),
        ]);
        // The more specific non-unicast route wins, and the kernel does not fall back to
        // the default route.
        assert_eq!(n.route_to(ip("10.123.1.1")), None, "{kind}");
        // A more specific unicast route inside it still leads out.
        assert_eq!(n.route_to(ip("10.123.2.1")).unwrap().oif, Some(7), "{kind}");
        // Outside it, the default route.
        assert_eq!(n.route_to(ip("10.9.9.9")).unwrap().oif, Some(2), "{kind}");
    }
    // A blackhole default route is no default gateway and no way out.
    let n = ns(vec![route("0.0.0.0", 0, RouteKind::Blackhole, None, None)]);
    assert_eq!(n.route_to(ip("10.9.9.9")), None);
    assert_eq!(n.default_gateway(), None);
}

/// Of two routes with the same prefix the kernel prefers the lower metric, which it lists
/// first; the last one listed used to win.
#[test]
fn same_prefix_the_first_listed_wins() {
    let n = ns(vec![
        route("10.123.1.0", 24, RouteKind::Unicast, None, Some(5)),
        route("10.123.1.0", 24, RouteKind::Blackhole, None, None),
    ]);
    assert_eq!(n.route_to(ip("10.123.1.1")).unwrap().oif, Some(5));
    let n = ns(vec![
        route("10.123.1.0", 24, RouteKind::Unreachable, None, None),
        route("10.123.1.0", 24, RouteKind::Unicast, None, Some(5)),
    ]);
    assert_eq!(n.route_to(ip("10.123.1.1")), None);
}

/// A saved snapshot reads back into the same JSON: every typed field (link kinds, NUD states,
/// route kinds, namespaces) is written as it was read.
#[test]
fn saved_snapshots_round_trip_unchanged() {
    for text in [
        include_str!("../../tests/fixtures/seed-faults.json"),
        include_str!("../../tests/fixtures/seed-healthy.json"),
    ] {
        let mut before: serde_json::Value = serde_json::from_str(text).unwrap();
        // The fixtures predate a route's `kind` (it reads as `unicast`), a link's `master`,
        // the bridge fdb and the ruleset (they read as none).
        for ns in before["namespaces"].as_array_mut().unwrap() {
            let o = ns.as_object_mut().unwrap();
            o.entry("fdb").or_insert(serde_json::json!([]));
            o.entry("netfilter").or_insert(serde_json::Value::Null);
            for i in ns["interfaces"].as_array_mut().unwrap() {
                i.as_object_mut()
                    .unwrap()
                    .entry("master")
                    .or_insert(serde_json::Value::Null);
            }
            for r in ns["routes"].as_array_mut().unwrap() {
                r.as_object_mut()
                    .unwrap()
                    .entry("kind")
                    .or_insert("unicast".into());
            }
        }
        let snap: Snapshot = serde_json::from_str(text).unwrap();
        let after = serde_json::to_value(&snap).unwrap();
        assert_eq!(before, after);
    }
}
