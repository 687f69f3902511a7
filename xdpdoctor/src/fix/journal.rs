//! The fix journal, `/run/xdpdoctor/fixes/<forwarder netns inode>.json`: every change `fix
//! --apply` made, with the state before it, written after each change so an interrupted apply
//! can still be reverted.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Action;
use crate::forwarder::pins::{PIN_ROOT, STATE_ROOT};
use crate::snapshot::nsid;
use crate::{Error, ErrorList, Result};

/// The state before a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "was", rename_all = "kebab-case")]
pub enum Previous {
    /// A feature or flag had this value.
    Flag { on: bool },
    /// A sysctl had this text.
    Value { value: String },
    /// The thing (address, map entry) did not exist.
    Absent,
    /// We attached a program through a bpf_link pinned here (nothing was attached before).
    Pinned { pin: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub action: Action,
    pub previous: Previous,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub forwarder_netns_inode: u64,
    pub entries: Vec<JournalEntry>,
}

pub fn dir() -> PathBuf {
    PathBuf::from(STATE_ROOT).join("fixes")
}

impl Journal {
    pub fn new(inode: u64) -> Self {
        Journal {
            forwarder_netns_inode: inode,
            entries: Vec::new(),
        }
    }

    pub fn path(inode: u64) -> PathBuf {
        dir().join(format!("{inode}.json"))
    }

    pub fn load(inode: u64) -> Result<Option<Self>> {
        let p = Self::path(inode);
        match std::fs::read_to_string(&p) {
            Ok(s) => serde_json::from_str(&s)
                .map(Some)
                .map_err(|e| Error::invalid(p.display().to_string(), e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", p, e)),
        }
    }

    pub fn save(&self) -> Result<()> {
        std::fs::create_dir_all(dir()).map_err(|e| Error::io("create directory", dir(), e))?;
        let p = Self::path(self.forwarder_netns_inode);
        let tmp = p.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_string_pretty(self).expect("json"))
            .map_err(|e| Error::io("write", &tmp, e))?;
        std::fs::rename(&tmp, &p).map_err(|e| Error::io("rename", p, e))
    }

    pub fn remove(&self) -> Result<()> {
        let p = Self::path(self.forwarder_netns_inode);
        match std::fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", p, e)),
        }
    }
}

/// Removes forwarder and fix pins (`fwd-<inode>`, `fix-<inode>-<ifname>`), forwarder states
/// and journals whose namespace no longer exists
/// (a lab was taken down after `fix --apply`). The kernel already detached those programs
/// when the interfaces went away; only the pin files are left.
pub fn cleanup_stale() -> Result<()> {
    let alive: std::collections::HashSet<u64> =
        nsid::candidates().iter().map(|c| c.inode).collect();
    let mut errs = ErrorList::default();
    errs.push(crate::forwarder::deploy::cleanup_stale(&alive));
    if let Ok(rd) = std::fs::read_dir(PIN_ROOT) {
        for e in rd.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix("fix-") else {
                continue;
            };
            let ino: Option<u64> = rest.split('-').next().and_then(|s| s.parse().ok());
            // The kernel decides: a fix link whose device still exists is kept even if its
            // namespace is not visible from here.
            let defunct = || !crate::bpf::sys::pinned_xdp_link_attached(&e.path()).unwrap_or(true);
            if ino.is_some_and(|i| !alive.contains(&i)) && defunct() {
                let p = e.path();
                errs.push(std::fs::remove_file(&p).map_err(|err| Error::io("unpin", p, err)));
            }
        }
        let _ = std::fs::remove_dir(PIN_ROOT); // only if empty
    }
    if let Ok(rd) = std::fs::read_dir(dir()) {
        for e in rd.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            let ino: Option<u64> = name.strip_suffix(".json").and_then(|s| s.parse().ok());
            // Journals are keyed by the forwarder's namespace: kept while its forwarder's
            // pins are (the sweep above removed those only when every link was defunct).
            let gone = |i: u64| !alive.contains(&i) && !crate::forwarder::pins::pin_dir(i).exists();
            if ino.is_some_and(gone) {
                let p = e.path();
                errs.push(std::fs::remove_file(&p).map_err(|err| Error::io("remove", p, err)));
            }
        }
    }
    errs.into_result()
}

/// Forgets the fixes of namespaces a lab is about to delete: unpins their `fix-<inode>-*`
/// links and removes journals keyed by those inodes. The namespaces are ours and going away,
/// so nothing needs reverting; doing it before the deletion avoids waiting for the kernel's
/// asynchronous namespace teardown to mark the links defunct.
pub fn forget_namespaces(inodes: &[u64]) -> Result<()> {
    let mut errs = ErrorList::default();
    if let Ok(rd) = std::fs::read_dir(PIN_ROOT) {
        for e in rd.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            let ino: Option<u64> = name
                .strip_prefix("fix-")
                .and_then(|r| r.split('-').next())
                .and_then(|s| s.parse().ok());
            if ino.is_some_and(|i| inodes.contains(&i)) {
                let p = e.path();
                errs.push(std::fs::remove_file(&p).map_err(|err| Error::io("unpin", p, err)));
            }
        }
    }
    for ino in inodes {
        let p = dir().join(format!("{ino}.json"));
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => errs.push(Err(Error::io("remove", p, e))),
        }
    }
    errs.into_result()
}
