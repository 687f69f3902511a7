//! `xdpdoctor teardown`

use anyhow::{Context, Result};
use xdpdoctor::forwarder;
use xdpdoctor::netns::Netns;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_a: &Args, ns: &Netns) -> Result<i32> {
    let dep = forwarder::teardown(ns)
        .with_context(|| format!("tearing down the forwarder in namespace {ns}"))?;
    match dep {
        Some(d) => println!(
            "forwarder removed from {} ({} interface(s) detached, pins under {} removed)",
            super::output::esc(&d.netns),
            d.interfaces.len(),
            super::output::esc(d.pin_dir.display())
        ),
        None => println!(
            "forwarder pins removed from namespace {}",
            super::output::esc(ns)
        ),
    }
    Ok(super::EXIT_OK)
}
