//! `xdpdoctor man [--dir DIR]`: manual pages in roff, generated from the clap definitions.
//! Without `--dir` the page of `xdpdoctor` itself goes to stdout (`xdpdoctor man | man -l -`);
//! with `--dir` one page per command and subcommand is written there (`xdpdoctor.1`,
//! `xdpdoctor-diagnose.1`, `xdpdoctor-lab-up.1`, ...), e.g. into `/usr/local/share/man/man1`.

use std::path::PathBuf;

use anyhow::{Context, Result};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write every page into DIR (created if missing) instead of the main page to stdout.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `cmd`: the whole command-line definition, pages are made of.
pub fn run(a: &Args, cmd: clap::Command) -> Result<i32> {
    match &a.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("--dir {}", dir.display()))?;
            clap_mangen::generate_to(cmd, dir)
                .with_context(|| format!("writing manual pages into {}", dir.display()))?;
            let mut n = 0;
            for e in std::fs::read_dir(dir)?.flatten() {
                if e.file_name().to_string_lossy().ends_with(".1") {
                    n += 1;
                }
            }
            eprintln!("{n} manual page(s) in {}", dir.display());
        }
        None => {
            clap_mangen::Man::new(cmd)
                .render(&mut std::io::stdout())
                .context("writing the manual page")?;
        }
    }
    Ok(super::EXIT_OK)
}
