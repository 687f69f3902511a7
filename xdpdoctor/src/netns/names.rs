//! What people call a network namespace that has no `ip netns` name: `host` for the initial
//! one (PID 1's), the container's name as its runtime gives it (`docker:web1`, through
//! `crate::runtime`), else `pid:PID`; and the ` (pid N)` a container's name is shown with, so
//! the process it was reached through stays visible. Used by the enumerator (`all.rs`), by
//! `Netns::current` (`handle.rs`) and by `NsRef`'s label (`ns_ref.rs`).

use std::os::unix::fs::MetadataExt;

/// The name of the namespace of PID 1.
pub const HOST: &str = "host";

/// The inode of the host's network namespace (the initial one, PID 1's), if it can be read:
/// PID 1's namespace file, or, where PID 1 is out of reach (measured on this machine kind:
/// root may neither stat nor read the link of `/proc/1/ns/net`), kthreadd's: kernel threads
/// always run in the initial namespace.
pub fn host_inode() -> Option<u64> {
    let of = |pid: u32| {
        std::fs::metadata(format!("/proc/{pid}/ns/net"))
            .ok()
            .map(|m| m.ino())
    };
    of(1).or_else(|| {
        let comm = std::fs::read_to_string("/proc/2/comm").ok()?;
        (comm.trim() == "kthreadd").then(|| of(2)).flatten()
    })
}

/// A path that opens the host's namespace: `/proc/PID/ns/net` of the lowest PID in it whose
/// namespace file this process can open (PID 1, or a kernel thread such as PID 2 where PID
/// 1's is refused).
pub fn host_path() -> Option<std::path::PathBuf> {
    let host = host_inode()?;
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    pids.into_iter()
        .map(|p| std::path::PathBuf::from(format!("/proc/{p}/ns/net")))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.ino() == host))
}

/// What people call the unnamed namespace of `pid` (inode `ino`; `host` is PID 1's): `host`,
/// the container's runtime name, or `pid:PID` with the process's command (for labels).
pub fn unnamed(pid: u32, ino: u64, host: Option<u64>) -> (String, Option<String>) {
    if Some(ino) == host {
        return (HOST.to_string(), None);
    }
    if let Some(c) = crate::runtime::container_of_pid(pid) {
        return (c.to_string(), None);
    }
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    (format!("pid:{pid}"), Some(comm.trim().to_string()))
}

/// The process a namespace path goes through (`/proc/PID/ns/net`), if any.
pub fn pid_of_path(path: &str) -> Option<u32> {
    path.strip_prefix("/proc/")?
        .strip_suffix("/ns/net")?
        .parse()
        .ok()
}

/// ` (pid 2236)` for a container's namespace reached through `/proc/2236/ns/net`; empty for
/// named namespaces, `host` and `pid:N` (which say it already).
pub fn pid_suffix(name: &str, path: &str) -> String {
    match pid_of_path(path) {
        Some(p) if crate::runtime::is_container_name(name) => format!(" (pid {p})"),
        _ => String::new(),
    }
}
