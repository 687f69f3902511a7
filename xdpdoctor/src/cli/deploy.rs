//! `xdpdoctor deploy --config FILE [--mode driver|skb] [--follow]`

use std::path::PathBuf;

use anyhow::{Context, Result};
use xdpdoctor::forwarder::Role;
use xdpdoctor::forwarder::{self, AttachMode, ForwarderConfig};
use xdpdoctor::netns::Netns;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Forwarder config: {"interfaces": {"external": [...], "internal": [...]}, "entries": [...]}.
    #[arg(long, short)]
    pub config: PathBuf,
    /// XDP attach mode.
    #[arg(long, value_enum, default_value = "driver")]
    pub mode: Mode,
    /// Print the deployment as JSON.
    #[arg(long)]
    pub json: bool,
    /// Then keep serving a bridge's ports as containers come and go, as `follow` does (until
    /// Ctrl-C; the forwarder stays deployed).
    #[arg(long)]
    pub follow: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Mode {
    Driver,
    Skb,
}

impl From<Mode> for AttachMode {
    fn from(m: Mode) -> Self {
        match m {
            Mode::Driver => AttachMode::Driver,
            Mode::Skb => AttachMode::Skb,
        }
    }
}

pub fn run(a: &Args, ns: &Netns) -> Result<i32> {
    let cfg = ForwarderConfig::load(&a.config)?;
    super::privileges::require("deploy")?;
    let dep = forwarder::deploy(ns, &cfg, &a.config, a.mode.into())
        .with_context(|| format!("deploying the forwarder in namespace {ns}"))?;
    if a.json {
        super::output::print_json(&dep)?;
    } else {
        for i in &dep.interfaces {
            println!(
                "attached {} program (id {}) to {} (ifindex {}) in {:?} mode",
                match i.role {
                    Role::External => "external/DNAT",
                    Role::Internal => "internal/SNAT",
                },
                i.prog_id,
                super::output::esc(&i.name),
                i.ifindex,
                dep.mode
            );
        }
        println!(
            "{} NAT entries; pinned under {}",
            dep.config.entries.len(),
            dep.pin_dir.display()
        );
        for b in &dep.bridges {
            println!(
                "serving bridge {} (ifindex {}): {}",
                super::output::esc(&b.name),
                b.ifindex,
                if b.all_ports {
                    "every veth port, redirect by MAC"
                } else {
                    "the ports named, redirect by MAC"
                }
            );
        }
    }
    if a.follow {
        return super::follow::run(&super::follow::Args { json: a.json }, ns);
    }
    Ok(super::EXIT_OK)
}
