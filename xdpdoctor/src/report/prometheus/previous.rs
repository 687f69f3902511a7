//! The textfile the previous run of the same check wrote, read back. A textfile has no memory
//! of its own, and three things need one:
//!
//! - a root cause that was fixed must be seen falling to 0 (a series that just vanishes is
//!   "stale" to Prometheus: a dashboard shows a gap, not the fix), so a finding series that
//!   was non-zero last time is written once more with 0;
//! - the probes' drops are counters (`_total`, so `rate()` and `increase()` work) although
//!   each run only watches a few seconds: each run adds its window to the previous totals;
//! - a run that fails (exit 2) knows nothing new: it keeps the last results, marked by
//!   `xdpdoctor_check_success 0` and `xdpdoctor_check_last_success_timestamp_seconds`.
//!
//! Only samples of this check are taken: those of the namespace it diagnoses (`netns`, or
//! `checked_netns` on finding series). Lines that are not samples of ours are skipped: the
//! previous file is a hint, never an input that can make a run fail.

use std::collections::BTreeMap;

/// Label names and values of one sample, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// At most this many samples are taken from a previous file (a file of another tool, or one
/// grown by a bug, cannot make every later file larger).
const MAX_SAMPLES: usize = 20_000;

/// One sample read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name.
    pub name: String,
    /// Its labels.
    pub labels: Labels,
    /// Its value.
    pub value: f64,
}

/// The samples of one check in the previous textfile (none for a first run).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Previous {
    samples: Vec<Sample>,
}

impl Previous {
    /// The samples of the check of namespace `netns` in textfile `text`.
    pub fn parse(text: &str, netns: &str) -> Previous {
        let samples = text
            .lines()
            .filter(|l| l.starts_with("xdpdoctor_"))
            .filter_map(sample)
            .filter(|s| {
                let key = if s.name.ends_with("_root_causes") || s.name.ends_with("_findings") {
                    "checked_netns"
                } else {
                    "netns"
                };
                s.labels.get(key).map(String::as_str) == Some(netns)
            })
            .take(MAX_SAMPLES)
            .collect();
        Previous { samples }
    }

    /// The samples of metric `name`.
    pub fn of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| s.name == name)
    }

    /// The value of the sample of `name` with exactly `labels`, if there was one.
    pub fn value(&self, name: &str, labels: &Labels) -> Option<f64> {
        self.of(name).find(|s| &s.labels == labels).map(|s| s.value)
    }
}

/// `name{a="x",b="y"} value [timestamp]` -> a sample; None for anything else.
fn sample(line: &str) -> Option<Sample> {
    let end = line.find(['{', ' '])?;
    let name = &line[..end];
    let (labels, rest) = if line[end..].starts_with('{') {
        labels(&line[end + 1..])?
    } else {
        (Labels::new(), &line[end..])
    };
    let value = match rest.split_whitespace().next()? {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// `a="x",b="y"} rest` (after the opening brace) -> the labels and `rest`.
fn labels(mut s: &str) -> Option<(Labels, &str)> {
    let mut out = Labels::new();
    loop {
        if let Some(rest) = s.strip_prefix('}') {
            return Some((out, rest));
        }
        let eq = s.find('=')?;
        let name = s[..eq].to_string();
        s = s[eq + 1..].strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let close = loop {
            let (i, c) = chars.next()?;
            match c {
                '"' => break i,
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                c => value.push(c),
            }
        };
        out.insert(name, value);
        s = &s[close + 1..];
        s = s.strip_prefix(',').unwrap_or(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_of_this_check_only() {
        let text = "# HELP xdpdoctor_check_success x\n\
            # TYPE xdpdoctor_check_success gauge\n\
            xdpdoctor_check_success{netns=\"host\"} 1\n\
            xdpdoctor_check_success{netns=\"lab-vm\"} 0\n\
            xdpdoctor_check_root_causes{checked_netns=\"host\",netns=\"docker:a \\\"b\\\\\",rule=\"r\",severity=\"error\"} 2\n\
            xdpdoctor_check_root_causes{checked_netns=\"lab-vm\",netns=\"host\",rule=\"r\",severity=\"error\"} 1\n\
            node_other{netns=\"host\"} 5\n\
            xdpdoctor_broken{netns=\"host\" 1\n\
            xdpdoctor_probe_drops_total{netns=\"host\",kind=\"redirect_err\",reason=\"EOPNOTSUPP\"} 12 1700000000000\n";
        let p = Previous::parse(text, "host");
        let names: Vec<_> = p.samples.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "xdpdoctor_check_success",
                "xdpdoctor_check_root_causes",
                "xdpdoctor_probe_drops_total"
            ]
        );
        let root = p.of("xdpdoctor_check_root_causes").next().unwrap();
        assert_eq!(root.labels["netns"], "docker:a \"b\\");
        assert_eq!(root.value, 2.0);
        let l: Labels = [
            ("netns", "host"),
            ("kind", "redirect_err"),
            ("reason", "EOPNOTSUPP"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(p.value("xdpdoctor_probe_drops_total", &l), Some(12.0));
        assert_eq!(Previous::parse("", "host"), Previous::default());
        assert_eq!(
            Previous::parse("\u{0}garbage{{{\n", "host"),
            Previous::default()
        );
    }
}
