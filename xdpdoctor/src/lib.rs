//! xdpdoctor: deploys an XDP NAT forwarder and finds, explains and fixes why XDP-redirected
//! packets vanish, from its own forwarder or any other.
//!
//! The pipeline runs one way: **snapshot** (netlink, ethtool, bpf maps: the static state of
//! every namespace the XDP programs touch) -> **evidence** (probes, captures, counters over a
//! short window) -> **findings** (one rule per file in `diagnose`) -> **fixes** (plan / apply
//! / revert) -> **report** (table, JSON, JUnit); beside it, **trace** streams where packets die
//! as it happens. Each module imports only what its row in docs/architecture.md allows, always
//! below it (`tests/architecture.rs` checks it); the lab and the bench sit on top, using the
//! library like any other caller. This crate never prints: results are returned as values and
//! diagnostics go through `log`.

// Ground floor: errors, interruption, where state lives, plain data.
pub mod cancel;
pub mod error;
pub mod model;
pub mod progress;
pub mod runtime;
pub mod state;

// Files the user names: the one safe writer, the one bounded reader.
pub mod files;

// Talking to the kernel.
pub mod bpf;
pub mod netlink;
pub mod netns;
pub mod pcapng;

// Services on top of the kernel interfaces.
pub mod capture;
pub mod decisions;
pub mod forwarder;
pub mod probes;
pub mod xdp;

// The pipeline.
pub mod diagnose;
pub mod fix;
pub mod report;
pub mod snapshot;

// A live view beside it: `trace` as a session (events as they happen, then the counts).
pub mod trace;

// Users of the library that ship with it.
pub mod bench;
pub mod lab;

pub use error::{Error, ErrorList, Result};
