//! Deploy and teardown of the forwarder in one namespace.
//!
//! Everything that can be checked is checked before the kernel is touched (config, interface
//! names, an existing deployment). Deploy builds the whole forwarder in memory first (load,
//! fill maps, attach); only when every step worked are the links and maps pinned. If a step
//! fails, dropping the in-memory links detaches them, so a failed deploy leaves nothing.

use std::collections::HashSet;
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};

use aya::maps::{DevMapHash, HashMap as BpfHashMap, Map, MapData};
use aya::programs::{links::FdLink, links::PinnedLink, Xdp};
use serde::{Deserialize, Serialize};

use super::{pins, ForwarderConfig};
use crate::bpf::forwarder_abi::{self as abi, Endpoint};
use crate::bpf::{object, objects};

/// The object the forwarder is loaded from, for messages.
const OBJ: &str = "forwarder.bpf.o";
use crate::netlink::rtnl::Rtnl;
use crate::netns::Netns;
use crate::{statefile, Error, ErrorList, Result};

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
    pub name: String,
    pub ifindex: u32,
    /// true: external (DNAT) program; false: internal (SNAT) program.
    pub external: bool,
    pub prog_id: u32,
}

/// What a deployment made; saved as the state file and returned to the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    pub netns: String,
    pub netns_inode: u64,
    pub pin_dir: PathBuf,
    pub config_file: Option<PathBuf>,
    pub config: ForwarderConfig,
    pub mode: AttachMode,
    pub interfaces: Vec<DeployedInterface>,
    /// (ifindex, name) of every devmap entry written.
    pub devmap: Vec<(u32, String)>,
}

impl Deployment {
    /// Reads the state file of the forwarder in `inode`'s namespace, if any.
    pub fn load(inode: u64) -> Result<Option<Self>> {
        statefile::read(&pins::state_file(inode))
    }

    /// Writes the state file (also used by fixes that change a live deployment).
    pub(crate) fn save(&self) -> Result<()> {
        statefile::write(&pins::state_file(self.netns_inode), self)
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
    let inode = ns.inode()?;
    let dir = pins::pin_dir(inode);
    // Pins left by a forwarder whose namespace died (its inode now reused by this one) have
    // only defunct links: clear them instead of refusing.
    if dir.exists() && !any_link_attached(&dir) {
        log::info!(
            "clearing stale pins at {} (every link defunct)",
            dir.display()
        );
        remove_pins(&dir)?;
        let _ = std::fs::remove_file(pins::state_file(inode));
    }
    if !dir.exists() {
        // A state file without pins describes nothing that runs.
        let _ = std::fs::remove_file(pins::state_file(inode));
    }
    if dir.exists() {
        return Err(Error::invalid(
            format!("namespace {ns}"),
            format!(
                "a forwarder is already deployed ({}); run `xdpdoctor teardown` first",
                dir.display()
            ),
        ));
    }
    let ns_name = ns.clone();
    ns.block_on(|| async move {
        let rtnl = Rtnl::new()?;
        let links = rtnl.links().await?;
        let names: HashSet<String> = links.iter().map(|l| l.name.clone()).collect();
        cfg.validate_interfaces(config_file, &names)?;
        pins::ensure_bpffs()?;

        let mut ebpf = aya::EbpfLoader::new()
            .override_global(abi::GLOBAL_FULL_CSUM, &u32::from(cfg.full_checksum), true)
            .override_global(
                abi::GLOBAL_FIB_CACHE_NS,
                &(u64::from(cfg.fib_cache_ms) * 1_000_000),
                true,
            )
            .load(objects::FORWARDER)
            .map_err(|e| Error::bpf("load", "forwarder.bpf.o", e))?;

        // Maps: NAT entries both ways, and the devmap with every interface of the namespace.
        {
            let mut dnat: BpfHashMap<_, Endpoint, Endpoint> =
                object::map_mut(&mut ebpf, OBJ, abi::DNAT_MAP)?;
            for e in &cfg.entries {
                dnat.insert(Endpoint::from(e.from), Endpoint::from(e.to), 0)
                    .map_err(|err| {
                        Error::bpf("insert", format!("{} {}", abi::DNAT_MAP, e.from), err)
                    })?;
            }
        }
        {
            let mut snat: BpfHashMap<_, Endpoint, Endpoint> =
                object::map_mut(&mut ebpf, OBJ, abi::SNAT_MAP)?;
            for e in &cfg.entries {
                snat.insert(Endpoint::from(e.to), Endpoint::from(e.from), 0)
                    .map_err(|err| {
                        Error::bpf("insert", format!("{} {}", abi::SNAT_MAP, e.to), err)
                    })?;
            }
        }
        let mut devmap_written = Vec::new();
        {
            let mut devmap: DevMapHash<_> = object::map_mut(&mut ebpf, OBJ, abi::DEVMAP)?;
            for l in &links {
                devmap
                    .insert(l.index, l.index, None, 0)
                    .map_err(|e| Error::bpf("insert", format!("{} {}", abi::DEVMAP, l.name), e))?;
                devmap_written.push((l.index, l.name.clone()));
            }
        }

        // Programs: load both, attach each interface, keep the links in memory until all worked.
        let mut attached: Vec<(DeployedInterface, FdLink)> = Vec::new();
        for (prog_name, external) in [(abi::PROG_EXTERNAL, true), (abi::PROG_INTERNAL, false)] {
            let prog: &mut Xdp = ebpf
                .program_mut(prog_name)
                .ok_or_else(|| Error::bpf("find program", prog_name, "missing from object"))?
                .try_into()
                .map_err(|e| Error::bpf("program type", prog_name, e))?;
            prog.load()
                .map_err(|e| Error::bpf("load program", prog_name, e))?;
            let prog_id = prog
                .info()
                .map_err(|e| Error::bpf("program info", prog_name, e))?
                .id();
            for (ifname, ext) in cfg.interfaces() {
                if ext != external {
                    continue;
                }
                let l = links.iter().find(|l| l.name == ifname).expect("validated");
                let id = prog.attach_to_if_index(l.index, mode.aya()).map_err(|e| {
                    Error::bpf(
                        "attach",
                        format!("{prog_name} to {ifname} ({mode:?} mode) in {ns_name}"),
                        e,
                    )
                })?;
                let link = prog
                    .take_link(id)
                    .map_err(|e| Error::bpf("take link", ifname, e))?;
                let fd_link: FdLink = link.try_into().map_err(|e| {
                    Error::bpf(
                        "attach",
                        ifname,
                        format!("kernel attached without a bpf_link ({e}); cannot pin"),
                    )
                })?;
                attached.push((
                    DeployedInterface {
                        name: ifname.to_string(),
                        ifindex: l.index,
                        external,
                        prog_id,
                    },
                    fd_link,
                ));
            }
        }

        // Everything worked: pin, so the forwarder survives this process.
        pins::create_dir(&dir)?;
        let pinned = pin_all(&mut ebpf, &dir, attached);
        let interfaces = match pinned {
            Ok(i) => i,
            Err(e) => {
                let _ = remove_pins(&dir);
                return Err(e);
            }
        };
        let dep = Deployment {
            netns: ns_name.name.clone(),
            netns_inode: inode,
            pin_dir: dir.clone(),
            config_file: Some(super::config::display_path(config_file)),
            config: cfg.clone(),
            mode,
            interfaces,
            devmap: devmap_written,
        };
        if let Err(e) = dep.save() {
            let _ = remove_pins(&dir);
            return Err(e);
        }
        log::info!(
            "forwarder deployed in {ns_name}: {} interface(s)",
            dep.interfaces.len()
        );
        Ok(dep)
    })
}

/// Maps pinned next to the links, for status, diagnose and maintenance.
pub(crate) const PINNED_MAPS: [&str; 4] =
    [abi::DNAT_MAP, abi::SNAT_MAP, abi::DEVMAP, abi::COUNTERS_MAP];

fn pin_all(
    ebpf: &mut aya::Ebpf,
    dir: &Path,
    attached: Vec<(DeployedInterface, FdLink)>,
) -> Result<Vec<DeployedInterface>> {
    for name in PINNED_MAPS {
        let map = ebpf
            .map(name)
            .ok_or_else(|| Error::bpf("find map", name, "missing from object"))?;
        let path = dir.join(name);
        map.pin(&path)
            .map_err(|e| Error::bpf("pin", path.display().to_string(), e))?;
    }
    let mut out = Vec::new();
    for (iface, link) in attached {
        let path = link_pin(dir, &iface.name);
        link.pin(&path)
            .map_err(|e| Error::bpf("pin", path.display().to_string(), e))?;
        out.push(iface);
    }
    Ok(out)
}

/// Path of the pinned bpf_link attaching the forwarder to `ifname`.
pub fn link_pin(dir: &Path, ifname: &str) -> PathBuf {
    dir.join(format!("link-{ifname}"))
}

/// Removes every pin under `dir`: links first (unpinning a link detaches its program), then
/// maps, then the directory. Keeps going on errors and reports them all.
fn remove_pins(dir: &Path) -> Result<()> {
    let mut errs = ErrorList::default();
    let entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("read directory", dir, e)),
    };
    let (links, others): (Vec<_>, Vec<_>) = entries.into_iter().partition(|p| {
        p.file_name()
            .map(|n| n.to_string_lossy().starts_with("link-"))
            .unwrap_or(false)
    });
    for p in links {
        errs.push(
            PinnedLink::from_pin(&p)
                .map_err(|e| Error::bpf("open pinned link", p.display().to_string(), e))
                .and_then(|l| {
                    l.unpin()
                        .map(drop)
                        .map_err(|e| Error::io("unpin", p.clone(), e))
                }),
        );
    }
    for p in others {
        errs.push(std::fs::remove_file(&p).map_err(|e| Error::io("unpin", p.clone(), e)));
    }
    errs.push(std::fs::remove_dir(dir).map_err(|e| Error::io("remove", dir, e)));
    // The shared root goes too once the last forwarder is gone (fails harmlessly otherwise).
    let _ = std::fs::remove_dir(pins::PIN_ROOT);
    errs.into_result()
}

/// Removes exactly what `deploy` made in `ns`: link pins (detaching XDP), map pins, the pin
/// directory and the state file. Errors if nothing was deployed there.
pub fn teardown(ns: &Netns) -> Result<Option<Deployment>> {
    let inode = ns.inode()?;
    let dir = pins::pin_dir(inode);
    let state = pins::state_file(inode);
    let dep = Deployment::load(inode).ok().flatten();
    if !dir.exists() && !state.exists() {
        return Err(Error::not_found(
            format!("forwarder in namespace {ns}"),
            Some(format!("nothing at {}", dir.display())),
        ));
    }
    let mut errs = ErrorList::default();
    errs.push(remove_pins(&dir));
    if state.exists() {
        errs.push(std::fs::remove_file(&state).map_err(|e| Error::io("remove", state.clone(), e)));
    }
    errs.into_result()?;
    log::info!("forwarder torn down in {ns}");
    Ok(dep)
}

/// Opens a pinned map of the forwarder deployed in namespace `inode`.
pub fn open_pinned_map(inode: u64, name: &str) -> Result<MapData> {
    let p = pins::pin_dir(inode).join(name);
    MapData::from_pin(&p).map_err(|e| Error::bpf("open pinned map", p.display().to_string(), e))
}

/// Removes `ifindex` from the deployed forwarder's devmap (used by labs to inject the
/// `devmap-missing-target` fault, and by users to stop redirecting to an interface).
pub fn devmap_remove(ns: &Netns, ifindex: u32) -> Result<()> {
    let inode = ns.inode()?;
    let data = open_pinned_map(inode, abi::DEVMAP)?;
    let mut m: DevMapHash<MapData> = Map::DevMapHash(data)
        .try_into()
        .map_err(|e| Error::bpf("map type", abi::DEVMAP, e))?;
    m.remove(ifindex)
        .map_err(|e| Error::bpf("remove", format!("{} ifindex {ifindex}", abi::DEVMAP), e))
}

/// Removes the SNAT entry for `target` (used by labs to inject `nat-entry-asymmetric`).
pub fn snat_remove(ns: &Netns, target: SocketAddrV4) -> Result<()> {
    let inode = ns.inode()?;
    let data = open_pinned_map(inode, abi::SNAT_MAP)?;
    let mut m: BpfHashMap<MapData, Endpoint, Endpoint> = Map::HashMap(data)
        .try_into()
        .map_err(|e| Error::bpf("map type", abi::SNAT_MAP, e))?;
    m.remove(&Endpoint::from(target))
        .map_err(|e| Error::bpf("remove", format!("{} {target}", abi::SNAT_MAP), e))
}

/// Removes forwarder pins and state files whose namespace no longer exists (`alive` holds
/// the inodes of every namespace still reachable). A namespace deleted without a teardown
/// (a crash, a lab whose teardown failed) otherwise leaves `fwd-<inode>` behind, and a new
/// namespace that reuses the inode would look "already deployed".
pub fn cleanup_stale(alive: &HashSet<u64>) -> Result<()> {
    let mut errs = ErrorList::default();
    let stale = |name: &str, prefix: &str, suffix: &str| -> Option<u64> {
        let ino: u64 = name
            .strip_prefix(prefix)?
            .strip_suffix(suffix)?
            .parse()
            .ok()?;
        (!alive.contains(&ino)).then_some(ino)
    };
    if let Ok(rd) = std::fs::read_dir(pins::PIN_ROOT) {
        for e in rd.filter_map(|e| e.ok()) {
            let Some(ino) = stale(&e.file_name().to_string_lossy(), "fwd-", "") else {
                continue;
            };
            // Not finding the namespace is not proof it is gone (another PID namespace, a
            // bind mount elsewhere, an fd): the kernel decides. Only a forwarder all of whose
            // links are defunct (device destroyed) is removed.
            if any_link_attached(&e.path()) {
                log::debug!("fwd-{ino}: namespace not visible but links attached; kept");
                continue;
            }
            log::info!("removing pins of a forwarder whose namespace (inode {ino}) is gone");
            errs.push(remove_pins(&e.path()));
        }
    }
    let states = pins::state_file(0).parent().map(Path::to_path_buf);
    if let Some(Ok(rd)) = states.map(std::fs::read_dir) {
        for e in rd.filter_map(|e| e.ok()) {
            let ino = stale(&e.file_name().to_string_lossy(), "", ".json");
            if ino.is_some_and(|i| !pins::pin_dir(i).exists()) {
                let p = e.path();
                errs.push(std::fs::remove_file(&p).map_err(|err| Error::io("remove", p, err)));
            }
        }
    }
    errs.into_result()
}

/// Whether any `link-*` pin under `dir` is an XDP link still attached to a device (or cannot
/// be checked: then it is treated as attached, to be safe).
fn any_link_attached(dir: &Path) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    rd.filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("link-"))
        .any(|e| crate::bpf::sys::pinned_xdp_link_attached(&e.path()).unwrap_or(true))
}
