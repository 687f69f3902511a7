//! Command-line front end: one module per verb, each with an `Args` struct and a `run`
//! function returning the exit code. Results go to stdout; logs (`-v`) go to stderr.

use anyhow::Result;
use clap::{CommandFactory, Parser, Subcommand};

mod bench;
mod check;
mod completions;
mod deploy;
mod diagnose;
mod exit;
mod fix;
mod follow;
mod lab;
mod man;
mod object;
pub(crate) mod output;
mod outputs;
mod privileges;
mod probes;
mod progress;
mod snapshot;
mod status;
mod teardown;
mod trace;

pub use exit::{EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, EXIT_OUTPUT};

#[derive(Parser, Debug)]
#[command(
    name = "xdpdoctor",
    version,
    about = "Deploys an XDP NAT forwarder and finds, explains and fixes why its packets vanish",
    after_long_help = "Exit codes: 0 success (diagnose, check: healthy); 1 the command ran and \
found problems (findings, failed connections); 2 it could not do its job (bad input, missing \
privileges, a kernel refusal, interrupted); 3 it did its job and printed the result, but an \
output file (--pcap, --junit, --prometheus) could not be written or was cut short.\n\nShell completions: xdpdoctor completions SHELL. \
Manual pages: xdpdoctor man --dir DIR."
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
    /// Keep a forwarder serving a bridge right as containers come and go (until Ctrl-C).
    Follow(follow::Args),
    /// Show the deployed forwarder: attachments, NAT entries, counters.
    Status(status::Args),
    /// Build, inspect and drive lab scenarios made of network namespaces.
    #[command(subcommand)]
    Lab(lab::LabCommand),
    /// Save the static state of the forwarder and every namespace it reaches.
    Snapshot(snapshot::Args),
    /// Find every cause of lost packets, in packet-path order, with evidence and fixes.
    Diagnose(diagnose::Args),
    /// Print (default), apply or revert the fixes of the current findings.
    Fix(fix::Args),
    /// CI health check: diagnose, time-bounded; --json, --junit FILE.
    Check(check::Args),
    /// List every probe (active or not) and why the kernel refused the others.
    Probes(probes::Args),
    /// Stream decoded drop events (redirect errors, drops, bad checksums) until Ctrl-C or
    /// --duration, then print the kernel's counts.
    Trace(trace::Args),
    /// Measure the forwarder against a plain XDP router, kernel NAT and XDP redirect-only on a
    /// lab of its own, by every method the kernel allows.
    Bench(bench::Args),
    /// Write an embedded eBPF object to a file (for the equivalent commands plans print).
    Object(object::Args),
    /// Print the shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::Args),
    /// Print the manual page, or write one per command with --dir DIR.
    Man(man::Args),
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
        // The default layout without a timestamp, the message escaped: log lines quote
        // names from the system (interfaces, namespaces, files) too.
        .format(|buf, rec| {
            use std::io::Write;
            let style = buf.default_level_style(rec.level());
            writeln!(
                buf,
                "[{style}{:<5}{style:#} {}] {}",
                rec.level(),
                rec.target(),
                xdpdoctor::report::escape::text(&rec.args().to_string())
            )
        })
        .init();
    // Before any BPF object: kernels up to 5.10 charge maps to RLIMIT_MEMLOCK.
    xdpdoctor::bpf::memlock::raise();
    // The lab's HTTP responder keeps the default SIGTERM (lab down stops it with one).
    let responder = matches!(
        &cli.command,
        Command::Lab(lab::LabCommand::ServeHttp { .. })
    );
    if !responder {
        xdpdoctor::cancel::install();
    }
    output::set_color(cli.color);
    // A closed stdout (`status | head -1`) makes println! panic: unwind through the
    // command's cleanup, then end quietly like other Unix tools.
    output::quiet_broken_pipe_panics();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&cli))) {
        Ok(Ok(code)) => code,
        Ok(Err(e)) if output::is_broken_pipe_error(&e) => output::die_of_sigpipe(),
        Ok(Err(e)) => {
            // A NUL or U+202E in a file name is shown, not obeyed.
            eprintln!("xdpdoctor: error: {}", output::esc(format!("{e:#}")));
            EXIT_ERROR
        }
        Err(p) if output::is_broken_pipe_panic(&*p) => output::die_of_sigpipe(),
        // Nobody read the output after a stop signal, or the terminal is gone (EIO): the
        // command unwound through its cleanup; it ends as interrupted, quietly.
        Err(p) if output::is_stalled_output_panic(&*p) => EXIT_ERROR,
        Err(p) => std::panic::resume_unwind(p),
    }
}

/// The verb of a command that needs root, for the one "needs root" message; `None` for
/// those that do not (`lab list`, `lab status`, `diagnose --from`) and for `deploy`, which
/// validates its config first (bad input is reported to anyone).
fn privileged(c: &Command) -> Option<&'static str> {
    Some(match c {
        Command::Deploy(_) => return None,
        Command::Teardown(_) => "teardown",
        Command::Follow(_) => "follow",
        Command::Status(_) => "status",
        Command::Lab(lab::LabCommand::Up { .. }) => "lab up",
        Command::Lab(lab::LabCommand::Down { .. }) => "lab down",
        Command::Lab(lab::LabCommand::Connect { .. }) => "lab connect",
        Command::Lab(lab::LabCommand::Burst { .. }) => "lab burst",
        Command::Lab(_) => return None,
        Command::Snapshot(_) => "snapshot",
        Command::Diagnose(a) if a.from.is_some() => return None,
        Command::Diagnose(_) => "diagnose",
        Command::Fix(_) => "fix",
        Command::Check(_) => "check",
        Command::Probes(_) => "probes",
        Command::Trace(_) => "trace",
        Command::Bench(_) => "bench",
        Command::Object(_) | Command::Completions(_) | Command::Man(_) => return None,
    })
}

fn run(cli: &Cli) -> Result<i32> {
    let ns = xdpdoctor::netns::Netns::from_opt(cli.netns.as_deref());
    // A --netns that is not a network namespace is named as such, whatever the command.
    if cli.netns.is_some() {
        ns.inode()?;
    }
    if let Some(verb) = privileged(&cli.command) {
        privileges::require(verb)?;
    }
    match &cli.command {
        Command::Deploy(a) => deploy::run(a, &ns),
        Command::Teardown(a) => teardown::run(a, &ns),
        Command::Follow(a) => follow::run(a, &ns),
        Command::Status(a) => status::run(a, &ns),
        Command::Lab(c) => lab::run(c, &ns),
        Command::Snapshot(a) => snapshot::run(a, &ns),
        Command::Diagnose(a) => diagnose::run(a, &ns),
        Command::Fix(a) => fix::run(a, &ns),
        Command::Check(a) => check::run(a, &ns),
        Command::Probes(a) => probes::run(a, &ns),
        Command::Trace(a) => trace::run(a, &ns),
        Command::Bench(a) => bench::run(a),
        Command::Object(a) => object::run(a),
        Command::Completions(a) => completions::run(a, Cli::command()),
        Command::Man(a) => man::run(a, Cli::command()),
    }
}
