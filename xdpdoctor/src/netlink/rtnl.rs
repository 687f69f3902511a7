//! rtnetlink: links, addresses, routes and neighbours of the calling thread's namespace.
//!
//! A thin layer over the `rtnetlink` crate that turns its messages into small plain structs
//! (what the lab, the deployer and the snapshot need) and its errors into `Error::Netlink`
//! naming the object. Create an `Rtnl` inside `Netns::block_on`: the socket belongs to the
//! namespace of the thread that opened it.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::RawFd;

use futures::TryStreamExt;
use rtnetlink::packet_route::{
    address::AddressAttribute,
    link::{LinkAttribute, LinkFlags, LinkInfo, LinkXdp, XdpAttached},
    neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourState},
    route::{RouteAddress, RouteAttribute},
};
use rtnetlink::{Handle, LinkUnspec, LinkVeth, RouteMessageBuilder};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// How an XDP program is attached to a link, as IFLA_XDP reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum XdpMode {
    /// Native (driver) XDP: redirects go through `ndo_xdp_xmit`.
    Driver,
    /// Generic XDP on the skb path.
    Skb,
    /// Offloaded to the NIC.
    Hw,
    /// Several at once (each listed in [`XdpAttachment::progs`]).
    Multi,
}

/// The XDP attachment of a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct XdpAttachment {
    /// The program (IFLA_XDP_PROG_ID; with several modes, the first of `progs`).
    pub prog_id: u32,
    /// The attach mode (`multi` when several programs are attached in different modes).
    pub mode: XdpMode,
    /// Every (mode, program id) attached: one entry, or one per mode when `multi`.
    #[serde(default)]
    pub progs: Vec<(XdpMode, u32)>,
}

impl XdpAttachment {
    /// Every (mode, program) pair, also for state saved before `progs` existed.
    pub fn each(&self) -> Vec<(XdpMode, u32)> {
        if self.progs.is_empty() && self.prog_id != 0 {
            vec![(self.mode, self.prog_id)]
        } else {
            self.progs.clone()
        }
    }

    /// The program attached in native (driver) mode, if any.
    pub fn native_prog(&self) -> Option<u32> {
        self.each()
            .into_iter()
            .find(|(m, _)| *m == XdpMode::Driver)
            .map(|(_, id)| id)
    }
}

/// One network interface as rtnetlink reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// Interface index, unique only within its namespace (indexes repeat across namespaces).
    pub index: u32,
    /// Interface name (IFLA_IFNAME), at most 15 bytes.
    pub name: String,
    /// Administratively up (IFF_UP).
    pub up: bool,
    /// Carrier present (IFF_LOWER_UP).
    pub lower_up: bool,
    /// MTU in bytes (IFLA_MTU; 0 if the kernel sent none).
    pub mtu: u32,
    /// Hardware address as lower-case `aa:bb:cc:dd:ee:ff`; empty when the link has none.
    pub mac: String,
    /// rtnl link kind ("veth", "dummy", ...), if any.
    pub kind: Option<String>,
    /// The XDP program(s) attached (IFLA_XDP); None when nothing is attached.
    pub xdp: Option<XdpAttachment>,
    /// IFLA_LINK: for a veth, the peer's ifindex (in the peer's namespace).
    pub peer_ifindex: Option<u32>,
    /// IFLA_LINK_NETNSID: the peer's namespace id, relative to the asking namespace.
    pub link_netnsid: Option<i32>,
}

/// An IPv4 address on an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Addr {
    /// Interface the address is on, in the same namespace.
    pub ifindex: u32,
    /// The address (IFA_ADDRESS: the interface's own on veth and Ethernet; on a point-to-point
    /// link with a peer address it is the peer's).
    pub addr: Ipv4Addr,
    /// Prefix length (0..=32): the subnet the address puts on-link.
    pub prefix: u8,
}

/// An IPv4 route of the main table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Destination network (0.0.0.0 for the default route).
    pub dst: Ipv4Addr,
    /// Destination prefix length (0 for the default route).
    pub prefix: u8,
    /// Next hop (RTA_GATEWAY); None for a directly connected (on-link) route.
    pub gateway: Option<Ipv4Addr>,
    /// Output interface (RTA_OIF); None for a multipath route, whose hops are not read.
    pub oif: Option<u32>,
}

/// An IPv4 neighbour entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Neighbour {
    /// Interface the entry belongs to.
    pub ifindex: u32,
    /// The neighbour's IPv4 address.
    pub addr: Ipv4Addr,
    /// Its link-layer address as `aa:bb:cc:dd:ee:ff`; None unless `valid` (the kernel sends it
    /// only for a resolved entry).
    pub mac: Option<String>,
    /// NUD state in lower case (`reachable`, `stale`, `incomplete`, `failed`, ...).
    pub state: String,
    /// NUD_VALID: bpf_fib_lookup accepts this entry.
    pub valid: bool,
}

/// A route-netlink connection in the calling thread's namespace.
pub struct Rtnl {
    handle: Handle,
}

fn nl(op: &'static str, target: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> Error {
    let target = target.into();
    move |e| Error::netlink(op, target, e)
}

fn fmt_mac(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl Rtnl {
    /// Opens the socket on this thread; must run inside a tokio runtime (`Netns::block_on`).
    pub fn new() -> Result<Self> {
        let (conn, handle, _) =
            rtnetlink::new_connection().map_err(|e| Error::io("open", "rtnetlink socket", e))?;
        tokio::spawn(conn);
        Ok(Rtnl { handle })
    }

    /// Every link in the namespace (a dump).
    pub async fn links(&self) -> Result<Vec<Link>> {
        let msgs: Vec<_> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(nl("dump links", "namespace"))?;
        Ok(msgs.into_iter().map(to_link).collect())
    }

    /// The link named `name`. Any failure, not only a missing link, is reported as
    /// `Error::NotFound`.
    pub async fn link(&self, name: &str) -> Result<Link> {
        let mut s = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match s.try_next().await {
            Ok(Some(m)) => Ok(to_link(m)),
            Ok(None) | Err(_) => Err(Error::not_found(format!("interface {name}"), None)),
        }
    }

    /// The link with index `index`; like [`Rtnl::link`], any failure is reported as
    /// `Error::NotFound`.
    pub async fn link_by_index(&self, index: u32) -> Result<Link> {
        let mut s = self.handle.link().get().match_index(index).execute();
        match s.try_next().await {
            Ok(Some(m)) => Ok(to_link(m)),
            Ok(None) | Err(_) => Err(Error::not_found(format!("ifindex {index}"), None)),
        }
    }

    /// Creates a veth pair, both ends in this namespace.
    pub async fn create_veth(&self, name: &str, peer: &str) -> Result<()> {
        self.handle
            .link()
            .add(LinkVeth::new(name, peer).build())
            .execute()
            .await
            .map_err(nl("create veth", format!("{name}/{peer}")))
    }

    /// Moves a link into the namespace open at `ns_fd`, renaming it on the way if asked.
    pub async fn move_to_netns(
        &self,
        index: u32,
        ns_fd: RawFd,
        new_name: Option<&str>,
    ) -> Result<()> {
        let mut b = LinkUnspec::new_with_index(index).setns_by_fd(ns_fd);
        if let Some(n) = new_name {
            b = b.name(n);
        }
        self.handle
            .link()
            .set(b.build())
            .execute()
            .await
            .map_err(nl("move link to namespace", format!("ifindex {index}")))
    }

    /// Sets a link administratively up or down (`ip link set DEV up|down`).
    pub async fn set_up(&self, index: u32, up: bool) -> Result<()> {
        let b = LinkUnspec::new_with_index(index);
        let b = if up { b.up() } else { b.down() };
        self.handle
            .link()
            .set(b.build())
            .execute()
            .await
            .map_err(nl("set link state", format!("ifindex {index}")))
    }

    /// Deletes a link; deleting one end of a veth removes its peer too.
    pub async fn del_link(&self, index: u32) -> Result<()> {
        self.handle
            .link()
            .del(index)
            .execute()
            .await
            .map_err(nl("delete link", format!("ifindex {index}")))
    }

    /// Adds `addr/prefix` to a link (`ip addr add`); the subnet's route comes with it while the
    /// link is up.
    pub async fn add_address(&self, index: u32, addr: Ipv4Addr, prefix: u8) -> Result<()> {
        self.handle
            .address()
            .add(index, IpAddr::V4(addr), prefix)
            .execute()
            .await
            .map_err(nl(
                "add address",
                format!("{addr}/{prefix} on ifindex {index}"),
            ))
    }

    /// Removes an IPv4 address from a link (no error if it is not there).
    pub async fn del_address(&self, index: u32, addr: Ipv4Addr, prefix: u8) -> Result<()> {
        let mut s = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute();
        while let Some(m) = s
            .try_next()
            .await
            .map_err(nl("dump addresses", format!("ifindex {index}")))?
        {
            let has = m
                .attributes
                .iter()
                .any(|a| matches!(a, AddressAttribute::Address(IpAddr::V4(a)) if *a == addr));
            if has && m.header.prefix_len == prefix {
                self.handle.address().del(m).execute().await.map_err(nl(
                    "delete address",
                    format!("{addr}/{prefix} on ifindex {index}"),
                ))?;
            }
        }
        Ok(())
    }

    /// Every IPv4 address in the namespace (IPv6 addresses are left out).
    pub async fn addresses(&self) -> Result<Vec<Addr>> {
        let msgs: Vec<_> = self
            .handle
            .address()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(nl("dump addresses", "namespace"))?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| {
                let addr = m.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Address(IpAddr::V4(a)) => Some(*a),
                    _ => None,
                })?;
                Some(Addr {
                    ifindex: m.header.index,
                    addr,
                    prefix: m.header.prefix_len,
                })
            })
            .collect())
    }

    /// Adds `0.0.0.0/0 via gw`.
    pub async fn add_default_route(&self, gw: Ipv4Addr) -> Result<()> {
        let r = RouteMessageBuilder::<Ipv4Addr>::new().gateway(gw).build();
        self.handle
            .route()
            .add(r)
            .execute()
            .await
            .map_err(nl("add default route", format!("via {gw}")))
    }

    /// IPv4 routes of the main table.
    pub async fn routes(&self) -> Result<Vec<Route>> {
        let q = RouteMessageBuilder::<Ipv4Addr>::new().build();
        let msgs: Vec<_> = self
            .handle
            .route()
            .get(q)
            .execute()
            .try_collect()
            .await
            .map_err(nl("dump routes", "namespace"))?;
        Ok(msgs
            .into_iter()
            .filter(|m| m.header.table == 254)
            .map(|m| {
                let mut r = Route {
                    dst: Ipv4Addr::UNSPECIFIED,
                    prefix: m.header.destination_prefix_length,
                    gateway: None,
                    oif: None,
                };
                for a in &m.attributes {
                    match a {
                        RouteAttribute::Destination(RouteAddress::Inet(d)) => r.dst = *d,
                        RouteAttribute::Gateway(RouteAddress::Inet(g)) => r.gateway = Some(*g),
                        RouteAttribute::Oif(i) => r.oif = Some(*i),
                        _ => {}
                    }
                }
                r
            })
            .collect())
    }

    /// IPv4 neighbour entries.
    pub async fn neighbours(&self) -> Result<Vec<Neighbour>> {
        let msgs: Vec<_> = self
            .handle
            .neighbours()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(nl("dump neighbours", "namespace"))?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| {
                let addr = m.attributes.iter().find_map(|a| match a {
                    NeighbourAttribute::Destination(NeighbourAddress::Inet(a)) => Some(*a),
                    _ => None,
                })?;
                let mac = m.attributes.iter().find_map(|a| match a {
                    NeighbourAttribute::LinkLayerAddress(b) => Some(fmt_mac(b)),
                    _ => None,
                });
                let st = m.header.state;
                let valid = matches!(
                    st,
                    NeighbourState::Reachable
                        | NeighbourState::Stale
                        | NeighbourState::Delay
                        | NeighbourState::Probe
                        | NeighbourState::Permanent
                        | NeighbourState::Noarp
                );
                Some(Neighbour {
                    ifindex: m.header.ifindex,
                    addr,
                    mac,
                    state: format!("{st:?}").to_lowercase(),
                    valid,
                })
            })
            .collect())
    }

    /// The raw handle, for requests this module does not wrap.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

fn to_link(m: rtnetlink::packet_route::link::LinkMessage) -> Link {
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
    };
    for a in m.attributes {
        match a {
            LinkAttribute::IfName(n) => l.name = n,
            LinkAttribute::Mtu(v) => l.mtu = v,
            LinkAttribute::Address(b) => l.mac = fmt_mac(&b),
            LinkAttribute::Link(i) => l.peer_ifindex = Some(i),
            LinkAttribute::LinkNetNsId(i) => l.link_netnsid = Some(i),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::Kind(k) = i {
                        l.kind = Some(k.to_string());
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
