//! One integration test binary. Privileged tests print `SKIP <name>: <reason>` when they
//! cannot run (not root); under CI=true as root they always run.

mod checksum;
mod common;
mod deploy;
mod lab;
mod netlink_features;
mod trace;
