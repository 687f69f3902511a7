//! What this kernel lets the process do that a measurement depends on, found by trying each
//! thing once: `BPF_PROG_TEST_RUN` of an XDP program (verdict returned), the same with
//! `BPF_F_TEST_XDP_LIVE_FRAMES` (verdict executed), BPF runtime statistics
//! (`kernel.bpf_stats_enabled`, or `BPF_ENABLE_STATS` for the life of an fd) and an
//! `AF_PACKET` raw socket with `PACKET_QDISC_BYPASS` (the bench's real-frame generator).
//!
//! Why probe instead of reading the version: permissions differ between kernels and
//! sandboxes (lockdown, BPF LSM policies, platform patches) and change on one machine kind
//! from one month to the next (live frames worked on the development machines, then were
//! refused with EPERM, then worked again). The kernel's answer is the only fact.
//!
//! The probe program is two instructions (`r0 = XDP_DROP; exit`), loaded with
//! `BPF_PROG_LOAD` directly: no object, no map. With live frames the kernel executes its
//! verdict, so the one probe frame is dropped before it could reach a stack or a device.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use serde::Serialize;

use super::sys::{owned, prog_load, sys_bpf, ProgLoad};
use super::test_run::BPF_F_TEST_XDP_LIVE_FRAMES as LIVE_FRAMES;
use crate::error::errno_name;

const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_ENABLE_STATS: libc::c_long = 32;
const BPF_PROG_TYPE_XDP: u32 = 6;
/// `enum bpf_stats_type`: BPF_STATS_RUN_TIME.
const BPF_STATS_RUN_TIME: u32 = 0;
const XDP_DROP: u32 = 1;
/// Where the kernel says whether runtime statistics are on for every program.
const STATS_SYSCTL: &str = "/proc/sys/kernel/bpf_stats_enabled";

/// One thing the kernel may allow or refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CapabilityName {
    /// `BPF_PROG_TEST_RUN` of an XDP program; the verdict is returned, not executed.
    TestRun,
    /// The same with `BPF_F_TEST_XDP_LIVE_FRAMES`: the verdict is executed (redirects, the
    /// stack for XDP_PASS).
    TestRunLiveFrames,
    /// Per-program runtime statistics (`run_time_ns`, `run_cnt`).
    BpfStats,
    /// An `AF_PACKET` raw socket with `PACKET_QDISC_BYPASS`.
    AfPacketTx,
}

impl CapabilityName {
    /// Every capability, in the order they are listed.
    pub const ALL: [CapabilityName; 4] = [
        CapabilityName::TestRun,
        CapabilityName::TestRunLiveFrames,
        CapabilityName::BpfStats,
        CapabilityName::AfPacketTx,
    ];

    /// The name in tables and JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            CapabilityName::TestRun => "test-run",
            CapabilityName::TestRunLiveFrames => "test-run-live-frames",
            CapabilityName::BpfStats => "bpf-stats",
            CapabilityName::AfPacketTx => "af-packet-tx",
        }
    }
}

impl std::fmt::Display for CapabilityName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kernel's answer for one capability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Capability {
    /// Which one.
    pub name: CapabilityName,
    /// Whether the kernel allowed it.
    pub allowed: bool,
    /// What was tried and, when allowed, the state found.
    pub probe: String,
    /// The errno of the refusal (`EPERM`).
    pub errno: Option<String>,
    /// Why it is refused, in words, errno included.
    pub reason: Option<String>,
}

impl Capability {
    fn allowed(name: CapabilityName, probe: impl Into<String>) -> Self {
        Capability {
            name,
            allowed: true,
            probe: probe.into(),
            errno: None,
            reason: None,
        }
    }

    fn refused(name: CapabilityName, probe: impl Into<String>, e: &std::io::Error) -> Self {
        let probe = probe.into();
        Capability {
            name,
            allowed: false,
            errno: e.raw_os_error().map(errno_name),
            reason: Some(refusal(&probe, e, is_root())),
            probe,
        }
    }
}

/// "`what`: EPERM (Operation not permitted)", with a hint for EPERM: without root it is the
/// missing privilege; as root it is the kernel's policy.
fn refusal(what: &str, e: &std::io::Error, root: bool) -> String {
    let Some(n) = e.raw_os_error() else {
        return format!("{what}: {e}");
    };
    let text = std::io::Error::from_raw_os_error(n).to_string();
    let text = text.split(" (os error").next().unwrap_or(&text).to_string();
    let mut s = format!("{what}: {} ({text})", errno_name(n));
    if n == libc::EPERM || n == libc::EACCES {
        s.push_str(if root {
            ", refused to root: a kernel policy (lockdown, an LSM, a platform restriction)"
        } else {
            ", not root: run as root"
        });
    }
    s
}

fn is_root() -> bool {
    // SAFETY: geteuid has no arguments and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Every capability, probed now in the calling thread's network namespace.
pub fn probe() -> Vec<Capability> {
    let (test_run, live) = probe_test_runs();
    vec![test_run, live, probe_bpf_stats(), probe_af_packet()]
}

/// The one named `name` in `caps` (a refused placeholder if it is not there).
pub fn find(caps: &[Capability], name: CapabilityName) -> Capability {
    caps.iter()
        .find(|c| c.name == name)
        .cloned()
        .unwrap_or_else(|| Capability {
            name,
            allowed: false,
            probe: "not probed".into(),
            errno: None,
            reason: Some("not probed".into()),
        })
}

/// Non-live and live test runs of the two-instruction XDP_DROP program.
fn probe_test_runs() -> (Capability, Capability) {
    const LOAD: &str = "BPF_PROG_LOAD of an XDP program (r0 = XDP_DROP; exit)";
    let prog = match load_drop_program() {
        Ok(p) => p,
        Err(e) => {
            return (
                Capability::refused(CapabilityName::TestRun, LOAD, &e),
                Capability::refused(CapabilityName::TestRunLiveFrames, LOAD, &e),
            )
        }
    };
    // 64 bytes: an Ethernet header (local experimental ethertype 0x88b5) and zeros.
    let mut frame = [0u8; 64];
    frame[12] = 0x88;
    frame[13] = 0xb5;
    let nonlive = "BPF_PROG_TEST_RUN of an XDP program (verdict returned)";
    let nonlive_cap = match run_once(&prog, &frame, 0) {
        Ok(XDP_DROP) => Capability::allowed(CapabilityName::TestRun, nonlive),
        Ok(v) => Capability {
            allowed: false,
            reason: Some(format!(
                "{nonlive}: verdict {v}, expected XDP_DROP ({XDP_DROP})"
            )),
            ..Capability::allowed(CapabilityName::TestRun, nonlive)
        },
        Err(e) => Capability::refused(CapabilityName::TestRun, nonlive, &e),
    };
    let live = "BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES (verdict executed)";
    let live = match run_once(&prog, &frame, LIVE_FRAMES) {
        Ok(_) => Capability::allowed(CapabilityName::TestRunLiveFrames, live),
        Err(e) => Capability::refused(CapabilityName::TestRunLiveFrames, live, &e),
    };
    (nonlive_cap, live)
}

/// Runtime statistics: on for everyone already (the sysctl), or allowed on request.
fn probe_bpf_stats() -> Capability {
    let name = CapabilityName::BpfStats;
    match stats_sysctl() {
        Some(true) => {
            Capability::allowed(name, "kernel.bpf_stats_enabled = 1 (on for every program)")
        }
        on => {
            let state = match on {
                Some(_) => "kernel.bpf_stats_enabled = 0",
                None => "no kernel.bpf_stats_enabled",
            };
            match enable_stats() {
                Ok(fd) => {
                    drop(fd);
                    Capability::allowed(
                        name,
                        format!(
                            "{state}; BPF_ENABLE_STATS allowed (on while the bench holds its fd)"
                        ),
                    )
                }
                Err(e) => Capability::refused(name, format!("{state}; BPF_ENABLE_STATS"), &e),
            }
        }
    }
}

/// An AF_PACKET raw socket, and PACKET_QDISC_BYPASS on it. Nothing is bound or sent.
fn probe_af_packet() -> Capability {
    let name = CapabilityName::AfPacketTx;
    let what = "socket(AF_PACKET, SOCK_RAW) with PACKET_QDISC_BYPASS";
    match packet_socket() {
        Ok(_) => Capability::allowed(name, what),
        Err(e) => Capability::refused(name, what, &e),
    }
}

/// `kernel.bpf_stats_enabled`: `None` when the kernel has no such sysctl or it cannot be read.
pub fn stats_sysctl() -> Option<bool> {
    let text = std::fs::read_to_string(STATS_SYSCTL).ok()?;
    Some(text.trim() != "0")
}

/// `BPF_ENABLE_STATS` (`BPF_STATS_RUN_TIME`): runtime statistics are on, for every program on
/// the machine, while the returned fd is open (closing it, or the process dying, ends it).
pub fn enable_stats() -> std::io::Result<OwnedFd> {
    #[repr(C)]
    struct Attr {
        stats_type: u32,
    }
    let mut a = Attr {
        stats_type: BPF_STATS_RUN_TIME,
    };
    // SAFETY: Attr is the BPF_ENABLE_STATS prefix of union bpf_attr; it holds no pointers.
    unsafe { sys_bpf(BPF_ENABLE_STATS, &mut a) }.map(owned)
}

/// An AF_PACKET raw socket that receives nothing (protocol 0), with PACKET_QDISC_BYPASS on:
/// frames sent on it go straight to the device's transmit function.
pub fn packet_socket() -> std::io::Result<OwnedFd> {
    // SAFETY: socket(2) with constant arguments; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd; we are its only owner.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let one: libc::c_int = 1;
    // SAFETY: setsockopt reads sizeof(int) bytes from a live local.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_QDISC_BYPASS,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fd)
}

/// `r0 = XDP_DROP; exit` as two `struct bpf_insn`.
fn drop_program() -> [u64; 2] {
    // code | dst_reg (low nibble) src_reg (high nibble) << 8 | off << 16 | imm << 32.
    const MOV64_IMM: u64 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
    const EXIT: u64 = 0x95; // BPF_JMP | BPF_EXIT
    [MOV64_IMM | (u64::from(XDP_DROP) << 32), EXIT]
}

fn load_drop_program() -> std::io::Result<OwnedFd> {
    let insns: Vec<u8> = drop_program()
        .iter()
        .flat_map(|i| i.to_ne_bytes())
        .collect();
    prog_load(
        &ProgLoad {
            prog_type: BPF_PROG_TYPE_XDP,
            expected_attach_type: 0,
            name: "xdd_cap_drop",
            insns: &insns,
            license: c"GPL",
            attach_btf_id: 0,
            attach_btf_obj_fd: 0,
        },
        &mut [],
    )
}

/// The `BPF_PROG_TEST_RUN` prefix of `union bpf_attr`, up to `batch_size` (Linux 5.18+).
#[repr(C)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    /// Explicit, so it is zero: the kernel refuses (EINVAL) non-zero bytes after the
    /// last field it knows, and Rust leaves implicit padding uninitialised.
    pad: u32,
}

// 12 x u32 + 4 x u64 = 80: with `pad` explicit there is no implicit (uninitialised) padding.
const _: () = assert!(std::mem::size_of::<TestRunAttr>() == 80);

/// One run of `prog` on `frame` with `flags`; the verdict.
fn run_once(prog: &OwnedFd, frame: &[u8], flags: u32) -> std::io::Result<u32> {
    // Non-live runs copy the frame back out: give them room (live ones must pass none).
    let mut out = vec![0u8; frame.len() + 256];
    let live = flags & LIVE_FRAMES != 0;
    let mut a = TestRunAttr {
        prog_fd: prog.as_raw_fd() as u32,
        retval: 0,
        data_size_in: frame.len() as u32,
        data_size_out: if live { 0 } else { out.len() as u32 },
        data_in: frame.as_ptr() as u64,
        data_out: if live { 0 } else { out.as_mut_ptr() as u64 },
        repeat: 1,
        duration: 0,
        ctx_size_in: 0,
        ctx_size_out: 0,
        ctx_in: 0,
        ctx_out: 0,
        flags,
        cpu: 0,
        batch_size: 0,
        pad: 0,
    };
    // SAFETY: Attr is the BPF_PROG_TEST_RUN prefix of union bpf_attr; `frame` is read for
    // data_size_in bytes and `out` (when passed) written for at most data_size_out bytes,
    // both live for the call; no context.
    unsafe { sys_bpf(BPF_PROG_TEST_RUN, &mut a) }?;
    Ok(a.retval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_program_is_mov_r0_drop_then_exit() {
        let [mov, exit] = drop_program();
        assert_eq!(mov & 0xff, 0xb7, "BPF_ALU64 | BPF_MOV | BPF_K");
        assert_eq!((mov >> 8) & 0xff, 0, "dst r0, src r0");
        assert_eq!(mov >> 32, 1, "imm XDP_DROP");
        assert_eq!(exit, 0x95);
    }

    #[test]
    fn refusals_name_the_errno_and_who_refused() {
        let e = std::io::Error::from_raw_os_error(libc::EPERM);
        let root = refusal("live frames", &e, true);
        assert_eq!(
            root,
            "live frames: EPERM (Operation not permitted), refused to root: a kernel policy \
             (lockdown, an LSM, a platform restriction)"
        );
        assert!(refusal("x", &e, false).ends_with("not root: run as root"));
        let inval = std::io::Error::from_raw_os_error(libc::EINVAL);
        assert_eq!(refusal("x", &inval, true), "x: EINVAL (Invalid argument)");
        let c = Capability::refused(CapabilityName::BpfStats, "x", &inval);
        assert_eq!((c.allowed, c.errno.as_deref()), (false, Some("EINVAL")));
    }

    #[test]
    fn names_are_stable() {
        let json = serde_json::to_string(&CapabilityName::ALL).unwrap();
        assert_eq!(
            json,
            r#"["test-run","test-run-live-frames","bpf-stats","af-packet-tx"]"#
        );
        for n in CapabilityName::ALL {
            assert_eq!(serde_json::to_string(&n).unwrap(), format!("\"{n}\""));
        }
        let missing = find(&[], CapabilityName::TestRun);
        assert!(!missing.allowed);
    }
}
