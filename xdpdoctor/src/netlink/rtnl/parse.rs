//! rtnetlink messages as the plain structs of `netlink::rtnl`: which address of an address message
//! is the interface's own, what a route's type and next hops become, a link's attributes and
//! XDP attachment. Pure functions of the message, tested without a kernel (`super::tests`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rtnetlink::packet_route::{
    address::{AddressAttribute, AddressMessage},
    link::{LinkAttribute, LinkFlags, LinkInfo, LinkMessage, LinkXdp, XdpAttached},
    route::{RouteAddress, RouteAttribute, RouteMessage, RouteType},
};

use super::types::{Addr, Addr6, Link, LinkKind, Route, Route6, RouteKind, XdpAttachment, XdpMode};

/// The kernel's id of the main routing table (RT_TABLE_MAIN).
pub(super) const RT_TABLE_MAIN: u8 = 254;

/// A hardware address as lower-case `aa:bb:cc:dd:ee:ff`.
pub(super) fn fmt_mac(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The interface's own IPv4 address in an address message: IFA_LOCAL when present (on a
/// point-to-point link with a peer, IFA_ADDRESS is the peer's), else IFA_ADDRESS.
pub(super) fn own_ipv4(attrs: &[AddressAttribute]) -> Option<Ipv4Addr> {
    let (mut local, mut address) = (None, None);
    for a in attrs {
        match a {
            AddressAttribute::Local(IpAddr::V4(a)) => local = local.or(Some(*a)),
            AddressAttribute::Address(IpAddr::V4(a)) => address = address.or(Some(*a)),
            _ => {}
        }
    }
    local.or(address)
}

/// An IPv4 address message as an [`Addr`]; None for other families.
pub(super) fn to_addr(m: &AddressMessage) -> Option<Addr> {
    Some(Addr {
        ifindex: m.header.index,
        addr: own_ipv4(&m.attributes)?,
        prefix: m.header.prefix_len,
    })
}

/// An IPv6 address message as an [`Addr6`]; None for other families.
pub(super) fn to_addr6(m: &AddressMessage) -> Option<Addr6> {
    let addr = m.attributes.iter().find_map(|a| match a {
        AddressAttribute::Address(IpAddr::V6(a)) | AddressAttribute::Local(IpAddr::V6(a)) => {
            Some(*a)
        }
        _ => None,
    })?;
    Some(Addr6 {
        ifindex: m.header.index,
        addr,
        prefix: m.header.prefix_len,
    })
}

fn route_kind(t: RouteType) -> RouteKind {
    match t {
        RouteType::Unicast => RouteKind::Unicast,
        RouteType::BlackHole => RouteKind::Blackhole,
        RouteType::Unreachable => RouteKind::Unreachable,
        RouteType::Prohibit => RouteKind::Prohibit,
        RouteType::Throw => RouteKind::Throw,
        _ => RouteKind::Other,
    }
}

/// What a main-table route message says, either family; None for other tables. A multipath
/// route (RTA_MULTIPATH, no RTA_OIF) takes its first next hop's interface and gateway.
struct RouteParts {
    dst: Option<IpAddr>,
    prefix: u8,
    kind: RouteKind,
    gateway: Option<IpAddr>,
    oif: Option<u32>,
}

fn ip_of(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v) => Some(IpAddr::V4(*v)),
        RouteAddress::Inet6(v) => Some(IpAddr::V6(*v)),
        _ => None,
    }
}

fn route_parts(m: &RouteMessage) -> Option<RouteParts> {
    if m.header.table != RT_TABLE_MAIN {
        return None;
    }
    let mut r = RouteParts {
        dst: None,
        prefix: m.header.destination_prefix_length,
        kind: route_kind(m.header.kind),
        gateway: None,
        oif: None,
    };
    let mut first_hop = None;
    for a in &m.attributes {
        match a {
            RouteAttribute::Destination(d) => r.dst = ip_of(d),
            RouteAttribute::Gateway(g) => r.gateway = ip_of(g),
            RouteAttribute::Oif(i) => r.oif = Some(*i),
            RouteAttribute::MultiPath(hops) => first_hop = hops.first(),
            _ => {}
        }
    }
    if let Some(h) = first_hop {
        if r.oif.is_none() && h.interface_index != 0 {
            r.oif = Some(h.interface_index);
        }
        if r.gateway.is_none() {
            r.gateway = h.attributes.iter().find_map(|a| match a {
                RouteAttribute::Gateway(g) => ip_of(g),
                _ => None,
            });
        }
    }
    Some(r)
}

fn v4(a: Option<IpAddr>) -> Option<Ipv4Addr> {
    match a {
        Some(IpAddr::V4(v)) => Some(v),
        _ => None,
    }
}

fn v6(a: Option<IpAddr>) -> Option<Ipv6Addr> {
    match a {
        Some(IpAddr::V6(v)) => Some(v),
        _ => None,
    }
}

/// A route message of the main table as a [`Route`]; None for other tables.
pub(super) fn to_route(m: &RouteMessage) -> Option<Route> {
    let p = route_parts(m)?;
    Some(Route {
        dst: v4(p.dst).unwrap_or(Ipv4Addr::UNSPECIFIED),
        prefix: p.prefix,
        kind: p.kind,
        gateway: v4(p.gateway),
        oif: p.oif,
    })
}

/// An IPv6 route message of the main table as a [`Route6`]; None for other tables.
pub(super) fn to_route6(m: &RouteMessage) -> Option<Route6> {
    let p = route_parts(m)?;
    Some(Route6 {
        dst: v6(p.dst).unwrap_or(Ipv6Addr::UNSPECIFIED),
        prefix: p.prefix,
        kind: p.kind,
        gateway: v6(p.gateway),
        oif: p.oif,
    })
}

pub(super) fn to_link(m: LinkMessage) -> Link {
    let mut l = Link {
        index: m.header.index,
        name: String::new(),
        up: m.header.flags.contains(LinkFlags::Up),
        lower_up: m.header.flags.contains(LinkFlags::LowerUp),
        mtu: 0,
        mac: String::new(),
        kind: None,
        xdp: None,
        peer_ifindex: None,
        link_netnsid: None,
        master: None,
        max_mtu: None,
    };
    for a in m.attributes {
        match a {
            LinkAttribute::IfName(n) => l.name = n,
            LinkAttribute::Mtu(v) => l.mtu = v,
            LinkAttribute::MaxMtu(v) => l.max_mtu = Some(v),
            LinkAttribute::Address(b) => l.mac = fmt_mac(&b),
            LinkAttribute::Link(i) => l.peer_ifindex = Some(i),
            LinkAttribute::LinkNetNsId(i) => l.link_netnsid = Some(i),
            LinkAttribute::Controller(i) if i != 0 => l.master = Some(i),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::Kind(k) = i {
                        l.kind = Some(LinkKind::from(k.to_string().as_str()));
                    }
                }
            }
            LinkAttribute::Xdp(x) => l.xdp = to_xdp(&x),
            _ => {}
        }
    }
    l
}

fn to_xdp(attrs: &[LinkXdp]) -> Option<XdpAttachment> {
    let mode = attrs.iter().find_map(|a| match a {
        LinkXdp::Attached(XdpAttached::Driver) => Some(XdpMode::Driver),
        LinkXdp::Attached(XdpAttached::SocketBuffer) => Some(XdpMode::Skb),
        LinkXdp::Attached(XdpAttached::Hardware) => Some(XdpMode::Hw),
        LinkXdp::Attached(XdpAttached::Multiple) => Some(XdpMode::Multi),
        _ => None,
    })?;
    let mut progs: Vec<(XdpMode, u32)> = attrs
        .iter()
        .filter_map(|a| match a {
            LinkXdp::DrvProgId(i) => Some((XdpMode::Driver, *i)),
            LinkXdp::SkbProgId(i) => Some((XdpMode::Skb, *i)),
            LinkXdp::HwProgId(i) => Some((XdpMode::Hw, *i)),
            _ => None,
        })
        .collect();
    let single = attrs.iter().find_map(|a| match a {
        LinkXdp::ProgId(i) => Some(*i),
        _ => None,
    });
    if progs.is_empty() {
        if let Some(id) = single.filter(|_| mode != XdpMode::Multi) {
            progs.push((mode, id));
        }
    }
    let prog_id = single.or(progs.first().map(|p| p.1)).unwrap_or(0);
    Some(XdpAttachment {
        prog_id,
        mode,
        progs,
    })
}
