//! One integration test binary. Privileged tests print `SKIP <name>: <reason>` when they
//! cannot run (not root); under CI=true as root they always run.

// Tests report what they ran on stderr.
#![allow(clippy::print_stderr, clippy::print_stdout)]

mod ab_objects;
mod bench;
mod checksum;
mod common;
mod deploy;
mod diagnose;
mod fix;
mod frames;
mod fwd_run;
mod lab;
mod nat_index;
mod nat_ns;
mod netlink_features;
mod router;
mod trace;
