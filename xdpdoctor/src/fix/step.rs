//! What one kind of fix is: the [`Step`] its file implements for its action (a struct of
//! `model::action`). Five things, all in that one file: `observe` (the state before, or `None`
//! if the desired state already holds), `act` (the change), `revert` (restore the observed
//! state, reporting what it found), and the equivalent shell commands of the change and of
//! its undo (printed in plans; `fix` never runs them). Each step has its own typed
//! [`Step::Previous`]: the journal keeps it as JSON and hands it back typed.
//!
//! `apply_all` journals the observed state *before* it acts, so an apply killed mid-step
//! leaves a journal entry that revert can still resolve against what is really there.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::netns::{Netns, NsRef};
use crate::{Error, Result};

/// One kind of fix, implemented by its file for its action.
pub trait Step {
    /// The state before the change, as the journal keeps it (serialized with a `was` tag).
    type Previous: Serialize + DeserializeOwned + std::fmt::Debug;

    /// The namespace the change is made in.
    fn netns(&self) -> &NsRef;

    /// The state the change would alter, or `None` if the desired state already holds.
    fn observe(&self, ns: &Netns) -> Result<Option<Self::Previous>>;

    /// Makes the change; `prev` is what [`Step::observe`] returned (and the journal holds).
    fn act(&self, ns: &Netns, prev: &Self::Previous) -> Result<()>;

    /// Restores `prev`, the state recorded when the change was applied, after looking at
    /// what is there now (a change undone or altered by hand is reported, not forced).
    fn revert(&self, ns: &Netns, prev: &Self::Previous) -> Result<Undone>;

    /// Revert when the namespace is gone: nothing to restore, unless the change left
    /// something outside it (a pin).
    fn revert_without_netns(&self, prev: &Self::Previous) -> Result<Undone> {
        let _ = prev;
        let n = self.netns();
        Ok(Undone::skipped(format!(
            "namespace {} (inode {}) no longer exists; nothing to restore",
            n.name, n.inode
        )))
    }

    /// The equivalent shell command of the change (reference only: `fix` never runs it).
    fn command(&self) -> String;

    /// The shell command that restores `prev` (reference only: revert never runs it).
    fn undo_command(&self, prev: &Self::Previous) -> String;
}

/// The result of undoing one journaled change: whether something was changed, and in words
/// what was found and done (or why nothing was).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undone {
    /// Something was changed back.
    pub changed: bool,
    /// What was found, and what was done or skipped.
    pub detail: String,
}

impl Undone {
    /// The change was undone.
    pub fn done(detail: impl Into<String>) -> Self {
        Undone {
            changed: true,
            detail: detail.into(),
        }
    }

    /// Nothing to undo (already in the previous state, changed by hand, gone).
    pub fn skipped(detail: impl Into<String>) -> Self {
        Undone {
            changed: false,
            detail: detail.into(),
        }
    }
}

/// A [`Step`] as `apply_all` and `revert_all` drive it: its namespace found again by
/// identity, its `Previous` as the journal's JSON. Every `Step` is one (the blanket impl
/// below); `fix::fix_for` picks the one of an action.
pub(super) trait Journaled {
    /// [`Step::observe`] in the action's namespace; the previous state as journal JSON.
    fn observe(&self) -> Result<Option<serde_json::Value>>;
    /// [`Step::act`] with the journaled previous state.
    fn act(&self, prev: &serde_json::Value) -> Result<()>;
    /// [`Step::revert`], or [`Step::revert_without_netns`] when the namespace is gone.
    fn revert(&self, prev: &serde_json::Value) -> Result<Undone>;
    /// [`Step::command`].
    fn command(&self) -> String;
    /// [`Step::undo_command`] of the journaled previous state.
    fn undo_command(&self, prev: &serde_json::Value) -> String;
}

impl<S: Step> Journaled for S {
    fn observe(&self) -> Result<Option<serde_json::Value>> {
        let ns = self.netns().open()?;
        match Step::observe(self, &ns)? {
            None => Ok(None),
            Some(p) => serde_json::to_value(&p)
                .map(Some)
                .map_err(|e| Error::unexpected("the state before a fix", format!("{p:?}: {e}"))),
        }
    }

    fn act(&self, prev: &serde_json::Value) -> Result<()> {
        let prev = typed::<S>(prev)?;
        let ns = self.netns().open()?;
        Step::act(self, &ns, &prev)
    }

    fn revert(&self, prev: &serde_json::Value) -> Result<Undone> {
        let prev = typed::<S>(prev)?;
        match self.netns().open() {
            Ok(ns) => Step::revert(self, &ns, &prev),
            Err(Error::NotFound { .. }) => self.revert_without_netns(&prev),
            Err(e) => Err(e),
        }
    }

    fn command(&self) -> String {
        Step::command(self)
    }

    fn undo_command(&self, prev: &serde_json::Value) -> String {
        match typed::<S>(prev) {
            Ok(p) => Step::undo_command(self, &p),
            Err(_) => format!("(nothing to undo: recorded as {prev})"),
        }
    }
}

/// The journaled previous state as step `S` records it; anything else is a journal this
/// version cannot revert (written by hand, or by a version that recorded it differently).
fn typed<S: Step>(prev: &serde_json::Value) -> Result<S::Previous> {
    serde_json::from_value(prev.clone()).map_err(|e| {
        Error::unexpected(
            "journal entry",
            format!("the state before the fix, {prev}, is not what this fix records: {e}"),
        )
    })
}
