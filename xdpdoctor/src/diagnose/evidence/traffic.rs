//! Traffic during the observation window comes from outside the pipeline: the lab's client
//! (`crate::lab`), or anything else a caller plugs in. The pipeline only knows this trait and
//! the result type, so diagnosis does not depend on the lab: the CLI picks the source.

use std::net::SocketAddrV4;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::netns::Netns;
use crate::Result;

/// Outcome of one connection attempt through a NAT entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConnectResult {
    /// The public endpoint connected to.
    pub target: SocketAddrV4,
    /// Where the entry forwards to (for the report).
    pub backend: Option<SocketAddrV4>,
    /// An answer came back.
    pub ok: bool,
    /// Milliseconds until the answer, or until the failure.
    pub elapsed_ms: u64,
    /// The answer on success, the error otherwise.
    pub detail: String,
}

/// Something that makes traffic through the NAT entries during the window.
pub trait TrafficSource: Send + Sync {
    /// Who makes the traffic, for the report (`lab demo (client demo-client)`).
    fn label(&self) -> String;
    /// The namespace the traffic starts from, whose `TcpInCsumErrors` count drops of
    /// replies (None: not known).
    fn client_netns(&self) -> Option<Netns>;
    /// Connects to every `(public endpoint, backend)`, each attempt within `budget`; an entry
    /// that failed is tried once more right away. The first packet of a connection to a
    /// target whose neighbour the router has not resolved yet goes through the kernel stack
    /// (`bpf_fib_lookup` NO_NEIGH); the retry's packets take the XDP path, so what kills them
    /// there shows up in the window.
    fn run(
        &self,
        targets: &[(SocketAddrV4, Option<SocketAddrV4>)],
        budget: Duration,
    ) -> Result<Vec<ConnectResult>>;
}
