//! `trace` as a library session: probes attached for as long as the caller wants, a live
//! stream of where packets die, and at the end the kernel's counts. A caller builds a checked
//! [`Plan`] (every value validated and every resource its arguments name already taken, so a
//! bad input changes nothing), starts a [`TraceSession`], calls [`TraceSession::poll`] until
//! it says the trace is over (its duration, or Ctrl-C), and [`TraceSession::finish`]es it.
//! Each poll hands back [`Item`]s in the order they happened: probes that attached late (their
//! module loaded), the forwarder's decisions (`--decisions`) and the probes' events, already
//! written to the pcapng file when there is one. Rendering them is `report::trace`; the CLI
//! only parses, starts and prints.
//!
//! Probes are detached, the decision log turned off and its reader lock released on every
//! way out: [`TraceSession::finish`], an error, or dropping the session.

mod decisions;
mod plan;
mod session;

pub use decisions::{Decided, DecisionLine, DecisionPlan, DecisionSummary, Unparsed};
pub use plan::{PcapOut, Plan, PCAP_LIMIT};
pub use session::{Finished, Item, PcapWritten, Scope, Summary, TraceSession};
