//! `xdpdoctor follow`: keeps a forwarder that serves a bridge right as containers come and
//! go (`forwarder::follow`), until Ctrl-C or its teardown. One line per sync that changed
//! something (JSON lines with `--json`).

use anyhow::{Context, Result};
use xdpdoctor::forwarder::follow::{self, SyncReport};
use xdpdoctor::netns::Netns;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// One JSON object per sync instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: &Args, ns: &Netns) -> Result<i32> {
    let json = a.json;
    let mut first = true;
    follow::follow(ns, |r| {
        match r {
            Ok(rep) if first || rep.changed() || !rep.failed.is_empty() => print(&rep, json),
            Ok(_) => {}
            Err(e) => log::warn!("sync: {}", xdpdoctor::error::chain(&e)),
        }
        first = false;
    })
    .with_context(|| format!("following the forwarder's bridges in namespace {ns}"))?;
    Ok(super::EXIT_OK)
}

fn print(r: &SyncReport, json: bool) {
    if json {
        if let Ok(s) = serde_json::to_string(r) {
            println!("{s}");
        }
        return;
    }
    let esc = |v: &[String]| {
        v.iter()
            .map(super::output::esc)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut parts = vec![format!("{} port MAC(s) mapped", r.port_macs)];
    if !r.attached.is_empty() {
        parts.push(format!("attached {}", esc(&r.attached)));
    }
    if !r.detached.is_empty() {
        parts.push(format!("dropped {}", esc(&r.detached)));
    }
    for (n, why) in &r.failed {
        parts.push(format!(
            "could not attach {}: {}",
            super::output::esc(n),
            why
        ));
    }
    if !r.unresolved.is_empty() {
        let t: Vec<String> = r.unresolved.iter().map(|a| a.to_string()).collect();
        parts.push(format!("neighbour unresolved: {}", t.join(", ")));
    }
    println!("sync: {}", parts.join("; "));
}
