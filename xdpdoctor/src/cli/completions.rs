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

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The shell to complete for.
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// `cmd`: the whole command-line definition the script completes.
pub fn run(a: &Args, mut cmd: clap::Command) -> Result<i32> {
    clap_complete::generate(a.shell, &mut cmd, "xdpdoctor", &mut std::io::stdout());
    Ok(super::EXIT_OK)
}
