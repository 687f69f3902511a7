//! The reading of rtnetlink messages and errors, on messages built here (no kernel, no root):
//! which lookup failures are "not found", which address is the interface's own, what a
//! route's type and next hops become.

use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroI32;

use rtnetlink::packet_core::ErrorMessage;
use rtnetlink::packet_route::{
    address::{AddressAttribute, AddressMessage},
    route::{RouteAddress, RouteAttribute, RouteMessage, RouteNextHop, RouteType},
};

use super::parse::{to_addr, to_route, RT_TABLE_MAIN};
use super::*;
use crate::error::chain;

fn kernel_error(errno: i32) -> rtnetlink::Error {
    let mut m = ErrorMessage::default();
    m.code = NonZeroI32::new(-errno);
    rtnetlink::Error::NetlinkError(m)
}

#[test]
fn only_no_such_device_is_not_found() {
    let e = link_lookup_error("interface eth9".into(), kernel_error(libc::ENODEV));
    assert!(
        matches!(&e, Error::NotFound { what, .. } if what == "interface eth9"),
        "{e:?}"
    );
    assert_eq!(e.to_string(), "interface eth9 not found");
}

/// Regression: a refused request was reported as "interface X not found", hiding the cause.
#[test]
fn other_lookup_failures_keep_their_source() {
    for errno in [libc::EACCES, libc::EINVAL, libc::ENOBUFS] {
        let e = link_lookup_error("interface eth0".into(), kernel_error(errno));
        assert!(
            matches!(&e, Error::Netlink { op: "get link", target, .. } if target == "interface eth0"),
            "errno {errno}: {e:?}"
        );
        assert_eq!(e.errno(), Some(errno), "{}", chain(&e));
        assert!(!chain(&e).contains("not found"), "{}", chain(&e));
    }
    // EPERM is a missing CAP_NET_ADMIN: the one "needs root" error, naming the request.
    let e = link_lookup_error("interface eth0".into(), kernel_error(libc::EPERM));
    assert!(
        matches!(&e, Error::NeedsRoot { what, .. } if what == "netlink get link (interface eth0)"),
        "{e:?}"
    );
    // A socket that failed under the request (no errno at all) is not "not found" either.
    let e = link_lookup_error("ifindex 3".into(), rtnetlink::Error::RequestFailed);
    assert!(matches!(&e, Error::Netlink { .. }), "{e:?}");
    let s = chain(&e);
    assert!(
        s.starts_with("netlink get link for ifindex 3") && s.contains("request failed"),
        "{s}"
    );
}

fn addr_msg(index: u32, prefix: u8, attrs: Vec<AddressAttribute>) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.index = index;
    m.header.prefix_len = prefix;
    m.attributes = attrs;
    m
}

/// Regression: on a point-to-point link with a peer, the peer's address (IFA_ADDRESS) was
/// recorded as the interface's own.
#[test]
fn own_address_is_ifa_local_not_the_peer() {
    let local = Ipv4Addr::new(10, 9, 0, 1);
    let peer = Ipv4Addr::new(10, 9, 0, 2);
    // The kernel sends IFA_ADDRESS first; the order must not matter.
    for attrs in [
        vec![
            AddressAttribute::Address(IpAddr::V4(peer)),
            AddressAttribute::Local(IpAddr::V4(local)),
        ],
        vec![
            AddressAttribute::Local(IpAddr::V4(local)),
            AddressAttribute::Address(IpAddr::V4(peer)),
        ],
    ] {
        let a = to_addr(&addr_msg(4, 32, attrs)).expect("an IPv4 address");
        assert_eq!(
            a,
            Addr {
                ifindex: 4,
                addr: local,
                prefix: 32
            }
        );
    }
}

#[test]
fn address_without_ifa_local_falls_back_to_ifa_address() {
    let a = Ipv4Addr::new(192, 0, 2, 1);
    let got = to_addr(&addr_msg(
        2,
        24,
        vec![AddressAttribute::Address(IpAddr::V4(a))],
    ));
    assert_eq!(got.map(|x| x.addr), Some(a));
    // IPv6 addresses are left out.
    let v6 = addr_msg(
        2,
        64,
        vec![AddressAttribute::Address(IpAddr::V6(
            "2001:db8::1".parse().unwrap(),
        ))],
    );
    assert_eq!(to_addr(&v6), None);
}

fn route_msg(
    kind: RouteType,
    dst: Ipv4Addr,
    prefix: u8,
    attrs: Vec<RouteAttribute>,
) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.table = RT_TABLE_MAIN;
    m.header.kind = kind;
    m.header.destination_prefix_length = prefix;
    m.attributes = vec![RouteAttribute::Destination(RouteAddress::Inet(dst))];
    m.attributes.extend(attrs);
    m
}

/// Regression: blackhole, unreachable and prohibit routes were read as on-link routes
/// (no gateway, no oif) with nothing saying they lead nowhere.
#[test]
fn route_type_is_kept() {
    let net = Ipv4Addr::new(10, 123, 1, 0);
    for (t, kind) in [
        (RouteType::Unicast, RouteKind::Unicast),
        (RouteType::BlackHole, RouteKind::Blackhole),
        (RouteType::Unreachable, RouteKind::Unreachable),
        (RouteType::Prohibit, RouteKind::Prohibit),
        (RouteType::Throw, RouteKind::Throw),
        (RouteType::Broadcast, RouteKind::Other),
    ] {
        let r = to_route(&route_msg(t, net, 24, vec![])).expect("main table");
        assert_eq!((r.kind, r.dst, r.prefix), (kind, net, 24), "{t:?}");
        assert_eq!(r.is_unicast(), kind == RouteKind::Unicast);
    }
    let mut local = route_msg(RouteType::Local, net, 32, vec![]);
    local.header.table = 255;
    assert_eq!(to_route(&local), None, "only the main table");
}

#[test]
fn unicast_route_reads_gateway_and_oif() {
    let gw = Ipv4Addr::new(192, 0, 2, 254);
    let r = to_route(&route_msg(
        RouteType::Unicast,
        Ipv4Addr::UNSPECIFIED,
        0,
        vec![
            RouteAttribute::Gateway(RouteAddress::Inet(gw)),
            RouteAttribute::Oif(3),
        ],
    ))
    .unwrap();
    assert_eq!(
        r,
        Route {
            dst: Ipv4Addr::UNSPECIFIED,
            prefix: 0,
            kind: RouteKind::Unicast,
            gateway: Some(gw),
            oif: Some(3),
        }
    );
}

fn hop(oif: u32, gw: Ipv4Addr) -> RouteNextHop {
    let mut h = RouteNextHop::default();
    h.interface_index = oif;
    h.attributes = vec![RouteAttribute::Gateway(RouteAddress::Inet(gw))];
    h
}

/// Regression: a multipath route had neither oif nor gateway.
#[test]
fn multipath_route_takes_the_first_next_hop() {
    let (gw1, gw2) = (Ipv4Addr::new(10, 1, 0, 1), Ipv4Addr::new(10, 2, 0, 1));
    let r = to_route(&route_msg(
        RouteType::Unicast,
        Ipv4Addr::new(10, 200, 0, 0),
        16,
        vec![RouteAttribute::MultiPath(vec![hop(5, gw1), hop(7, gw2)])],
    ))
    .unwrap();
    assert_eq!((r.oif, r.gateway), (Some(5), Some(gw1)));
    // An on-link hop (no gateway) gives its interface only.
    let mut onlink = RouteNextHop::default();
    onlink.interface_index = 9;
    let r = to_route(&route_msg(
        RouteType::Unicast,
        Ipv4Addr::new(10, 200, 0, 0),
        16,
        vec![RouteAttribute::MultiPath(vec![onlink, hop(7, gw2)])],
    ))
    .unwrap();
    assert_eq!((r.oif, r.gateway), (Some(9), None));
}

#[test]
fn route_kind_json_and_old_snapshots() {
    let r = Route {
        dst: Ipv4Addr::new(10, 0, 0, 0),
        prefix: 8,
        kind: RouteKind::Blackhole,
        gateway: None,
        oif: None,
    };
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["kind"], "blackhole");
    assert_eq!(serde_json::from_value::<Route>(v).unwrap(), r);
    // Saved before `kind` existed: unicast, as every route was read then.
    let old: Route =
        serde_json::from_str(r#"{"dst":"10.0.0.0","prefix":8,"gateway":null,"oif":4}"#).unwrap();
    assert_eq!(old.kind, RouteKind::Unicast);
}

/// Neighbour states and link kinds are typed, and saved as the kernel names them (what
/// snapshots written before they were typed hold).
#[test]
fn kernel_state_round_trips_as_the_kernel_names_it() {
    use rtnetlink::packet_route::neighbour::NeighbourState;
    for (st, text, valid) in [
        (NeighbourState::Failed, "failed", false),
        (NeighbourState::Incomplete, "incomplete", false),
        (NeighbourState::Reachable, "reachable", true),
        (NeighbourState::Noarp, "noarp", true),
        (NeighbourState::Permanent, "permanent", true),
        (NeighbourState::Other(0x400), "other(1024)", false),
    ] {
        let n = NudState::from(st);
        assert_eq!(serde_json::json!(n), serde_json::json!(text));
        assert_eq!(serde_json::from_value::<NudState>(text.into()).unwrap(), n);
        assert_eq!(n.is_valid(), valid, "{text}");
    }
    assert!(NudState::Failed.unresolved() && NudState::Incomplete.unresolved());
    assert!(!NudState::Stale.unresolved());
    assert!(serde_json::from_value::<NudState>("nonsense".into()).is_err());
    for text in [
        "veth", "bridge", "macvlan", "vlan", "vxlan", "dummy", "netkit",
    ] {
        let k: LinkKind = serde_json::from_value(text.into()).unwrap();
        assert!(!matches!(k, LinkKind::Other(_)), "{text}");
        assert_eq!(serde_json::json!(k), serde_json::json!(text));
    }
    let k: LinkKind = serde_json::from_value("ip6gre".into()).unwrap();
    assert_eq!(k, LinkKind::Other("ip6gre".into()));
    assert_eq!(k.to_string(), "ip6gre");
}
