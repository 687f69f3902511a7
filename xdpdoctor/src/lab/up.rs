//! `lab up`: build a scenario into namespaces.
//!
//! Order: namespaces -> bridges -> veth pairs (created in side a, peer moved and renamed into
//! side b, each end that names a bridge made its port) ->
//! devices faults stack on them (macvlan, vlan, vxlan, dummy) -> per node: loopback, addresses, default route, sysctls, offload features -> responders ->
//! forwarder -> post-deploy faults. Faults are computed up front as deltas on the healthy
//! settings, so a faulted interface is configured once, in its final state.
//!
//! Crash-safe: the state file is written before anything is made, and every namespace is
//! recorded in it before it is created; a responder killed before its PID was recorded is
//! found by `lab down` through its command line. So `lab down` removes whatever a `lab up`
//! killed at any point made. `up` holds the prefix's lock (`state::lock`) throughout.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddrV4;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

pub use super::options::UpOptions;
use super::scenario::{Cidr, Cidr6, End, Fault, IfaceRef, Scenario, StackKind};
use super::state::{LabState, Responder};
use super::{down::down_state, http, process};
use crate::forwarder;
use crate::netlink::rtnl::{LinkKind, NewDevice, Rtnl};
use crate::netlink::{ethtool, sysctl};
use crate::netns::Netns;
use crate::progress::{Progress, Update};
use crate::{cancel, Error, Result};

/// How long a new HTTP responder may take to listen.
const RESPONDER_START: Duration = Duration::from_secs(20);

/// Counts the steps of a build and reports them.
struct Steps<'a> {
    progress: &'a Progress,
    done: u64,
    total: u64,
}

impl Steps<'_> {
    fn tick(&mut self) {
        self.done += 1;
        self.progress.steps("building lab", self.done, self.total);
    }
}

/// Desired state of one interface after faults are applied.
#[derive(Debug, Clone, Default)]
struct IfacePlan {
    name: String,
    addr: Option<Cidr>,
    addr6: Option<Cidr6>,
    tx_csum: Option<bool>,
    gro: Option<bool>,
    /// Set down at the end (fault `link_down`).
    down: bool,
}

/// Builds the lab; on any error or interrupt, removes what it made and returns the error.
pub fn up(scenario: &Scenario, scenario_file: &Path, opts: &UpOptions) -> Result<LabState> {
    validate_prefix(&opts.prefix, scenario.max_prefix())?;
    if scenario.docker.is_some() {
        // From the host's namespace only, checked before anything is recorded.
        super::docker::host()?;
    }
    let faults = scenario.select_faults(&opts.faults, opts.no_faults)?;
    if !opts.forwarder {
        for f in &faults {
            let d = &scenario.faults[f];
            if !d.devmap_remove.is_empty() || !d.snat_remove.is_empty() || !d.detach.is_empty() {
                return Err(Error::invalid(
                    format!("--fault {f}"),
                    "acts on xdpdoctor's forwarder, which --no-forwarder does not deploy",
                ));
            }
        }
    }
    // One writer per prefix: a concurrent `lab up` or `lab down` of it waits.
    let _lock = LabState::lock(&opts.prefix)?;
    if LabState::load(&opts.prefix)?.is_some() {
        return Err(Error::busy(
            format!("lab prefix {}", opts.prefix),
            "a lab with this prefix is running; `xdpdoctor lab down --prefix` it or pick another",
        ));
    }
    for n in &scenario.nodes {
        let name = LabState::ns_name(&opts.prefix, &n.name);
        if Netns::named(&name).exists() {
            return Err(Error::busy(
                format!("namespace {name}"),
                "already exists; pick another --prefix",
            ));
        }
    }
    let mut st = LabState {
        prefix: opts.prefix.clone(),
        scenario: scenario.name.clone(),
        scenario_file: scenario_file.to_path_buf(),
        faults: faults.clone(),
        ..Default::default()
    };
    st.save()?;
    let built = build(scenario, &faults, opts, &mut st);
    opts.progress.report(Update::Done);
    match built {
        Ok(()) => Ok(st),
        Err(e) => {
            log::warn!("lab up failed ({e}); cleaning up");
            if let Err(e2) = down_state(&st) {
                log::warn!("cleanup after failed lab up: {e2}");
            }
            Err(e)
        }
    }
}

fn validate_prefix(p: &str, max: usize) -> Result<()> {
    let ok = !p.is_empty()
        && p.len() <= max
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !p.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            format!("--prefix {p}"),
            format!(
                "use 1-{max} letters, digits, '-' or '_'{}",
                if max < 24 {
                    " (a Docker lab names interfaces on the host after it: PREFIX-br)"
                } else {
                    ""
                }
            ),
        ))
    }
}

fn build(sc: &Scenario, faults: &[String], opts: &UpOptions, st: &mut LabState) -> Result<()> {
    let fault_defs: Vec<&Fault> = sc.faults_named(faults).collect();
    if let Some(d) = &sc.docker {
        let mut steps = Steps {
            progress: &opts.progress,
            done: 0,
            total: sc.nodes.len() as u64,
        };
        create_namespaces(sc, opts, st, &mut steps)?;
        return super::docker::up::build(sc, d, &fault_defs, opts, st);
    }
    let (plans, sysctls) = desired_state(sc, &fault_defs);
    let mut steps = Steps {
        progress: &opts.progress,
        done: 0,
        total: (2 * sc.nodes.len() + sc.links.len() + sc.services.len() + 1) as u64,
    };
    steps.progress.steps("building lab", 0, steps.total);
    create_namespaces(sc, opts, st, &mut steps)?;
    create_bridges(sc, opts)?;
    create_links(sc, &fault_defs, opts, &mut steps)?;
    create_stacked(&fault_defs, opts)?;
    configure_nodes(sc, opts, plans, sysctls, &mut steps)?;
    start_responders(sc, &fault_defs, opts, st, &mut steps)?;
    st.client_netns = sc
        .traffic
        .as_ref()
        .map(|t| LabState::ns_name(&opts.prefix, &t.client));
    st.targets = traffic_targets(sc)
        .into_iter()
        .filter_map(|(from, to)| Some((from, to?)))
        .collect();
    st.save()?;
    deploy_forwarder(sc, &fault_defs, opts, st)?;
    set_mtus(&fault_defs, opts)?;
    pin_neighbours(&fault_defs, opts)?;
    remove_nodes(&fault_defs, opts, st)?;
    steps.tick();
    Ok(())
}

/// Fault `set_mtu`, last: an MTU a running forwarder would refuse (a veth whose peer has XDP
/// takes at most the veth XDP limit) is set after `detach` removed it. A refusal says why when
/// the link tells: its IFLA_MAX_MTU, and for a veth the program on its peer that lowered it.
fn set_mtus(faults: &[&Fault], opts: &UpOptions) -> Result<()> {
    for m in faults.iter().flat_map(|f| &f.set_mtu) {
        cancel::check()?;
        let (ifname, mtu) = (m.at.name.clone(), m.mtu);
        let at = m.at.to_string();
        node_ns(opts, &m.at.node).block_on(|| async move {
            let rt = Rtnl::new()?;
            let l = rt.link(&ifname).await?;
            match rt.set_mtu(l.index, mtu).await {
                Err(e) => Err(explain_mtu_refusal(&rt, &ifname, &at, mtu, e).await),
                ok => ok,
            }
        })?;
    }
    Ok(())
}

/// `e` (the kernel's refusal of MTU `mtu` on `ifname`, `at` as the scenario names it) with
/// the reason the link shows, when it shows one; `e` unchanged otherwise.
async fn explain_mtu_refusal(rt: &Rtnl, ifname: &str, at: &str, mtu: u32, e: Error) -> Error {
    let Ok(l) = rt.link(ifname).await else {
        return e;
    };
    let Some(max) = l.max_mtu.filter(|&max| max < mtu) else {
        return e;
    };
    let peer = match (l.kind, l.peer_ifindex) {
        (Some(LinkKind::Veth), Some(p)) => match l.link_netnsid {
            Some(nsid) => rt.link_in_nsid(nsid, p).await.ok(),
            None => rt.link_by_index(p).await.ok(),
        },
        _ => None,
    };
    let why = match peer.as_ref().and_then(|p| Some((p, p.xdp.as_ref()?))) {
        Some((p, x)) => format!(
            "; its veth peer {} has an XDP program (id {}), and while it has one the kernel \
             caps this end's MTU at the veth XDP limit (veth_xdp_set)",
            p.name, x.prog_id
        ),
        None => String::new(),
    };
    Error::unsupported(
        format!("lab: MTU {mtu} on {at}"),
        format!("{at} accepts at most MTU {max} now (IFLA_MAX_MTU){why}; the kernel said: {e}"),
    )
}

/// Fault `pin_neighbour`: permanent neighbour entries with the MAC of another interface.
fn pin_neighbours(faults: &[&Fault], opts: &UpOptions) -> Result<()> {
    for p in faults.iter().flat_map(|f| &f.pin_neighbour) {
        cancel::check()?;
        let of = p.of.name.clone();
        let mac = node_ns(opts, &p.of.node)
            .block_on(|| async move { Ok(Rtnl::new()?.link(&of).await?.mac) })?;
        let mac = parse_mac(&mac)
            .ok_or_else(|| Error::unexpected(format!("MAC of {}", p.of), format!("\"{mac}\"")))?;
        let (at, addr) = (p.at.name.clone(), p.addr);
        node_ns(opts, &p.at.node).block_on(|| async move {
            let rt = Rtnl::new()?;
            let l = rt.link(&at).await?;
            rt.add_permanent_neighbour(l.index, addr, mac).await
        })?;
    }
    Ok(())
}

/// `aa:bb:cc:dd:ee:ff` as bytes.
fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let v: Vec<u8> = s
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).ok())
        .collect::<Option<_>>()?;
    v.try_into().ok()
}

/// Fault `remove_node`: the node's responders stop and its namespace is deleted (its veth
/// goes with it), as if the container vanished after the NAT was set up.
fn remove_nodes(faults: &[&Fault], opts: &UpOptions, st: &mut LabState) -> Result<()> {
    for node in faults.iter().flat_map(|f| &f.remove_node) {
        cancel::check()?;
        let name = LabState::ns_name(&opts.prefix, node);
        for r in st.responders.iter().filter(|r| r.netns == name) {
            process::stop_responder(r.pid, &r.netns)?;
        }
        st.responders.retain(|r| r.netns != name);
        st.save()?;
        let ns = Netns::named(&name);
        if ns.exists() {
            ns.remove()?;
        }
    }
    Ok(())
}

fn node_ns(opts: &UpOptions, node: &str) -> Netns {
    Netns::named(&LabState::ns_name(&opts.prefix, node))
}

/// Per node: the desired state of each interface and the sysctls, faults applied.
type Desired = (
    BTreeMap<String, Vec<IfacePlan>>,
    HashMap<String, Vec<(String, String)>>,
);

fn desired_state(sc: &Scenario, faults: &[&Fault]) -> Desired {
    let no_addr: HashSet<&IfaceRef> = faults.iter().flat_map(|f| &f.remove_address).collect();
    let down: HashSet<&IfaceRef> = faults.iter().flat_map(|f| &f.link_down).collect();
    let mut plans: BTreeMap<String, Vec<IfacePlan>> = BTreeMap::new();
    // Bridges first: up with their address before their ports come up.
    for b in &sc.bridges {
        plans.entry(b.node.clone()).or_default().push(IfacePlan {
            name: b.name.clone(),
            addr: b.addr,
            ..Default::default()
        });
    }
    for l in &sc.links {
        for e in [&l.a, &l.b] {
            let at = e.iface();
            let mut p = plan_of(e);
            if no_addr.contains(&at) {
                p.addr = None;
                p.addr6 = None;
            }
            p.down = down.contains(&at);
            for r in faults.iter().flat_map(|f| &f.readdress) {
                if r.at == at {
                    p.addr = Some(r.addr);
                }
            }
            for fs in faults.iter().flat_map(|f| &f.set_features) {
                if fs.at == at {
                    p.tx_csum = fs.tx_csum.or(p.tx_csum);
                    p.gro = fs.gro.or(p.gro);
                }
            }
            plans.entry(e.node.clone()).or_default().push(p);
        }
    }
    // Devices a fault stacks, after the link ends (their lowers come up first).
    for d in faults.iter().flat_map(|f| &f.stack) {
        let p = IfacePlan {
            name: d.at.name.clone(),
            addr: d.addr.filter(|_| !no_addr.contains(&d.at)),
            down: down.contains(&d.at),
            ..Default::default()
        };
        plans.entry(d.at.node.clone()).or_default().push(p);
    }
    let mut sysctls: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for n in &sc.nodes {
        sysctls.insert(
            n.name.clone(),
            n.sysctls
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        );
    }
    for s in faults.iter().flat_map(|f| &f.sysctls) {
        sysctls
            .entry(s.node.clone())
            .or_default()
            .push((s.key.clone(), s.value.clone()));
    }
    (plans, sysctls)
}

fn plan_of(e: &End) -> IfacePlan {
    IfacePlan {
        name: e.name.clone(),
        addr: e.addr,
        addr6: e.addr6,
        tx_csum: e.tx_csum,
        gro: e.gro,
        down: false,
    }
}

/// Namespaces, each recorded *before* it is created: a `lab up` killed right after a
/// creation leaves a name `lab down` finds (and `lab down` tolerates names never created).
fn create_namespaces(
    sc: &Scenario,
    opts: &UpOptions,
    st: &mut LabState,
    steps: &mut Steps,
) -> Result<()> {
    for n in &sc.nodes {
        cancel::check()?;
        let name = LabState::ns_name(&opts.prefix, &n.name);
        st.namespaces.push(name.clone());
        st.save()?;
        match Netns::create(&name) {
            // Its identity, saved with the next step (a kill before leaves `lab down` the
            // name, which still leads to it).
            Ok(ns) => {
                let key = ns.key()?;
                st.keys.insert(name, key);
            }
            Err(e) => {
                // Not ours (someone made it since the check above): never remove it on
                // cleanup.
                if matches!(e, Error::Busy { .. }) {
                    st.namespaces.pop();
                    st.save()?;
                }
                return Err(e);
            }
        }
        steps.tick();
    }
    st.save()
}

/// veth pairs: create in a, move the peer into b under its final name. Queue counts are
/// the link's, or a fault's (`queues`) where one sets them.
fn create_links(
    sc: &Scenario,
    faults: &[&Fault],
    opts: &UpOptions,
    steps: &mut Steps,
) -> Result<()> {
    let queues = |e: &End| {
        faults
            .iter()
            .flat_map(|f| &f.queues)
            .rev()
            .find(|q| q.at == e.iface())
            .map(|q| q.queues)
            .or(e.queues)
    };
    for (i, l) in sc.links.iter().enumerate() {
        cancel::check()?;
        let (na, nb) = (node_ns(opts, &l.a.node), node_ns(opts, &l.b.node));
        let b_fd = nb.open()?;
        let tmp = format!("xdtmp{i}");
        let (a_name, b_name) = (l.a.name.clone(), l.b.name.clone());
        let (qa, qb) = (queues(&l.a), queues(&l.b));
        let a_bridge = l.a.bridge.clone();
        na.block_on(|| async move {
            let rt = Rtnl::new()?;
            rt.create_veth_queues(&a_name, &tmp, qa, qb).await?;
            let peer = rt.link(&tmp).await?;
            rt.move_to_netns(peer.index, b_fd.as_raw_fd(), Some(&b_name))
                .await?;
            join_bridge(&rt, &a_name, a_bridge.as_deref()).await
        })?;
        if let Some(br) = l.b.bridge.clone() {
            let b_name = l.b.name.clone();
            nb.block_on(|| async move { join_bridge(&Rtnl::new()?, &b_name, Some(&br)).await })?;
        }
        steps.tick();
    }
    Ok(())
}

/// `[[bridge]]`: each bridge made in its node, before the links that join it; the node's
/// plan gives it its address and brings it up.
fn create_bridges(sc: &Scenario, opts: &UpOptions) -> Result<()> {
    for b in &sc.bridges {
        cancel::check()?;
        let name = b.name.clone();
        node_ns(opts, &b.node).block_on(|| async move {
            Rtnl::new()?.create_stacked(&name, NewDevice::Bridge).await
        })?;
    }
    Ok(())
}

/// Makes `ifname` a port of `bridge` (None: nothing to do), in the calling namespace.
async fn join_bridge(rt: &Rtnl, ifname: &str, bridge: Option<&str>) -> Result<()> {
    let Some(br) = bridge else { return Ok(()) };
    let (port, br) = (rt.link(ifname).await?, rt.link(br).await?);
    rt.set_master(port.index, br.index).await
}

/// Fault `stack`: devices of other kinds (macvlan, vlan, vxlan, dummy), made in their node
/// after the veths; the node's plan gives them their address and brings them up.
fn create_stacked(faults: &[&Fault], opts: &UpOptions) -> Result<()> {
    for d in faults.iter().flat_map(|f| &f.stack) {
        cancel::check()?;
        let d = d.clone();
        node_ns(opts, &d.at.node).block_on(|| async move {
            let rt = Rtnl::new()?;
            let lower = match &d.lower {
                Some(l) => Some(rt.link(l).await?.index),
                None => None,
            };
            let missing = |what: &str| {
                Error::invalid(
                    format!("stacked device {}", d.at),
                    format!("a {} needs {what}", d.kind.as_str()),
                )
            };
            let dev = match d.kind {
                StackKind::Macvlan => NewDevice::Macvlan {
                    lower: lower.ok_or_else(|| missing("lower"))?,
                },
                StackKind::Vlan => NewDevice::Vlan {
                    lower: lower.ok_or_else(|| missing("lower"))?,
                    id: d
                        .id
                        .and_then(|i| u16::try_from(i).ok())
                        .ok_or_else(|| missing("an id"))?,
                },
                StackKind::Vxlan => NewDevice::Vxlan {
                    vni: d.id.ok_or_else(|| missing("an id"))?,
                    lower,
                    local: d.local,
                    remote: d.remote.ok_or_else(|| missing("remote"))?,
                },
                StackKind::Dummy => NewDevice::Dummy,
            };
            rt.create_stacked(&d.at.name, dev).await
        })?;
    }
    Ok(())
}

/// Per node: interfaces up, addresses, default route, sysctls, features.
fn configure_nodes(
    sc: &Scenario,
    opts: &UpOptions,
    mut plans: BTreeMap<String, Vec<IfacePlan>>,
    mut sysctls: HashMap<String, Vec<(String, String)>>,
    steps: &mut Steps,
) -> Result<()> {
    for n in &sc.nodes {
        cancel::check()?;
        let ifaces = plans.remove(&n.name).unwrap_or_default();
        let (gw, gw6) = (n.default_route, n.default_route6);
        let ctls = sysctls.remove(&n.name).unwrap_or_default();
        node_ns(opts, &n.name).block_on(|| async move {
            let rt = Rtnl::new()?;
            let lo = rt.link("lo").await?;
            rt.set_up(lo.index, true).await?;
            for (k, v) in &ctls {
                sysctl::write(k, v)?;
            }
            for p in &ifaces {
                let l = rt.link(&p.name).await?;
                if let Some(c) = p.addr {
                    rt.add_address(l.index, c.addr, c.prefix).await?;
                }
                if let Some(c) = p.addr6 {
                    rt.add_address6(l.index, c.addr, c.prefix).await?;
                }
                // Up first: a veth only re-evaluates its peer's xdp_features (ndo-xmit) when
                // GRO changes while it is up (measured on 6.18: GRO set while down leaves
                // the peer without ndo-xmit after `up`).
                rt.set_up(l.index, true).await?;
                if let Some(on) = p.tx_csum {
                    ethtool::set_tx_csum(&p.name, on)?;
                }
                if let Some(on) = p.gro {
                    ethtool::set_gro(&p.name, on)?;
                    // Before 5.13 GRO alone does not take redirected frames (era.rs).
                    if on && !super::era::gro_takes_xdp_frames() {
                        super::era::attach_pass(&rt, &p.name, l.index).await?;
                    }
                }
            }
            if let Some(gw) = gw {
                rt.add_default_route(gw).await?;
            }
            if let Some(gw) = gw6 {
                rt.add_default_route6(gw).await?;
            }
            // Last: a down link takes its routes with it, and features need it up.
            for p in ifaces.iter().filter(|p| p.down) {
                rt.set_up(rt.link(&p.name).await?.index, false).await?;
            }
            Ok(())
        })?;
        steps.tick();
    }
    Ok(())
}

/// HTTP responders, each recorded before the next starts.
fn start_responders(
    sc: &Scenario,
    faults: &[&Fault],
    opts: &UpOptions,
    st: &mut LabState,
    steps: &mut Steps,
) -> Result<()> {
    let closed: HashSet<&String> = faults.iter().flat_map(|f| &f.no_service).collect();
    for s in sc.services.iter().filter(|s| !closed.contains(&s.node)) {
        cancel::check()?;
        let name = LabState::ns_name(&opts.prefix, &s.node);
        let pid = process::spawn_responder(
            &opts.exe,
            &name,
            s.port,
            &format!("hello from {}\n", s.node),
        )?;
        st.responders.push(Responder {
            node: s.node.clone(),
            netns: name.clone(),
            port: s.port,
            pid,
        });
        st.save()?;
        let local = SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, s.port);
        // Generous: a responder is a new process, slow to start on an emulated machine (the
        // kernel matrix runs labs under QEMU without KVM); the wait ends as soon as it listens.
        http::wait_listening(&Netns::named(&name), local, RESPONDER_START)?;
        steps.tick();
    }
    Ok(())
}

/// The forwarder, with its config written where the user can read and reuse it, then the
/// faults that act on the deployed forwarder.
fn deploy_forwarder(
    sc: &Scenario,
    faults: &[&Fault],
    opts: &UpOptions,
    st: &mut LabState,
) -> Result<()> {
    let Some(f) = &sc.forwarder else {
        return Ok(());
    };
    cancel::check()?;
    let cfg = sc.forwarder_config(f);
    let dir = LabState::files_dir(&opts.prefix);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
    let path = dir.join("forwarder.json");
    std::fs::write(&path, cfg.to_json()).map_err(|e| Error::io("write", &path, e))?;
    st.forwarder_config = Some(path.clone());
    // The router namespace is recorded either way: the lab's client makes traffic for a
    // diagnosis of whatever XDP program runs there.
    let fns = node_ns(opts, &f.node);
    st.forwarder_netns = Some(fns.name.clone());
    st.save()?;
    if !opts.forwarder {
        return Ok(());
    }
    let dep = forwarder::deploy(&fns, &cfg, &path, opts.mode)?;
    for fault in faults {
        for at in &fault.devmap_remove {
            let ifname = at.name.clone();
            let idx = node_ns(opts, &at.node)
                .block_on(|| async move { Ok(Rtnl::new()?.link(&ifname).await?.index) })?;
            forwarder::maps::devmap_remove(dep.key(), idx)?;
        }
        for t in &fault.snat_remove {
            forwarder::maps::nat_remove(dep.key(), crate::bpf::forwarder_abi::SNAT_MAP, *t)?;
        }
        for at in &fault.detach {
            forwarder::pins::unpin_link(&forwarder::pins::link_pin(&dep.pin_dir, &at.name))?;
        }
    }
    Ok(())
}

/// The NAT targets a lab's client should try: (entry `from`, entry `to`).
pub fn traffic_targets(sc: &Scenario) -> Vec<(SocketAddrV4, Option<SocketAddrV4>)> {
    sc.forwarder
        .as_ref()
        .map(|f| f.entries.iter().map(|e| (e.from, Some(e.to))).collect())
        .unwrap_or_default()
}
