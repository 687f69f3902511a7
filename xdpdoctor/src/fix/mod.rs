//! Fixes: each finding carries a machine-readable [`Action`] (`crate::model`); [`plan`]
//! collects them, [`apply_all`] performs each in the right namespace (netlink, ethtool ioctl,
//! bpf) and records the previous state in a journal, [`revert_all`] restores exactly that
//! state. One fix per file; `perform.rs` dispatches an action to its file.
//!
//! Idempotent: an action whose desired state already holds is skipped and not journaled, so a
//! second `apply` changes nothing; `revert` undoes journal entries in reverse order and removes
//! the journal (and the pins the fixes made).

pub mod address;
pub mod devmap;
mod ethtool_flag;
pub mod forwarder_csum;
pub mod forwarding;
pub mod gro;
pub mod journal;
mod perform;
pub mod plan;
pub mod retarget;
pub mod snat;
pub mod tx_csum;
pub mod xdp_pass;

use serde::{Deserialize, Serialize};

pub use crate::model::{Action, Fix, NsRef, PeerFix};
pub use journal::{Journal, JournalEntry, Previous};
pub use perform::resolve;
pub use plan::{plan, plan_with};

use crate::Result;

/// What happened to one action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Outcome {
    /// The change was made (and journaled).
    Changed,
    /// The desired state already held; nothing was done.
    Already,
    /// The journaled change was undone.
    Reverted,
    /// The step failed; the error in words.
    Failed {
        /// The error chain.
        error: String,
    },
}

impl Outcome {
    /// Whether the step failed.
    pub fn failed(&self) -> bool {
        matches!(self, Outcome::Failed { .. })
    }

    /// Short words for tables: `changed`, `already`, `reverted`, `failed: ...`.
    pub fn text(&self) -> String {
        match self {
            Outcome::Changed => "changed".into(),
            Outcome::Already => "already".into(),
            Outcome::Reverted => "reverted".into(),
            Outcome::Failed { error } => format!("failed: {error}"),
        }
    }
}

/// Outcome of one action of `apply_all` or `revert_all`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Applied {
    /// [`Action::id`].
    pub fix: String,
    /// The equivalent command (reference only).
    pub command: String,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Applies `actions` in order for the diagnosis of namespace `fwd_inode`, journaling each
/// change before the next one. Keeps going after a failure and reports it.
pub fn apply_all(fwd_inode: u64, actions: &[Action]) -> Result<Vec<Applied>> {
    let mut j = Journal::load(fwd_inode)?.unwrap_or_else(|| Journal::new(fwd_inode));
    let mut out = Vec::new();
    for a in actions {
        let outcome = match perform::apply(a) {
            Ok(Some(prev)) => {
                j.entries.push(JournalEntry {
                    action: a.clone(),
                    previous: prev,
                });
                j.save()?;
                Outcome::Changed
            }
            Ok(None) => Outcome::Already,
            Err(e) => Outcome::Failed {
                error: crate::error::chain(&e),
            },
        };
        log::info!("fix {}: {}", a.id(), outcome.text());
        out.push(Applied {
            fix: a.id().into(),
            command: a.describe(),
            outcome,
        });
    }
    Ok(out)
}

/// Reverts every journaled change for namespace `fwd_inode`, newest first, and removes the
/// journal. Entries that fail stay in the journal and are reported.
pub fn revert_all(fwd_inode: u64) -> Result<Vec<Applied>> {
    let Some(mut j) = Journal::load(fwd_inode)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let mut kept = Vec::new();
    while let Some(e) = j.entries.pop() {
        let outcome = match perform::revert(&e.action, &e.previous) {
            Ok(()) => Outcome::Reverted,
            Err(err) => {
                kept.push(e.clone());
                Outcome::Failed {
                    error: crate::error::chain(&err),
                }
            }
        };
        out.push(Applied {
            fix: e.action.id().into(),
            command: e.action.describe(),
            outcome,
        });
    }
    kept.reverse();
    j.entries = kept;
    if j.entries.is_empty() {
        j.remove()?;
    } else {
        j.save()?;
    }
    Ok(out)
}
