//! The af-packet method's traffic: real frames sent from the lab's client namespace into vm's
//! eth0, the way a NIC would hand them over, on kernels where live-frame test runs are refused
//! (and alongside them where they are not).
//!
//! An `AF_PACKET` raw socket bound to the client's interface, with `PACKET_QDISC_BYPASS`
//! (frames go straight to the veth's transmit function, no qdisc), sends the same TCP SYNs
//! as the live method ([`super::traffic::FlowSet`]) with `sendmmsg(2)`, [`BATCH`] frames per
//! call, round-robin over the flows. The calling thread is pinned to one CPU
//! ([`pin_to_cpu`]): the veth hands each frame to its peer on that CPU and the receive side
//! (vm's NAPI, the program, the redirect into ve-m1, host0's NAPI and the sink) runs in the
//! softirq that follows on the same CPU, so that CPU's accounting holds the whole path.
//!
//! The generator is slower than the paths it feeds (one copy and one skb per frame, ~1 µs
//! here): its rate is what it could offer, never a path's capacity. What it costs itself is
//! measured into an XDP_DROP sink on vm's eth0 and subtracted (`super::path`).

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::traffic::FlowSet;
use crate::bpf::capabilities::packet_socket;
use crate::{cancel, Error, Result};

/// Frames per `sendmmsg` call.
pub const BATCH: usize = 64;

/// The socket's send buffer (bytes). A frame holds the socket's memory until the receive side
/// frees it; with the hand-over batched (`super::handover`) up to a ring's worth waits in the
/// veth. With the default buffer (212992 bytes) 1500-byte frames filled it: `sendmmsg`
/// blocked, the CPU idled, and the softirqs that ran meanwhile were in nobody's account
/// (measured 2026-12-08: 0.31 Mpps offered instead of 0.63, every path "cheaper").
const SNDBUF: libc::c_int = 8 << 20;

/// What one run sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sent {
    /// Frames the device accepted.
    pub sent: u64,
    /// Frames the device refused (ENOBUFS: the peer's ring was full); not retried.
    pub refused: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
}

/// An AF_PACKET sender bound to one interface of the calling thread's namespace.
pub struct Generator {
    fd: OwnedFd,
    /// The interface it sends on.
    pub ifname: String,
}

impl Generator {
    /// Opens the socket on `ifname` (of the calling thread's namespace).
    pub fn open(ifname: &str) -> Result<Generator> {
        let what = format!("AF_PACKET socket on {ifname}");
        let fd = packet_socket().map_err(|e| Error::Sys {
            op: "socket(AF_PACKET, SOCK_RAW) + PACKET_QDISC_BYPASS",
            target: what.clone(),
            source: e,
        })?;
        set_sndbuf(&fd, &what)?;
        let name = CString::new(ifname).map_err(|_| Error::invalid("interface", ifname))?;
        // SAFETY: a valid NUL-terminated string, read only.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(Error::last_os("if_nametoindex", ifname));
        }
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_ifindex = ifindex as i32;
        // Protocol 0: bound for sending only, the socket receives nothing.
        // SAFETY: bind reads sizeof(sockaddr_ll) bytes from a live local.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(Error::last_os("bind(AF_PACKET)", what));
        }
        Ok(Generator {
            fd,
            ifname: ifname.to_string(),
        })
    }

    /// Sends `packets` frames, round-robin over `flows`, [`BATCH`] per call.
    pub fn send(&self, flows: &FlowSet, packets: u64) -> Result<Sent> {
        self.send_until(flows, packets, None, None)
    }

    /// Sends for `duration` (whole batches; the clock is read every few calls).
    pub fn send_for(&self, flows: &FlowSet, duration: Duration) -> Result<Sent> {
        self.send_until(flows, u64::MAX, Some(duration), None)
    }

    /// Sends until `stop()` is true (asked every few calls, before the interrupt check, so a
    /// stop that includes [`cancel::interrupted`] ends the run with its counts, not an error).
    pub fn send_until_stopped(&self, flows: &FlowSet, stop: &dyn Fn() -> bool) -> Result<Sent> {
        self.send_until(flows, u64::MAX, None, Some(stop))
    }

    fn send_until(
        &self,
        flows: &FlowSet,
        packets: u64,
        duration: Option<Duration>,
        stop: Option<&dyn Fn() -> bool>,
    ) -> Result<Sent> {
        let n = BATCH.min(packets.max(1).min(BATCH as u64) as usize);
        let mut iov: Vec<libc::iovec> = (0..n)
            .map(|i| {
                let f = flows.frame(i);
                libc::iovec {
                    iov_base: f.as_ptr() as *mut libc::c_void,
                    iov_len: f.len(),
                }
            })
            .collect();
        let mut msgs: Vec<libc::mmsghdr> = iov
            .iter_mut()
            .map(|v| {
                // SAFETY: msghdr is plain data; all-zero is a valid (empty) value.
                let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
                h.msg_iov = v as *mut libc::iovec;
                h.msg_iovlen = 1;
                libc::mmsghdr {
                    msg_hdr: h,
                    msg_len: 0,
                }
            })
            .collect();
        let mut out = Sent::default();
        let start = Instant::now();
        let mut calls = 0u64;
        while out.sent + out.refused < packets {
            if calls % 16 == 0 {
                // The interrupt is read before `stop` is asked, so a stop that includes
                // `cancel::interrupted` (`lab burst` on SIGTERM) has seen any signal this
                // one saw and ends the run with its counts; only a stop that does not turns
                // it into an error. (Asked the other way round, a signal in between was an
                // error: a 6.1 guest, 2026-12-07.)
                let interrupted = cancel::interrupted();
                if stop.is_some_and(|s| s()) {
                    break;
                }
                if interrupted {
                    return Err(Error::Interrupted);
                }
                if duration.is_some_and(|d| start.elapsed() >= d) {
                    break;
                }
            }
            calls += 1;
            let want = (packets - out.sent - out.refused).min(n as u64) as usize;
            // SAFETY: `msgs[..want]` point at `iov`, which points at frames of `flows`; all
            // live for the call and only read by the kernel.
            let rc =
                unsafe { libc::sendmmsg(self.fd.as_raw_fd(), msgs.as_mut_ptr(), want as u32, 0) };
            if rc > 0 {
                // A short count means message `rc` failed; the next call starts over.
                out.sent += rc as u64;
                continue;
            }
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::ENOBUFS) => out.refused += 1,
                Some(libc::EINTR) => {}
                _ => {
                    return Err(Error::Sys {
                        op: "sendmmsg",
                        target: format!("AF_PACKET socket on {}", self.ifname),
                        source: e,
                    })
                }
            }
        }
        out.elapsed = start.elapsed();
        Ok(out)
    }
}

/// Sets the send buffer to [`SNDBUF`]: `SO_SNDBUFFORCE` (CAP_NET_ADMIN, past `wmem_max`),
/// else `SO_SNDBUF` (capped at `net.core.wmem_max`, logged).
fn set_sndbuf(fd: &OwnedFd, what: &str) -> Result<()> {
    let set = |opt: libc::c_int| {
        // SAFETY: setsockopt reads one c_int from a live local.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&SNDBUF as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        }
    };
    if set(libc::SO_SNDBUFFORCE) == 0 {
        return Ok(());
    }
    log::warn!(
        "bench: SO_SNDBUFFORCE on {what}: {}; SO_SNDBUF is capped at net.core.wmem_max",
        std::io::Error::last_os_error()
    );
    if set(libc::SO_SNDBUF) != 0 {
        return Err(Error::last_os("setsockopt(SO_SNDBUF)", what));
    }
    Ok(())
}

/// Pins the calling thread to `cpu`.
pub fn pin_to_cpu(cpu: usize) -> Result<()> {
    // SAFETY: cpu_set_t is plain data; CPU_ZERO/CPU_SET write within it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe {
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(cpu, &mut set);
    }
    // SAFETY: pid 0 is the calling thread; the set is a live local of the size given.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        return Err(Error::last_os("sched_setaffinity", format!("CPU {cpu}")));
    }
    Ok(())
}

/// The CPU the generator is pinned to: the highest-numbered CPU this process may run on
/// (CPU 0 takes most of the machine's other interrupts).
pub fn generator_cpu() -> Result<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is the calling thread; the set is a live local of the size given.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Err(Error::last_os("sched_getaffinity", "this thread"));
    }
    (0..libc::CPU_SETSIZE as usize)
        .rev()
        // SAFETY: `c` is below CPU_SETSIZE; CPU_ISSET only reads the set.
        .find(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .ok_or_else(|| Error::unexpected("sched_getaffinity", "no CPU allowed"))
}
