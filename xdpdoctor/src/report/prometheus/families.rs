//! Every metric family `check --prometheus` writes: name, type and HELP text, in one place
//! (docs/fleet.md has the same list for people, and deploy/prometheus/ the rules on them).
//! Names carry their unit (`_seconds`) and counters end in `_total`, as Prometheus's naming
//! conventions ask.

/// A metric family: written with its HELP and TYPE lines once per file, when it has samples.
#[derive(Debug)]
pub struct Def {
    /// Metric name.
    pub name: &'static str,
    /// `gauge` or `counter`.
    pub kind: &'static str,
    /// HELP text.
    pub help: &'static str,
}

pub const BUILD_INFO: Def = Def {
    name: "xdpdoctor_build_info",
    kind: "gauge",
    help: "Always 1; the version label says which xdpdoctor wrote the file.",
};
pub const SUCCESS: Def = Def {
    name: "xdpdoctor_check_success",
    kind: "gauge",
    help: "1 if the check ran to the end (exit 0, 1 or 3), 0 if it could not diagnose (exit 2).",
};
pub const EXIT_CODE: Def = Def {
    name: "xdpdoctor_check_exit_code",
    kind: "gauge",
    help: "Exit code of the check: 0 healthy, 1 findings, 2 could not diagnose, 3 an output \
           file failed (docs/cli.md).",
};
pub const LAST_RUN: Def = Def {
    name: "xdpdoctor_check_last_run_timestamp_seconds",
    kind: "gauge",
    help: "When the check last ended, successful or not, in seconds since the Unix epoch.",
};
pub const LAST_SUCCESS: Def = Def {
    name: "xdpdoctor_check_last_success_timestamp_seconds",
    kind: "gauge",
    help: "When the check last ran to the end, in seconds since the Unix epoch: the age of \
           the results in this file.",
};
pub const DURATION: Def = Def {
    name: "xdpdoctor_check_duration_seconds",
    kind: "gauge",
    help: "Time the last run spent, by phase (snapshot, evidence: the observation window, \
           rules, total; a failed run: total).",
};
pub const HEALTHY: Def = Def {
    name: "xdpdoctor_check_healthy",
    kind: "gauge",
    help: "1 if the check found nothing, 0 if it found problems.",
};
pub const ROOT_CAUSES: Def = Def {
    name: "xdpdoctor_check_root_causes",
    kind: "gauge",
    help: "Root causes found, by rule (docs/rules.md), severity and the namespace they are in: \
           findings no other finding explains. Alert on these. A series falls to 0 on the \
           run after its cause was fixed, then is dropped.",
};
pub const FINDINGS: Def = Def {
    name: "xdpdoctor_check_findings",
    kind: "gauge",
    help: "Findings, root causes and the consequences they explain, by rule, severity and \
           namespace. A series falls to 0 on the run after it went away, then is dropped.",
};
pub const CONNECTIONS: Def = Def {
    name: "xdpdoctor_check_connections",
    kind: "gauge",
    help: "Test connections made through the NAT entries during the last window, by result.",
};
pub const WINDOW: Def = Def {
    name: "xdpdoctor_probe_window_seconds_total",
    kind: "counter",
    help: "Seconds the tracing probes watched, summed over the runs: divide the probes' \
           counters' rates by this one's for events per watched second.",
};
pub const DROPS: Def = Def {
    name: "xdpdoctor_probe_drops_total",
    kind: "counter",
    help: "Packets the tracing probes saw die during the check windows, by probe (kind) and \
           reason (errno, drop reason or XDP action), summed over the runs.",
};
pub const REDIRECTS: Def = Def {
    name: "xdpdoctor_probe_redirects_total",
    kind: "counter",
    help: "XDP redirects that worked (xdp:xdp_redirect) during the check windows, summed \
           over the runs.",
};
pub const FWD_DEPLOYED: Def = Def {
    name: "xdpdoctor_forwarder_deployed",
    kind: "gauge",
    help: "1 if xdpdoctor's XDP forwarder is deployed in the namespace.",
};
pub const FWD_PACKETS: Def = Def {
    name: "xdpdoctor_forwarder_packets_total",
    kind: "counter",
    help: "The forwarder's packet counters since it was deployed, as of the check's end \
           (docs/forwarder.md): seen, one outcome per packet, bpf_fib_lookup results.",
};

/// What a run that could not diagnose keeps from the previous file: the last results.
pub const CARRIED: &[&Def] = &[
    &LAST_SUCCESS,
    &HEALTHY,
    &ROOT_CAUSES,
    &FINDINGS,
    &CONNECTIONS,
    &WINDOW,
    &DROPS,
    &REDIRECTS,
    &FWD_DEPLOYED,
    &FWD_PACKETS,
];
