//! bpffs at /sys/fs/bpf: pins need it, and a fresh machine may not have it mounted.

use std::path::Path;

use crate::{Error, Result};

/// Where bpffs is expected.
pub const BPFFS: &str = "/sys/fs/bpf";
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
        return Err(Error::last_os("mount bpffs", BPFFS));
    }
    Ok(())
}

/// Mounts bpffs if needed and creates `dir` under it.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    ensure()?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))
}
