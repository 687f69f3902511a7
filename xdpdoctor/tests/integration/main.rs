//! One integration test binary. Privileged tests (namespaces, XDP, BPF probes) are marked
//! `#[ignore = "needs root: <reason>"]` and start with `common::require_root()`: without root
//! the runner reports them as ignored with that reason; as root, `scripts/test.sh` runs them
//! with `--include-ignored`, and one run without root fails instead of passing.

// Tests report what they ran on stderr.
#![allow(clippy::print_stderr, clippy::print_stdout)]

mod bench;
mod checksum;
mod common;
mod deploy;
mod diagnose;
mod fix;
mod frames;
mod lab;
mod nat_ns;
mod netlink_features;
mod trace;
mod tracer;
