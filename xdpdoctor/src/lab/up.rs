//! `lab up`: build a scenario into namespaces.
//!
//! Order: namespaces -> veth pairs (created in side a, peer moved and renamed into side b) ->
//! per node: loopback, addresses, default route, sysctls, offload features -> responders ->
//! forwarder -> post-deploy faults. Faults are computed up front as deltas on the healthy
//! settings, so a faulted interface is configured once, in its final state.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddrV4;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::scenario::{parse_cidr, End, Scenario};
use super::state::{LabState, Responder};
use super::{down::down_state, http, process};
use crate::forwarder::{self, AttachMode};
use crate::netlink::{ethtool, rtnl::Rtnl, sysctl};
use crate::netns::Netns;
use crate::{cancel, Error, Result};

#[derive(Debug, Clone)]
pub struct UpOptions {
    pub prefix: String,
    pub faults: Vec<String>,
    pub no_faults: bool,
    /// The xdpdoctor binary, re-executed as the HTTP responder.
    pub exe: PathBuf,
    /// Attach mode of the forwarder.
    pub mode: AttachMode,
}

/// Desired state of one interface after faults are applied.
#[derive(Debug, Clone, Default)]
struct IfacePlan {
    name: String,
    addr: Option<(std::net::Ipv4Addr, u8)>,
    tx_csum: Option<bool>,
    gro: Option<bool>,
}

/// Builds the lab; on any error or interrupt, removes what it made and returns the error.
pub fn up(scenario: &Scenario, scenario_file: &Path, opts: &UpOptions) -> Result<LabState> {
    validate_prefix(&opts.prefix)?;
    let faults = scenario.select_faults(&opts.faults, opts.no_faults)?;
    if LabState::load(&opts.prefix)?.is_some() {
        return Err(Error::invalid(
            format!("lab prefix {}", opts.prefix),
            "a lab with this prefix is running; `xdpdoctor lab down --prefix` it or pick another",
        ));
    }
    for n in &scenario.nodes {
        let name = LabState::ns_name(&opts.prefix, &n.name);
        if Netns::named(&name).exists() {
            return Err(Error::invalid(
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
    match build(scenario, &faults, opts, &mut st) {
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

fn validate_prefix(p: &str) -> Result<()> {
    let ok = !p.is_empty()
        && p.len() <= 24
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !p.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            format!("--prefix {p}"),
            "use 1-24 letters, digits, '-' or '_'",
        ))
    }
}

fn build(sc: &Scenario, faults: &[String], opts: &UpOptions, st: &mut LabState) -> Result<()> {
    let ns = |node: &str| Netns::named(&LabState::ns_name(&opts.prefix, node));
    let fault_defs: Vec<_> = faults.iter().map(|f| &sc.faults[f]).collect();

    // Desired per-interface and per-node state, faults applied.
    let no_addr: HashSet<&String> = fault_defs.iter().flat_map(|f| &f.remove_address).collect();
    let mut plans: BTreeMap<String, Vec<IfacePlan>> = BTreeMap::new();
    let plan_of = |e: &End| IfacePlan {
        name: e.name.clone(),
        addr: e.addr.as_deref().map(|a| parse_cidr(a).expect("validated")),
        tx_csum: e.tx_csum,
        gro: e.gro,
    };
    for l in &sc.links {
        for e in [&l.a, &l.b] {
            let mut p = plan_of(e);
            if no_addr.contains(&format!("{}:{}", e.node, e.name)) {
                p.addr = None;
            }
            for fs in fault_defs.iter().flat_map(|f| &f.set_features) {
                if fs.at == format!("{}:{}", e.node, e.name) {
                    p.tx_csum = fs.tx_csum.or(p.tx_csum);
                    p.gro = fs.gro.or(p.gro);
                }
            }
            plans.entry(e.node.clone()).or_default().push(p);
        }
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
    for s in fault_defs.iter().flat_map(|f| &f.sysctls) {
        sysctls
            .get_mut(&s.node)
            .expect("validated")
            .push((s.key.clone(), s.value.clone()));
    }

    // Namespaces, recorded one by one.
    for n in &sc.nodes {
        cancel::check()?;
        let created = Netns::create(&LabState::ns_name(&opts.prefix, &n.name))?;
        st.namespaces.push(created.name.clone());
        st.save()?;
    }

    // veth pairs: create in a, move the peer into b under its final name.
    for (i, l) in sc.links.iter().enumerate() {
        cancel::check()?;
        let (na, nb) = (ns(&l.a.node), ns(&l.b.node));
        let b_fd = nb.open()?;
        let tmp = format!("xdtmp{i}");
        let (a_name, b_name) = (l.a.name.clone(), l.b.name.clone());
        na.block_on(|| async move {
            let rt = Rtnl::new()?;
            rt.create_veth(&a_name, &tmp).await?;
            let peer = rt.link(&tmp).await?;
            rt.move_to_netns(peer.index, b_fd.as_raw_fd(), Some(&b_name))
                .await
        })?;
    }

    // Per node: interfaces up, addresses, default route, sysctls, features.
    for n in &sc.nodes {
        cancel::check()?;
        let node_ns = ns(&n.name);
        let ifaces = plans.get(&n.name).cloned().unwrap_or_default();
        let gw = n.default_route;
        let ctls = sysctls.remove(&n.name).unwrap_or_default();
        node_ns.block_on(|| async move {
            let rt = Rtnl::new()?;
            let lo = rt.link("lo").await?;
            rt.set_up(lo.index, true).await?;
            for (k, v) in &ctls {
                sysctl::write(k, v)?;
            }
            for p in &ifaces {
                let l = rt.link(&p.name).await?;
                if let Some((a, len)) = p.addr {
                    rt.add_address(l.index, a, len).await?;
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
                }
            }
            if let Some(gw) = gw {
                rt.add_default_route(gw).await?;
            }
            Ok(())
        })?;
    }

    // Responders.
    for s in &sc.services {
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
        http::wait_listening(&Netns::named(&name), local, Duration::from_secs(5))?;
    }
    st.client_netns = sc
        .traffic
        .as_ref()
        .map(|t| LabState::ns_name(&opts.prefix, &t.client));
    st.targets = traffic_targets(sc)
        .into_iter()
        .filter_map(|(from, to)| Some((from, to?)))
        .collect();
    st.save()?;

    // Forwarder, with its config written where the user can read and reuse it.
    if let Some(f) = &sc.forwarder {
        cancel::check()?;
        let cfg = sc.forwarder_config(f);
        let dir = LabState::files_dir(&opts.prefix);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
        let path = dir.join("forwarder.json");
        std::fs::write(&path, cfg.to_json()).map_err(|e| Error::io("write", &path, e))?;
        st.forwarder_config = Some(path.clone());
        let fns = ns(&f.node);
        st.forwarder_netns = Some(fns.name.clone());
        st.save()?;
        forwarder::deploy(&fns, &cfg, &path, opts.mode)?;

        // Faults that act on the deployed forwarder.
        for f in &fault_defs {
            for at in &f.devmap_remove {
                let (node, ifname) = at.split_once(':').expect("validated");
                let nns = ns(node);
                let ifname = ifname.to_string();
                let idx =
                    nns.block_on(|| async move { Ok(Rtnl::new()?.link(&ifname).await?.index) })?;
                forwarder::deploy::devmap_remove(&fns, idx)?;
            }
            for t in &f.snat_remove {
                forwarder::deploy::snat_remove(&fns, *t)?;
            }
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
