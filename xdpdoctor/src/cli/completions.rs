//! `xdpdoctor completions SHELL`: the shell completion script, generated from the clap
//! definitions (so it always matches this binary's verbs and flags), on stdout.
//!
//! ```sh
//! source <(xdpdoctor completions bash)                      # this shell
//! xdpdoctor completions bash > /etc/bash_completion.d/xdpdoctor
//! xdpdoctor completions zsh > "${fpath[1]}/_xdpdoctor"
//! xdpdoctor completions fish > ~/.config/fish/completions/xdpdoctor.fish
//! ```

use anyhow::Result;
use clap::CommandFactory;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The shell to complete for.
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

pub fn run(a: &Args) -> Result<i32> {
    let mut cmd = super::Cli::command();
    clap_complete::generate(a.shell, &mut cmd, "xdpdoctor", &mut std::io::stdout());
    Ok(super::EXIT_OK)
}
