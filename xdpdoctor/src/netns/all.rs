//! The one enumerator of every network namespace this process can open ([`all`]): named ones
//! (`/run/netns`, what users type) first, then unnamed ones reached through `/proc/PID/ns/net`
//! (containers), named after what people call them: `host` for the namespace of PID 1, the
//! container's name as its runtime gives it (`docker:web1`, through `crate::runtime`), else
//! `pid:PID`; and finding one again by inode.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use super::handle::{list_named, Netns, NETNS_RUN_DIR};
use super::names::{host_inode, pid_suffix, unnamed};
use crate::state::NsKey;

/// A namespace this process can open, found by [`all`].
#[derive(Debug, Clone)]
pub struct NsInfo {
    /// Its inode (identity).
    pub inode: u64,
    /// How to open it: `/run/netns/NAME` (named) or `/proc/PID/ns/net` (named `pid:PID`).
    pub netns: Netns,
    /// For unnamed namespaces named `pid:PID`, the command of that process.
    pub comm: Option<String>,
}

impl NsInfo {
    /// The name for people: `pid:22336 (systemd-nspawn)` with the command for a namespace
    /// known only by a process, `docker:web1 (pid 2236)` for a container, else the name.
    pub fn label(&self) -> String {
        match &self.comm {
            Some(c) => format!("{} ({c})", self.netns.name),
            None => format!(
                "{}{}",
                self.netns.name,
                pid_suffix(&self.netns.name, &self.netns.path.to_string_lossy())
            ),
        }
    }
}

/// Every network namespace reachable through /run/netns and /proc/*/ns/net, deduplicated by
/// inode. Named namespaces come first and win (their names are what users type); among
/// unnamed ones the lowest PID names it.
pub fn all() -> Vec<NsInfo> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for name in list_named() {
        let ns = Netns::named(&name);
        if let Ok(m) = std::fs::metadata(&ns.path) {
            if seen.insert(m.ino()) {
                out.push(NsInfo {
                    inode: m.ino(),
                    netns: ns,
                    comm: None,
                });
            }
        }
    }
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    pids.sort_unstable();
    let host = host_inode();
    for pid in pids {
        let path = PathBuf::from(format!("/proc/{pid}/ns/net"));
        let Ok(m) = std::fs::metadata(&path) else {
            continue;
        };
        if seen.insert(m.ino()) {
            let (name, comm) = unnamed(pid, m.ino(), host);
            out.push(NsInfo {
                inode: m.ino(),
                netns: Netns { name, path },
                comm,
            });
        }
    }
    log::debug!("{} namespaces ({NETNS_RUN_DIR} and /proc)", out.len());
    out
}

/// The namespace with this identity, if we can reach it: one with its inode whose cookie is
/// its cookie (a namespace that reused the inode of a dead one is not it).
pub fn by_key(key: &NsKey) -> Option<Netns> {
    all()
        .into_iter()
        .filter(|c| c.inode == key.inode)
        .find(|c| key.cookie.is_none() || c.netns.cookie().ok().flatten() == key.cookie)
        .map(|c| c.netns)
}

/// The namespaces alive now, to check records' keys against: the enumeration is taken once,
/// and a cookie is read only for a namespace whose inode a record names (reading it enters
/// the namespace), once.
pub struct Living {
    by_inode: std::collections::HashMap<u64, Netns>,
    cookies: std::cell::RefCell<std::collections::HashMap<u64, Option<u64>>>,
}

impl Living {
    /// Every namespace reachable now ([`all`]).
    pub fn now() -> Living {
        Living {
            by_inode: all().into_iter().map(|c| (c.inode, c.netns)).collect(),
            cookies: Default::default(),
        }
    }

    /// Whether the namespace `key` names still exists: its inode is in use, by the same
    /// namespace (same cookie; a key without one matches on the inode alone).
    pub fn contains(&self, key: &NsKey) -> bool {
        let Some(ns) = self.by_inode.get(&key.inode) else {
            return false;
        };
        if key.cookie.is_none() {
            return true;
        }
        let mut cookies = self.cookies.borrow_mut();
        let now = *cookies
            .entry(key.inode)
            .or_insert_with(|| ns.cookie().ok().flatten());
        // Unreadable (no cookie now): the inode decides, to be safe.
        now.is_none() || now == key.cookie
    }

    /// Whether any namespace has this inode now.
    pub fn has_inode(&self, inode: u64) -> bool {
        self.by_inode.contains_key(&inode)
    }
}
