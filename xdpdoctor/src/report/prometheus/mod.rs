//! `check --prometheus FILE`: the result of a check in the Prometheus text exposition format
//! (version 0.0.4), for node_exporter's textfile collector (`--collector.textfile.directory`;
//! the CLI writes the file atomically, temporary file + rename in the same directory). Every
//! sample carries `netns="<diagnosed namespace>"`:
//!
//! | metric | type | labels | value |
//! |---|---|---|---|
//! | `xdpdoctor_check_healthy` | gauge | | 1 healthy, 0 findings |
//! | `xdpdoctor_check_exit_code` | gauge | | 0, 1 (docs/cli.md) |
//! | `xdpdoctor_check_findings` | gauge | `rule` | findings of each rule that ran (0 included) |
//! | `xdpdoctor_check_root_causes` | gauge | `rule` | root causes of each rule that ran: findings no other finding explains (docs/rules.md, "Causal links") |
//! | `xdpdoctor_check_duration_seconds` | gauge | `phase` = snapshot, evidence, rules, total | |
//! | `xdpdoctor_check_timestamp_seconds` | gauge | | when the check ended (Unix time) |
//! | `xdpdoctor_check_connections` | gauge | `result` = ok, failed | the window's test connections |
//! | `xdpdoctor_check_probe_hits` | gauge | `kind`, `code` | probe counts in the window |
//! | `xdpdoctor_forwarder_deployed` | gauge | | 1 when xdpdoctor's forwarder runs there |
//! | `xdpdoctor_forwarder_packets_total` | counter | `counter` | the forwarder's counters since deploy |

use std::fmt::Write;

use crate::diagnose::evidence::Traffic;
use crate::diagnose::Report;

/// One metric family being written: HELP and TYPE once, then its samples.
struct Family<'a> {
    out: &'a mut String,
}

impl<'a> Family<'a> {
    fn new(out: &'a mut String, name: &str, kind: &str, help: &str) -> Self {
        let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(out, "# TYPE {name} {kind}");
        Family { out }
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", number(value));
    }
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

/// The exposition of check result `r`, which exits with `exit_code`, ended at Unix time
/// `now` (seconds).
pub fn prometheus(r: &Report, exit_code: i32, now: f64) -> String {
    let mut s = String::new();
    let ns = r.snapshot.home().ns.name.as_str();
    let netns = [("netns", ns)];
    let d = &r.diagnosis;

    let m = "xdpdoctor_check_healthy";
    Family::new(
        &mut s,
        m,
        "gauge",
        "1 if the check found nothing, 0 if it found problems.",
    )
    .sample(m, &netns, if d.healthy() { 1.0 } else { 0.0 });
    let m = "xdpdoctor_check_exit_code";
    Family::new(
        &mut s,
        m,
        "gauge",
        "Exit code of the check: 0 healthy, 1 findings.",
    )
    .sample(m, &netns, f64::from(exit_code));

    let m = "xdpdoctor_check_findings";
    let mut f = Family::new(
        &mut s,
        m,
        "gauge",
        "Findings of each rule (ids in docs/rules.md); 0 for rules that found nothing.",
    );
    for id in &d.rules {
        let n = d.findings.iter().filter(|x| x.id == *id).count();
        f.sample(m, &[("netns", ns), ("rule", id.as_str())], n as f64);
    }

    let m = "xdpdoctor_check_root_causes";
    let mut f = Family::new(
        &mut s,
        m,
        "gauge",
        "Root causes of each rule: its findings that no other finding explains. Alert on these; \
         the findings they cause are in xdpdoctor_check_findings.",
    );
    for id in &d.rules {
        let n = d
            .findings
            .iter()
            .filter(|x| x.id == *id && x.is_root())
            .count();
        f.sample(m, &[("netns", ns), ("rule", id.as_str())], n as f64);
    }

    let m = "xdpdoctor_check_duration_seconds";
    let mut f = Family::new(&mut s, m, "gauge", "Time the check spent, by phase.");
    let t = &r.timing;
    for (phase, ms) in [
        ("snapshot", t.snapshot_ms),
        ("evidence", t.evidence_ms),
        ("rules", t.rules_ms),
        ("total", t.total_ms),
    ] {
        f.sample(m, &[("netns", ns), ("phase", phase)], ms as f64 / 1000.0);
    }

    let m = "xdpdoctor_check_timestamp_seconds";
    Family::new(
        &mut s,
        m,
        "gauge",
        "When the check ended, in seconds since the Unix epoch.",
    )
    .sample(m, &netns, now);

    if let Traffic::Client { results, .. } = &r.evidence.traffic {
        let ok = results.iter().filter(|c| c.ok).count();
        let m = "xdpdoctor_check_connections";
        let mut f = Family::new(
            &mut s,
            m,
            "gauge",
            "Test connections made through the NAT entries during the window, by result.",
        );
        f.sample(m, &[("netns", ns), ("result", "ok")], ok as f64);
        f.sample(
            m,
            &[("netns", ns), ("result", "failed")],
            (results.len() - ok) as f64,
        );
    }

    let counts = &r.evidence.probes.counts;
    if !counts.is_empty() {
        let m = "xdpdoctor_check_probe_hits";
        let mut f = Family::new(
            &mut s,
            m,
            "gauge",
            "Packets the probes saw die during the window, by event kind and code.",
        );
        let mut sums: std::collections::BTreeMap<(String, String), u64> = Default::default();
        for c in counts {
            *sums
                .entry((c.kind.to_string(), c.code_name.clone()))
                .or_default() += c.count;
        }
        for ((kind, code), n) in &sums {
            f.sample(
                m,
                &[("netns", ns), ("kind", kind), ("code", code)],
                *n as f64,
            );
        }
    }

    let m = "xdpdoctor_forwarder_deployed";
    let fwd = r.snapshot.forwarder.as_ref();
    Family::new(
        &mut s,
        m,
        "gauge",
        "1 if xdpdoctor's XDP forwarder is deployed in the namespace.",
    )
    .sample(m, &netns, if fwd.is_some() { 1.0 } else { 0.0 });
    if let Some(fwd) = fwd {
        let m = "xdpdoctor_forwarder_packets_total";
        let mut f = Family::new(
            &mut s,
            m,
            "counter",
            "The forwarder's packet counters since it was deployed, as of the check's end \
             (docs/forwarder.md).",
        );
        // As of the window's end: the snapshot's value plus what moved during the window.
        for (c, v) in &fwd.counters {
            let v = v + r.evidence.counter_delta(*c);
            f.sample(m, &[("netns", ns), ("counter", c.name())], v as f64);
        }
    }
    s
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
