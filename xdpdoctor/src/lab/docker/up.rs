//! `lab up` of a Docker scenario: the incident on a real Docker host.
//!
//! Order: Docker's daemon (started if it does not answer) -> the lab image (imported once,
//! offline) -> the lab's bridge network `PREFIX-net` (bridge device `PREFIX-br`) -> the
//! containers `PREFIX-NAME` (busybox httpd), each waited for inside its namespace -> the
//! client namespace `PREFIX-client` and the external veth `PREFIX-x` (host) / `eth0`
//! (client) on a free /24 -> the forwarder on the host (`external` = `PREFIX-x`, `internal`
//! = the bridge `PREFIX-br`: it redirects to the containers' ports by MAC) -> what the
//! healthy lab changes on Docker's defaults, unless that fault is on.
//!
//! Everything is recorded in the lab's state before it is made, and everything Docker makes
//! carries the label `xdpdoctor.lab=PREFIX`: `lab down` removes exactly that (by label,
//! never by name alone), the rules by their comment, and never docker0, other containers,
//! other rules or the daemon.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::time::Duration;

use super::rules::accept_rule;
use super::spec::{names, AcceptRecord, DockerFault, DockerSpec, DockerState, LABEL};
use super::{daemon, host, image};
use crate::forwarder::{self, Deployment, Entry, ForwarderConfig};
use crate::lab::http;
use crate::lab::options::UpOptions;
use crate::lab::scenario::{Fault, Scenario};
use crate::lab::state::LabState;
use crate::netlink::ethtool;
use crate::netlink::rtnl::{LinkKind, Rtnl};
use crate::netns::Netns;
use crate::runtime::docker::{ContainerInfo, NewContainer};
use crate::runtime::Docker;
use crate::snapshot::in_prefix;
use crate::{cancel, Error, Result};

/// How long a container's server may take to listen.
const SERVER_START: Duration = Duration::from_secs(30);

/// One container once it runs.
struct Running {
    spec_port: u16,
    entry_port: u16,
    info: ContainerInfo,
    /// Its eth0's peer on the host: the bridge port.
    host_veth: String,
}

/// Builds the Docker lab of `sc`; `st` records each thing before it is made.
pub fn build(
    sc: &Scenario,
    spec: &DockerSpec,
    faults: &[&Fault],
    opts: &UpOptions,
    st: &mut LabState,
) -> Result<()> {
    let prefix = opts.prefix.clone();
    let on: Vec<DockerFault> = faults.iter().flat_map(|f| f.docker.clone()).collect();
    let host = host()?;
    if opts.forwarder && Deployment::load(host.key()?)?.is_some() {
        return Err(Error::busy(
            "the host's namespace",
            "a forwarder is deployed there already (another Docker lab?); a Docker lab \
             deploys its forwarder on the host, one at a time",
        ));
    }
    let total = 5 + spec.containers.len() as u64;
    let mut step = 0;
    let mut tick = |what: &str| {
        step += 1;
        log::info!("docker lab {prefix}: {what}");
        opts.progress.steps("building Docker lab", step, total);
    };

    let d = Docker::new();
    let started = daemon::ensure(&d)?;
    let mut ds = DockerState {
        started_dockerd: started,
        image: image::IMAGE.to_string(),
        network: names::network(&prefix),
        bridge: names::bridge(&prefix),
        external: names::external(&prefix),
        ..Default::default()
    };
    st.docker = Some(ds.clone());
    st.save()?;
    tick(&format!("Docker {} answers", d.version()?));
    image::ensure(&d)?;
    tick(&format!("image {}", image::IMAGE));

    cancel::check()?;
    let labels = [(LABEL.to_string(), prefix.clone())].into_iter().collect();
    let net_id = d.create_network(&ds.network, &ds.bridge, &labels)?;
    tick(&format!("network {} (bridge {})", ds.network, ds.bridge));

    let mut running = Vec::new();
    for c in &spec.containers {
        cancel::check()?;
        let name = names::container(&prefix, &c.name);
        ds.containers.push(name.clone());
        st.docker = Some(ds.clone());
        st.save()?;
        running.push(start_container(
            &d,
            &name,
            &c.name,
            c.port,
            c.entry_port,
            &ds.network,
            &labels,
        )?);
        tick(&format!("container {name}"));
    }
    let br = bridge_index(&host, &ds.bridge)?;
    for r in &running {
        if r.host_veth.is_empty() {
            return Err(Error::unexpected(
                format!("container {}", r.info.name),
                format!("no veth of it is a port of {}", ds.bridge),
            ));
        }
    }
    log::debug!("network {} is {net_id}, bridge ifindex {br}", ds.network);

    // The client behind the external veth.
    cancel::check()?;
    let (net, ext_addr) = free_subnet(&host, spec, &prefix)?;
    ds.external_addr = Some((ext_addr, 24));
    st.docker = Some(ds.clone());
    st.save()?;
    let client_node = sc
        .traffic
        .as_ref()
        .map(|t| t.client.clone())
        .unwrap_or_else(|| "client".into());
    let client = Netns::named(&LabState::ns_name(&prefix, &client_node));
    let client_addr = Ipv4Addr::from(u32::from(net) | 254);
    external_link(&host, &client, &ds.external, ext_addr, client_addr)?;
    tick(&format!(
        "client {} at {client_addr} behind {} ({ext_addr}/24)",
        client.name, ds.external
    ));

    // The forwarder: the bridge as its internal side (every port, now and later).
    let cfg = ForwarderConfig {
        external: vec![ds.external.clone()],
        internal: vec![ds.bridge.clone()],
        entries: running
            .iter()
            .filter_map(|r| {
                Some(Entry {
                    from: SocketAddrV4::new(ext_addr, r.entry_port),
                    to: SocketAddrV4::new(ip_of(&r.info)?, r.spec_port),
                })
            })
            .collect(),
        full_checksum: false,
        fib_cache_ms: 0,
    };
    let dir = LabState::files_dir(&prefix);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
    let path = dir.join("forwarder.json");
    std::fs::write(&path, cfg.to_json()).map_err(|e| Error::io("write", &path, e))?;
    st.forwarder_config = Some(path.clone());
    st.forwarder_netns = Some(host.path.display().to_string());
    st.client_netns = Some(client.name.clone());
    st.targets = cfg.entries.iter().map(|e| (e.from, e.to)).collect();
    st.save()?;
    if opts.forwarder {
        cancel::check()?;
        let dep = forwarder::deploy(&host, &cfg, &path, opts.mode)?;
        if on.contains(&DockerFault::BridgeInDevmap) {
            // As a forwarder that fills its devmap with every interface would.
            let key = dep.key();
            host.run(move || forwarder::maps::devmap_insert(key, br).map(drop))?;
        }
    }
    tick("forwarder on the host");

    // What the healthy lab changes on Docker's defaults.
    if !on.contains(&DockerFault::NoAccept) {
        for e in &cfg.entries {
            let rec = AcceptRecord {
                iifname: ds.external.clone(),
                to: e.to,
                comment: format!("xdpdoctor lab {prefix}: accept {} -> {}", e.from, e.to),
            };
            ds.accept_rules.push(rec.clone());
            st.docker = Some(ds.clone());
            st.save()?;
            let rule = accept_rule(&rec);
            host.run(move || rule.insert())?;
        }
    }
    for r in &running {
        let ns = container_ns(&r.info);
        let (tx, gro) = (
            on.contains(&DockerFault::TxCsum),
            !on.contains(&DockerFault::NoGro),
        );
        ns.run(move || {
            ethtool::set_tx_csum("eth0", tx)?;
            ethtool::set_gro("eth0", gro)
        })?;
    }
    ds.complete = true;
    st.docker = Some(ds);
    st.save()?;
    tick("Docker's defaults as the faults ask");
    Ok(())
}

/// A container's first IPv4 address.
fn ip_of(c: &ContainerInfo) -> Option<Ipv4Addr> {
    c.networks.iter().find_map(|n| n.ip)
}

/// The network namespace of a running container, reached through its main process.
pub fn container_ns(c: &ContainerInfo) -> Netns {
    Netns {
        name: format!("docker:{}", c.name),
        path: format!("/proc/{}/ns/net", c.pid).into(),
    }
}

/// Creates and starts one container, waits for its server, and finds its bridge port.
fn start_container(
    d: &Docker,
    name: &str,
    node: &str,
    port: u16,
    entry_port: u16,
    network: &str,
    labels: &std::collections::BTreeMap<String, String>,
) -> Result<Running> {
    let id = d.create_container(&NewContainer {
        name: name.to_string(),
        image: image::IMAGE.to_string(),
        cmd: vec![
            "/bin/busybox".into(),
            "sh".into(),
            "-c".into(),
            format!(
                "echo hello from {node} > /www/index.html && exec /bin/busybox httpd -f -p {port} -h /www"
            ),
        ],
        network: network.to_string(),
        labels: labels.clone(),
        publish: Vec::new(),
    })?;
    d.start_container(&id)?;
    let info = d.container(&id)?.ok_or_else(|| {
        Error::not_found(
            format!("container {name} ({id})"),
            Some("it vanished right after it started".into()),
        )
    })?;
    if !info.running || info.pid == 0 {
        return Err(Error::unexpected(
            format!("container {name}"),
            "created but not running".to_string(),
        ));
    }
    let ns = container_ns(&info);
    // Inside the container's namespace: no neighbour entry appears on the host.
    http::wait_listening(
        &ns,
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, port),
        SERVER_START,
    )?;
    let peer = ns.block_on(|| async move {
        let l = Rtnl::new()?.link("eth0").await?;
        Ok(l.peer_ifindex)
    })?;
    let host_veth = match peer {
        Some(i) => host()?
            .block_on(move || async move { Ok(Rtnl::new()?.link_by_index(i).await?.name) })?,
        None => String::new(),
    };
    Ok(Running {
        spec_port: port,
        entry_port,
        info,
        host_veth,
    })
}

/// The ifindex of the lab's bridge on the host.
fn bridge_index(host: &Netns, bridge: &str) -> Result<u32> {
    let name = bridge.to_string();
    let l = host.block_on(|| async move { Rtnl::new()?.link(&name).await })?;
    if l.kind != Some(LinkKind::Bridge) {
        return Err(Error::unexpected(
            format!("interface {bridge}"),
            format!(
                "a {} device, not Docker's bridge",
                l.kind
                    .map(|k| k.to_string())
                    .unwrap_or_else(|| "plain".into())
            ),
        ));
    }
    Ok(l.index)
}

/// The first /24 of the pool that nothing on the host uses (no route or address covers it,
/// no other Docker lab took it): its network address and the host's address in it (`.1`).
fn free_subnet(host: &Netns, spec: &DockerSpec, prefix: &str) -> Result<(Ipv4Addr, Ipv4Addr)> {
    let pool = spec.external_pool;
    let (routes, addrs) = host.block_on(|| async move {
        let rt = Rtnl::new()?;
        Ok((rt.routes().await?, rt.addresses().await?))
    })?;
    let taken: Vec<Ipv4Addr> = LabState::all()
        .into_iter()
        .filter(|l| l.prefix != prefix)
        .filter_map(|l| l.docker?.external_addr.map(|(a, _)| a))
        .collect();
    let base = u32::from(pool.addr) & (u32::MAX << (32 - u32::from(pool.prefix.min(24))));
    let count = 1u32 << (24 - u32::from(pool.prefix.min(24)));
    for n in 0..count {
        let net = Ipv4Addr::from(base + (n << 8));
        let overlaps =
            |a: Ipv4Addr, len: u8| len > 0 && (in_prefix(net, a, len) || in_prefix(a, net, 24));
        let used = routes.iter().any(|r| overlaps(r.dst, r.prefix))
            || addrs.iter().any(|a| in_prefix(a.addr, net, 24))
            || taken.iter().any(|a| in_prefix(*a, net, 24));
        if !used {
            return Ok((net, Ipv4Addr::from(u32::from(net) | 1)));
        }
    }
    Err(Error::busy(
        format!("external_pool {}/{}", pool.addr, pool.prefix),
        "every /24 in it is in use on this host",
    ))
}

/// The external veth: `ext` on the host with `ext_addr/24`, its peer `eth0` in `client` with
/// `client_addr/24` (tx checksum off, GRO on: it stands in for a real NIC, as in the seed),
/// a default route back.
fn external_link(
    host: &Netns,
    client: &Netns,
    ext: &str,
    ext_addr: Ipv4Addr,
    client_addr: Ipv4Addr,
) -> Result<()> {
    let fd = client.open()?;
    let (e, tmp) = (ext.to_string(), format!("{ext}y"));
    host.block_on(|| async move {
        let rt = Rtnl::new()?;
        rt.create_veth(&e, &tmp).await?;
        let peer = rt.link(&tmp).await?;
        rt.move_to_netns(peer.index, fd.as_raw_fd(), Some("eth0"))
            .await?;
        let l = rt.link(&e).await?;
        rt.add_address(l.index, ext_addr, 24).await?;
        rt.set_up(l.index, true).await
    })?;
    client.block_on(|| async move {
        let rt = Rtnl::new()?;
        rt.set_up(rt.link("lo").await?.index, true).await?;
        let l = rt.link("eth0").await?;
        rt.add_address(l.index, client_addr, 24).await?;
        rt.set_up(l.index, true).await?;
        ethtool::set_tx_csum("eth0", false)?;
        ethtool::set_gro("eth0", true)?;
        rt.add_default_route(ext_addr).await
    })
}
