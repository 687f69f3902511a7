//! `trace --decisions`: the decision log of the forwarder xdpdoctor deployed in the traced
//! namespace, next to the drop events. The log is on for the length of the trace
//! (`decisions::Session`: off again on every exit, one reader at a time); each record becomes
//! a [`DecisionLine`]: the typed fields of `forwarder::decision::Decision` with ifindexes
//! named in the forwarder's namespace, or the record as written when it does not parse.

use std::os::fd::{AsFd, BorrowedFd};

use serde::Serialize;

use crate::decisions::{EbpfRecord, Session, Settings, Stats};
use crate::forwarder::decision::{self, Decision};
use crate::forwarder::Deployment;
use crate::netns::Netns;
use crate::probes::decode::Names;
use crate::state::LockGuard;
use crate::{Error, Result};

/// What reading the decisions needs, checked by the caller: the forwarder deployed in the
/// traced namespace, the reader lock of its log (one reader at a time) and the rate.
pub struct DecisionPlan {
    /// The forwarder whose log is read.
    pub deployment: Deployment,
    /// Its log's reader lock ([`Session::lock`]).
    pub lock: LockGuard,
    /// At most this many records per second per CPU (the forwarder's token bucket).
    pub rate: u64,
}

/// One record of the log, as a trace shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum DecisionLine {
    /// A decision, with its namespace and interfaces named.
    Decided(Decided),
    /// A record that did not parse as a decision (another version's forwarder).
    Unparsed(Unparsed),
}

/// One decision with its namespace and interfaces named.
#[derive(Debug, Clone, Serialize)]
pub struct Decided {
    /// The forwarder's namespace, by name.
    pub netns: Option<String>,
    /// Its inode.
    pub netns_inode: u64,
    /// Name of `ingress_ifindex` in the forwarder's namespace.
    pub ingress: Option<String>,
    /// Name of the next hop's ifindex.
    pub egress: Option<String>,
    /// Name of the bridge port redirected to (`Decision::port`), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// What the forwarder decided.
    #[serde(flatten)]
    pub decision: Decision,
    /// The record as aya-log formatted it.
    pub message: String,
}

/// A record that did not parse as a decision.
#[derive(Debug, Clone, Serialize)]
pub struct Unparsed {
    /// The forwarder's namespace, by name.
    pub netns: Option<String>,
    /// Its inode.
    pub netns_inode: u64,
    /// The record's target.
    pub target: String,
    /// The record as written.
    pub unparsed: String,
}

/// The figures the summary reports.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionSummary {
    /// Records shown.
    pub shown: u64,
    /// Records per second per CPU the log was limited to.
    pub rate: u64,
    /// What the forwarder's bucket and ring did meanwhile (allowed, limited, lost, overflow).
    pub stats: Stats,
    /// The log was turned off again.
    pub off: bool,
}

/// The log of the forwarder in one namespace, on while this lives.
pub(super) struct Reader {
    session: Session,
    netns_inode: u64,
    rate: u64,
    shown: u64,
}

impl Reader {
    /// Turns on the log of the forwarder `plan` names (deployed in `ns`).
    pub(super) fn open(ns: &Netns, plan: DecisionPlan) -> Result<Reader> {
        let DecisionPlan {
            deployment: dep,
            lock,
            rate,
        } = plan;
        let prog = dep.interfaces.first().map(|i| i.prog_id).ok_or_else(|| {
            Error::not_found(
                format!("an interface of the forwarder deployed in {ns}"),
                Some("the deployment lists none; redeploy it".into()),
            )
        })?;
        let settings = Settings {
            rate,
            ..Settings::on(log::Level::Info)
        };
        let session = Session::open_locked(lock, &dep.pin_dir, prog, &settings).map_err(|e| {
            Error::bpf(
                "open the decision log",
                format!(
                    "{} of the forwarder in {ns}; a forwarder deployed before the log existed \
                     has none: redeploy it",
                    dep.pin_dir.display()
                ),
                e,
            )
        })?;
        Ok(Reader {
            session,
            netns_inode: dep.netns_inode,
            rate,
            shown: 0,
        })
    }

    /// The ring's fd, to wait on.
    pub(super) fn fd(&self) -> BorrowedFd<'_> {
        self.session.as_fd()
    }

    /// The records waiting in the ring, named.
    pub(super) fn take(&mut self, names: &mut Names) -> Result<Vec<DecisionLine>> {
        let records = self.session.take()?;
        Ok(self.lines(records, names))
    }

    /// Turns the log off; the records written until then, named, and the summary.
    pub(super) fn finish(self, names: &mut Names) -> Result<(Vec<DecisionLine>, DecisionSummary)> {
        let (last, stats) = self.session.finish()?;
        let lines = name(last, names, self.netns_inode);
        let summary = DecisionSummary {
            shown: self.shown + lines.len() as u64,
            rate: self.rate,
            stats,
            off: true,
        };
        Ok((lines, summary))
    }

    fn lines(&mut self, records: Vec<EbpfRecord>, names: &mut Names) -> Vec<DecisionLine> {
        let lines = name(records, names, self.netns_inode);
        self.shown += lines.len() as u64;
        lines
    }
}

/// `records` as lines, ifindexes named in the forwarder's namespace `ino` (rescanned when
/// one is new).
fn name(records: Vec<EbpfRecord>, names: &mut Names, ino: u64) -> Vec<DecisionLine> {
    if records.is_empty() {
        return Vec::new();
    }
    let parsed: Vec<(EbpfRecord, Option<Decision>)> = records
        .into_iter()
        .map(|r| {
            let d = (r.program_target() == decision::TARGET)
                .then(|| Decision::parse(&r.message))
                .and_then(|d| d.inspect_err(|e| log::warn!("{e}")).ok());
            (r, d)
        })
        .collect();
    let unknown = parsed.iter().filter_map(|(_, d)| d.as_ref()).any(|d| {
        names.ifname(ino, d.ingress_ifindex).is_none()
            || d.next_hop
                .is_some_and(|h| names.ifname(ino, h.ifindex).is_none())
    });
    if unknown || names.netns_name(ino).is_none() {
        names.refresh();
    }
    let ns = names.netns_name(ino).map(str::to_string);
    let ifname = |i: u32| names.ifname(ino, i).map(str::to_string);
    parsed
        .into_iter()
        .map(|(r, d)| match d {
            Some(d) => DecisionLine::Decided(Decided {
                netns: ns.clone(),
                netns_inode: ino,
                ingress: ifname(d.ingress_ifindex),
                egress: d.next_hop.and_then(|h| ifname(h.ifindex)),
                port: d.port.and_then(ifname),
                decision: d,
                message: r.message,
            }),
            None => DecisionLine::Unparsed(Unparsed {
                netns: ns.clone(),
                netns_inode: ino,
                target: r.target,
                unparsed: r.message,
            }),
        })
        .collect()
}
