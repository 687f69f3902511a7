//! "Needs root", said once, before anything is tried. Without the capabilities every kernel
//! call fails on its own (EPERM from bpf, setns, mount, netlink; EACCES on the state files),
//! and a command that keeps going on errors (teardown, `lab down`) would report each one.

use xdpdoctor::Error;

/// CAP_NET_ADMIN (links, addresses, XDP attach), CAP_SYS_ADMIN (setns, mount, bpf on older
/// kernels) and CAP_BPF (bpf on 5.8+; CAP_SYS_ADMIN covers it).
const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_BPF: u32 = 39;

/// The effective capability set (`CapEff` in /proc/self/status), if readable.
fn effective() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = s.lines().find_map(|l| l.strip_prefix("CapEff:"))?.trim();
    u64::from_str_radix(hex, 16).ok()
}

/// Whether the set `caps` allows what xdpdoctor's privileged commands do.
fn sufficient(caps: u64) -> bool {
    let has = |c: u32| caps & (1u64 << c) != 0;
    has(CAP_NET_ADMIN) && has(CAP_SYS_ADMIN) && (has(CAP_BPF) || has(CAP_SYS_ADMIN))
}

/// `Err(NeedsRoot)` naming `verb` unless this process has the capabilities. When the set
/// cannot be read, the kernel decides later.
pub fn require(verb: &str) -> Result<(), Error> {
    match effective() {
        Some(caps) if !sufficient(caps) => Err(Error::NeedsRoot {
            what: format!("xdpdoctor {verb}"),
            source: None,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_has_them_nobody_does_not() {
        assert!(sufficient(u64::MAX));
        assert!(!sufficient(0));
        assert!(!sufficient(1 << CAP_NET_ADMIN));
        assert!(sufficient((1 << CAP_NET_ADMIN) | (1 << CAP_SYS_ADMIN)));
    }
}
