//! xdpdoctor: deploys an XDP NAT forwarder and finds, explains and fixes why its packets vanish.
//!
//! The pipeline: **snapshot** (netlink, ethtool, bpf maps: the static state of every namespace
//! the forwarder touches) -> **evidence** (probes, captures, counters over a short window) ->
//! **findings** (one rule per file in `diagnose`) -> **fixes** (plan / apply / revert) ->
//! **report** (table, JSON, JUnit). This crate never prints: results are returned as values
//! and diagnostics go through `log`.

pub mod bpf;
pub mod error;
pub mod netlink;
pub mod netns;

pub use error::{Error, Result};
pub mod bench;
pub mod cancel;
pub mod capture;
pub mod diagnose;
pub mod fix;
pub mod forwarder;
pub mod lab;
pub mod probes;
pub mod report;
pub mod snapshot;
pub mod statefile;

pub use error::ErrorList;
