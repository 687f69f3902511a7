//! A checked trace: what [`super::TraceSession::start`] runs. The caller (the CLI's
//! `hiargs`) builds it from its arguments and checks them first: a duration that is a
//! positive number, a namespace that exists, a pcapng file that could be created, a forwarder
//! of ours whose decision log nobody else reads.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::DecisionPlan;
use crate::files::{Output, Replace};
use crate::netns::Netns;
use crate::probes::pcap::EventWriter;
use crate::probes::{Filter, ProbeOptions};
use crate::{Error, Result};

/// Everything a trace needs, validated.
pub struct Plan {
    /// The namespace asked for (`--netns`, or the current one): named in messages, and the
    /// one whose forwarder's decisions are read.
    pub netns: Netns,
    /// Which namespaces' events and counts to keep.
    pub filter: Filter,
    /// Which probes: kinds left out, successful redirects, waiting for modules.
    pub probes: ProbeOptions,
    /// Stop after this long; None: until Ctrl-C.
    pub duration: Option<Duration>,
    /// Also write every event shown to this pcapng file.
    pub pcap: Option<PcapOut>,
    /// Also read the decisions of xdpdoctor's forwarder in `netns`.
    pub decisions: Option<DecisionPlan>,
}

impl Plan {
    /// Whether the trace keeps every namespace (no namespace filter).
    pub fn all_namespaces(&self) -> bool {
        self.filter.netns_inodes.is_empty()
    }
}

/// The default size cap of a trace's pcapng file: 64 MiB (any user can make events in a
/// namespace of their own; 59 MB in 3 s was measured without a cap).
pub const PCAP_LIMIT: u64 = 64 << 20;

/// A pcapng file created for the events of a trace, through the safe writer (`files`): a
/// hidden temporary next to `path` until the trace ends, then renamed.
pub struct PcapOut {
    /// Where it goes.
    pub path: PathBuf,
    /// Events stop being written once the file holds this many bytes.
    pub limit: u64,
    pub(super) writer: EventWriter<Output>,
}

impl PcapOut {
    /// Checks `path` under `replace` (an existing file only with `--force`), creates the
    /// temporary file and writes the pcapng section header. `limit`: the size cap in bytes.
    pub fn create(path: &Path, replace: Replace, limit: u64) -> Result<PcapOut> {
        let out = Output::create(path, replace)?;
        let writer = EventWriter::new(out).map_err(|e| Error::io("write", path, e))?;
        Ok(PcapOut {
            path: path.to_path_buf(),
            limit,
            writer,
        })
    }
}
