//! Keeping a bridge-serving deployment right as containers come and go (`bridge` says what is
//! served): [`sync`] brings it up to date once, [`follow`] runs it whenever rtnetlink reports
//! a link or neighbour change in the forwarder's namespace.
//!
//! A sync, under the namespace's lock like deploy and teardown:
//! - ports that left a bridge named in the config (container stopped: its veth is gone) lose
//!   their record, their link pin and their devmap entry;
//! - new veth ports of such a bridge are recorded first (intent), then get the devmap entry
//!   and the internal program (a fresh instance over the pinned maps, with the deployment's
//!   tunables), whose link is pinned like deploy's; a record whose pin is missing (a sync
//!   killed between the two) is attached again;
//! - the targets' neighbours on served bridges are resolved and the port map rewritten from
//!   the ports' peers and the FDB.
//!
//! Teardown removes the whole pin directory, so whatever a killed sync left is found.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use aya::maps::{HashMap as BpfHashMap, Map, MapData};
use serde::Serialize;

use super::bridge;
use super::config::Role;
use super::deploy::{self, DeployedInterface, Deployment};
use super::{maps, object, pins};
use crate::bpf::forwarder_abi::{self as abi, PortKey};
use crate::bpf::object::pinned_map;
use crate::netlink::rtnl::Rtnl;
use crate::netns::Netns;
use crate::{cancel, Error, Result};

/// What one sync changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// Ports that got the internal program.
    pub attached: Vec<String>,
    /// Ports that went away (records, pins and devmap entries removed).
    pub detached: Vec<String>,
    /// Ports the kernel refused to attach to, with why.
    pub failed: Vec<(String, String)>,
    /// Entries of the port map written.
    pub port_macs: usize,
    /// Targets on a served bridge whose neighbour is not resolved.
    pub unresolved: Vec<Ipv4Addr>,
}

impl SyncReport {
    /// Whether the sync changed the set of attached ports.
    pub fn changed(&self) -> bool {
        !self.attached.is_empty() || !self.detached.is_empty()
    }
}

/// How long a sync waits for a neighbour it asked the kernel to resolve.
const NEIGH_WAIT: Duration = Duration::from_millis(500);

/// Brings the bridge-serving deployment in `ns` up to date. A deployment serving no bridge
/// is left as it is.
pub fn sync(ns: &Netns) -> Result<SyncReport> {
    let key = ns.key()?;
    let _lock = deploy::lock(key)?;
    let mut dep = Deployment::require(ns)?;
    if dep.bridges.is_empty() {
        return Ok(SyncReport::default());
    }
    let nsc = ns.clone();
    ns.block_on(|| async move {
        let rt = Rtnl::new()?;
        let links = rt.links().await?;
        let mut rep = SyncReport::default();
        let now: Vec<(&crate::netlink::rtnl::Link, String)> = dep
            .bridges
            .iter()
            .filter(|b| b.all_ports)
            .flat_map(|b| bridge::ports_of(&links, b.ifindex).map(|p| (p, b.name.clone())))
            .collect();
        let present = |i: &DeployedInterface| {
            now.iter()
                .any(|(l, _)| l.index == i.ifindex && l.name == i.name)
        };
        let gone: Vec<DeployedInterface> = dep
            .interfaces
            .iter()
            .filter(|i| i.bridge.is_some() && !present(i))
            .cloned()
            .collect();
        for g in &gone {
            let pin = pins::link_pin(&dep.pin_dir, &g.name);
            if pin.exists() {
                if let Err(e) = pins::unpin_link(&pin) {
                    log::warn!("{}: {e}", pin.display());
                }
            }
            // Gone with its device, usually; a port merely released from the bridge stays.
            let _ = maps::devmap_remove(key, g.ifindex);
            rep.detached.push(g.name.clone());
        }
        dep.interfaces.retain(|i| !gone.contains(i));
        let pinned = |name: &str| pins::link_pin(&dep.pin_dir, name).exists();
        let new: Vec<(&crate::netlink::rtnl::Link, String)> = now
            .iter()
            .filter(|(l, _)| {
                !dep.interfaces
                    .iter()
                    .any(|i| i.ifindex == l.index && i.name == l.name && pinned(&i.name))
            })
            .cloned()
            .collect();
        for (l, via) in &new {
            if !dep
                .interfaces
                .iter()
                .any(|i| i.ifindex == l.index && i.name == l.name)
            {
                dep.interfaces.push(DeployedInterface {
                    name: l.name.clone(),
                    ifindex: l.index,
                    role: Role::Internal,
                    prog_id: 0,
                    bridge: Some(via.clone()),
                });
            }
        }
        if !new.is_empty() || !gone.is_empty() {
            dep.save()?;
        }
        if !new.is_empty() {
            let mut ebpf = object::load(dep.tunables(), Some(&dep.pin_dir))?;
            let (prog, prog_id) = object::load_program(&mut ebpf, Role::Internal)?;
            for (l, _) in &new {
                cancel::check()?;
                maps::devmap_insert(key, l.index)?;
                match deploy::attach_one(prog, l, Role::Internal, dep.mode, &nsc) {
                    Ok(link) => {
                        pins::pin_link(&dep.pin_dir, &l.name, link)?;
                        if let Some(i) = dep.interfaces.iter_mut().find(|i| i.ifindex == l.index) {
                            i.prog_id = prog_id;
                        }
                        rep.attached.push(l.name.clone());
                    }
                    Err(e) => {
                        dep.interfaces.retain(|i| i.ifindex != l.index);
                        rep.failed.push((l.name.clone(), crate::error::chain(&e)));
                    }
                }
            }
            dep.save()?;
        }

        let ids: Vec<u32> = dep.bridges.iter().map(|b| b.ifindex).collect();
        let targets: Vec<Ipv4Addr> = dep.config.entries.iter().map(|e| *e.to.ip()).collect();
        rep.unresolved = bridge::resolve_targets(&rt, &targets, &ids, NEIGH_WAIT).await?;
        let ports: Vec<(u32, u32)> = dep
            .interfaces
            .iter()
            .filter(|i| i.role == Role::Internal)
            .filter_map(|i| {
                let l = links.iter().find(|l| l.index == i.ifindex)?;
                Some((l.master.filter(|m| ids.contains(m))?, l.index))
            })
            .collect();
        let want = bridge::port_macs(&rt, &links, &ports).await?;
        rep.port_macs = want.len();
        let dir = &dep.pin_dir;
        let mut pm: BpfHashMap<MapData, PortKey, u32> =
            pinned_map(&dir.join(abi::BRIDGE_PORTS_MAP), Map::HashMap)?;
        bridge::write_ports(&mut pm, &want)?;
        let mut bm: BpfHashMap<MapData, u32, u32> =
            pinned_map(&dir.join(abi::BRIDGES_MAP), Map::HashMap)?;
        bridge::write_bridges(&mut bm, &ids)?;
        Ok(rep)
    })
}

/// Syncs, then syncs again after every burst of rtnetlink link or neighbour events in `ns`
/// (and every [`RESYNC`] in any case: a full socket drops events), until Ctrl-C or until the
/// deployment is torn down. Each sync's outcome goes to `report`.
pub fn follow(ns: &Netns, mut report: impl FnMut(Result<SyncReport>)) -> Result<()> {
    let sock = ns.run(open_events)?;
    report(sync(ns));
    let mut last = Instant::now();
    let mut dirty = false;
    loop {
        if cancel::interrupted() {
            return Ok(());
        }
        let got = wait_readable(&sock, QUIET)?;
        if got {
            drain(&sock);
            dirty = true;
            continue;
        }
        // Quiet for QUIET after events (a container's veth comes with a burst of them), or
        // RESYNC since the last sync.
        if (dirty && last.elapsed() >= MIN_GAP) || last.elapsed() >= RESYNC {
            dirty = false;
            last = Instant::now();
            match sync(ns) {
                Err(Error::NotFound { .. }) => return Ok(()),
                r => report(r),
            }
        }
    }
}

/// Events this close together are one burst.
const QUIET: Duration = Duration::from_millis(100);
/// At most one sync per this long (a sync's own neighbour probes make events).
const MIN_GAP: Duration = Duration::from_millis(500);
/// A sync at least this often, events or not.
const RESYNC: Duration = Duration::from_secs(30);

/// A NETLINK_ROUTE socket of the calling thread's namespace, subscribed to link and
/// neighbour notifications. Only their arrival matters, not their content.
fn open_events() -> Result<OwnedFd> {
    // SAFETY: plain socket(2); the fd is owned below.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(Error::last_os("socket(NETLINK_ROUTE)", "rtnetlink events"));
    }
    // SAFETY: fd is a new, valid descriptor nobody else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_nl is plain data; zeroed is a valid value.
    let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    sa.nl_family = libc::AF_NETLINK as u16;
    sa.nl_groups = (libc::RTMGRP_LINK | libc::RTMGRP_NEIGH) as u32;
    // SAFETY: sa is a valid sockaddr_nl of the size passed.
    let rc = unsafe {
        libc::bind(
            sock.as_raw_fd(),
            &sa as *const libc::sockaddr_nl as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        )
    };
    if rc != 0 {
        return Err(Error::last_os(
            "bind(NETLINK_ROUTE groups)",
            "rtnetlink events",
        ));
    }
    Ok(sock)
}

fn wait_readable(sock: &OwnedFd, timeout: Duration) -> Result<bool> {
    let mut p = libc::pollfd {
        fd: sock.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut p, 1, timeout.as_millis() as i32) };
    if n < 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINTR) {
            return Ok(false);
        }
        return Err(Error::io("poll", "rtnetlink events", e));
    }
    Ok(n > 0)
}

/// Reads every queued notification (ENOBUFS after an overflow included: the resync covers
/// what was lost).
fn drain(sock: &OwnedFd) {
    let mut buf = [0u8; 16384];
    loop {
        // SAFETY: buf is valid for its length.
        let n = unsafe {
            libc::recv(
                sock.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n <= 0 {
            let e = std::io::Error::last_os_error();
            if n == 0 || e.raw_os_error() != Some(libc::ENOBUFS) {
                return;
            }
        }
    }
}
