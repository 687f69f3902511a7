//! rtnetlink: links, addresses, routes and neighbours of the calling thread's namespace.
//!
//! A thin layer over the `rtnetlink` crate that turns its messages into small plain structs
//! (what the lab, the deployer and the snapshot need) and its errors into `Error::Netlink`
//! naming the object. Only a lookup the kernel answers with "no such device" (ENODEV, or no
//! answer at all) is `Error::NotFound`. Create an `Rtnl` inside `Netns::block_on`: the socket
//! belongs to the namespace of the thread that opened it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::RawFd;

use futures::{Stream, TryStreamExt};
use rtnetlink::packet_route::{
    link::LinkMessage,
    neighbour::{NeighbourAddress, NeighbourAttribute},
    AddressFamily,
};
use rtnetlink::{
    Handle, LinkBridge, LinkDummy, LinkMacVlan, LinkUnspec, LinkVeth, LinkVlan, LinkVxlan,
    RouteMessageBuilder,
};

use crate::error::errno_in;
use crate::{Error, Result};

mod parse;
#[cfg(test)]
mod tests;

mod types;

use parse::{fmt_mac, own_ipv4, to_addr, to_addr6, to_link, to_route, to_route6};
pub use types::{
    is_link_local6, Addr, Addr6, FdbEntry, Link, LinkKind, Neighbour, Neighbour6, NudState, Route,
    Route6, RouteKind, XdpAttachment, XdpMode,
};

/// A device [`Rtnl::create_stacked`] makes; lower devices by ifindex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewDevice {
    /// A macvlan in bridge mode.
    Macvlan {
        /// The lower device.
        lower: u32,
    },
    /// An 802.1Q VLAN.
    Vlan {
        /// The lower device.
        lower: u32,
        /// The VLAN id.
        id: u16,
    },
    /// A VXLAN on UDP port 4789.
    Vxlan {
        /// The VNI.
        vni: u32,
        /// The underlay device, if pinned to one.
        lower: Option<u32>,
        /// The local underlay address.
        local: Option<Ipv4Addr>,
        /// The other tunnel end.
        remote: Ipv4Addr,
    },
    /// A dummy device.
    Dummy,
    /// A Linux bridge (ports are enslaved with [`Rtnl::set_master`]).
    Bridge,
}

impl NewDevice {
    /// Its rtnl kind.
    pub fn kind(&self) -> &'static str {
        match self {
            NewDevice::Macvlan { .. } => "macvlan",
            NewDevice::Vlan { .. } => "vlan",
            NewDevice::Vxlan { .. } => "vxlan",
            NewDevice::Dummy => "dummy",
            NewDevice::Bridge => "bridge",
        }
    }
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

    /// The link with index `index` in the namespace this one calls `nsid` (a veth's peer:
    /// [`Link::peer_ifindex`] and [`Link::link_netnsid`]), asked from here with
    /// `IFLA_TARGET_NETNSID` (Linux 4.20+) instead of entering that namespace, which may have
    /// no name to enter it by (a container's).
    pub async fn link_in_nsid(&self, nsid: i32, index: u32) -> Result<Link> {
        let mut req = self.handle.link().get().match_index(index);
        req.message_mut()
            .attributes
            .push(rtnetlink::packet_route::link::LinkAttribute::IfNetnsId(
                nsid,
            ));
        first_link(req.execute(), format!("ifindex {index} in nsid {nsid}")).await
    }

    /// Asks the kernel to resolve `addr` on link `index` (`RTM_NEWNEIGH` with `NTF_USE`, as
    /// `ip neigh replace ADDR dev DEV use` would): an entry is created if there is none and
    /// the kernel sends its ARP probe, like for a packet about to leave. The entry is the
    /// kernel's own (learned, aging as usual), nothing is set by hand; one already resolved
    /// is left as it is.
    pub async fn resolve_neighbour(&self, index: u32, addr: Ipv4Addr) -> Result<()> {
        use rtnetlink::packet_route::neighbour::{NeighbourFlags, NeighbourState};
        self.handle
            .neighbours()
            .add(index, IpAddr::V4(addr))
            .state(NeighbourState::None)
            .flags(NeighbourFlags::Use)
            .replace()
            .execute()
            .await
            .map_err(nl(
                "resolve neighbour",
                format!("{addr} on ifindex {index}"),
            ))
    }

    /// Creates a veth pair, both ends in this namespace.
    pub async fn create_veth(&self, name: &str, peer: &str) -> Result<()> {
        self.create_veth_queues(name, peer, None, None).await
    }

    /// Creates a veth pair with `queues` transmit and receive queues on each end (None: the
    /// kernel's one), as `ip link add NAME numtxqueues N numrxqueues N type veth peer name
    /// PEER numtxqueues M numrxqueues M`.
    pub async fn create_veth_queues(
        &self,
        name: &str,
        peer: &str,
        queues: Option<u32>,
        peer_queues: Option<u32>,
    ) -> Result<()> {
        use rtnetlink::packet_route::link::{InfoData, InfoVeth, LinkAttribute};
        use rtnetlink::LinkMessageBuilder;
        let with_queues = |b: LinkMessageBuilder<LinkUnspec>, q: Option<u32>| match q {
            Some(q) => b
                .append_extra_attribute(LinkAttribute::NumTxQueues(q))
                .append_extra_attribute(LinkAttribute::NumRxQueues(q)),
            None => b,
        };
        let peer_msg = with_queues(
            LinkMessageBuilder::<LinkUnspec>::new().name(peer.to_string()),
            peer_queues,
        )
        .build();
        let mut b =
            LinkVeth::new(name, peer).set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg)));
        if let Some(q) = queues {
            b = b
                .append_extra_attribute(LinkAttribute::NumTxQueues(q))
                .append_extra_attribute(LinkAttribute::NumRxQueues(q));
        }
        self.handle
            .link()
            .add(b.build())
            .execute()
            .await
            .map_err(nl("create veth", format!("{name}/{peer}")))
    }

    /// Creates a device of another kind than veth in this namespace (`ip link add NAME ...`).
    pub async fn create_stacked(&self, name: &str, dev: NewDevice) -> Result<()> {
        use rtnetlink::packet_route::link::MacVlanMode;
        let msg = match dev {
            NewDevice::Macvlan { lower } => {
                LinkMacVlan::new(name, lower, MacVlanMode::Bridge).build()
            }
            NewDevice::Vlan { lower, id } => LinkVlan::new(name, lower, id).build(),
            NewDevice::Vxlan {
                vni,
                lower,
                local,
                remote,
            } => {
                let mut b = LinkVxlan::new(name, vni).port(4789).remote(remote);
                if let Some(l) = lower {
                    b = b.dev(l);
                }
                if let Some(a) = local {
                    b = b.local(a);
                }
                b.build()
            }
            NewDevice::Dummy => LinkDummy::new(name).build(),
            NewDevice::Bridge => LinkBridge::new(name).build(),
        };
        let kind = dev.kind();
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(|e| match errno_in(&e) {
                // "Unknown device type": the kernel was built without the driver (or its
                // module cannot be loaded).
                Some(libc::EOPNOTSUPP) => Error::unsupported(
                    format!("{name} ({kind})"),
                    format!(
                        "this kernel has no {kind} driver (rtnetlink: EOPNOTSUPP, \
                         unknown device type)"
                    ),
                ),
                _ => Error::netlink("create link", format!("{name} ({kind})"), e),
            })
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

    /// Makes link `index` a port of the bridge `master` (`ip link set DEV master BR`).
    pub async fn set_master(&self, index: u32, master: u32) -> Result<()> {
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).controller(master).build())
            .execute()
            .await
            .map_err(nl(
                "set link master",
                format!("ifindex {index} into ifindex {master}"),
            ))
    }

    /// Adds a permanent neighbour entry `addr lladdr <mac> dev <index>`.
    pub async fn add_permanent_neighbour(
        &self,
        index: u32,
        addr: Ipv4Addr,
        mac: [u8; 6],
    ) -> Result<()> {
        self.handle
            .neighbours()
            .add(index, IpAddr::V4(addr))
            .link_layer_address(&mac)
            .execute()
            .await
            .map_err(nl("add neighbour", format!("{addr} on ifindex {index}")))
    }

    /// Sets a link's MTU (`ip link set DEV mtu N`).
    pub async fn set_mtu(&self, index: u32, mtu: u32) -> Result<()> {
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).mtu(mtu).build())
            .execute()
            .await
            .map_err(nl("set MTU", format!("ifindex {index} to {mtu}")))
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
        Ok(self.addresses_both().await?.0)
    }

    /// Every address of the namespace from one dump: IPv4, and IPv6 (link-local ones
    /// included).
    pub async fn addresses_both(&self) -> Result<(Vec<Addr>, Vec<Addr6>)> {
        let msgs: Vec<_> = self
            .handle
            .address()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(nl("dump addresses", "namespace"))?;
        Ok((
            msgs.iter().filter_map(to_addr).collect(),
            msgs.iter().filter_map(to_addr6).collect(),
        ))
    }

    /// Adds `addr/prefix` (IPv6) to a link with `nodad` (usable at once: no duplicate address
    /// detection delay).
    pub async fn add_address6(&self, index: u32, addr: Ipv6Addr, prefix: u8) -> Result<()> {
        let mut req = self.handle.address().add(index, IpAddr::V6(addr), prefix);
        req.message_mut().header.flags |=
            rtnetlink::packet_route::address::AddressHeaderFlags::Nodad;
        req.execute().await.map_err(nl(
            "add address",
            format!("{addr}/{prefix} on ifindex {index}"),
        ))
    }

    /// Adds `::/0 via gw`.
    pub async fn add_default_route6(&self, gw: Ipv6Addr) -> Result<()> {
        let r = RouteMessageBuilder::<Ipv6Addr>::new().gateway(gw).build();
        self.handle
            .route()
            .add(r)
            .execute()
            .await
            .map_err(nl("add default route", format!("via {gw}")))
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

    /// IPv6 routes of the main table, of every type.
    pub async fn routes6(&self) -> Result<Vec<Route6>> {
        let q = RouteMessageBuilder::<Ipv6Addr>::new().build();
        let msgs: Vec<_> = self
            .handle
            .route()
            .get(q)
            .execute()
            .try_collect()
            .await
            .map_err(nl("dump IPv6 routes", "namespace"))?;
        Ok(msgs.iter().filter_map(to_route6).collect())
    }

    /// Every neighbour entry of the namespace, both families: (ifindex, address, MAC, state).
    async fn neighbour_entries(
        &self,
    ) -> Result<Vec<(u32, std::net::IpAddr, Option<String>, NudState)>> {
        use std::net::IpAddr;
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
                    NeighbourAttribute::Destination(NeighbourAddress::Inet(a)) => {
                        Some(IpAddr::V4(*a))
                    }
                    NeighbourAttribute::Destination(NeighbourAddress::Inet6(a)) => {
                        Some(IpAddr::V6(*a))
                    }
                    _ => None,
                })?;
                let mac = m.attributes.iter().find_map(|a| match a {
                    NeighbourAttribute::LinkLayerAddress(b) => Some(fmt_mac(b)),
                    _ => None,
                });
                Some((m.header.ifindex, addr, mac, NudState::from(m.header.state)))
            })
            .collect())
    }

    /// Neighbour entries of both families from one dump: IPv4 (ARP) and IPv6 (NDP).
    pub async fn neighbours_both(&self) -> Result<(Vec<Neighbour>, Vec<Neighbour6>)> {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for (ifindex, addr, mac, state) in self.neighbour_entries().await? {
            let valid = state.is_valid();
            match addr {
                std::net::IpAddr::V4(addr) => v4.push(Neighbour {
                    ifindex,
                    addr,
                    mac,
                    state,
                    valid,
                }),
                std::net::IpAddr::V6(addr) => v6.push(Neighbour6 {
                    ifindex,
                    addr,
                    mac,
                    state,
                    valid,
                }),
            }
        }
        Ok((v4, v6))
    }

    /// IPv4 neighbour entries.
    pub async fn neighbours(&self) -> Result<Vec<Neighbour>> {
        Ok(self.neighbours_both().await?.0)
    }

    /// The forwarding databases of every bridge in the namespace (`bridge fdb show`): the
    /// learned and static MAC -> port entries; entries of ports without a bridge (a plain
    /// device's own multicast list) are left out.
    pub async fn fdb(&self) -> Result<Vec<FdbEntry>> {
        let msgs: Vec<_> = self
            .handle
            .neighbours()
            .get()
            .set_address_family(AddressFamily::Bridge)
            .execute()
            .try_collect()
            .await
            .map_err(nl("dump bridge fdb", "namespace"))?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| {
                let mut mac = None;
                let mut bridge = None;
                for a in &m.attributes {
                    match a {
                        NeighbourAttribute::LinkLayerAddress(b) if b.len() == 6 => {
                            mac = Some(fmt_mac(b))
                        }
                        NeighbourAttribute::Controller(i) => bridge = Some(*i),
                        _ => {}
                    }
                }
                Some(FdbEntry {
                    bridge: bridge?,
                    port: m.header.ifindex,
                    mac: mac?,
                    local: NudState::from(m.header.state) == NudState::Permanent,
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
