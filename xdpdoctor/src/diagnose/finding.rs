//! What a rule reports.

use serde::{Deserialize, Serialize};

use super::rules::RuleId;
use crate::model::{Fix, PathStage};
use crate::netns::NsRef;
use crate::snapshot::NsState;

/// How bad a finding is: packets lost now, or at risk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Packets are lost.
    Error,
    /// Packets take a slower path or will be lost once another cause is fixed.
    Warning,
}

/// Where the problem is: a namespace and, usually, an interface in it.
///
/// In JSON (docs/diagnose.md) the namespace is `netns` (its name) and `netns_inode` (its
/// identity), next to `interface`; the path the diagnosis reached it by is not part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The namespace.
    pub netns: NsRef,
    /// Interface name in that namespace; None when the finding is about the namespace as a whole.
    pub interface: Option<String>,
}

impl Subject {
    /// The subject for namespace `ns` and, if given, one of its interfaces (by name).
    pub fn new(ns: &NsState, interface: Option<&str>) -> Self {
        Subject {
            netns: ns.ns.clone(),
            interface: interface.map(str::to_string),
        }
    }
}

impl Serialize for Subject {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Json<'a> {
            netns: &'a str,
            netns_inode: u64,
            interface: &'a Option<String>,
        }
        Json {
            netns: &self.netns.name,
            netns_inode: self.netns.inode,
            interface: &self.interface,
        }
        .serialize(s)
    }
}

impl std::fmt::Display for Subject {
    /// `NAMESPACE/INTERFACE`, and for a container the process it was reached through:
    /// `docker:web1/eth0 (pid 2236)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.interface {
            Some(i) => write!(f, "{}/{}", self.netns.name, i)?,
            None => f.write_str(&self.netns.name)?,
        }
        f.write_str(&self.netns.pid_suffix())
    }
}

/// A count seen during the observation window (or read from counters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// What was counted and over which span, e.g. `forwarder devmap_miss (window)` or
    /// `forwarder devmap_miss (since deploy)`.
    pub what: String,
    /// How many (packets, events or segments); never 0, zero counts are not recorded.
    pub count: u64,
}

/// One cause of lost packets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable rule id (docs/rules.md).
    pub id: RuleId,
    /// Whether packets are lost now or only at risk.
    pub severity: Severity,
    /// Where on the packet path it bites; findings are sorted by it.
    pub stage: PathStage,
    /// Tie-break within a stage (NAT entry order).
    #[serde(default)]
    pub order: u32,
    /// Where it bites: a namespace and usually an interface in it.
    pub subject: Subject,
    /// NAT entries affected, as `from -> to`.
    pub entries: Vec<String>,
    /// Why packets are lost (two or three sentences).
    pub why: String,
    /// Static facts the finding rests on.
    pub evidence: Vec<String>,
    /// Observed counts supporting it.
    pub observed: Vec<Observed>,
    /// The fix, when one can be applied automatically or described.
    pub fix: Option<Fix>,
    /// A fix to do by hand when `fix` is None.
    pub manual_fix: Option<String>,
    /// The root cause that explains this finding (None: it is a root cause itself). A
    /// consequence carries no fix of its own: fixing its cause resolves it, and a fix of the
    /// symptom would only hide the cause.
    #[serde(default)]
    pub caused_by: Option<CauseRef>,
}

/// The finding that explains another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CauseRef {
    /// Its rule id.
    pub id: RuleId,
    /// Its subject.
    pub subject: Subject,
    /// Why it explains the consequence, in a few words.
    pub because: String,
}

impl Finding {
    /// An empty finding of rule `id`; the rule fills in entries, why, evidence and fix.
    pub fn new(id: RuleId, severity: Severity, stage: PathStage, subject: Subject) -> Self {
        Finding {
            id,
            severity,
            stage,
            order: 0,
            subject,
            entries: Vec::new(),
            why: String::new(),
            evidence: Vec::new(),
            observed: Vec::new(),
            fix: None,
            manual_fix: None,
            caused_by: None,
        }
    }

    /// A root cause (no other finding explains it).
    pub fn is_root(&self) -> bool {
        self.caused_by.is_none()
    }

    /// Adds an observed count; a zero count is left out (nothing seen is not evidence).
    pub fn observe(&mut self, what: impl Into<String>, count: u64) {
        if count > 0 {
            self.observed.push(Observed {
                what: what.into(),
                count,
            });
        }
    }

    /// The fix text, automatic or manual.
    pub fn fix_text(&self) -> String {
        self.fix
            .as_ref()
            .map(|f| f.text.clone())
            .or_else(|| self.manual_fix.clone())
            .unwrap_or_default()
    }
}
