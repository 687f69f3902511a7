//! Deploy and teardown of the forwarder in one namespace.
//!
//! Everything that can be checked is checked before the kernel is touched (config, interface
//! names, an existing deployment, interfaces that already run someone else's XDP program,
//! the devmap's capacity). Deploy builds the whole forwarder in memory first (load, fill
//! maps, attach); only when every step worked is the state file written and then the links
//! and maps pinned. If a step fails (or Ctrl-C arrives before pinning), dropping the
//! in-memory links detaches them, so a failed deploy leaves nothing.
//!
//! Killed (`kill -9`) at any point, a deploy leaves nothing `teardown` cannot find: before
//! the state file nothing outlives the process (links are fds); between the state file and
//! the last pin, the pins are under the directory named by the namespace's key (inode and
//! netns cookie, `state::NsKey`), which teardown removes whatever is in it. A namespace that
//! reuses the inode of a dead one has another cookie, so it never finds the dead one's
//! deployment. Deploy and teardown hold the namespace's lock
//! (`state::lock`), so two of them never interleave.

use std::collections::HashSet;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aya::maps::{DevMapHash, HashMap as BpfHashMap};
use aya::programs::links::FdLink;
use aya::Ebpf;
use serde::{Deserialize, Serialize};

use super::bridge::{self, Planned, ServedBridge};
use super::config::Role;
use super::object::{self, Tunables, OBJECT};
use super::{pins, ForwarderConfig};
use crate::bpf::forwarder_abi::{self as abi, Endpoint};
use crate::bpf::object::map_mut;
use crate::netlink::rtnl::{Link, Rtnl};
use crate::netlink::xdp_attach;
use crate::netns::Netns;
use crate::state::NsKey;
use crate::{state, Error, ErrorList, Result};

/// XDP attach mode requested by the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AttachMode {
    /// Native (driver) XDP: the mode of the incident.
    #[default]
    Driver,
    /// Generic XDP (skb mode): slower, keeps checksum state, needs no ndo_xdp_xmit.
    Skb,
}

impl AttachMode {
    fn aya(self) -> aya::programs::XdpMode {
        match self {
            AttachMode::Driver => aya::programs::XdpMode::Driver,
            AttachMode::Skb => aya::programs::XdpMode::Skb,
        }
    }
}

/// One interface the forwarder is attached to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployedInterface {
    /// Interface name at deploy time.
    pub name: String,
    /// Its ifindex in the forwarder's namespace.
    pub ifindex: u32,
    /// External (DNAT program) or internal (SNAT program).
    pub role: Role,
    /// The program attached (changes when `fix --csum forwarder` switches programs).
    pub prog_id: u32,
    /// The bridge named in the config this port stands for (its ports come and go with
    /// containers: `bridge::sync`); None: named itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
}

/// What a deployment made; saved as the state file and returned to the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// Namespace name (for messages).
    pub netns: String,
    /// Namespace inode.
    pub netns_inode: u64,
    /// Namespace netns cookie (with the inode, the identity; None on kernels without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns_cookie: Option<u64>,
    /// Where links and maps are pinned.
    pub pin_dir: PathBuf,
    /// The config file it was deployed from.
    pub config_file: Option<PathBuf>,
    /// The validated config.
    pub config: ForwarderConfig,
    /// Attach mode.
    pub mode: AttachMode,
    /// Every attached interface.
    pub interfaces: Vec<DeployedInterface>,
    /// (ifindex, name) of every devmap entry written.
    pub devmap: Vec<(u32, String)>,
    /// The bridges it serves: redirects to their ports by MAC (`forwarder::bridge`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bridges: Vec<ServedBridge>,
}

impl Deployment {
    /// Reads the state file of the forwarder in namespace `key`, if there is one that
    /// describes it. With a cookie, the key says so by itself. Without one (kernels before
    /// 5.14) a record may be a dead namespace's whose inode `key`'s reused: it counts only
    /// while one of its pinned links is still attached to a device (a namespace's devices
    /// die with it, and their links go defunct).
    pub fn load(key: NsKey) -> Result<Option<Self>> {
        let dep: Option<Self> = state::read(&state::forwarder_file(key))?;
        Ok(dep.filter(|d| {
            key.cookie.is_some() || d.netns_cookie.is_some() || pins::any_link_attached(&d.pin_dir)
        }))
    }

    /// The namespace it runs in.
    pub fn key(&self) -> NsKey {
        NsKey::new(self.netns_inode, self.netns_cookie)
    }

    /// The deployment in `ns`, or an error saying there is none.
    pub fn require(ns: &Netns) -> Result<Self> {
        Self::load(ns.key()?)?.ok_or_else(|| {
            Error::not_found(
                format!("forwarder deployed by xdpdoctor in namespace {ns}"),
                Some("deploy one with `xdpdoctor deploy --config FILE`".into()),
            )
        })
    }

    /// Writes the state file (also used by fixes that change a live deployment).
    pub(crate) fn save(&self) -> Result<()> {
        state::write(&state::forwarder_file(self.key()), self)
    }

    /// The tunables it runs with.
    pub fn tunables(&self) -> Tunables {
        Tunables::of(&self.config)
    }
}

/// Deploys the forwarder described by `cfg` into `ns`. `config_file` names the source in
/// errors and is recorded for `status`.
pub fn deploy(
    ns: &Netns,
    cfg: &ForwarderConfig,
    config_file: &Path,
    mode: AttachMode,
) -> Result<Deployment> {
    let key = ns.key()?;
    let _lock = lock(key)?;
    let dir = state::forwarder_pin_dir(key);
    refuse_if_deployed(ns, key, &dir)?;
    let ns_name = ns.clone();
    ns.block_on(|| async move {
        let links = Rtnl::new()?.links().await?;
        let names: HashSet<String> = links.iter().map(|l| l.name.clone()).collect();
        cfg.validate_interfaces(config_file, &names)?;
        let (plan, served) = bridge::expand(cfg, &links, config_file)?;
        refuse_busy_interfaces(&plan, &ns_name)?;
        if links.len() > abi::MAX_DEVICES as usize {
            return Err(Error::unsupported(
                format!("namespace {ns_name}"),
                format!(
                    "{} interfaces, but the forwarder's devmap holds at most {} (FWD_MAX_DEVICES)",
                    links.len(),
                    abi::MAX_DEVICES
                ),
            ));
        }

        let mut ebpf = object::load(Tunables::of(cfg), None).map_err(|e| {
            if cfg.full_checksum {
                // A kernel before 5.18 has no bpf_xdp_load_bytes: the verifier refuses the
                // program ("unknown func"); say which setting asked for it.
                Error::unsupported(
                    format!("{}: full_checksum", config_file.display()),
                    format!(
                        "the kernel refused the full-checksum forwarder (it reads the segment \
                         with bpf_xdp_load_bytes, Linux 5.18+; set full_checksum to false): {}",
                        crate::error::chain(&e)
                    ),
                )
            } else {
                e
            }
        })?;
        let devmap = fill_maps(&mut ebpf, cfg, &links)?;
        let rt = Rtnl::new()?;
        fill_bridge_maps(&mut ebpf, &rt, cfg, &links, &plan, &served).await?;
        let attached = attach_all(&mut ebpf, &plan, mode, &ns_name)?;
        // Last chance to stop with nothing left behind (the links above die with us).
        crate::cancel::check()?;

        // Everything worked: record it, then pin, so the forwarder survives this process.
        // State first: whatever gets pinned is described by a state file.
        let (interfaces, links): (Vec<_>, Vec<_>) = attached
            .into_iter()
            .map(|(i, l)| (i.clone(), (i.name, l)))
            .unzip();
        let dep = Deployment {
            netns: ns_name.name.clone(),
            netns_inode: key.inode,
            netns_cookie: key.cookie,
            pin_dir: dir.clone(),
            config_file: Some(super::config::display_path(config_file)),
            config: cfg.clone(),
            mode,
            interfaces,
            devmap,
            bridges: served,
        };
        dep.save()?;
        pins::pin_all(&mut ebpf, &dir, links).inspect_err(|_| {
            let _ = pins::remove_all(&dir);
            let _ = state::remove_file(&state::forwarder_file(key));
        })?;
        log::info!(
            "forwarder deployed in {ns_name}: {} interface(s)",
            dep.interfaces.len()
        );
        Ok(dep)
    })
}

/// The lock of namespace `key` (deploy, teardown and fixes of its forwarder).
pub(crate) fn lock(key: NsKey) -> Result<state::LockGuard> {
    state::lock(state::LockKey::Netns(key), crate::cancel::interrupted)
}

/// Refuses when an interface to attach already runs an XDP program (ours was refused
/// before, as "already deployed"): the kernel would say EBUSY after the load.
fn refuse_busy_interfaces(plan: &[Planned], ns: &Netns) -> Result<()> {
    for p in plan {
        if let Some(id) = p.link.xdp.as_ref().map(|x| x.prog_id).filter(|id| *id != 0) {
            return Err(Error::XdpBusy {
                interface: p.link.name.clone(),
                netns: ns.name.clone(),
                prog_id: Some(id),
                source: None,
            });
        }
    }
    Ok(())
}

/// Refuses when a live forwarder is deployed in `ns`; clears what a dead one left.
fn refuse_if_deployed(ns: &Netns, key: NsKey, dir: &Path) -> Result<()> {
    // Pins left by a forwarder whose namespace died (its inode now reused by this one) have
    // only defunct links: clear them instead of refusing.
    if dir.exists() && !pins::any_link_attached(dir) {
        log::info!(
            "clearing stale pins at {} (every link defunct)",
            dir.display()
        );
        pins::remove_all(dir)?;
    }
    if !dir.exists() {
        // A state file without pins describes nothing that runs.
        state::remove_file(&state::forwarder_file(key))?;
        return Ok(());
    }
    Err(Error::busy(
        format!("namespace {ns}"),
        format!(
            "a forwarder is already deployed ({}); run `xdpdoctor teardown` first",
            dir.display()
        ),
    ))
}

/// NAT entries both ways and their index, and the devmap with every interface of the
/// namespace (as the seed's controller did) but bridges, which cannot take XDP frames (the
/// forwarder redirects to their ports). Returns the devmap entries written.
fn fill_maps(ebpf: &mut Ebpf, cfg: &ForwarderConfig, links: &[Link]) -> Result<Vec<(u32, String)>> {
    for (name, dir) in [(abi::DNAT_MAP, true), (abi::SNAT_MAP, false)] {
        let mut m: BpfHashMap<_, Endpoint, Endpoint> = map_mut(ebpf, OBJECT, name)?;
        for e in &cfg.entries {
            let (k, v) = if dir { (e.from, e.to) } else { (e.to, e.from) };
            m.insert(Endpoint::from(k), Endpoint::from(v), 0)
                .map_err(|err| Error::bpf("insert", format!("{name} {k}"), err))?;
        }
    }
    let pairs: Vec<(Endpoint, Endpoint)> = cfg
        .entries
        .iter()
        .map(|e| (Endpoint::from(e.from), Endpoint::from(e.to)))
        .collect();
    super::nat_index::fill(ebpf, OBJECT, &pairs)?;
    let mut devmap: DevMapHash<_> = map_mut(ebpf, OBJECT, abi::DEVMAP)?;
    let mut written = Vec::new();
    for l in links.iter().filter(|l| !l.is_bridge()) {
        devmap
            .insert(l.index, l.index, None, 0)
            .map_err(|e| Error::bpf("insert", format!("{} {}", abi::DEVMAP, l.name), e))?;
        written.push((l.index, l.name.clone()));
    }
    Ok(written)
}

/// The kernel's reason for refusing the attach of `prog` to `ifindex`, as "`: the kernel says
/// "..."`" (empty when it gives none): a bpf_link attach carries only the errno.
fn kernel_says(ifindex: u32, prog: std::os::fd::BorrowedFd<'_>, mode: AttachMode) -> String {
    let m = match mode {
        AttachMode::Driver => xdp_attach::Mode::Driver,
        AttachMode::Skb => xdp_attach::Mode::Skb,
    };
    match xdp_attach::refusal_message(ifindex, prog, m) {
        Ok(Some(msg)) => format!(": the kernel says \"{msg}\""),
        Ok(None) => String::new(),
        Err(e) => {
            log::debug!("asking the kernel why: {e}");
            String::new()
        }
    }
}

/// The served bridges' port map: their targets' neighbours resolved first (so the FIB
/// answers with the MAC and the bridge learns the port), then each planned port's MACs.
async fn fill_bridge_maps(
    ebpf: &mut Ebpf,
    rt: &Rtnl,
    cfg: &ForwarderConfig,
    links: &[Link],
    plan: &[Planned<'_>],
    served: &[ServedBridge],
) -> Result<()> {
    if served.is_empty() {
        return Ok(());
    }
    let ids: Vec<u32> = served.iter().map(|b| b.ifindex).collect();
    let targets: Vec<_> = cfg.entries.iter().map(|e| *e.to.ip()).collect();
    let left = bridge::resolve_targets(rt, &targets, &ids, NEIGH_WAIT).await?;
    if !left.is_empty() {
        log::warn!(
            "neighbour(s) not resolved within {NEIGH_WAIT:?}: {left:?} (their first packets go \
             to the stack)"
        );
    }
    let ports: Vec<(u32, u32)> = plan
        .iter()
        .filter(|p| p.role == Role::Internal)
        .filter_map(|p| Some((p.link.master.filter(|m| ids.contains(m))?, p.link.index)))
        .collect();
    let want = bridge::port_macs(rt, links, &ports).await?;
    log::info!(
        "serving bridge(s) {}: {} port MAC(s)",
        served
            .iter()
            .map(|b| b.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        want.len()
    );
    bridge::write_ports(&mut map_mut(ebpf, OBJECT, abi::BRIDGE_PORTS_MAP)?, &want)?;
    bridge::write_bridges(&mut map_mut(ebpf, OBJECT, abi::BRIDGES_MAP)?, &ids)
}

/// How long deploy waits for the served bridges' targets' neighbours.
const NEIGH_WAIT: Duration = Duration::from_secs(1);

/// Loads both programs and attaches each planned interface; the links stay in memory
/// (dropping them detaches) until the caller pins them.
fn attach_all(
    ebpf: &mut Ebpf,
    plan: &[Planned],
    mode: AttachMode,
    ns: &Netns,
) -> Result<Vec<(DeployedInterface, FdLink)>> {
    let mut attached = Vec::new();
    for role in [Role::External, Role::Internal] {
        let (prog, prog_id) = object::load_program(ebpf, role)?;
        for p in plan.iter().filter(|p| p.role == role) {
            let link = attach_one(prog, p.link, role, mode, ns)?;
            let iface = DeployedInterface {
                name: p.link.name.clone(),
                ifindex: p.link.index,
                role,
                prog_id,
                bridge: p.via.clone(),
            };
            attached.push((iface, link));
        }
    }
    Ok(attached)
}

/// Attaches `prog` (the program of `role`) to `l` with a bpf_link, the kernel's reason in
/// the error when it refuses.
pub(crate) fn attach_one(
    prog: &mut aya::programs::Xdp,
    l: &Link,
    role: Role,
    mode: AttachMode,
    ns: &Netns,
) -> Result<FdLink> {
    let ifname = l.name.as_str();
    let prog_name = object::program_name(role);
    let id = match prog.attach_to_if_index(l.index, mode.aya()) {
        Ok(id) => id,
        Err(e) => {
            let said = prog
                .fd()
                .ok()
                .map(|fd| kernel_says(l.index, fd.as_fd(), mode))
                .unwrap_or_default();
            return Err(Error::xdp_attach(
                ifname,
                &ns.name,
                l.xdp.as_ref().map(|x| x.prog_id),
                format!("{prog_name} to {ifname} ({mode:?} mode) in {ns}{said}"),
                e,
            ));
        }
    };
    let link = prog
        .take_link(id)
        .map_err(|e| Error::bpf("take link", ifname, e))?;
    link.try_into().map_err(|e| {
        Error::bpf(
            "attach",
            ifname,
            format!("kernel attached without a bpf_link ({e}); cannot pin"),
        )
    })
}

/// Removes exactly what `deploy` made in `ns`: link pins (detaching XDP), map pins, the pin
/// directory and the state file. Errors if nothing was deployed there.
pub fn teardown(ns: &Netns) -> Result<Option<Deployment>> {
    let key = ns.key()?;
    let _lock = lock(key)?;
    let dir = state::forwarder_pin_dir(key);
    let file = state::forwarder_file(key);
    let dep = Deployment::load(key).ok().flatten();
    if !dir.exists() && !file.exists() {
        return Err(Error::not_found(
            format!("forwarder in namespace {ns}"),
            Some(format!("nothing at {}", dir.display())),
        ));
    }
    let mut errs = ErrorList::default();
    errs.push(pins::remove_all(&dir));
    errs.push(state::remove_file(&file));
    errs.into_result()?;
    log::info!("forwarder torn down in {ns}");
    Ok(dep)
}
