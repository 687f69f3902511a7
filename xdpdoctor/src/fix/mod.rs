//! Fixes: each finding carries a machine-readable [`Action`] (`crate::model`); [`plan()`]
//! collects them, [`apply_all`] performs each in the right namespace (netlink, ethtool ioctl,
//! bpf) and records the previous state in a journal, [`revert_all`] restores exactly that
//! state. One fix per file, each implementing [`Step`] for its action (observe, act, revert,
//! the equivalent command and its undo, a typed previous state); `fix_for` here is the one
//! match of an action to its fix: a new fix is its file, its struct in `model/action.rs` and
//! its line there (the compiler refuses an action without one).
//!
//! Idempotent: an action whose desired state already holds is skipped and not journaled, so a
//! second `apply` changes nothing; `revert` undoes journal entries in reverse order, saying
//! per entry what it found and did, and removes the journal (and the pins the fixes made).
//!
//! Crash-safe: each change is journaled as pending, with the state before it, *before* it is
//! made (journal.rs). One writer at a time: apply and revert hold the lock of the forwarder's
//! namespace (`state::lock`). Interruptible: Ctrl-C stops between steps; the journal then
//! holds exactly the steps done.

// The fixes, one per kind of action; `fix_for` below is their registry.
mod address;
mod devmap;
mod devmap_remove;
mod forwarder_csum;
mod forwarding;
mod gro;
mod mtu;
mod netfilter_accept;
mod retarget;
mod rp_filter;
mod snat;
mod tx_csum;
mod xdp_pass;

// What they share.
mod bpftool;
mod ethtool_flag;
pub mod previous;
mod step;

pub mod journal;
pub mod plan;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use crate::model::{Action, Fix, PeerFix};
pub use journal::{EntryState, Journal, JournalEntry};
pub use plan::{plan, plan_with};
use step::Journaled;
pub use step::{Step, Undone};
pub use xdp_pass::Pinned;

/// The fix that performs `a`: the one place an action is matched to its file.
fn fix_for(a: &Action) -> &dyn Journaled {
    match a {
        Action::AttachXdpPass(s) => s,
        Action::SetGro(s) => s,
        Action::SetTxCsum(s) => s,
        Action::SetForwarding(s) => s,
        Action::AddAddress(s) => s,
        Action::DevmapAdd(s) => s,
        Action::DevmapRemove(s) => s,
        Action::NetfilterAccept(s) => s,
        Action::SnatAdd(s) => s,
        Action::RetargetEntry(s) => s,
        Action::SetForwarderFullCsum(s) => s,
        Action::SetMtu(s) => s,
        Action::SetRpFilter(s) => s,
    }
}

/// The equivalent shell command of `a` (reference only: `fix` does it through netlink,
/// ioctls and bpf, never by running it).
pub fn command(a: &Action) -> String {
    fix_for(a).command()
}

use crate::state::{self, LockGuard, LockKey, NsKey};
use crate::{cancel, Result};

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
    /// Revert found nothing to undo (already in the previous state, changed by hand, gone);
    /// the detail says what it found.
    Skipped,
    /// Not attempted: the command was interrupted before this step.
    NotRun,
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

    /// Short words for tables: `changed`, `already`, `reverted`, `skipped`, `not run`,
    /// `failed: ...`.
    pub fn text(&self) -> String {
        match self {
            Outcome::Changed => "changed".into(),
            Outcome::Already => "already".into(),
            Outcome::Reverted => "reverted".into(),
            Outcome::Skipped => "skipped".into(),
            Outcome::NotRun => "not run (interrupted)".into(),
            Outcome::Failed { error } => format!("failed: {error}"),
        }
    }
}

/// Outcome of one action of `apply_all` or `revert_all`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Applied {
    /// [`Action::id`].
    pub fix: String,
    /// The equivalent command (reference only): for apply the change, for revert the undo.
    pub command: String,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// What was found and done, in words (revert: per entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Takes the lock of the forwarder namespace `fwd`: the one writer of its journal and
/// fixes. Held across diagnose + apply by `fix --apply`, so a second apply waits and then
/// finds the work done. Re-entrant: [`apply_all`] and [`revert_all`] take it too.
pub fn lock(fwd: NsKey) -> Result<LockGuard> {
    state::lock(LockKey::Netns(fwd), cancel::interrupted)
}

/// Applies `actions` in order for the diagnosis of namespace `fwd`. Each change is
/// journaled as pending (with the state before it) before it is made, and marked done after.
/// Keeps going after a failure and reports it; stops between steps on Ctrl-C (the remaining
/// steps are [`Outcome::NotRun`] and the caller checks `cancel::interrupted`).
pub fn apply_all(fwd: NsKey, actions: &[Action]) -> Result<Vec<Applied>> {
    let _lock = lock(fwd)?;
    let mut j = Journal::load(fwd)?.unwrap_or_else(|| Journal::new(fwd));
    let mut out = Vec::new();
    for a in actions {
        if cancel::interrupted() {
            out.push(Applied {
                fix: a.id().into(),
                command: command(a),
                outcome: Outcome::NotRun,
                detail: None,
            });
            continue;
        }
        let step = fix_for(a);
        let outcome = match step.observe() {
            Ok(None) => Outcome::Already,
            Err(e) => Outcome::Failed {
                error: crate::error::chain(&e),
            },
            Ok(Some(prev)) => {
                // Intent first: a kill from here on leaves an entry revert can resolve.
                j.entries.push(JournalEntry {
                    action: a.clone(),
                    previous: prev.clone(),
                    state: EntryState::Pending,
                });
                j.save()?;
                match step.act(&prev) {
                    Ok(()) => {
                        j.entries.last_mut().expect("just pushed").state = EntryState::Done;
                        j.save()?;
                        Outcome::Changed
                    }
                    Err(e) => {
                        // Undo whatever part of it happened; keep the entry only if that fails.
                        match step.revert(&prev) {
                            Ok(_) => {
                                j.entries.pop();
                            }
                            Err(e2) => log::warn!(
                                "{}: could not undo the failed step ({}); kept as pending",
                                a.id(),
                                crate::error::chain(&e2)
                            ),
                        }
                        j.save_or_remove()?;
                        Outcome::Failed {
                            error: crate::error::chain(&e),
                        }
                    }
                }
            }
        };
        log::info!("fix {}: {}", a.id(), outcome.text());
        out.push(Applied {
            fix: a.id().into(),
            command: command(a),
            outcome,
            detail: None,
        });
    }
    Ok(out)
}

/// Reverts every journaled change for namespace `fwd`, newest first, looking at the
/// real state for each (a pending entry may never have acted; a change may have been undone
/// or altered by hand) and saying what it found and did. Removes the journal; entries that
/// fail stay in it and are reported. Stops between steps on Ctrl-C, keeping the entries not
/// yet reverted.
pub fn revert_all(fwd: NsKey) -> Result<Vec<Applied>> {
    let _lock = lock(fwd)?;
    let Some(mut j) = Journal::load(fwd)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let mut kept = Vec::new();
    while let Some(e) = j.entries.pop() {
        if cancel::interrupted() {
            j.entries.push(e);
            break;
        }
        let pending = if e.state == EntryState::Pending {
            "(step was interrupted before it was confirmed) "
        } else {
            ""
        };
        let step = fix_for(&e.action);
        let (outcome, detail) = match step.revert(&e.previous) {
            Ok(u) => (
                if u.changed {
                    Outcome::Reverted
                } else {
                    Outcome::Skipped
                },
                Some(format!("{pending}{}", u.detail)),
            ),
            Err(err) => {
                kept.push(e.clone());
                (
                    Outcome::Failed {
                        error: crate::error::chain(&err),
                    },
                    None,
                )
            }
        };
        log::info!("revert {}: {}", e.action.id(), outcome.text());
        out.push(Applied {
            fix: e.action.id().into(),
            command: step.undo_command(&e.previous),
            outcome,
            detail,
        });
        // Saved after every step: an interrupted or killed revert keeps exactly the rest.
        let mut rest = j.entries.clone();
        rest.extend(kept.iter().rev().cloned());
        Journal::with_entries(fwd, rest).save_or_remove()?;
    }
    kept.reverse();
    j.entries.extend(kept);
    j.save_or_remove()?;
    Ok(out)
}
