//! Raw bpf(2) calls aya 0.14 does not expose in the shape we need: opening a pinned object,
//! reading a link's info (program id, XDP ifindex), a program fd by id, and an atomic
//! BPF_LINK_UPDATE with BPF_F_REPLACE. Attribute structs are prefixes of `union bpf_attr`
//! (the kernel zero-fills the rest).

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::{Error, Result};

// bpf(2) commands and flags (uapi/linux/bpf.h).
const BPF_OBJ_GET: libc::c_long = 7;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_LINK_UPDATE: libc::c_long = 29;
const BPF_F_REPLACE: u32 = 1 << 2;

/// bpf(2) with `attr` (a prefix of `union bpf_attr`; the kernel zero-fills the rest).
///
/// # Safety
/// `attr` must be a `#[repr(C)]` struct laid out as the prefix of `union bpf_attr` that `cmd`
/// reads, and every pointer inside it (as `u64`) must point to memory valid for what `cmd`
/// reads or writes through it, for the whole call.
unsafe fn sys_bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<libc::c_long> {
    // SAFETY: the caller guarantees the layout and the pointers; the size is T's.
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
pub fn obj_get(p: &Path) -> Result<OwnedFd> {
    #[repr(C)]
    struct Attr {
        pathname: u64,
        bpf_fd: u32,
        file_flags: u32,
    }
    let c = CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::invalid(p.display().to_string(), "path contains a NUL byte"))?;
    let mut a = Attr {
        pathname: c.as_ptr() as u64,
        bpf_fd: 0,
        file_flags: 0,
    };
    // SAFETY: Attr is the BPF_OBJ_GET prefix; `pathname` points to `c`, alive for the call.
    unsafe { sys_bpf(BPF_OBJ_GET, &mut a) }
        .map(owned)
        .map_err(|e| Error::bpf("open pinned link", p.display().to_string(), e))
}

/// The head of `struct bpf_link_info`: type, id, program id, and for an XDP link the
/// ifindex it is attached to (0 once its device is gone: the link is defunct).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkInfo {
    /// `enum bpf_link_type`.
    pub link_type: u32,
    /// The link's id.
    pub id: u32,
    /// The id of the program it attaches.
    pub prog_id: u32,
    /// `xdp.ifindex`; meaningful only when `link_type == BPF_LINK_TYPE_XDP`.
    pub xdp_ifindex: u32,
}

/// `enum bpf_link_type`: BPF_LINK_TYPE_XDP.
pub const BPF_LINK_TYPE_XDP: u32 = 6;

/// BPF_OBJ_GET_INFO_BY_FD on a link.
pub fn link_info(link: BorrowedFd<'_>) -> std::io::Result<LinkInfo> {
    #[repr(C)]
    struct Attr {
        bpf_fd: u32,
        info_len: u32,
        info: u64,
    }
    // type, id, prog_id, pad, then the union (8-byte aligned) whose xdp member is the ifindex;
    // the kernel copies at most info_len bytes.
    let mut info = [0u32; 6];
    let mut a = Attr {
        bpf_fd: link.as_raw_fd() as u32,
        info_len: std::mem::size_of_val(&info) as u32,
        info: info.as_mut_ptr() as u64,
    };
    // SAFETY: Attr is the BPF_OBJ_GET_INFO_BY_FD prefix; `info` points to `info_len` bytes
    // we own, alive for the call.
    unsafe { sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &mut a) }?;
    Ok(LinkInfo {
        link_type: info[0],
        id: info[1],
        prog_id: info[2],
        xdp_ifindex: info[4],
    })
}

/// The id of the program a bpf_link runs.
pub fn link_prog_id(link: BorrowedFd<'_>) -> std::io::Result<u32> {
    link_info(link).map(|i| i.prog_id)
}

/// Whether the XDP link pinned at `pin` is still attached to a device. A link whose device
/// was destroyed (its namespace deleted) reports ifindex 0. Errors opening the pin count as
/// "not attached" only for ENOENT; anything else is returned.
pub fn pinned_xdp_link_attached(pin: &Path) -> Result<bool> {
    let fd = obj_get(pin)?;
    let i =
        link_info(fd.as_fd()).map_err(|e| Error::bpf("link info", pin.display().to_string(), e))?;
    Ok(i.link_type == BPF_LINK_TYPE_XDP && i.xdp_ifindex != 0)
}

/// BPF_PROG_GET_FD_BY_ID: an fd for the loaded program with this id.
pub fn prog_fd_by_id(id: u32) -> std::io::Result<OwnedFd> {
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
    // SAFETY: Attr is the BPF_PROG_GET_FD_BY_ID prefix; it holds no pointers.
    unsafe { sys_bpf(BPF_PROG_GET_FD_BY_ID, &mut a) }.map(owned)
}

/// BPF_LINK_UPDATE with BPF_F_REPLACE: `link` runs `new` if it still ran `old` (atomic).
pub fn link_update(
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
    // SAFETY: Attr is the BPF_LINK_UPDATE prefix; it holds fds, no pointers.
    unsafe { sys_bpf(BPF_LINK_UPDATE, &mut a) }.map(drop)
}

/// Returns once every BPF program run that started before the call has ended, so data those
/// runs may still read (the inactive half of the forwarder's NAT index) can be rewritten.
///
/// XDP programs run inside RCU read-side critical sections (softirq/NAPI, `rcu_read_lock`
/// in generic XDP and BPF_PROG_TEST_RUN), so an RCU grace period is enough:
/// `membarrier(MEMBARRIER_CMD_GLOBAL)` is `synchronize_rcu()` (kernel/sched/membarrier.c).
/// With `nohz_full` the kernel refuses that command; then a sleep far longer than any
/// program run (microseconds) stands in, and the call says so in the log.
pub fn wait_for_program_runs() {
    const MEMBARRIER_CMD_GLOBAL: libc::c_long = 1;
    // SAFETY: membarrier takes two integers and touches no user memory.
    let rc = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) };
    if rc < 0 {
        log::debug!(
            "membarrier(GLOBAL) refused ({}); waiting 50 ms instead",
            std::io::Error::last_os_error()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
