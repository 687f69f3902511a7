//! The fix journal, `/run/xdpdoctor/fixes/<forwarder netns key>.json`: every change `fix
//! --apply` made, with the state before it. Intent is recorded before acting: an entry is
//! written as `pending` (with the previous state, and for a pass-through program the pin it
//! will make) before the change, and marked `done` after it. An apply killed at any point
//! leaves entries that `fix --revert` resolves against the real state (a pin that exists, an
//! address that is there), so nothing it made escapes the journal. Writers hold the lock of
//! the forwarder's namespace (`state::lock`), so two applies never lose each other's entries.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Action;
use crate::state::{self, NsKey, PIN_ROOT};
use crate::{Error, ErrorList, Result};

/// Whether a journaled change is known to have been made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryState {
    /// Recorded before acting: the change may or may not have happened (the apply was
    /// killed, or failed and could not undo itself). Revert looks at the real state.
    Pending,
    /// The change was made. (Journals written before this field existed hold only these.)
    #[default]
    Done,
}

/// One journaled change: the action and the state before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// The change.
    pub action: Action,
    /// The state before it (what revert restores): the `Step::Previous` of the action's fix,
    /// as JSON (`{"was": "flag", "on": true}`, ...); the fix reads it back typed.
    pub previous: serde_json::Value,
    /// Pending until the change is known to be made.
    #[serde(default)]
    pub state: EntryState,
}

/// The journal of the fixes applied from one forwarder namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    /// The diagnosed (forwarder's) namespace's inode: with the cookie, the journal's key.
    pub forwarder_netns_inode: u64,
    /// Its netns cookie (None on kernels without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarder_netns_cookie: Option<u64>,
    /// Changes in the order they were made.
    pub entries: Vec<JournalEntry>,
}

impl Journal {
    /// An empty journal for namespace `key`.
    pub fn new(key: NsKey) -> Self {
        Self::with_entries(key, Vec::new())
    }

    /// A journal for namespace `key` holding `entries`.
    pub fn with_entries(key: NsKey, entries: Vec<JournalEntry>) -> Self {
        Journal {
            forwarder_netns_inode: key.inode,
            forwarder_netns_cookie: key.cookie,
            entries,
        }
    }

    /// The namespace it belongs to.
    pub fn key(&self) -> NsKey {
        NsKey::new(self.forwarder_netns_inode, self.forwarder_netns_cookie)
    }

    /// Where the journal of namespace `key` lives.
    pub fn path(key: NsKey) -> PathBuf {
        state::journal_file(key)
    }

    /// Reads the journal of namespace `key`, if there is one.
    pub fn load(key: NsKey) -> Result<Option<Self>> {
        state::read(&Self::path(key))
    }

    /// Writes it (atomically).
    pub fn save(&self) -> Result<()> {
        state::write(&Self::path(self.key()), self)
    }

    /// Removes it.
    pub fn remove(&self) -> Result<()> {
        state::remove_file(&Self::path(self.key()))
    }

    /// Saves it, or removes the file when no entry is left.
    pub fn save_or_remove(&self) -> Result<()> {
        if self.entries.is_empty() {
            self.remove()
        } else {
            self.save()
        }
    }
}

/// Removes forwarder and fix pins (`fwd-<key>`, `fix-<key>-<ifname>`), forwarder states,
/// journals and lock files whose namespace no longer exists (a lab was taken down after
/// `fix --apply`). The kernel already detached those programs when the interfaces went
/// away; only the pin files are left. Keys carry the netns cookie: a namespace that reused a
/// dead one's inode keeps none of the dead one's records alive.
pub fn cleanup_stale() -> Result<()> {
    let alive = crate::netns::Living::now();
    let mut errs = ErrorList::default();
    errs.push(crate::forwarder::pins::cleanup_stale(&alive));
    errs.push(state::lock::sweep(&|k| alive.contains(k)));
    if let Ok(rd) = std::fs::read_dir(PIN_ROOT) {
        for e in rd.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(key) = state::fix_pin_key(&name) else {
                continue;
            };
            // The kernel decides: a fix link whose device still exists is kept even if its
            // namespace is not visible from here.
            let defunct = || !crate::bpf::sys::pinned_xdp_link_attached(&e.path()).unwrap_or(true);
            if !alive.contains(&key) && defunct() {
                let p = e.path();
                errs.push(std::fs::remove_file(&p).map_err(|err| Error::io("unpin", p, err)));
            }
        }
    }
    state::bpffs::remove_root_if_empty();
    if let Ok(rd) = std::fs::read_dir(state::journals_dir()) {
        for e in rd.filter_map(|e| e.ok()) {
            let key = state::key_of_file(&e.file_name().to_string_lossy());
            // Journals are keyed by the diagnosed namespace: kept while its forwarder's
            // pins are (the sweep above removed those only when every link was defunct).
            let gone = |k: &NsKey| !alive.contains(k) && !state::forwarder_pin_dir(*k).exists();
            if let Some(k) = key.filter(gone) {
                // A writer holding it knows better: leave it.
                if let Some(_lock) = state::try_lock(state::LockKey::Netns(k))? {
                    errs.push(state::remove_file(&e.path()));
                }
            }
        }
    }
    errs.into_result()
}

/// Forgets the fixes of namespaces a lab is about to delete (or lost): unpins their
/// `fix-<key>-*` links and removes journals keyed by them. The namespaces are ours and going
/// away, so nothing needs reverting; doing it before the deletion avoids waiting for the
/// kernel's asynchronous namespace teardown to mark the links defunct.
///
/// A key without a cookie (kernels before 5.14) of a namespace that is already gone may name
/// a namespace that reused its inode: of those, only pins whose link is defunct go, and
/// their journals stay (the new namespace may have one of its own under that name).
pub fn forget_namespaces(keys: &[NsKey], alive: &crate::netns::Living) -> Result<()> {
    let unsure = |k: &NsKey| k.cookie.is_none() && !alive.contains(k);
    let mut errs = ErrorList::default();
    if let Ok(rd) = std::fs::read_dir(PIN_ROOT) {
        for e in rd.filter_map(|e| e.ok()) {
            let Some(key) = state::fix_pin_key(&e.file_name().to_string_lossy()) else {
                continue;
            };
            if !keys.contains(&key) {
                continue;
            }
            let defunct = || !crate::bpf::sys::pinned_xdp_link_attached(&e.path()).unwrap_or(true);
            if !unsure(&key) || defunct() {
                let p = e.path();
                errs.push(std::fs::remove_file(&p).map_err(|err| Error::io("unpin", p, err)));
            }
        }
    }
    state::bpffs::remove_root_if_empty();
    for key in keys.iter().filter(|k| !unsure(k)) {
        errs.push(state::remove_file(&state::journal_file(*key)));
    }
    errs.into_result()
}
