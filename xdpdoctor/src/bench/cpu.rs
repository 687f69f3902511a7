//! CPU time of one CPU over a measurement, as the kernel accounts it, for the af-packet
//! method's cost per packet.
//!
//! Two readings are taken before and after each measurement:
//! - **per-CPU accounting** (`/proc/stat`, the generator's CPU): system, softirq and hardirq
//!   time. This is the method's figure: the generator's syscalls, the veth hand-over and
//!   every softirq the frames cause on that CPU (vm's NAPI, the XDP program, the redirect,
//!   host0's NAPI; for kernel NAT the stack) land here, wherever the kernel runs them
//!   (inline after the syscall, or in ksoftirqd). Other tasks' user time on that CPU does
//!   not count. With tick-based accounting (`CONFIG_TICK_CPU_ACCOUNTING`, as here) the split
//!   between the columns is sampled at every tick, but a CPU kept busy by the generator is
//!   charged tick by tick, so their sum is exact to a tick per reading; `/proc/stat` counts
//!   in USER_HZ (10 ms), so a measurement should last a second or more for 1%.
//! - **threads**: the generator thread's own CPU time (`CLOCK_THREAD_CPUTIME_ID`) plus that
//!   CPU's ksoftirqd (`/proc/PID/schedstat`), both in ns. A cross-check: without
//!   `CONFIG_IRQ_TIME_ACCOUNTING` the softirqs run at the end of the generator's syscalls are
//!   in its thread time; with it they are not, and this reading is lower.

use std::time::Duration;

use serde::Serialize;

use crate::{Error, Result};

/// One CPU's line of `/proc/stat`, in ns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTimes {
    /// user + nice.
    pub user: u64,
    /// system.
    pub system: u64,
    /// hardirq.
    pub irq: u64,
    /// softirq.
    pub softirq: u64,
}

impl CpuTimes {
    /// Parses the `cpuN` line of a `/proc/stat` text, with `hz` ticks per second.
    pub fn parse(stat: &str, cpu: usize, hz: u64) -> Option<CpuTimes> {
        let tag = format!("cpu{cpu}");
        let line = stat
            .lines()
            .find(|l| l.split_whitespace().next() == Some(tag.as_str()))?;
        let v: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map(|x| x.parse().ok())
            .collect::<Option<_>>()?;
        let ns = |i: usize| v.get(i).map(|t| t * 1_000_000_000 / hz.max(1));
        Some(CpuTimes {
            user: ns(0)? + ns(1)?,
            system: ns(2)?,
            irq: ns(5)?,
            softirq: ns(6)?,
        })
    }
}

/// The readings at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    cpu: CpuTimes,
    thread: Duration,
    ksoftirqd: Option<u64>,
}

/// CPU time used between two snapshots.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// System time of the CPU (ns).
    pub system_ns: u64,
    /// Softirq time of the CPU (ns).
    pub softirq_ns: u64,
    /// Hardirq time of the CPU (ns).
    pub irq_ns: u64,
    /// User time of the CPU, any task (ns): not part of the figure, shown for context.
    pub user_ns: u64,
    /// The generator thread's CPU time (ns).
    pub thread_ns: u64,
    /// The CPU's ksoftirqd (ns); 0 when it could not be read.
    pub ksoftirqd_ns: u64,
}

impl Usage {
    /// system + softirq + hardirq: the method's figure.
    pub fn kernel_ns(&self) -> u64 {
        self.system_ns + self.softirq_ns + self.irq_ns
    }

    /// The generator thread and ksoftirqd: the cross-check.
    pub fn threads_ns(&self) -> u64 {
        self.thread_ns + self.ksoftirqd_ns
    }
}

/// Reads CPU `cpu`'s accounting, on the generator's thread (its thread time is the caller's).
pub struct Meter {
    cpu: usize,
    hz: u64,
    ksoftirqd: Option<u32>,
}

impl Meter {
    /// A meter for CPU `cpu`.
    pub fn new(cpu: usize) -> Result<Meter> {
        // SAFETY: sysconf has no memory arguments.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if hz <= 0 {
            return Err(Error::last_os("sysconf(_SC_CLK_TCK)", "USER_HZ"));
        }
        let ksoftirqd = ksoftirqd_pid(cpu);
        if ksoftirqd.is_none() {
            log::warn!("bench: no ksoftirqd/{cpu} found; the threads reading leaves it out");
        }
        Ok(Meter {
            cpu,
            hz: hz as u64,
            ksoftirqd,
        })
    }

    /// The readings now. Call on the generator's thread.
    pub fn snapshot(&self) -> Result<Snapshot> {
        let stat = std::fs::read_to_string("/proc/stat")
            .map_err(|e| Error::io("read", "/proc/stat", e))?;
        let cpu = CpuTimes::parse(&stat, self.cpu, self.hz).ok_or_else(|| {
            Error::unexpected("/proc/stat", format!("no readable cpu{} line", self.cpu))
        })?;
        Ok(Snapshot {
            cpu,
            thread: thread_cpu_time()?,
            ksoftirqd: self.ksoftirqd.and_then(schedstat_runtime),
        })
    }
}

impl Snapshot {
    /// What was used from `self` to `later`.
    pub fn until(&self, later: &Snapshot) -> Usage {
        let d = |a: u64, b: u64| b.saturating_sub(a);
        Usage {
            system_ns: d(self.cpu.system, later.cpu.system),
            softirq_ns: d(self.cpu.softirq, later.cpu.softirq),
            irq_ns: d(self.cpu.irq, later.cpu.irq),
            user_ns: d(self.cpu.user, later.cpu.user),
            thread_ns: later.thread.saturating_sub(self.thread).as_nanos() as u64,
            ksoftirqd_ns: match (self.ksoftirqd, later.ksoftirqd) {
                (Some(a), Some(b)) => d(a, b),
                _ => 0,
            },
        }
    }
}

/// The calling thread's CPU time.
fn thread_cpu_time() -> Result<Duration> {
    // SAFETY: timespec is plain data.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: clock_gettime writes one timespec into a live local.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return Err(Error::last_os("clock_gettime", "CLOCK_THREAD_CPUTIME_ID"));
    }
    Ok(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// The pid of `ksoftirqd/CPU`.
fn ksoftirqd_pid(cpu: usize) -> Option<u32> {
    let want = format!("ksoftirqd/{cpu}");
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
        (comm.trim() == want).then_some(pid)
    })
}

/// Time on CPU of task `pid` (ns): the first field of `/proc/PID/schedstat`.
fn schedstat_runtime(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_lines_parse_to_ns() {
        let stat = "cpu  37820 0 9623 45639 811 0 277 368 0 0\n\
                    cpu0 17972 0 4169 24627 186 0 130 183 0 0\n\
                    cpu1 19848 5 5454 21012 625 3 147 184 0 0\n\
                    intr 449982 0 0\n";
        let c = CpuTimes::parse(stat, 1, 100).unwrap();
        assert_eq!(c.user, 19853 * 10_000_000);
        assert_eq!(c.system, 5454 * 10_000_000);
        assert_eq!(c.irq, 3 * 10_000_000);
        assert_eq!(c.softirq, 147 * 10_000_000);
        assert!(CpuTimes::parse(stat, 2, 100).is_none());
        assert!(CpuTimes::parse("cpu1 1 2\n", 1, 100).is_none());
    }

    #[test]
    fn usage_is_the_difference() {
        let a = Snapshot {
            cpu: CpuTimes {
                user: 10,
                system: 100,
                irq: 1,
                softirq: 50,
            },
            thread: Duration::from_nanos(1000),
            ksoftirqd: Some(7),
        };
        let b = Snapshot {
            cpu: CpuTimes {
                user: 15,
                system: 300,
                irq: 2,
                softirq: 150,
            },
            thread: Duration::from_nanos(2500),
            ksoftirqd: Some(17),
        };
        let u = a.until(&b);
        assert_eq!(u.kernel_ns(), 200 + 100 + 1);
        assert_eq!(u.threads_ns(), 1500 + 10);
        assert_eq!(u.user_ns, 5);
    }

    #[test]
    fn this_thread_has_cpu_time_and_this_machine_a_ksoftirqd() {
        let m = Meter::new(0).unwrap();
        let a = m.snapshot().unwrap();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let b = m.snapshot().unwrap();
        assert!(a.until(&b).thread_ns > 0);
        assert!(ksoftirqd_pid(0).is_some(), "no ksoftirqd/0 in /proc");
    }
}
