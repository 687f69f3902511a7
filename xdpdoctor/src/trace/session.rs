//! The running trace: [`TraceSession::start`] attaches the probes (and turns the decision log
//! on), [`TraceSession::poll`] returns what happened since the last call, for at most 200 ms
//! of waiting, and [`TraceSession::finish`] ends it with the kernel's counts.

use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::decisions::Reader;
use super::{DecisionLine, DecisionSummary, PcapOut, Plan};
use crate::probes::decode::Names;
use crate::probes::{veth, Aggregate, Event, ProbeSet, ProbeStatus};
use crate::{cancel, Result};

/// How long one poll waits at most, and how often waiting probes are retried (about once a
/// second, every fifth poll).
const POLL: Duration = Duration::from_millis(200);
const MODULE_CHECK: Duration = Duration::from_secs(1);

/// Something that happened during the trace, in the order it happened within one poll.
#[derive(Debug, Clone)]
pub enum Item {
    /// A probe that waited for its module was tried now (the module loaded): its status.
    Attached(ProbeStatus),
    /// A decision of the forwarder (`--decisions`). The program writes its decision before
    /// the kernel acts on the verdict, so a poll returns the decisions before the events
    /// they led to.
    Decision(DecisionLine),
    /// A probe's event (already written to the pcapng file when there is one).
    Event(Event),
}

/// What the trace watches, for the line that says so.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The namespace asked for, by name.
    pub netns: String,
    /// Every namespace is watched (no namespace filter).
    pub all_namespaces: bool,
    /// `--decisions`: the rate limit of the forwarder's log (records/s per CPU).
    pub decision_rate: Option<u64>,
    /// When it stops by itself.
    pub duration: Option<Duration>,
}

/// The kernel's counts and what the trace showed: the `{"summary": ...}` of `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Every probe variant and whether it was live (probes attached late included).
    pub probes: Vec<ProbeStatus>,
    /// The kernel's counts.
    pub aggregates: Vec<Aggregate>,
    /// Events the ring buffer had no room for (the counts include them).
    pub lost: u64,
    /// Events shown.
    pub events_seen: u64,
    /// Explanations of what the counts cannot say themselves (a probe that saw nothing).
    pub notes: Vec<String>,
    /// With `--decisions`: records shown and what the forwarder's rate limit did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decisions: Option<DecisionSummary>,
    /// With `--pcap`: what the file got, its size cap, and why it stopped growing if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pcap: Option<PcapWritten>,
}

/// What a pcapng file got.
#[derive(Debug, Clone, Serialize)]
pub struct PcapWritten {
    /// The file (None in `--json` when it could not be kept at all).
    pub path: PathBuf,
    /// Events written.
    pub events: u64,
    /// Of them, with packet bytes.
    pub with_packet: u64,
    /// Its size in bytes.
    pub bytes: u64,
    /// The size cap, bytes.
    pub limit: u64,
    /// Events shown but not written (the cap was reached, or the disk refused).
    pub not_written: u64,
    /// The cap was reached.
    pub capped: bool,
    /// The disk refused (the file ends after its last whole record and stays readable), or
    /// the file could not be kept at all: the error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The pcapng file of a running trace and what happened to it.
struct Pcap {
    out: PcapOut,
    with_packet: u64,
    not_written: u64,
    capped: bool,
    /// Writing stopped for good: the disk's error.
    error: Option<String>,
}

impl Pcap {
    /// Writes `ev` unless the cap is reached or the disk refused earlier. A failure does not
    /// end the trace: the file keeps its whole records and the summary says why it stopped.
    fn write(&mut self, ev: &Event) {
        let len = self.out.writer.get_ref().len();
        if self.error.is_some() || len >= self.out.limit {
            self.capped |= self.error.is_none();
            self.not_written += 1;
            return;
        }
        match self.out.writer.write(ev) {
            Ok(()) => {
                if ev.packet.is_some() {
                    self.with_packet += 1;
                }
            }
            Err(e) => {
                let why = self
                    .out
                    .writer
                    .get_ref()
                    .failed()
                    .map(str::to_string)
                    .unwrap_or_else(|| e.to_string());
                log::warn!(
                    "--pcap {}: {why}; no more events written",
                    self.out.path.display()
                );
                self.error = Some(why);
                self.not_written += 1;
            }
        }
    }

    /// Commits the file (renamed over its path; a file cut short is kept, it is valid).
    fn finish(self) -> PcapWritten {
        let Pcap {
            out,
            with_packet,
            mut not_written,
            capped,
            error,
        } = self;
        let mut events = out.writer.written();
        let mut with_packet = with_packet;
        let (path, limit) = (out.path.clone(), out.limit);
        let (bytes, error) = match out.writer.into_inner().commit() {
            Ok(c) => (c.bytes, error.or(c.cut_short)),
            Err(e) => (0, Some(crate::error::chain(&e))),
        };
        if error.is_some() {
            // Cut short: what the file holds is what it holds, counted in it.
            let (n, with) = crate::probes::pcap::events_in(&path).unwrap_or((0, 0));
            not_written += events.saturating_sub(n);
            (events, with_packet) = (n, with);
        }
        PcapWritten {
            path,
            events,
            with_packet,
            bytes,
            limit,
            not_written,
            capped,
            error,
        }
    }
}

/// How a trace ended.
pub struct Finished {
    /// The decisions the forwarder wrote until its log went off.
    pub last: Vec<Item>,
    /// The pcapng file, complete (or cut short, saying why; also in the summary).
    pub pcap: Option<PcapWritten>,
    /// The counts.
    pub summary: Summary,
    /// Names of namespaces and interfaces, for rendering the counts.
    pub names: Names,
    /// Ctrl-C ended it.
    pub interrupted: bool,
}

/// A running trace. Dropping it detaches the probes and turns the decision log off.
pub struct TraceSession {
    // Field order is drop order: the decision log goes off before the probes go.
    decisions: Option<Reader>,
    set: ProbeSet,
    pcap: Option<Pcap>,
    scope: Scope,
    started: Instant,
    modules_checked: Instant,
    seen: u64,
}

impl TraceSession {
    /// Attaches the probes of `plan`, then (with decisions) turns the forwarder's log on.
    pub fn start(plan: Plan) -> Result<TraceSession> {
        let Plan {
            netns,
            filter,
            probes,
            duration,
            pcap,
            decisions,
        } = plan;
        let scope = Scope {
            netns: netns.name.clone(),
            all_namespaces: filter.netns_inodes.is_empty(),
            decision_rate: decisions.as_ref().map(|d| d.rate),
            duration,
        };
        let set = ProbeSet::attach_with(&filter, &probes)?;
        // On from here to the end; the reader turns it off on every way out.
        let decisions = decisions.map(|d| Reader::open(&netns, d)).transpose()?;
        let now = Instant::now();
        Ok(TraceSession {
            decisions,
            set,
            pcap: pcap.map(|out| Pcap {
                out,
                with_packet: 0,
                not_written: 0,
                capped: false,
                error: None,
            }),
            scope,
            started: now,
            modules_checked: now,
            seen: 0,
        })
    }

    /// Every probe variant, active or not, with the reason in words.
    pub fn report(&self) -> Vec<ProbeStatus> {
        self.set.report()
    }

    /// What the trace watches.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// What happened since the last call, waiting at most 200 ms for it; `None` once the
    /// trace is over (its duration passed, or Ctrl-C).
    pub fn poll(&mut self) -> Result<Option<Vec<Item>>> {
        if cancel::interrupted() {
            return Ok(None);
        }
        let mut items = Vec::new();
        if self.modules_checked.elapsed() >= MODULE_CHECK {
            self.modules_checked = Instant::now();
            items.extend(self.set.attach_pending().into_iter().map(Item::Attached));
        }
        let left = match self.scope.duration {
            Some(d) => match d.checked_sub(self.started.elapsed()) {
                Some(l) if !l.is_zero() => l,
                _ => return Ok((!items.is_empty()).then_some(items)),
            },
            None => POLL,
        };
        let wait = left.min(POLL);
        let events = match self.decisions.as_mut() {
            None => self.set.poll_events(wait)?,
            Some(d) => {
                // Wait on both rings. The program writes its decision before the kernel acts
                // on the verdict, so draining the events first and the decisions second
                // finds the decision of every event drained: returned first, as it happened.
                wait_readable(&[self.set.as_fd().as_raw_fd(), d.fd().as_raw_fd()], wait);
                let events = self.set.poll_events(Duration::ZERO)?;
                items.extend(d.take(self.set.names())?.into_iter().map(Item::Decision));
                events
            }
        };
        for ev in &events {
            self.seen += 1;
            if let Some(p) = self.pcap.as_mut() {
                p.write(ev);
            }
        }
        items.extend(events.into_iter().map(Item::Event));
        Ok(Some(items))
    }

    /// Turns the decision log off (its last records are [`Finished::last`]), completes the
    /// pcapng file, reads the kernel's counts and detaches the probes.
    pub fn finish(mut self) -> Result<Finished> {
        // First, so the file is kept whatever fails below.
        let pcap = self.pcap.take().map(Pcap::finish);
        let (last, decisions) = match self.decisions.take() {
            Some(d) => {
                let (lines, s) = d.finish(self.set.names())?;
                (lines.into_iter().map(Item::Decision).collect(), Some(s))
            }
            None => (Vec::new(), None),
        };
        let aggregates = self.set.aggregates()?;
        let lost = self.set.lost();
        // Probes attached late (their module loaded during the trace) are in this report.
        let probes = self.set.report();
        let notes = veth::silence_note(&probes, &aggregates)
            .into_iter()
            .collect();
        Ok(Finished {
            last,
            pcap: pcap.clone(),
            summary: Summary {
                probes,
                aggregates,
                lost,
                events_seen: self.seen,
                notes,
                decisions,
                pcap,
            },
            names: std::mem::take(self.set.names()),
            interrupted: cancel::interrupted(),
        })
    }
}

impl Drop for TraceSession {
    /// A session ended by an error keeps what its pcapng file holds (it is valid).
    fn drop(&mut self) {
        if let Some(p) = self.pcap.take() {
            let w = p.finish();
            log::info!("--pcap {}: {} event(s) kept", w.path.display(), w.events);
        }
    }
}

/// Waits until one of `fds` is readable or `timeout` passes (EINTR counts as the end).
fn wait_readable(fds: &[i32], timeout: Duration) {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: `p` holds p.len() valid pollfds for the duration of the call.
    unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, ms) };
}
