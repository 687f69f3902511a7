//! A checked trace: what [`super::TraceSession::start`] runs. The caller (the CLI's
//! `hiargs`) builds it from its arguments and checks them first: a duration that is a
//! positive number, a namespace that exists, a pcapng file that could be created, a forwarder
//! of ours whose decision log nobody else reads.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::DecisionPlan;
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

/// A pcapng file created for the events of a trace.
pub struct PcapOut {
    /// Where it is.
    pub path: PathBuf,
    pub(super) writer: EventWriter<BufWriter<File>>,
}

impl PcapOut {
    /// Creates (truncates) `path` and writes the pcapng section header.
    pub fn create(path: &Path) -> Result<PcapOut> {
        let f = File::create(path).map_err(|e| Error::io("create", path, e))?;
        let writer =
            EventWriter::new(BufWriter::new(f)).map_err(|e| Error::io("write", path, e))?;
        Ok(PcapOut {
            path: path.to_path_buf(),
            writer,
        })
    }
}
