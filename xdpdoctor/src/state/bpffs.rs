//! bpffs at /sys/fs/bpf: pins need it, and a fresh machine may not have it mounted.
//!
//! Where xdpdoctor mounted it, it unmounts it again once its last pin is gone and nothing but
//! the kernel's own entries is left there (`maps.debug` and `progs.debug`, which the kernel's
//! BPF preload pins into every new bpffs mount): a mount made for a lab does not outlive the
//! lab. The intent is recorded before mounting ([`MOUNTED_MARK`]), so a command killed after
//! the mount still leaves the unmount to the next one that removes the last pin. A bpffs
//! mounted by anyone else is never unmounted.
//!
//! Every pin of xdpdoctor lives under one root, [`PIN_ROOT`], removed when its last pin goes
//! ([`remove_root_if_empty`]) so nothing is left on bpffs. Removing it races with a concurrent
//! xdpdoctor that has just made it and is about to pin into it (its pin would fail with
//! ENOENT), so the two take a lock on the bpffs mount's directory itself (no file is created
//! for it): a pinner holds it shared from making its directory until its first pin is in
//! ([`hold_dir`]), the remover takes it exclusive without waiting and leaves the root alone
//! when it cannot (someone is pinning, so the root is about to be non-empty anyway).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use super::PIN_ROOT;

use crate::{Error, Result};

/// Where bpffs is expected.
pub const BPFFS: &str = "/sys/fs/bpf";
/// Present while bpffs at [`BPFFS`] is a mount xdpdoctor made (written before mounting).
pub const MOUNTED_MARK: &str = "/run/xdpdoctor/bpffs-mounted-by-xdpdoctor";
/// What the kernel pins into every new bpffs mount (BPF preload iterators).
const KERNEL_ENTRIES: [&str; 2] = ["maps.debug", "progs.debug"];
const BPF_FS_MAGIC: i64 = 0xcafe4a11;

/// Is bpffs mounted at /sys/fs/bpf?
pub fn mounted() -> bool {
    let c = std::ffi::CString::new(BPFFS).expect("no NUL");
    // SAFETY: statfs writes into a zeroed struct we own; `c` is a valid C string.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    (unsafe { libc::statfs(c.as_ptr(), &mut st) } == 0) && st.f_type as i64 == BPF_FS_MAGIC
}

/// Mounts bpffs at /sys/fs/bpf if it is not there (left mounted, like `bpftool` does).
pub fn ensure() -> Result<()> {
    if mounted() {
        return Ok(());
    }
    log::info!("mounting bpffs at {BPFFS}");
    // Intent first: whoever removes the last pin unmounts it, even if this process dies now.
    let mark = Path::new(MOUNTED_MARK);
    if let Some(dir) = mark.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    }
    std::fs::write(mark, b"").map_err(|e| Error::io("write", mark, e))?;
    let target = std::ffi::CString::new(BPFFS).expect("no NUL");
    let fstype = std::ffi::CString::new("bpf").expect("no NUL");
    // SAFETY: valid C strings; no data argument.
    let rc = unsafe {
        libc::mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        let e = Error::last_os("mount bpffs", BPFFS);
        let _ = std::fs::remove_file(mark);
        return Err(e);
    }
    Ok(())
}

/// Mounts bpffs if needed and creates `dir` under it.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    ensure()?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))
}

/// While alive, [`PIN_ROOT`] is not removed: hold it until the first pin is in.
#[must_use = "the root may vanish as soon as the hold is dropped"]
pub struct RootHold {
    _lock: File,
}

/// Mounts bpffs if needed, makes `dir` (under [`PIN_ROOT`]) and holds the root against
/// [`remove_root_if_empty`] until the returned hold drops.
pub fn hold_dir(dir: &Path) -> Result<RootHold> {
    loop {
        ensure()?;
        let f = File::open(BPFFS).map_err(|e| Error::io("open", BPFFS, e))?;
        // SAFETY: flock on an fd we own. Blocks only while a remover's rmdir runs.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH) } != 0 {
            return Err(Error::last_os("lock", BPFFS));
        }
        // The remover may have unmounted the bpffs this lock is on: lock the new one.
        if !same_mount(&f) {
            continue;
        }
        ensure_dir(dir)?;
        return Ok(RootHold { _lock: f });
    }
}

/// Whether `f` (opened at [`BPFFS`]) is still the directory mounted there.
fn same_mount(f: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (f.metadata(), std::fs::metadata(BPFFS)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino() && mounted(),
        _ => false,
    }
}

/// Removes [`PIN_ROOT`] if nothing is pinned under it any more and nobody is about to pin
/// (rmdir refuses a non-empty directory, and the lock shows a pinner between its mkdir and
/// its first pin). Called after every unpin; never an error.
pub fn remove_root_if_empty() {
    let Ok(f) = File::open(BPFFS) else { return };
    // SAFETY: flock on an fd we own; LOCK_NB never blocks.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        log::debug!("{PIN_ROOT} stays: another xdpdoctor is pinning");
        return;
    }
    match std::fs::remove_dir(PIN_ROOT) {
        Ok(()) => log::debug!("removed the empty {PIN_ROOT}"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            log::debug!("{PIN_ROOT} stays: {e}");
            return;
        }
    }
    unmount_if_ours();
}

/// Unmounts bpffs if xdpdoctor mounted it and only the kernel's entries are left in it. The
/// caller holds the exclusive lock on the mount (no xdpdoctor is about to pin); the unmount
/// is lazy because that lock's fd is open on it. A pinner that waited for the lock sees the
/// mount gone and mounts a new one ([`hold_dir`]).
fn unmount_if_ours() {
    if !Path::new(MOUNTED_MARK).exists() || !mounted() {
        return;
    }
    let Ok(rd) = std::fs::read_dir(BPFFS) else {
        return;
    };
    let others: Vec<String> = rd
        .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
        .filter(|n| !KERNEL_ENTRIES.contains(&n.as_str()))
        .collect();
    if !others.is_empty() {
        log::debug!("bpffs stays mounted: it holds {others:?}");
        return;
    }
    let target = std::ffi::CString::new(BPFFS).expect("no NUL");
    // SAFETY: a valid C string; MNT_DETACH only detaches the mount.
    if unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) } != 0 {
        log::debug!(
            "bpffs stays mounted: umount: {}",
            std::io::Error::last_os_error()
        );
        return;
    }
    log::info!("unmounted the bpffs xdpdoctor had mounted at {BPFFS}");
    let _ = std::fs::remove_file(MOUNTED_MARK);
}
