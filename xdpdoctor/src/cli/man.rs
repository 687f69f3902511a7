//! `xdpdoctor man [--dir DIR]`: manual pages in roff, generated from the clap definitions.
//! Without `--dir` the page of `xdpdoctor` itself goes to stdout (`xdpdoctor man | man -l -`);
//! with `--dir` one page per command and subcommand is written there (`xdpdoctor.1`,
//! `xdpdoctor-diagnose.1`, `xdpdoctor-lab-up.1`, ...), e.g. into `/usr/local/share/man/man1`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use xdpdoctor::files::{self, Replace};

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
            files::check_dir(dir).with_context(|| format!("--dir {}", dir.display()))?;
            let mut n = 0;
            write_pages(cmd, dir, &mut n)
                .with_context(|| format!("writing manual pages into {}", dir.display()))?;
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

/// One page per command and subcommand, named as `clap_mangen::generate_to` names them
/// (`xdpdoctor-lab-up.1`), each through the safe writer (a page replaces a regular file of
/// ours; a link or another user's file is refused).
fn write_pages(cmd: clap::Command, dir: &std::path::Path, n: &mut usize) -> Result<()> {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    write_tree(&cmd, dir, n)
}

fn write_tree(cmd: &clap::Command, dir: &std::path::Path, n: &mut usize) -> Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_tree(sub, dir, n)?;
    }
    let man = clap_mangen::Man::new(cmd.clone());
    let mut page = Vec::new();
    man.render(&mut page)?;
    let path = dir.join(man.get_filename());
    files::write(&path, &page, Replace::Own).with_context(|| format!("{}", path.display()))?;
    *n += 1;
    Ok(())
}
