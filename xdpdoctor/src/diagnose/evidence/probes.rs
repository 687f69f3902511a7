//! The one adapter between diagnosis and `crate::probes` (the tracing probes): runs
//! `probes::observe` for the window and turns its aggregates into plain, serializable
//! [`ProbeCount`]s. If the probes cannot attach, the evidence says so (never faked) and the
//! diagnosis goes on with the other evidence.

use std::time::Duration;

use super::{ProbeCount, ProbeEvidence};
use crate::probes;

/// Observes for `window`, keeping events of these namespaces (and those whose namespace the
/// probe cannot know).
/// `ready` is told once the probes are attached (see `probes::observe_ready`).
pub fn observe(
    netns_inodes: &[u64],
    window: Duration,
    ready: Option<std::sync::mpsc::Sender<()>>,
) -> ProbeEvidence {
    let filter = probes::Filter {
        netns_inodes: netns_inodes.to_vec(),
    };
    match probes::observe_ready(&filter, window, ready) {
        Ok(o) => {
            let active: Vec<String> = o
                .probes
                .iter()
                .filter(|p| p.active)
                .map(|p| format!("{} ({})", p.name, p.kind.as_str()))
                .collect();
            let refused: Vec<String> = o
                .probes
                .iter()
                .filter(|p| !p.active)
                .map(|p| {
                    format!(
                        "{} ({}): {}",
                        p.name,
                        p.kind.as_str(),
                        p.reason.as_deref().unwrap_or("not attached")
                    )
                })
                .collect();
            ProbeEvidence {
                available: !active.is_empty(),
                note: if active.is_empty() {
                    "no probe could attach".into()
                } else {
                    format!("{} probe(s) active", active.len())
                },
                active,
                refused,
                counts: o
                    .aggregates
                    .into_iter()
                    .map(|a| ProbeCount {
                        netns_inode: a.netns_inode,
                        ifindex: a.ifindex,
                        kind: a.kind.as_str().to_string(),
                        code: a.code,
                        code_name: a.code_name,
                        target_ifindex: a.target_ifindex,
                        count: a.count,
                    })
                    .collect(),
                lost: o.lost,
            }
        }
        Err(e) => ProbeEvidence::unavailable(format!("probes unavailable: {e:#}")),
    }
}
