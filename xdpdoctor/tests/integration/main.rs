//! One integration test binary. Privileged tests print `SKIP <name>: <reason>` when they
//! cannot run (not root); under CI=true as root they always run.

mod bench;
mod checksum;
mod common;
mod deploy;
mod diagnose;
mod fix;
mod lab;
mod netlink_features;
mod trace;
