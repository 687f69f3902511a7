//! CPU time the af-packet method's frames cost on the generator's CPU, as the kernel
//! accounts it.
//!
//! Two readings are taken before and after each measuring slice:
//! - **per-CPU accounting** (`/proc/stat`, the generator's CPU): system, softirq and hardirq
//!   time. Everything the frames cause on that CPU lands here (the generator's syscalls, the
//!   veth hand-over, vm's NAPI, the program, the redirect, host0's NAPI; for kernel NAT the
//!   stack), inline after a send or in ksoftirqd. But it is coarse: counted in USER_HZ
//!   (10 ms) and, with tick-based accounting (`CONFIG_TICK_CPU_ACCOUNTING`, this kernel),
//!   sampled at each tick, so the share of the generator's own user time and of other
//!   tasks' system time on a shared CPU enters as noise (measured here: rounds of one
//!   variant 665, 1295 and 1168 ns per packet on a loaded machine).
//! - **tasks**: the generator thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`) plus that CPU's
//!   ksoftirqd (`/proc/PID/schedstat`), in ns, exact, and blind to other tasks (the same
//!   rounds: 920, 924 and 1017). Without `CONFIG_IRQ_TIME_ACCOUNTING` the softirqs a send
//!   runs on its way out of the kernel are charged to the sending thread, so this holds the
//!   whole path; with it they are charged apart, and the per-CPU softirq and hardirq time
//!   (exact then, in 10 ms units) is added.
//!
//! [`Basis`] says which one the method's figures come from ([`basis`]): tasks where the
//! kernel's IRQ time accounting is known, per-CPU accounting otherwise; the other reading is
//! reported beside it as a cross-check.

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
    /// system + softirq + hardirq of the CPU.
    pub fn kernel_ns(&self) -> u64 {
        self.system_ns + self.softirq_ns + self.irq_ns
    }

    /// The generator thread and ksoftirqd.
    pub fn threads_ns(&self) -> u64 {
        self.thread_ns + self.ksoftirqd_ns
    }

    /// Adds another interval's usage.
    pub fn add(&mut self, o: &Usage) {
        self.system_ns += o.system_ns;
        self.softirq_ns += o.softirq_ns;
        self.irq_ns += o.irq_ns;
        self.user_ns += o.user_ns;
        self.thread_ns += o.thread_ns;
        self.ksoftirqd_ns += o.ksoftirqd_ns;
    }
}

/// Which reading the af-packet figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// Generator thread + ksoftirqd: softirqs are charged to the task they run in.
    Tasks,
    /// Generator thread + ksoftirqd + the CPU's softirq and hardirq time: the kernel
    /// accounts IRQ time apart (`CONFIG_IRQ_TIME_ACCOUNTING`).
    TasksAndIrq,
    /// `/proc/stat` system + softirq + hardirq of the CPU: how the kernel accounts IRQ time
    /// is not known.
    PerCpu,
}

impl Basis {
    /// The share of the sending time `wall` that this reading of `u` accounts for on the
    /// generator's CPU (%). The generator never sleeps while it sends, so near 100% unless
    /// `sendmmsg` blocked (a full send buffer) or other tasks took the CPU: then it idled or
    /// ran them, and softirqs that ran meanwhile are charged elsewhere or nowhere. The
    /// per-CPU reading counts user time too here, as the generator's own.
    pub fn busy_pct(self, u: &Usage, wall: Duration) -> f64 {
        let used = match self {
            Basis::PerCpu => u.kernel_ns() + u.user_ns,
            b => b.of(u),
        };
        if wall.is_zero() {
            return 100.0;
        }
        used as f64 * 100.0 / wall.as_nanos() as f64
    }

    /// The figure of `u` in this basis (ns).
    pub fn of(self, u: &Usage) -> u64 {
        match self {
            Basis::Tasks => u.threads_ns(),
            Basis::TasksAndIrq => u.threads_ns() + u.softirq_ns + u.irq_ns,
            Basis::PerCpu => u.kernel_ns(),
        }
    }

    /// The other reading, reported as the cross-check.
    pub fn cross_check(self) -> Basis {
        match self {
            Basis::Tasks | Basis::TasksAndIrq => Basis::PerCpu,
            Basis::PerCpu => Basis::Tasks,
        }
    }
}

/// The basis for this kernel and how it was decided: the kernel's config
/// (`/boot/config-RELEASE`, plain text) if present, else `/proc/pressure/irq`, which exists
/// only with IRQ time accounting (Linux 6.1+ with PSI).
pub fn basis() -> (Basis, String) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let config = format!("/boot/config-{}", release.trim());
    if let Ok(text) = std::fs::read_to_string(&config) {
        let on = text
            .lines()
            .any(|l| l.trim() == "CONFIG_IRQ_TIME_ACCOUNTING=y");
        let how = if on { "=y in" } else { "not set in" };
        return decided(on, format!("CONFIG_IRQ_TIME_ACCOUNTING {how} {config}"));
    }
    let psi = std::path::Path::new("/proc/pressure");
    if psi.join("cpu").exists() && kernel_at_least(&release, 6, 1) {
        let on = psi.join("irq").exists();
        let how = if on { "has" } else { "has no" };
        return decided(on, format!("/proc/pressure {how} irq"));
    }
    (
        Basis::PerCpu,
        "IRQ time accounting unknown (no /boot/config-RELEASE, no /proc/pressure on 6.1+): \
         per-CPU accounting"
            .into(),
    )
}

fn decided(irq_time: bool, evidence: String) -> (Basis, String) {
    if irq_time {
        (
            Basis::TasksAndIrq,
            format!("IRQ time accounted apart ({evidence}): tasks + the CPU's softirq and hardirq"),
        )
    } else {
        (
            Basis::Tasks,
            format!("no IRQ time accounting ({evidence}): softirqs are in the tasks' time"),
        )
    }
}

/// `release` (`6.18.44-...`) is at least `major.minor`.
fn kernel_at_least(release: &str, major: u32, minor: u32) -> bool {
    let mut it = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|x| x.parse::<u32>().unwrap_or(0));
    let (a, b) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    (a, b) >= (major, minor)
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
    fn bases_add_what_each_kernel_config_leaves_out() {
        let u = Usage {
            system_ns: 100,
            softirq_ns: 50,
            irq_ns: 5,
            user_ns: 7,
            thread_ns: 140,
            ksoftirqd_ns: 10,
        };
        assert_eq!(Basis::Tasks.of(&u), 150);
        assert_eq!(Basis::TasksAndIrq.of(&u), 205);
        assert_eq!(Basis::PerCpu.of(&u), 155);
        assert_eq!(Basis::PerCpu.cross_check(), Basis::Tasks);
        assert!(kernel_at_least("6.18.44-fc-v1272", 6, 1));
        assert!(!kernel_at_least("5.10.0-30-amd64", 6, 1));
        assert!(kernel_at_least("6.1.0-56-amd64", 6, 1));
        let (b, why) = basis();
        assert!(!why.is_empty(), "{b:?}");
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
