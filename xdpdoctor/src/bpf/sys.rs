//! Raw bpf(2) calls aya 0.14 does not expose in the shape we need: opening a pinned object,
//! reading a link's info (program id, XDP ifindex), a program fd by id, an atomic
//! BPF_LINK_UPDATE with BPF_F_REPLACE, BPF_LINK_DETACH, the kernel's BTF objects (modules'
//! included), and loading an fexit program against a function in a module's BTF
//! (`attach_btf_obj_fd`, which aya cannot set). Attribute structs are prefixes of
//! `union bpf_attr` (the kernel zero-fills the rest).

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::{Error, Result};

// bpf(2) commands and flags (uapi/linux/bpf.h).
const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;
const BPF_OBJ_GET: libc::c_long = 7;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_LINK_UPDATE: libc::c_long = 29;
const BPF_LINK_DETACH: libc::c_long = 34;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_RAW_TRACEPOINT_OPEN: libc::c_long = 17;
const BPF_BTF_GET_FD_BY_ID: libc::c_long = 19;
const BPF_BTF_GET_NEXT_ID: libc::c_long = 23;
/// `enum bpf_prog_type`: BPF_PROG_TYPE_TRACING.
const BPF_PROG_TYPE_TRACING: u32 = 26;
/// `enum bpf_attach_type`: BPF_TRACE_FEXIT.
const BPF_TRACE_FEXIT: u32 = 25;
const BPF_F_REPLACE: u32 = 1 << 2;

/// bpf(2) with `attr` (a prefix of `union bpf_attr`; the kernel zero-fills the rest).
///
/// # Safety
/// `attr` must be a `#[repr(C)]` struct laid out as the prefix of `union bpf_attr` that `cmd`
/// reads, and every pointer inside it (as `u64`) must point to memory valid for what `cmd`
/// reads or writes through it, for the whole call.
pub(super) unsafe fn sys_bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<libc::c_long> {
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

pub(super) fn owned(fd: libc::c_long) -> OwnedFd {
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
    /// `enum bpf_link_type`; [`BPF_LINK_TYPE_XDP`] for an XDP link.
    pub link_type: u32,
    /// The link's own id (as `bpftool link show` lists it), not its program's.
    pub id: u32,
    /// Id of the program the link runs now (a `BPF_LINK_UPDATE` changes it).
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
/// was destroyed (its namespace deleted) reports ifindex 0. Every error opening or reading
/// the pin (ENOENT included) is returned; callers take an error as "attached", so a pin they
/// cannot check is never removed as defunct.
pub fn pinned_xdp_link_attached(pin: &Path) -> Result<bool> {
    let fd = obj_get(pin)?;
    let i =
        link_info(fd.as_fd()).map_err(|e| Error::bpf("link info", pin.display().to_string(), e))?;
    Ok(i.link_type == BPF_LINK_TYPE_XDP && i.xdp_ifindex != 0)
}

/// BPF_PROG_GET_FD_BY_ID: an fd for the loaded program `id` (ENOENT once it is unloaded,
/// EPERM without CAP_SYS_ADMIN).
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

/// BPF_LINK_DETACH (Linux 5.9+): detaches `link` from its hook now, whoever else still holds
/// it; the link object stays, defunct, until its last reference goes. An XDP link already
/// detached (its device gone) succeeds.
pub fn link_detach(link: BorrowedFd<'_>) -> std::io::Result<()> {
    #[repr(C)]
    struct Attr {
        link_fd: u32,
    }
    let mut a = Attr {
        link_fd: link.as_raw_fd() as u32,
    };
    // SAFETY: Attr is the BPF_LINK_DETACH prefix; it holds an fd, no pointers.
    unsafe { sys_bpf(BPF_LINK_DETACH, &mut a) }.map(drop)
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

/// The `BPF_MAP_*_ELEM` / `GET_NEXT_KEY` prefix of `union bpf_attr`.
#[repr(C)]
struct ElemAttr {
    map_fd: u32,
    pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

/// BPF_MAP_LOOKUP_ELEM of `key` into `value`. `Ok(false)` when the key is absent (ENOENT).
///
/// # Safety
/// The kernel reads the map's `key_size` bytes from `key` and writes its value size into
/// `value`, whatever the slices' lengths: `key` must hold at least `key_size` bytes and
/// `value` at least `value_size` bytes (per-CPU maps: `round_up(value_size, 8)` times the
/// possible CPUs), taken from the map's info for this very fd.
pub unsafe fn map_lookup(
    map: BorrowedFd<'_>,
    key: &[u8],
    value: &mut [u8],
) -> std::io::Result<bool> {
    let mut a = ElemAttr {
        map_fd: map.as_raw_fd() as u32,
        pad: 0,
        key: key.as_ptr() as u64,
        value: value.as_mut_ptr() as u64,
        flags: 0,
    };
    // SAFETY: ElemAttr is the BPF_MAP_LOOKUP_ELEM prefix; `key` and `value` are live buffers at
    // least the map's key and value sizes (this function's contract), so the kernel stays in
    // bounds.
    match unsafe { sys_bpf(BPF_MAP_LOOKUP_ELEM, &mut a) } {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// BPF_MAP_GET_NEXT_KEY after `key` (None: the first key) into `next`. `Ok(false)` at the
/// end (ENOENT).
///
/// # Safety
/// The kernel reads and writes the map's `key_size` bytes through `key` and `next`, whatever
/// the slices' lengths: both must hold at least `key_size` bytes of this fd's map.
pub unsafe fn map_next_key(
    map: BorrowedFd<'_>,
    key: Option<&[u8]>,
    next: &mut [u8],
) -> std::io::Result<bool> {
    let mut a = ElemAttr {
        map_fd: map.as_raw_fd() as u32,
        pad: 0,
        key: key.map(|k| k.as_ptr() as u64).unwrap_or(0),
        value: next.as_mut_ptr() as u64,
        flags: 0,
    };
    // SAFETY: ElemAttr is the BPF_MAP_GET_NEXT_KEY prefix (`value` is `next_key`); both buffers
    // are live and of the map's key size (the caller's contract); a null key asks for the first.
    match unsafe { sys_bpf(BPF_MAP_GET_NEXT_KEY, &mut a) } {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// BPF_BTF_GET_NEXT_ID: the id of the next BTF object after `start` (`None`: no more).
pub fn btf_next_id(start: u32) -> std::io::Result<Option<u32>> {
    #[repr(C)]
    struct Attr {
        start_id: u32,
        next_id: u32,
        open_flags: u32,
    }
    let mut a = Attr {
        start_id: start,
        next_id: 0,
        open_flags: 0,
    };
    // SAFETY: Attr is the BPF_*_GET_NEXT_ID prefix; it holds no pointers.
    match unsafe { sys_bpf(BPF_BTF_GET_NEXT_ID, &mut a) } {
        Ok(_) => Ok(Some(a.next_id)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// BPF_BTF_GET_FD_BY_ID: an fd for the BTF object `id`.
pub fn btf_fd_by_id(id: u32) -> std::io::Result<OwnedFd> {
    #[repr(C)]
    struct Attr {
        btf_id: u32,
        next_id: u32,
        open_flags: u32,
    }
    let mut a = Attr {
        btf_id: id,
        next_id: 0,
        open_flags: 0,
    };
    // SAFETY: Attr is the BPF_BTF_GET_FD_BY_ID prefix; it holds no pointers.
    unsafe { sys_bpf(BPF_BTF_GET_FD_BY_ID, &mut a) }.map(owned)
}

/// What `struct bpf_btf_info` says about a BTF object (its data is not fetched).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BtfInfo {
    /// The object id.
    pub id: u32,
    /// `vmlinux`, a module's name, or empty for a program's BTF.
    pub name: String,
    /// The kernel's own BTF (vmlinux or a module), not one a program loaded.
    pub kernel_btf: bool,
}

/// BPF_OBJ_GET_INFO_BY_FD on a BTF object.
pub fn btf_info(btf: BorrowedFd<'_>) -> std::io::Result<BtfInfo> {
    #[repr(C)]
    struct Attr {
        bpf_fd: u32,
        info_len: u32,
        info: u64,
    }
    /// `struct bpf_btf_info` (6 fields, 32 bytes; `kernel_btf` since 5.11).
    #[repr(C)]
    struct Info {
        btf: u64,
        btf_size: u32,
        id: u32,
        name: u64,
        name_len: u32,
        kernel_btf: u32,
    }
    let mut name = [0u8; 64];
    let mut info = Info {
        btf: 0,
        btf_size: 0,
        id: 0,
        name: name.as_mut_ptr() as u64,
        name_len: name.len() as u32,
        kernel_btf: 0,
    };
    let mut a = Attr {
        bpf_fd: btf.as_raw_fd() as u32,
        info_len: std::mem::size_of::<Info>() as u32,
        info: &mut info as *mut Info as u64,
    };
    // SAFETY: Attr is the BPF_OBJ_GET_INFO_BY_FD prefix; `info` points to an Info of
    // `info_len` bytes whose `name` points to `name_len` bytes we own (btf is null with size
    // 0: no data is copied); all alive for the call.
    unsafe { sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &mut a) }?;
    let len = name.iter().position(|&c| c == 0).unwrap_or(name.len());
    Ok(BtfInfo {
        id: info.id,
        name: String::from_utf8_lossy(&name[..len]).into_owned(),
        kernel_btf: info.kernel_btf != 0,
    })
}

/// What BPF_PROG_LOAD of an fexit program needs: its instructions (already relocated: map
/// fds, CO-RE offsets), its license, and the function it attaches to, as a BTF id inside the
/// BTF object `attach_btf_obj` (a module's).
#[derive(Debug)]
pub struct FexitLoad<'a> {
    /// Program name for the kernel (truncated to 15 bytes).
    pub name: &'a str,
    /// `struct bpf_insn` array as bytes (8 bytes per instruction).
    pub insns: &'a [u8],
    /// "GPL": tracing programs must be GPL-compatible.
    pub license: &'a std::ffi::CStr,
    /// The target function's type id in the kernel's numbering.
    pub attach_btf_id: u32,
    /// The BTF object that holds `attach_btf_id`.
    pub attach_btf_obj: BorrowedFd<'a>,
}

/// A refused BPF_PROG_LOAD: the errno and the verifier's log (empty when it had none).
#[derive(Debug, thiserror::Error)]
#[error("BPF_PROG_LOAD: {source}{}", if log.is_empty() { String::new() } else { format!(". Verifier output: {log}") })]
pub struct LoadError {
    /// The kernel's answer.
    #[source]
    pub source: std::io::Error,
    /// The verifier log (asked for on a second try after a refusal).
    pub log: String,
}

/// What a BPF_PROG_LOAD of this crate sets; the rest of `union bpf_attr` is zero.
pub struct ProgLoad<'a> {
    /// `BPF_PROG_TYPE_*`.
    pub prog_type: u32,
    /// `BPF_*` attach type (0 where the program type needs none).
    pub expected_attach_type: u32,
    /// Program name for the kernel (truncated to 15 bytes).
    pub name: &'a str,
    /// `struct bpf_insn` array as bytes (8 bytes per instruction).
    pub insns: &'a [u8],
    /// The program's license.
    pub license: &'a std::ffi::CStr,
    /// For tracing programs: the target's BTF type id, and the BTF object holding it.
    pub attach_btf_id: u32,
    /// The fd of that BTF object (0: vmlinux, or none).
    pub attach_btf_obj_fd: u32,
}

/// BPF_PROG_LOAD of `p`; a non-empty `log` receives the verifier's log (level 1).
pub fn prog_load(p: &ProgLoad<'_>, log: &mut [u8]) -> std::io::Result<OwnedFd> {
    /// `union bpf_attr` for BPF_PROG_LOAD, up to `attach_btf_obj_fd` (120 bytes); a kernel
    /// that knows fewer fields accepts the zeros after them.
    #[repr(C)]
    struct Attr {
        prog_type: u32,
        insn_cnt: u32,
        insns: u64,
        license: u64,
        log_level: u32,
        log_size: u32,
        log_buf: u64,
        kern_version: u32,
        prog_flags: u32,
        prog_name: [u8; 16],
        prog_ifindex: u32,
        expected_attach_type: u32,
        prog_btf_fd: u32,
        func_info_rec_size: u32,
        func_info: u64,
        func_info_cnt: u32,
        line_info_rec_size: u32,
        line_info: u64,
        line_info_cnt: u32,
        attach_btf_id: u32,
        attach_btf_obj_fd: u32,
        pad: u32,
    }
    let mut prog_name = [0u8; 16];
    for (d, s) in prog_name.iter_mut().zip(p.name.bytes().take(15)) {
        *d = s;
    }
    let mut a = Attr {
        prog_type: p.prog_type,
        insn_cnt: (p.insns.len() / 8) as u32,
        insns: p.insns.as_ptr() as u64,
        license: p.license.as_ptr() as u64,
        log_level: u32::from(!log.is_empty()),
        log_size: log.len() as u32,
        log_buf: if log.is_empty() {
            0
        } else {
            log.as_mut_ptr() as u64
        },
        kern_version: 0,
        prog_flags: 0,
        prog_name,
        prog_ifindex: 0,
        expected_attach_type: p.expected_attach_type,
        prog_btf_fd: 0,
        func_info_rec_size: 0,
        func_info: 0,
        func_info_cnt: 0,
        line_info_rec_size: 0,
        line_info: 0,
        line_info_cnt: 0,
        attach_btf_id: p.attach_btf_id,
        attach_btf_obj_fd: p.attach_btf_obj_fd,
        pad: 0,
    };
    // SAFETY: Attr is the BPF_PROG_LOAD prefix up to attach_btf_obj_fd; `insns` points to
    // insn_cnt * 8 bytes, `license` to a NUL-terminated string, `log_buf` to `log_size`
    // writable bytes (or is null with size 0), all borrowed for the call.
    unsafe { sys_bpf(BPF_PROG_LOAD, &mut a) }.map(owned)
}

/// BPF_PROG_LOAD of a BPF_PROG_TYPE_TRACING / BPF_TRACE_FEXIT program. A refusal is retried
/// once with a verifier log, which the error carries.
pub fn load_fexit(p: &FexitLoad<'_>) -> Result<OwnedFd, LoadError> {
    let load = ProgLoad {
        prog_type: BPF_PROG_TYPE_TRACING,
        expected_attach_type: BPF_TRACE_FEXIT,
        name: p.name,
        insns: p.insns,
        license: p.license,
        attach_btf_id: p.attach_btf_id,
        attach_btf_obj_fd: p.attach_btf_obj.as_raw_fd() as u32,
    };
    let mut log = vec![0u8; 0];
    let attempt = |log: &mut Vec<u8>| prog_load(&load, log);
    match attempt(&mut log) {
        Ok(fd) => Ok(fd),
        Err(first) => {
            // Again with a log: the reason in the verifier's words (same answer otherwise).
            log = vec![0u8; 1 << 20];
            match attempt(&mut log) {
                Ok(fd) => Ok(fd),
                Err(source) => {
                    let len = log.iter().position(|&c| c == 0).unwrap_or(0);
                    let log = String::from_utf8_lossy(&log[..len]).trim_end().to_string();
                    let source = if source.raw_os_error() == first.raw_os_error() {
                        source
                    } else {
                        first
                    };
                    Err(LoadError { source, log })
                }
            }
        }
    }
}

/// BPF_RAW_TRACEPOINT_OPEN with no name: attaches a loaded fentry/fexit program to the
/// function it was loaded for. The returned link fd keeps it attached; closing it detaches.
pub fn attach_tracing(prog: BorrowedFd<'_>) -> std::io::Result<OwnedFd> {
    #[repr(C)]
    struct Attr {
        name: u64,
        prog_fd: u32,
        pad: u32,
    }
    let mut a = Attr {
        name: 0,
        prog_fd: prog.as_raw_fd() as u32,
        pad: 0,
    };
    // SAFETY: Attr is the BPF_RAW_TRACEPOINT_OPEN prefix; `name` is null (the program's
    // attach target is used), no other pointer.
    unsafe { sys_bpf(BPF_RAW_TRACEPOINT_OPEN, &mut a) }.map(owned)
}
