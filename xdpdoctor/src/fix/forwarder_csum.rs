//! Alternative fix for `veth-tx-csum-offload` (`fix --csum forwarder`): make the deployed
//! forwarder recompute full TCP checksums (`full_csum = 1`), for hosts where the containers
//! cannot be touched.
//!
//! No downtime: a fresh forwarder object is loaded with the new `full_csum` (and the deployed
//! `fib_cache_ns`) reusing the deployment's pinned maps (`EbpfLoader::map_pin_path`, as the
//! bench does), both programs are loaded, then every pinned `link-<ifname>` is switched to the
//! new program with `BPF_LINK_UPDATE` (`BPF_F_REPLACE`: only if the link still runs the program
//! we saw). The pins are never touched, so no interface is ever without a forwarder program.
//! Everything that can fail (load, opening every link, the old programs' fds) happens before
//! the first update; if an update or the state file write fails, the links already switched are
//! switched back to their old programs.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use aya::programs::Xdp;
use aya::{Ebpf, EbpfLoader};

use super::Previous;
use crate::bpf::forwarder_abi as abi;
use crate::bpf::objects;
use crate::forwarder::deploy::{link_pin, Deployment, PINNED_MAPS};
use crate::netns::Netns;
use crate::{Error, Result};

/// Sets the deployed forwarder's `full_checksum` to `on`. `Ok(None)` if it already is.
pub fn apply(ns: &Netns, on: bool) -> Result<Option<Previous>> {
    let dep = deployment(ns)?;
    if dep.config.full_checksum == on {
        return Ok(None);
    }
    let was = dep.config.full_checksum;
    swap(ns, dep, on)?;
    Ok(Some(Previous::Flag { on: was }))
}

/// Restores the recorded `full_checksum` value the same way.
pub fn revert(ns: &Netns, prev: &Previous) -> Result<()> {
    let Previous::Flag { on } = prev else {
        return Ok(());
    };
    let dep = deployment(ns)?;
    if dep.config.full_checksum == *on {
        return Ok(());
    }
    swap(ns, dep, *on)
}

fn deployment(ns: &Netns) -> Result<Deployment> {
    Deployment::load(ns.inode()?)?.ok_or_else(|| {
        Error::not_found(
            format!("forwarder in namespace {ns}"),
            Some("deploy one with `xdpdoctor deploy --config FILE`".into()),
        )
    })
}

/// One pinned link being switched: its fd, the program it ran and the one it gets.
struct Switch {
    name: String,
    link: OwnedFd,
    old_prog: OwnedFd,
    old_id: u32,
}

fn swap(ns: &Netns, mut dep: Deployment, on: bool) -> Result<()> {
    ns.run(move || {
        // 1. Load the new forwarder on the deployment's maps. Nothing changed yet.
        let mut ebpf = load_forwarder(&dep, on)?;
        let mut new_ids = Vec::new();
        for name in [abi::PROG_EXTERNAL, abi::PROG_INTERNAL] {
            let p = xdp_mut(&mut ebpf, name)?;
            p.load().map_err(|e| Error::bpf("load program", name, e))?;
            let id = p
                .info()
                .map_err(|e| Error::bpf("program info", name, e))?
                .id();
            new_ids.push(id);
        }
        let (ext_id, int_id) = (new_ids[0], new_ids[1]);

        // 2. Open every pinned link and hold its current program. Nothing changed yet.
        let mut switches = Vec::new();
        for i in &dep.interfaces {
            let pin = link_pin(&dep.pin_dir, &i.name);
            let link = obj_get(&pin)?;
            let old_id = link_prog_id(link.as_fd())
                .map_err(|e| Error::bpf("link info", pin.display().to_string(), e))?;
            let old_prog = prog_fd_by_id(old_id)
                .map_err(|e| Error::bpf("open program", format!("id {old_id}"), e))?;
            switches.push(Switch {
                name: i.name.clone(),
                link,
                old_prog,
                old_id,
            });
        }

        // 3. Switch each link atomically; on failure switch the done ones back.
        let ext = xdp(&ebpf, abi::PROG_EXTERNAL)?;
        let int = xdp(&ebpf, abi::PROG_INTERNAL)?;
        let ext_fd = ext
            .fd()
            .map_err(|e| Error::bpf("program fd", abi::PROG_EXTERNAL, e))?;
        let int_fd = int
            .fd()
            .map_err(|e| Error::bpf("program fd", abi::PROG_INTERNAL, e))?;
        let new_fd = |external: bool| {
            if external {
                ext_fd.as_fd()
            } else {
                int_fd.as_fd()
            }
        };
        let rollback = |done: &[(&Switch, bool)]| {
            for (s, external) in done.iter().rev() {
                if let Err(e) = link_update(s.link.as_fd(), s.old_prog.as_fd(), new_fd(*external)) {
                    log::error!("switching {} back to program {}: {e}", s.name, s.old_id);
                }
            }
        };
        let mut done: Vec<(&Switch, bool)> = Vec::new();
        for (s, i) in switches.iter().zip(&dep.interfaces) {
            if let Err(e) = link_update(s.link.as_fd(), new_fd(i.external), s.old_prog.as_fd()) {
                rollback(&done);
                return Err(Error::bpf(
                    "BPF_LINK_UPDATE",
                    format!("link-{} (program {})", s.name, s.old_id),
                    e,
                ));
            }
            done.push((s, i.external));
        }

        // 4. Record it; a state that cannot be saved is undone too.
        dep.config.full_checksum = on;
        for i in &mut dep.interfaces {
            i.prog_id = if i.external { ext_id } else { int_id };
        }
        if let Err(e) = dep.save() {
            rollback(&done);
            return Err(e);
        }
        log::info!(
            "forwarder in {} switched to full_checksum = {on} (programs {ext_id}, {int_id})",
            dep.netns
        );
        // Dropping `ebpf` closes our fds only: the pinned links keep the new programs.
        Ok(())
    })
}

fn load_forwarder(dep: &Deployment, on: bool) -> Result<Ebpf> {
    // aya creates (and pins) a map whose pin is missing: check first, never add pins.
    let mut loader = EbpfLoader::new();
    let full = u32::from(on);
    let fib_ns = u64::from(dep.config.fib_cache_ms) * 1_000_000;
    loader.override_global(abi::GLOBAL_FULL_CSUM, &full, true);
    loader.override_global(abi::GLOBAL_FIB_CACHE_NS, &fib_ns, true);
    let paths: Vec<_> = PINNED_MAPS
        .iter()
        .map(|m| (*m, dep.pin_dir.join(m)))
        .collect();
    for (name, p) in &paths {
        if !p.exists() {
            return Err(Error::not_found(
                format!("pinned forwarder map {}", p.display()),
                Some("the deployment is incomplete; redeploy it".into()),
            ));
        }
        loader.map_pin_path(name, p.as_path());
    }
    loader
        .load(objects::FORWARDER)
        .map_err(|e| Error::bpf("load", "forwarder.bpf.o (pinned maps)", e))
}

fn xdp_mut<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut Xdp> {
    ebpf.program_mut(name)
        .ok_or_else(|| Error::bpf("find program", name, "missing from object"))?
        .try_into()
        .map_err(|e| Error::bpf("program type", name, e))
}

fn xdp<'a>(ebpf: &'a Ebpf, name: &str) -> Result<&'a Xdp> {
    ebpf.program(name)
        .ok_or_else(|| Error::bpf("find program", name, "missing from object"))?
        .try_into()
        .map_err(|e| Error::bpf("program type", name, e))
}

// bpf(2) commands and flags (uapi/linux/bpf.h).
const BPF_OBJ_GET: libc::c_long = 7;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_LINK_UPDATE: libc::c_long = 29;
const BPF_F_REPLACE: u32 = 1 << 2;

/// bpf(2) with `attr` (a prefix of `union bpf_attr`; the kernel zero-fills the rest).
fn sys_bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<libc::c_long> {
    // SAFETY: attr is a valid, initialised repr(C) struct of the given size.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn owned(fd: libc::c_long) -> OwnedFd {
    // SAFETY: the kernel just returned this new fd; we are its only owner.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

/// BPF_OBJ_GET: an fd for the pinned object at `p`.
fn obj_get(p: &Path) -> Result<OwnedFd> {
    #[repr(C)]
    struct Attr {
        pathname: u64,
        bpf_fd: u32,
        file_flags: u32,
    }
    let c = CString::new(p.as_os_str().as_bytes())
        .map_err(|e| Error::invalid(p.display().to_string(), e.to_string()))?;
    let mut a = Attr {
        pathname: c.as_ptr() as u64,
        bpf_fd: 0,
        file_flags: 0,
    };
    sys_bpf(BPF_OBJ_GET, &mut a)
        .map(owned)
        .map_err(|e| Error::bpf("open pinned link", p.display().to_string(), e))
}

/// The id of the program a bpf_link runs (`bpf_link_info.prog_id`).
fn link_prog_id(link: BorrowedFd<'_>) -> std::io::Result<u32> {
    #[repr(C)]
    struct Attr {
        bpf_fd: u32,
        info_len: u32,
        info: u64,
    }
    // bpf_link_info starts with type, id, prog_id; the kernel copies at most info_len bytes.
    let mut info = [0u32; 3];
    let mut a = Attr {
        bpf_fd: link.as_raw_fd() as u32,
        info_len: std::mem::size_of_val(&info) as u32,
        info: info.as_mut_ptr() as u64,
    };
    sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &mut a)?;
    Ok(info[2])
}

fn prog_fd_by_id(id: u32) -> std::io::Result<OwnedFd> {
    #[repr(C)]
    struct Attr {
        prog_id: u32,
        next_id: u32,
        open_flags: u32,
    }
    let mut a = Attr {
        prog_id: id,
        next_id: 0,
        open_flags: 0,
    };
    sys_bpf(BPF_PROG_GET_FD_BY_ID, &mut a).map(owned)
}

/// BPF_LINK_UPDATE with BPF_F_REPLACE: `link` runs `new` if it still ran `old` (atomic).
fn link_update(
    link: BorrowedFd<'_>,
    new: BorrowedFd<'_>,
    old: BorrowedFd<'_>,
) -> std::io::Result<()> {
    #[repr(C)]
    struct Attr {
        link_fd: u32,
        new_prog_fd: u32,
        flags: u32,
        old_prog_fd: u32,
    }
    let mut a = Attr {
        link_fd: link.as_raw_fd() as u32,
        new_prog_fd: new.as_raw_fd() as u32,
        flags: BPF_F_REPLACE,
        old_prog_fd: old.as_raw_fd() as u32,
    };
    sys_bpf(BPF_LINK_UPDATE, &mut a).map(drop)
}
