//! RLIMIT_MEMLOCK for BPF objects on kernels before 5.11.
//!
//! Up to 5.10 the kernel charges every BPF map and program to the locked-memory limit of the
//! process that creates it (5.11 moved the accounting to memory cgroups and stopped checking
//! the rlimit). The usual default is 64 KiB (measured in Debian's 5.10 under QEMU: `ulimit -l`
//! 64), less than the probes' ring buffer alone, which the kernel then refuses (EPERM). This
//! raises the limit once, as libbpf and bpftool do; where raising is not allowed (no
//! CAP_SYS_RESOURCE, as on the development machines) the kernel is new enough not to need it,
//! and nothing changes.

/// Raises the soft and hard RLIMIT_MEMLOCK to unlimited, or failing that the soft limit to the
/// hard one. Never fails: where the limit stays too low, creating the object fails with
/// EPERM, which the caller reports.
pub fn raise() {
    let inf = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit reads a valid, initialized rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &inf) } == 0 {
        return;
    }
    let err = std::io::Error::last_os_error();
    let mut cur = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into a valid rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut cur) } == 0
        && cur.rlim_cur < cur.rlim_max
    {
        let soft = libc::rlimit {
            rlim_cur: cur.rlim_max,
            rlim_max: cur.rlim_max,
        };
        // SAFETY: as above.
        let _ = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &soft) };
    }
    log::debug!("RLIMIT_MEMLOCK not raised to unlimited ({err}); kernels from 5.11 do not need it");
}

#[cfg(test)]
mod tests {
    #[test]
    fn raising_never_lowers_the_limit() {
        let mut before = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        assert_eq!(
            // SAFETY: getrlimit writes into a valid rlimit.
            unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut before) },
            0
        );
        super::raise();
        let mut after = before;
        assert_eq!(
            // SAFETY: as above.
            unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut after) },
            0
        );
        assert!(after.rlim_cur >= before.rlim_cur && after.rlim_max >= before.rlim_max);
        assert!(after.rlim_cur == after.rlim_max || after.rlim_cur == libc::RLIM_INFINITY);
    }
}
