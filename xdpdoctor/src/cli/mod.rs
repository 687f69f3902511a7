//! Command-line front end: one module per verb, each with an `Args` struct and a `run`
//! function returning the exit code. Results go to stdout; logs (`-v`) go to stderr.

use anyhow::Result;
use clap::{Parser, Subcommand};

mod deploy;
mod lab;
mod output;
mod status;
mod teardown;

/// Exit codes (documented in docs/cli.md).
pub const EXIT_OK: i32 = 0;
pub const EXIT_FINDINGS: i32 = 1;
pub const EXIT_ERROR: i32 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "xdpdoctor",
    version,
    about = "Deploys an XDP NAT forwarder and finds, explains and fixes why its packets vanish"
)]
pub struct Cli {
    /// Network namespace to act in: a name under /run/netns or a path (default: the current one).
    #[arg(long, global = true, value_name = "NAME|PATH")]
    pub netns: Option<String>,
    /// More log output on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Colour: auto (TTY and NO_COLOR respected), always, never.
    #[arg(long, global = true, default_value = "auto", value_name = "WHEN")]
    pub color: output::ColorChoice,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Deploy the XDP NAT forwarder from a config file (seed's config.json shape).
    Deploy(deploy::Args),
    /// Remove exactly what `deploy` made in the namespace.
    Teardown(teardown::Args),
    /// Show the deployed forwarder: attachments, NAT entries, counters.
    Status(status::Args),
    /// Build, inspect and drive lab scenarios made of network namespaces.
    #[command(subcommand)]
    Lab(lab::LabCommand),
}

pub fn main() -> i32 {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => log::LevelFilter::Warn,
        1 => log::LevelFilter::Info,
        2 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    };
    env_logger::Builder::new()
        .filter_level(level)
        .parse_env("XDPDOCTOR_LOG")
        .format_timestamp(None)
        .init();
    xdpdoctor::cancel::install();
    output::set_color(cli.color);
    match run(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xdpdoctor: error: {e:#}");
            EXIT_ERROR
        }
    }
}

fn run(cli: &Cli) -> Result<i32> {
    let ns = xdpdoctor::netns::Netns::from_opt(cli.netns.as_deref());
    match &cli.command {
        Command::Deploy(a) => deploy::run(a, &ns),
        Command::Teardown(a) => teardown::run(a, &ns),
        Command::Status(a) => status::run(a, &ns),
        Command::Lab(c) => lab::run(c, cli),
    }
}
