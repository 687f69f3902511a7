//! `xdpdoctor check`: the CI health check. Diagnose, non-interactive and bounded by
//! `--timeout`; same exit codes (0 healthy, 1 findings, 2 could not diagnose or timed out).
//! Besides stdout: `--junit FILE`, `--prometheus FILE` (textfile collector), `--pcap DIR`.
//! A check that could not diagnose still writes its Prometheus file (`xdpdoctor_check_success
//! 0`, the last results kept): on a fleet, exit 2 is a metric, not silence (docs/fleet.md).
//! Bad input (arguments, `--config`) fails before anything runs and writes nothing.
#![allow(clippy::print_stdout, clippy::print_stderr)] // the CLI prints results; the library never does

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use xdpdoctor::files::{self, Replace};
use xdpdoctor::netns::Netns;
use xdpdoctor::progress::Progress;
use xdpdoctor::report::{self, escape, prometheus::Previous};

use super::diagnose::{diagnose_one, exit_code, print_text, NatArgs, ObserveArgs};
use super::outputs::{self, OutputFile};
use super::progress::Bar;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub observe: ObserveArgs,
    #[command(flatten)]
    pub nat: NatArgs,
    /// Give up (exit 2) after this many seconds.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub timeout: f64,
    /// Machine-readable output on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also write JUnit XML (one testcase per rule) to FILE (atomically; replaces a regular
    /// file of yours, never a link or another user's file).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<std::path::PathBuf>,
    /// Also write the result as Prometheus text (node_exporter textfile collector: findings
    /// per rule, healthy, timings, forwarder counters) to FILE, atomically (replaces a
    /// regular file of yours, never a link, a device or another user's file).
    #[arg(long, value_name = "FILE")]
    pub prometheus: Option<std::path::PathBuf>,
}

pub fn run(a: &Args, ns: &Netns) -> Result<i32> {
    anyhow::ensure!(
        a.timeout.is_finite() && a.timeout > 0.0,
        "--timeout {}: must be positive",
        a.timeout
    );
    // Every output file is checked before the check runs: bad input changes nothing.
    a.observe.check_pcap(ns)?;
    for (flag, p) in [("--junit", &a.junit), ("--prometheus", &a.prometheus)] {
        if let Some(p) = p {
            files::check_target(p, Replace::Own)
                .with_context(|| format!("{flag} {}", p.display()))?;
        }
    }
    // A --config that cannot be read is bad input too: named now, before the run.
    a.nat.hint()?;
    let opts = a.observe.options(ns, Progress::none())?;
    anyhow::ensure!(
        opts.window.as_secs_f64() < a.timeout,
        "--observe {} must be shorter than --timeout {}",
        a.observe.observe,
        a.timeout
    );
    let started = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    let (ns2, observe, nat) = (ns.clone(), a.observe.clone(), a.nat.clone());
    let bar = Bar::new(a.json);
    let progress = bar.progress();
    std::thread::spawn(move || {
        let _ = tx.send(diagnose_one(&ns2, &observe, &nat, progress));
    });
    let r = rx.recv_timeout(Duration::from_secs_f64(a.timeout));
    drop(bar);
    let r = match r {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(failed(a, ns, started, e)),
        Err(_) => {
            let e = anyhow::anyhow!("check did not finish within --timeout {} s", a.timeout);
            return Err(failed(a, ns, started, e));
        }
    };
    // Each file is written whatever happened to the one before; the report comes last and
    // always (a full disk costs the evidence, not the result).
    let mut outputs: Vec<OutputFile> = a.observe.write_pcap(&r).into_iter().collect();
    if let Some(p) = &a.junit {
        outputs.push(
            match files::write(p, report::junit(&r).as_bytes(), Replace::Own) {
                Ok(()) => OutputFile::ok("junit", p, "one testcase per rule".into()),
                Err(e) => OutputFile::failed("junit", p, false, xdpdoctor::error::chain(&e)),
            },
        );
    }
    if let Some(p) = &a.prometheus {
        // The exit code as far as it is known: 3 when --pcap or --junit failed.
        let code = outputs::exit_code(exit_code(&r), &outputs);
        let before = previous(p, &r.snapshot.home().ns.name);
        let text = report::prometheus(&r, code, unix_now(), &before);
        outputs.push(match files::write(p, text.as_bytes(), Replace::Own) {
            Ok(()) => OutputFile::ok("prometheus", p, "textfile collector format".into()),
            Err(e) => OutputFile::failed("prometheus", p, false, xdpdoctor::error::chain(&e)),
        });
    }
    let code = outputs::exit_code(exit_code(&r), &outputs);
    if a.json {
        let doc = outputs::with_outputs(report::to_value(&r, code), &outputs);
        println!("{}", outputs::json_text(&doc));
    } else {
        print_text(&r);
    }
    outputs.iter().for_each(OutputFile::say);
    Ok(code)
}

/// Seconds since the Unix epoch.
fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// What the previous run of the check of namespace `ns` wrote to `path` (nothing on a first
/// run, or when it cannot be read: the file is a hint, never a reason to fail).
fn previous(path: &Path, ns: &str) -> Previous {
    match files::read_to_string(path, 4 << 20) {
        Ok(text) => Previous::parse(&text, ns),
        Err(e) => {
            if path.exists() {
                log::warn!(
                    "--prometheus {}: the previous file is not read ({}): fixed findings are \
                     dropped instead of falling to 0, the probes' counters start again",
                    path.display(),
                    xdpdoctor::error::chain(&e)
                );
            }
            Previous::default()
        }
    }
}

/// A check that could not diagnose (`e`): its `--prometheus` file says so before `e` ends
/// the command with exit 2: `xdpdoctor_check_success 0`, and the previous file's results kept
/// (they are the last known state; a run that knows nothing new does not clear them).
fn failed(a: &Args, ns: &Netns, started: Instant, e: anyhow::Error) -> anyhow::Error {
    if let Some(p) = &a.prometheus {
        let text = report::prometheus_failed(
            &ns.name,
            super::EXIT_ERROR,
            started.elapsed().as_secs_f64(),
            unix_now(),
            &previous(p, &ns.name),
        );
        let line = match files::write(p, text.as_bytes(), Replace::Own) {
            Ok(()) => format!(
                "wrote {}: xdpdoctor_check_success 0, the previous results kept",
                p.display()
            ),
            Err(we) => format!(
                "--prometheus {}: not written either: {}",
                p.display(),
                xdpdoctor::error::chain(&we)
            ),
        };
        eprintln!("{}", escape::text(&line));
    }
    e
}
