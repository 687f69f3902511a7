//! Per-namespace sysctls under /proc/sys/net.
//!
//! /proc/sys/net resolves the namespace of the *calling thread* at open time, so these work
//! inside `Netns::run`. (Beware /proc/net and /proc/self/net: those follow the thread-group
//! leader; use `/proc/thread-self/net` for per-thread views such as `snmp`.)

use std::path::PathBuf;

use crate::{Error, Result};

/// `net.ipv4.conf.all.forwarding` -> `/proc/sys/net/ipv4/conf/all/forwarding`.
pub fn path(key: &str) -> PathBuf {
    PathBuf::from("/proc/sys").join(key.replace('.', "/"))
}

/// Reads a sysctl, trimmed. Interface names with dots are not supported by the dotted form;
/// use `read_path` for those.
pub fn read(key: &str) -> Result<String> {
    read_path(path(key))
}

/// Writes a sysctl by its dotted name in the calling thread's namespace; like [`read`], not
/// for interface names with dots (use [`write_path`]).
pub fn write(key: &str, value: &str) -> Result<()> {
    write_path(path(key), value)
}

/// Reads the sysctl file at `p` (from [`path`] or [`iface_path`]), trimmed.
pub fn read_path(p: PathBuf) -> Result<String> {
    std::fs::read_to_string(&p)
        .map(|s| s.trim().to_string())
        .map_err(|e| Error::io("read sysctl", p, e))
}

/// Writes `value` to the sysctl file at `p`; a value the kernel refuses is an I/O error
/// (EINVAL).
pub fn write_path(p: PathBuf, value: &str) -> Result<()> {
    log::debug!("sysctl {} = {value}", p.display());
    std::fs::write(&p, value).map_err(|e| Error::io("write sysctl", p, e))
}

/// `net.ipv4.conf.<ifname>.<key>` for an interface (names may contain dots).
pub fn iface_path(ifname: &str, key: &str) -> PathBuf {
    PathBuf::from("/proc/sys/net/ipv4/conf")
        .join(ifname)
        .join(key)
}
