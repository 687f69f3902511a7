//! `xdpdoctor object NAME --output FILE`: writes one of the eBPF objects embedded in the
//! binary (`passthrough`, `forwarder`, `trace`, ...), so the equivalent commands that plans
//! print (`ip link set dev host0 xdpdrv obj FILE sec xdp`) run as printed.

use anyhow::{Context, Result};
use xdpdoctor::bpf::objects;
use xdpdoctor::files::{self, Replace};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The object (`passthrough`, `forwarder`, `trace`, ...; `--list` shows them).
    #[arg(required_unless_present = "list")]
    pub name: Option<String>,
    /// Where to write it (atomically; replaces a regular file of yours, such as one `mktemp`
    /// made, never a link or another user's file).
    #[arg(long, short, value_name = "FILE", required_unless_present = "list")]
    pub output: Option<std::path::PathBuf>,
    /// List the embedded objects.
    #[arg(long)]
    pub list: bool,
}

pub fn run(a: &Args) -> Result<i32> {
    let names: Vec<String> = objects::ALL.iter().map(|(n, _)| n.to_lowercase()).collect();
    if a.list {
        for n in &names {
            println!("{n}");
        }
        return Ok(super::EXIT_OK);
    }
    let (name, out) = (
        a.name.as_deref().unwrap_or_default(),
        a.output.as_deref().expect("clap requires --output"),
    );
    let Some((_, bytes)) = objects::ALL
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
    else {
        anyhow::bail!("object {name}: not embedded (known: {})", names.join(", "));
    };
    files::write(out, bytes, Replace::Own)
        .with_context(|| format!("--output {}", out.display()))?;
    Ok(super::EXIT_OK)
}
