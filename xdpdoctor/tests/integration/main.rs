//! One integration test binary. Privileged tests (namespaces, XDP, BPF probes) are marked
//! `#[ignore = "needs root: <reason>"]` and start with `common::require_root()`: without root
//! the runner reports them as ignored with that reason; as root, `scripts/test.sh` runs them
//! with `--include-ignored`, and one run without root fails instead of passing. `cli` needs no
//! root and always runs; `markers` checks these marks on this directory's source.

// Tests report what they ran on stderr.
#![allow(clippy::print_stderr, clippy::print_stdout)]

mod bench;
mod bench_fields;
mod bpffs_mount;
mod capabilities;
mod checksum;
mod cli;
mod combined_faults;
mod commands;
mod common;
mod decision_log;
mod deploy;
mod diagnose;
mod docker;
mod dual_stack;
mod evidence;
mod fix;
mod fleet;
mod foreign;
mod forwarder_decisions;
mod frames;
mod fwd_run;
mod lab;
mod markers;
mod nat_index;
mod nat_ns;
mod nat_reality;
mod netlink_features;
mod netlink_rtnl;
mod netns_sysfs;
mod nftables;
mod pcapng;
mod prom;
mod redirect_deaths;
mod reliability;
mod ring_overflow;
mod router;
mod security;
mod stacked_targets;
mod stress;
mod trace;
mod tracer;
