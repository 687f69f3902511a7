//! Where a deployed forwarder lives outside the process: its bpffs pins and a small state
//! file. Both are keyed by the namespace inode, so forwarders deployed in different namespaces
//! (two labs side by side) never collide, and a command started under `nsenter` finds the
//! same forwarder as one given `--netns`.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

pub const BPFFS: &str = "/sys/fs/bpf";
const BPF_FS_MAGIC: i64 = 0xcafe4a11;
/// Root of everything xdpdoctor pins.
pub const PIN_ROOT: &str = "/sys/fs/bpf/xdpdoctor";
/// Root of xdpdoctor's state files (forwarders, labs, fix journals).
pub const STATE_ROOT: &str = "/run/xdpdoctor";

/// Pin directory of the forwarder deployed in namespace `inode`.
pub fn pin_dir(inode: u64) -> PathBuf {
    Path::new(PIN_ROOT).join(format!("fwd-{inode}"))
}

/// State file of the forwarder deployed in namespace `inode`.
pub fn state_file(inode: u64) -> PathBuf {
    Path::new(STATE_ROOT)
        .join("forwarders")
        .join(format!("{inode}.json"))
}

/// Is bpffs mounted at /sys/fs/bpf?
pub fn bpffs_mounted() -> bool {
    let c = std::ffi::CString::new(BPFFS).unwrap();
    // SAFETY: statfs writes into a zeroed struct we own.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    (unsafe { libc::statfs(c.as_ptr(), &mut st) } == 0) && st.f_type as i64 == BPF_FS_MAGIC
}

/// Mounts bpffs at /sys/fs/bpf if it is not there (pins need it).
pub fn ensure_bpffs() -> Result<()> {
    if bpffs_mounted() {
        return Ok(());
    }
    log::info!("mounting bpffs at {BPFFS}");
    let target = std::ffi::CString::new(BPFFS).unwrap();
    let fstype = std::ffi::CString::new("bpf").unwrap();
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
        return Err(Error::last_os("mount bpffs", BPFFS));
    }
    Ok(())
}

pub fn create_dir(p: &Path) -> Result<()> {
    std::fs::create_dir_all(p).map_err(|e| Error::io("create directory", p, e))
}
