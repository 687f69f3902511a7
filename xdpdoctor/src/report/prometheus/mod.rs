//! `check --prometheus FILE`: the result of a check in the Prometheus text exposition format
//! (version 0.0.4), for node_exporter's textfile collector (`--collector.textfile.directory`;
//! the CLI writes the file atomically through `files::write`: a temporary file in the same
//! directory, then rename). docs/fleet.md explains every metric, deploy/prometheus/ has the
//! rules that read them.
//!
//! Every series names the namespace it is about in `netns`: the diagnosed one (`host`, a name,
//! `docker:NAME`) for the check's own series, the probes' and the forwarder's; the one a
//! finding is in for `xdpdoctor_check_root_causes` and `xdpdoctor_check_findings`, which also
//! carry the diagnosed one as `checked_netns` (two checks on one node never write the same
//! series):
//!
//! | metric | type | labels | value |
//! |---|---|---|---|
//! | `xdpdoctor_build_info` | gauge | `version` | 1 |
//! | `xdpdoctor_check_success` | gauge | | 1 ran to the end, 0 could not (exit 2) |
//! | `xdpdoctor_check_exit_code` | gauge | | 0, 1, 2, 3 (docs/cli.md) |
//! | `xdpdoctor_check_last_run_timestamp_seconds` | gauge | | when the last run ended |
//! | `xdpdoctor_check_last_success_timestamp_seconds` | gauge | | when the last successful run ended |
//! | `xdpdoctor_check_duration_seconds` | gauge | `phase` | snapshot, evidence, rules, total |
//! | `xdpdoctor_check_healthy` | gauge | | 1 nothing found |
//! | `xdpdoctor_check_root_causes` | gauge | `checked_netns`, `rule`, `severity` | findings nothing else explains |
//! | `xdpdoctor_check_findings` | gauge | `checked_netns`, `rule`, `severity` | every finding |
//! | `xdpdoctor_check_connections` | gauge | `result` = ok, failed | the window's test connections |
//! | `xdpdoctor_probe_window_seconds_total` | counter | | seconds the probes watched |
//! | `xdpdoctor_probe_drops_total` | counter | `kind`, `reason` | packets the probes saw die |
//! | `xdpdoctor_probe_redirects_total` | counter | | redirects that worked |
//! | `xdpdoctor_forwarder_deployed` | gauge | | 1 when xdpdoctor's forwarder runs there |
//! | `xdpdoctor_forwarder_packets_total` | counter | `counter` | the forwarder's counters since deploy |
//!
//! A run reads the file its predecessor wrote ([`Previous`]): fixed findings fall to 0 once,
//! the probes' counters grow by each window, and a run that could not diagnose
//! ([`prometheus_failed`]) keeps the last results beside `xdpdoctor_check_success 0`.

mod families;
mod previous;

use std::collections::BTreeMap;
use std::fmt::Write;

pub use previous::{Labels, Previous, Sample};

use crate::diagnose::evidence::Traffic;
use crate::diagnose::{Finding, Report, Severity};
use crate::probes::EventKind;
use families::*;

/// The file being written.
#[derive(Default)]
struct Text(String);

impl Text {
    /// Family `d` with `samples`: HELP, TYPE, then one line per sample. A family without
    /// samples is left out (a HELP line alone is a family node_exporter cannot gather).
    fn family(&mut self, d: &Def, samples: &[(Labels, f64)]) {
        if samples.is_empty() {
            return;
        }
        let out = &mut self.0;
        let _ = writeln!(out, "# HELP {} {}", d.name, escape_help(d.help));
        let _ = writeln!(out, "# TYPE {} {}", d.name, d.kind);
        for (labels, value) in samples {
            out.push_str(d.name);
            if !labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{k}=\"{}\"", escape_label(v));
                }
                out.push('}');
            }
            let _ = writeln!(out, " {}", number(*value));
        }
    }

    /// `xdpdoctor_build_info{netns, version} 1`.
    fn build_info(&mut self, ns: &str) {
        let version = env!("CARGO_PKG_VERSION");
        self.family(&BUILD_INFO, &[(at(ns, &[("version", version)]), 1.0)]);
    }
}

/// Labels `netns="<ns>"` plus `more`.
fn at(ns: &str, more: &[(&str, &str)]) -> Labels {
    std::iter::once(("netns", ns))
        .chain(more.iter().copied())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// A counter's previous value as a starting point: a value no counter can have (a
/// hand-edited file) starts it again from 0, which Prometheus reads as a reset.
fn counter_base(v: Option<f64>) -> f64 {
    v.filter(|v| v.is_finite() && *v >= 0.0).unwrap_or(0.0)
}

/// One series per (namespace, rule, severity) of `findings`, counted; plus 0 for every series
/// of family `d` that was non-zero in the previous file and is not found now (fixed).
fn by_subject<'a>(
    d: &Def,
    checked: &str,
    findings: impl Iterator<Item = &'a Finding>,
    previous: &Previous,
) -> Vec<(Labels, f64)> {
    let mut m: BTreeMap<Labels, f64> = BTreeMap::new();
    for f in findings {
        let labels = at(
            &f.subject.netns.name,
            &[
                ("checked_netns", checked),
                ("rule", f.id.as_str()),
                ("severity", severity(f.severity)),
            ],
        );
        *m.entry(labels).or_default() += 1.0;
    }
    let ours = |l: &Labels| {
        l.len() == 4
            && ["netns", "checked_netns", "rule", "severity"]
                .iter()
                .all(|k| l.contains_key(*k))
    };
    for s in previous.of(d.name) {
        if s.value > 0.0 && ours(&s.labels) {
            m.entry(s.labels.clone()).or_insert(0.0);
        }
    }
    m.into_iter().collect()
}

/// The exposition of check result `r`, which exits with `exit_code` (0, 1 or 3), ended at
/// Unix time `now` (seconds), after the file `previous` (the last run's, or
/// `Previous::default()`).
pub fn prometheus(r: &Report, exit_code: i32, now: f64, previous: &Previous) -> String {
    let ns = r.snapshot.home().ns.name.as_str();
    let here = || at(ns, &[]);
    let d = &r.diagnosis;
    let mut t = Text::default();
    t.build_info(ns);
    t.family(&SUCCESS, &[(here(), 1.0)]);
    t.family(&EXIT_CODE, &[(here(), f64::from(exit_code))]);
    t.family(&LAST_RUN, &[(here(), now)]);
    t.family(&LAST_SUCCESS, &[(here(), now)]);
    let tm = &r.timing;
    let phases: Vec<_> = [
        ("snapshot", tm.snapshot_ms),
        ("evidence", tm.evidence_ms),
        ("rules", tm.rules_ms),
        ("total", tm.total_ms),
    ]
    .iter()
    .map(|&(p, ms)| (at(ns, &[("phase", p)]), ms as f64 / 1000.0))
    .collect();
    t.family(&DURATION, &phases);
    t.family(&HEALTHY, &[(here(), if d.healthy() { 1.0 } else { 0.0 })]);
    let roots = by_subject(&ROOT_CAUSES, ns, d.roots(), previous);
    t.family(&ROOT_CAUSES, &roots);
    let all = by_subject(&FINDINGS, ns, d.findings.iter(), previous);
    t.family(&FINDINGS, &all);

    if let Traffic::Client { results, .. } = &r.evidence.traffic {
        let ok = results.iter().filter(|c| c.ok).count();
        t.family(
            &CONNECTIONS,
            &[
                (at(ns, &[("result", "ok")]), ok as f64),
                (at(ns, &[("result", "failed")]), (results.len() - ok) as f64),
            ],
        );
    }
    probes(&mut t, r, ns, previous);

    let fwd = r.snapshot.forwarder.as_ref();
    t.family(
        &FWD_DEPLOYED,
        &[(here(), if fwd.is_some() { 1.0 } else { 0.0 })],
    );
    if let Some(fwd) = fwd {
        // As of the window's end: the snapshot's value plus what moved during the window.
        let samples: Vec<_> = fwd
            .counters
            .iter()
            .map(|(c, v)| {
                let v = v + r.evidence.counter_delta(*c);
                (at(ns, &[("counter", c.name())]), v as f64)
            })
            .collect();
        t.family(&FWD_PACKETS, &samples);
    }
    t.0
}

/// The probes' counters: the previous totals plus this window's counts (when probes watched);
/// the previous totals unchanged when they did not.
fn probes(t: &mut Text, r: &Report, ns: &str, previous: &Previous) {
    let p = &r.evidence.probes;
    let watched = p.available && r.evidence.window_ms > 0;
    let here = at(ns, &[]);
    let mut drops: BTreeMap<Labels, f64> = previous
        .of(DROPS.name)
        .filter(|s| {
            s.labels.len() == 3 && s.labels.contains_key("kind") && s.labels.contains_key("reason")
        })
        .map(|s| (s.labels.clone(), counter_base(Some(s.value))))
        .collect();
    let mut redirects = previous
        .value(REDIRECTS.name, &here)
        .map(|v| counter_base(Some(v)));
    let mut window = previous
        .value(WINDOW.name, &here)
        .map(|v| counter_base(Some(v)));
    if watched {
        *window.get_or_insert(0.0) += r.evidence.window_ms as f64 / 1000.0;
        let ok = redirects.get_or_insert(0.0);
        for c in &p.counts {
            if c.kind == EventKind::Redirect {
                *ok += c.count as f64;
            } else {
                let l = at(
                    ns,
                    &[("kind", c.kind.as_str()), ("reason", c.code_name.as_str())],
                );
                *drops.entry(l).or_default() += c.count as f64;
            }
        }
    }
    let one = |v: Option<f64>| v.map(|v| vec![(here.clone(), v)]).unwrap_or_default();
    t.family(&WINDOW, &one(window));
    t.family(&DROPS, &drops.into_iter().collect::<Vec<_>>());
    t.family(&REDIRECTS, &one(redirects));
}

/// The exposition of a check of namespace `ns` that could not diagnose (exit `exit_code`, 2)
/// after `duration` seconds, ended at Unix time `now`: `xdpdoctor_check_success 0`, and the
/// results of the previous file kept as they were (the last known state, dated by
/// `xdpdoctor_check_last_success_timestamp_seconds`).
pub fn prometheus_failed(
    ns: &str,
    exit_code: i32,
    duration: f64,
    now: f64,
    previous: &Previous,
) -> String {
    let mut t = Text::default();
    t.build_info(ns);
    t.family(&SUCCESS, &[(at(ns, &[]), 0.0)]);
    t.family(&EXIT_CODE, &[(at(ns, &[]), f64::from(exit_code))]);
    t.family(&LAST_RUN, &[(at(ns, &[]), now)]);
    t.family(&DURATION, &[(at(ns, &[("phase", "total")]), duration)]);
    for d in CARRIED {
        let kept: Vec<_> = previous
            .of(d.name)
            .map(|s| (s.labels.clone(), s.value))
            .collect();
        t.family(d, &kept);
    }
    t.0
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A label value: unsafe characters of a name made visible first (a control character in a
/// namespace name would otherwise reach whoever reads the metrics raw), then the format's
/// escapes.
fn escape_label(s: &str) -> String {
    super::escape::lines(s)
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A float as the format writes it (`NaN`, `+Inf`, `-Inf` or a Go-parsable number).
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_help_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(escape_help("a\\b\nc \"q\""), "a\\\\b\\nc \"q\"");
        assert_eq!(number(1.0), "1");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(f64::INFINITY), "+Inf");
    }
}
