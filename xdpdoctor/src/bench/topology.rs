//! The names and numbers of the lab the bench measures in, resolved once from the scenario
//! and netlink: vm (the forwarder's namespace) and its interfaces, the container behind the
//! first NAT entry, the bridged container ([`super::bridge_lab`]), and the addresses and MACs
//! the generated frames carry.

use super::traffic::{self, Endpoints};
use crate::forwarder::ForwarderConfig;
use crate::lab::{self, LabState, Scenario};
use crate::netlink::rtnl::Rtnl;
use crate::netns::Netns;
use crate::{Error, Result};

/// Names and numbers of the lab the bench needs, resolved from the scenario and netlink.
pub(super) struct Topology {
    /// The forwarder's namespace.
    pub vm: Netns,
    /// The lab's client: where the af-packet generator sends from.
    pub client: Netns,
    /// Its interface towards vm.
    pub client_if: String,
    /// vm's external interface's name (eth0).
    pub ext_name: String,
    /// The container receiving entry 0's traffic.
    pub container: Netns,
    /// Its interface towards vm (host0), where delivery is counted.
    pub container_if: String,
    /// The bridged container receiving the bridged variants' frames (b1).
    pub bridged: Netns,
    /// Its interface, a port of vm's bridge behind it (eth0), where their delivery is counted.
    pub bridged_if: String,
    /// The forwarder's config in the scenario.
    pub cfg: ForwarderConfig,
    /// vm's external interface (eth0): where frames are injected.
    pub ext_index: u32,
    /// vm's side of the container link (ve-m1).
    pub int_index: u32,
    /// Every ifindex of vm.
    pub all_indexes: Vec<u32>,
    /// Frame addresses.
    pub endpoints: Endpoints,
}

/// Resolves the bench's topology in the lab `prefix` built from `sc`.
pub(super) fn topology(sc: &Scenario, prefix: &str) -> Result<Topology> {
    let ns = |n: &str| Netns::named(&LabState::ns_name(prefix, n));
    let bad = |m: &str| Error::invalid(format!("bench scenario {}", sc.name), m.to_string());
    let f = sc
        .forwarder
        .as_ref()
        .ok_or_else(|| bad("has no forwarder"))?;
    let cfg = sc.forwarder_config(f);
    let entry = *cfg.entries.first().ok_or_else(|| bad("has no NAT entry"))?;
    let (bnode, bfrom, bto) =
        super::bridge_lab::measured(sc).ok_or_else(|| bad("has no bridged container"))?;
    let blink = sc
        .links
        .iter()
        .find(|l| l.a.node == f.node && l.b.node == bnode && l.a.bridge.is_some())
        .ok_or_else(|| bad("no bridge port to the bridged container"))?;
    let bridged_if = blink.b.name.clone();
    let bport_name = blink.a.name.clone();
    if !has_ip_of(&blink.b.addr, *bto.ip()) {
        return Err(bad(
            "the bridged container does not hold its entry's address",
        ));
    }
    let client = &sc
        .traffic
        .as_ref()
        .ok_or_else(|| bad("has no client"))?
        .client;
    let has_ip = has_ip_of;
    let ext_link = sc
        .links
        .iter()
        .find(|l| l.a.node == f.node && &l.b.node == client)
        .ok_or_else(|| bad("no link between the forwarder node and the client"))?;
    let int_link = sc
        .links
        .iter()
        .find(|l| l.a.node == f.node && has_ip(&l.b.addr, *entry.to.ip()))
        .ok_or_else(|| bad("no link to the first entry's target"))?;

    let client_if = ext_link.b.name.clone();
    let client_ip = ext_link
        .b
        .addr
        .map(|c| c.addr)
        .ok_or_else(|| bad("the client's interface has no address"))?;
    let client_mac = ns(client).block_on(|| {
        let client_if = client_if.clone();
        async move { Ok(Rtnl::new()?.link(&client_if).await?.mac) }
    })?;
    let (ext_name, int_name) = (ext_link.a.name.clone(), int_link.a.name.clone());
    let vm = ns(&f.node);
    let (ext, int, _bport, all) = vm.block_on(|| async move {
        let rt = Rtnl::new()?;
        let links = rt.links().await?;
        let find = |n: &str| {
            links
                .iter()
                .find(|l| l.name == n)
                .cloned()
                .ok_or_else(|| Error::not_found(format!("interface {n}"), None))
        };
        Ok((
            find(&ext_name)?,
            find(&int_name)?,
            find(&bport_name)?,
            links.iter().map(|l| l.index).collect::<Vec<_>>(),
        ))
    })?;
    Ok(Topology {
        client: ns(client),
        client_if,
        ext_name: ext_link.a.name.clone(),
        container: ns(&int_link.b.node),
        container_if: int_link.b.name.clone(),
        bridged: ns(bnode),
        bridged_if,
        ext_index: ext.index,
        int_index: int.index,
        all_indexes: all,
        endpoints: Endpoints {
            src_mac: traffic::parse_mac(&client_mac)?,
            dst_mac: traffic::parse_mac(&ext.mac)?,
            client: client_ip,
            service: entry.from,
            target: entry.to,
            bridged: bfrom,
        },
        vm,
        cfg,
    })
}

fn has_ip_of(addr: &Option<lab::scenario::Cidr>, ip: std::net::Ipv4Addr) -> bool {
    addr.is_some_and(|c| c.addr == ip)
}
