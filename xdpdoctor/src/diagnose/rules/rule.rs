//! What a rule is: its id, whether it names a cause or reports a symptom, a title for
//! catalogues, and its check.

use super::{Ctx, RuleId};
use crate::diagnose::Finding;

/// Whether a rule's findings can be root causes or only report what the window saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A fact of the snapshot (or the window) that makes packets vanish: a root cause,
    /// unless the causal pass finds another cause that explains it.
    Cause,
    /// Only what the window saw happen (failed redirects, bad checksums, failed
    /// connections); the causal pass links it to the root cause that explains it, in a
    /// second pass after the causes.
    Symptom,
}

/// A rule: stable id, kind, one-line title, and its check.
pub struct Rule {
    /// Stable id (docs/rules.md).
    pub id: RuleId,
    /// Cause or symptom.
    pub kind: Kind,
    /// One line for catalogues.
    pub title: &'static str,
    /// The check.
    pub check: fn(&Ctx) -> Vec<Finding>,
}
