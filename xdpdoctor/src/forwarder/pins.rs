//! The pins of a deployed forwarder, `/sys/fs/bpf/xdpdoctor/fwd-<netns key>/`: one
//! `link-<ifname>` bpf_link per attached interface (unpinning it detaches the program) and
//! the shared maps. Pinning, removing, and sweeping the pins of forwarders whose namespace
//! died. The kernel decides what is stale: a pin is removed only when every link in it is
//! defunct (its device was destroyed), never because a namespace is not visible from here.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use aya::programs::links::FdLink;
use aya::Ebpf;

use super::object::{LOG_MAPS, OBJECT, PINNED_MAPS};
use crate::netns::Living;
use crate::state::{self, NsKey, PIN_ROOT};
use crate::{Error, ErrorList, Result};

/// Path of the pinned bpf_link attaching the forwarder to `ifname`.
pub fn link_pin(dir: &Path, ifname: &str) -> PathBuf {
    dir.join(format!("link-{ifname}"))
}

/// Pins the shared maps (the decision log's included) and every (interface name, link) under
/// `dir`.
pub(crate) fn pin_all(ebpf: &mut Ebpf, dir: &Path, links: Vec<(String, FdLink)>) -> Result<()> {
    let _hold = state::bpffs::hold_dir(dir)?;
    for name in PINNED_MAPS.into_iter().chain(LOG_MAPS) {
        let map = ebpf.map(name).ok_or_else(|| {
            Error::bpf(
                "find map",
                format!("{name} in {OBJECT}"),
                "missing from object",
            )
        })?;
        let path = dir.join(name);
        map.pin(&path)
            .map_err(|e| Error::bpf("pin", path.display().to_string(), e))?;
    }
    for (ifname, link) in links {
        let path = link_pin(dir, &ifname);
        link.pin(&path)
            .map_err(|e| Error::bpf("pin", path.display().to_string(), e))?;
    }
    Ok(())
}

/// Pins one more link (a port `follow::sync` attached) under `dir`.
pub(crate) fn pin_link(dir: &Path, ifname: &str, link: FdLink) -> Result<()> {
    let _hold = state::bpffs::hold_dir(dir)?;
    let path = link_pin(dir, ifname);
    link.pin(&path)
        .map(drop)
        .map_err(|e| Error::bpf("pin", path.display().to_string(), e))
}

/// Removes every pin under `dir`: links first (unpinning a link detaches its program), then
/// maps, then the directory. Keeps going on errors and reports them all.
pub(crate) fn remove_all(dir: &Path) -> Result<()> {
    let mut errs = ErrorList::default();
    let entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("read directory", dir, e)),
    };
    let (links, others): (Vec<_>, Vec<_>) = entries.into_iter().partition(|p| is_link_pin(p));
    for p in links {
        errs.push(unpin_link(&p));
    }
    for p in others {
        errs.push(std::fs::remove_file(&p).map_err(|e| Error::io("unpin", p.clone(), e)));
    }
    errs.push(std::fs::remove_dir(dir).map_err(|e| Error::io("remove", dir, e)));
    state::bpffs::remove_root_if_empty();
    errs.into_result()
}

/// Detaches one pinned bpf_link and unpins it. The detach is explicit (BPF_LINK_DETACH):
/// removing the last reference alone detaches only later, because bpffs drops a pin's
/// reference from an RCU callback and the link is then freed from a workqueue. A caller that
/// changes the interface next would race it: the lab's `jumbo-m1` fault sets the MTU that
/// the program on the veth capped, and on a 5.10 guest under QEMU the program was still
/// there (kernel matrix, 2026-12-07). A refused detach is logged and the unpin still
/// detaches, later.
pub fn unpin_link(p: &Path) -> Result<()> {
    // One BPF_OBJ_GET serves both: aya's PinnedLink would open the pin again and keeps its
    // fd private.
    let fd = crate::bpf::sys::obj_get(p)?;
    if let Err(e) = crate::bpf::sys::link_detach(fd.as_fd()) {
        log::warn!(
            "{}: BPF_LINK_DETACH refused ({e}); unpinning only",
            p.display()
        );
    }
    std::fs::remove_file(p).map_err(|e| Error::io("unpin", p, e))
}

fn is_link_pin(p: &Path) -> bool {
    p.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("link-"))
}

/// Whether any `link-*` pin under `dir` is an XDP link still attached to a device (or cannot
/// be checked: then it is treated as attached, to be safe).
pub(crate) fn any_link_attached(dir: &Path) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    rd.filter_map(|e| e.ok())
        .filter(|e| is_link_pin(&e.path()))
        .any(|e| crate::bpf::sys::pinned_xdp_link_attached(&e.path()).unwrap_or(true))
}

/// Removes forwarder pins and state files whose namespace no longer exists (`alive`: the
/// namespaces alive now). A namespace deleted without a teardown (a crash, a lab whose
/// teardown failed) otherwise leaves `fwd-<key>` behind. Keys carry the netns cookie, so a
/// new namespace that reused the inode does not keep a dead one's pins alive.
pub fn cleanup_stale(alive: &Living) -> Result<()> {
    let mut errs = ErrorList::default();
    if let Ok(rd) = std::fs::read_dir(PIN_ROOT) {
        for e in rd.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(key) = state::forwarder_pin_key(&name) else {
                continue;
            };
            if alive.contains(&key) {
                continue;
            }
            // Not finding the namespace is not proof it is gone (another PID namespace, a
            // bind mount elsewhere, an fd): the kernel decides. Only a forwarder all of whose
            // links are defunct (device destroyed) is removed.
            if any_link_attached(&e.path()) {
                log::debug!("{name}: namespace not visible but links attached; kept");
                continue;
            }
            // A deploy or teardown working on that namespace right now holds its lock:
            // leave it to them.
            let Some(_lock) = state::try_lock(state::LockKey::Netns(key))? else {
                continue;
            };
            log::info!("removing pins of a forwarder whose namespace ({key}) is gone");
            errs.push(remove_all(&e.path()));
        }
    }
    if let Ok(rd) = std::fs::read_dir(state::forwarders_dir()) {
        for e in rd.filter_map(|e| e.ok()) {
            let key = state::key_of_file(&e.file_name().to_string_lossy());
            let stale = |k: &NsKey| !alive.contains(k) && !state::forwarder_pin_dir(*k).exists();
            if let Some(k) = key.filter(stale) {
                if let Some(_lock) = state::try_lock(state::LockKey::Netns(k))? {
                    errs.push(state::remove_file(&e.path()));
                }
            }
        }
    }
    errs.into_result()
}

/// Removes the pins and state file of the forwarder deployed in namespace `key` once that
/// namespace is gone, whatever namespace now holds its inode (`lab down` for its own
/// router). With a cookie in the key they are that namespace's alone; without one (kernels
/// before 5.14) only pins whose every link is defunct are removed, since a namespace that
/// reused the inode may have deployed a forwarder of its own under the same name.
pub fn remove_of(key: NsKey) -> Result<()> {
    let dir = state::forwarder_pin_dir(key);
    let mut errs = ErrorList::default();
    if dir.exists() && (key.cookie.is_some() || !any_link_attached(&dir)) {
        errs.push(remove_all(&dir));
    }
    if !dir.exists() {
        errs.push(state::remove_file(&state::forwarder_file(key)));
    }
    errs.into_result()
}
