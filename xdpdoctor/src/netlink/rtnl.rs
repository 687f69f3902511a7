//! rtnetlink: links, addresses, routes and neighbours of the calling thread's namespace.
//!
//! A thin layer over the `rtnetlink` crate that turns its messages into small plain structs
//! (what the lab, the deployer and the snapshot need) and its errors into `Error::Netlink`
//! naming the object. Only a lookup the kernel answers with "no such device" (ENODEV, or no
//! answer at all) is `Error::NotFound`. Create an `Rtnl` inside `Netns::block_on`: the socket
//! belongs to the namespace of the thread that opened it.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::RawFd;

use futures::{Stream, TryStreamExt};
use rtnetlink::packet_route::{
    link::LinkMessage,
    neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourState},
};
use rtnetlink::{Handle, LinkUnspec, LinkVeth, RouteMessageBuilder};
use serde::{Deserialize, Serialize};

use crate::error::errno_in;
use crate::{Error, Result};

mod parse;
#[cfg(test)]
mod tests;

use parse::{fmt_mac, own_ipv4, to_addr, to_link, to_route};

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
    /// The interface's own address: IFA_LOCAL, or IFA_ADDRESS when the kernel sent no
    /// IFA_LOCAL. (The two are equal on veth and Ethernet; on a point-to-point link with a
    /// peer, `ip addr add A peer P`, IFA_ADDRESS is the peer P and IFA_LOCAL is A.)
    pub addr: Ipv4Addr,
    /// Prefix length (0..=32): the subnet the address puts on-link. With a point-to-point
    /// peer the kernel's prefix route is to the peer's subnet, not to `addr`'s.
    pub prefix: u8,
}

/// What a route does with the packets it matches (rtm_type). Only a `unicast` route is a way
/// out; the others end the lookup without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteKind {
    /// RTN_UNICAST: out through `oif`, to `gateway` or on-link. Also what a snapshot saved
    /// before the field existed reads as.
    #[default]
    Unicast,
    /// RTN_BLACKHOLE: dropped silently (`ip route add blackhole ...`).
    Blackhole,
    /// RTN_UNREACHABLE: refused with ICMP host unreachable.
    Unreachable,
    /// RTN_PROHIBIT: refused with ICMP administratively prohibited.
    Prohibit,
    /// RTN_THROW: the lookup goes on in the next table of the policy rules.
    Throw,
    /// Any other type (local, broadcast, multicast, nat, ...): not a way out either.
    Other,
}

impl std::fmt::Display for RouteKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RouteKind::Unicast => "unicast",
            RouteKind::Blackhole => "blackhole",
            RouteKind::Unreachable => "unreachable",
            RouteKind::Prohibit => "prohibit",
            RouteKind::Throw => "throw",
            RouteKind::Other => "other",
        })
    }
}

/// An IPv4 route of the main table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Destination network (0.0.0.0 for the default route).
    pub dst: Ipv4Addr,
    /// Destination prefix length (0 for the default route).
    pub prefix: u8,
    /// The route's type: only a `unicast` route leads anywhere (blackhole, unreachable and
    /// prohibit routes have neither gateway nor output interface, yet are not on-link).
    #[serde(default)]
    pub kind: RouteKind,
    /// Next hop (RTA_GATEWAY); None for a directly connected (on-link) route. For a multipath
    /// route (RTA_MULTIPATH), the first next hop's.
    pub gateway: Option<Ipv4Addr>,
    /// Output interface (RTA_OIF). For a multipath route, the first next hop's: the kernel
    /// picks a hop per flow by hash, so any one is right for some flows; the first is the
    /// one `ip route` lists first, which keeps snapshots and findings stable.
    pub oif: Option<u32>,
}

impl Route {
    /// Whether packets matching this route leave (a unicast route), rather than being
    /// dropped or refused.
    pub fn is_unicast(&self) -> bool {
        self.kind == RouteKind::Unicast
    }
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

    /// The link named `name`: `Error::NotFound` when there is no such link (the kernel
    /// answers ENODEV), `Error::Netlink` keeping the kernel's or the socket's error for
    /// any other failure.
    pub async fn link(&self, name: &str) -> Result<Link> {
        let s = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        first_link(s, format!("interface {name}")).await
    }

    /// The link with index `index`; errors as for [`Rtnl::link`].
    pub async fn link_by_index(&self, index: u32) -> Result<Link> {
        let s = self.handle.link().get().match_index(index).execute();
        first_link(s, format!("ifindex {index}")).await
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

    /// Attaches the loaded XDP program `prog_fd` to a link in native (driver) mode through
    /// netlink (`IFLA_XDP`), failing if one is attached already. Unlike a bpf_link, such an
    /// attachment belongs to the device: it stays after the process exits and goes with the
    /// device (or its namespace).
    pub async fn attach_xdp_native(&self, index: u32, prog_fd: RawFd) -> Result<()> {
        use rtnetlink::packet_route::link::{LinkAttribute, LinkXdp};
        // uapi/linux/if_link.h
        const XDP_FLAGS_UPDATE_IF_NOEXIST: u32 = 1 << 0;
        const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
        let msg = LinkUnspec::new_with_index(index)
            .append_extra_attribute(LinkAttribute::Xdp(vec![
                LinkXdp::Fd(prog_fd),
                LinkXdp::Flags(XDP_FLAGS_UPDATE_IF_NOEXIST | XDP_FLAGS_DRV_MODE),
            ]))
            .build();
        self.handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(nl("attach XDP program", format!("ifindex {index}")))
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
            // The same reading of the message as `addresses()`, so what it lists is found.
            let has = own_ipv4(&m.attributes) == Some(addr);
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
        Ok(msgs.iter().filter_map(to_addr).collect())
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

    /// IPv4 routes of the main table, of every type (see [`Route::kind`]); a multipath
    /// route is read as its first next hop.
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
        Ok(msgs.iter().filter_map(to_route).collect())
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

/// The first link a lookup answers. No link, by the kernel's ENODEV or by an empty answer,
/// is `Error::NotFound` for `what`; any other failure is `Error::Netlink` with its source.
async fn first_link(
    s: impl Stream<Item = std::result::Result<LinkMessage, rtnetlink::Error>>,
    what: String,
) -> Result<Link> {
    futures::pin_mut!(s);
    match s.try_next().await {
        Ok(Some(m)) => Ok(to_link(m)),
        Ok(None) => Err(Error::not_found(what, None)),
        Err(e) => Err(link_lookup_error(what, e)),
    }
}

/// What a failed link lookup for `what` means: "no such device" (ENODEV) is
/// `Error::NotFound`; anything else (a refused or broken socket, a request the kernel
/// rejects) is `Error::Netlink` keeping the error, so the user is not told a link is missing
/// when something else went wrong.
fn link_lookup_error(what: String, e: rtnetlink::Error) -> Error {
    if errno_in(&e) == Some(libc::ENODEV) {
        log::debug!("{what}: {e}");
        Error::not_found(what, None)
    } else {
        Error::netlink("get link", what, e)
    }
}
