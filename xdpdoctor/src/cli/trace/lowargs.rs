//! `trace`'s arguments as clap parses them (ripgrep's lowargs): flags and values, unchecked.
//! `hiargs.rs` turns them into the plan the library runs.

use std::path::PathBuf;

use xdpdoctor::probes::ProbeKind;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Watch every namespace (the default unless the global --netns names one).
    #[arg(long)]
    pub all_netns: bool,
    /// Stop after S seconds (default: until Ctrl-C).
    #[arg(long, value_name = "S")]
    pub duration: Option<f64>,
    /// One JSON object per event and a final `{"summary": ...}` line.
    #[arg(long)]
    pub json: bool,
    /// Also count successful redirects (summary only; it fires for every redirected packet):
    /// shows where programs send packets, and redirects into another namespace.
    #[arg(long)]
    pub redirects: bool,
    /// Also write every event to FILE as pcapng: the first bytes of the packet where the probe
    /// can reach it (kfree_skb, tcp_bad_csum), and a comment naming probe, namespace,
    /// interface and reason (xdp events: the comment only, they carry no packet data).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// With --pcap: stop writing events once the file holds N MiB (the summary says how many
    /// were left out).
    #[arg(long, value_name = "N", default_value_t = xdpdoctor::trace::PCAP_LIMIT >> 20, requires = "pcap")]
    pub pcap_limit: u64,
    /// With --pcap: replace an existing file (only a regular file of yours; never a link).
    #[arg(long, requires = "pcap")]
    pub force: bool,
    /// Do not use probes of this kind (fexit, kretprobe, tp_btf, tracepoint): the next
    /// variant in preference order runs, as on a kernel that refuses KIND.
    #[arg(long, value_name = "KIND", value_enum)]
    pub without: Vec<Without>,
    /// Also print what the forwarder xdpdoctor deployed in the namespace (--netns, default
    /// the current one) decided for each packet: addresses before and after NAT, the FIB
    /// lookup's result and next hop, the verdict. Turns its decision log on for the length of
    /// the trace and off again on exit.
    #[arg(long)]
    pub decisions: bool,
    /// With --decisions: at most N decision records per second per CPU (the forwarder's
    /// token bucket; burst 100).
    #[arg(long, value_name = "N", default_value_t = 1000, requires = "decisions")]
    pub decision_rate: u64,
}

/// The probe kinds `--without` can leave out (clap's names are the kinds' own).
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Without {
    /// fexit (through BTF).
    Fexit,
    /// The kprobe/kretprobe pair.
    Kretprobe,
    /// BTF-typed tracepoints.
    #[value(name = "tp_btf")]
    TpBtf,
    /// Classic tracepoints.
    Tracepoint,
}

impl From<Without> for ProbeKind {
    fn from(w: Without) -> Self {
        match w {
            Without::Fexit => ProbeKind::Fexit,
            Without::Kretprobe => ProbeKind::Kretprobe,
            Without::TpBtf => ProbeKind::TpBtf,
            Without::Tracepoint => ProbeKind::Tracepoint,
        }
    }
}
