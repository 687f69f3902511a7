//! `check --prometheus`: the text exposition format (0.0.4), checked by a strict validator
//! written here from the format's description (not from xdpdoctor's writer): metric and label
//! names, HELP/TYPE lines (at most one each per family, before its samples), escapes in
//! label values and HELP text, one contiguous group per family, no duplicate series, numbers
//! Go's ParseFloat accepts, counters named `_total` and never negative. The report is made
//! from the saved seed snapshots (no root); `evidence.rs` checks a real `check` on a lab.

use std::collections::{BTreeMap, HashMap, HashSet};

use xdpdoctor::diagnose::diagnose_saved;
use xdpdoctor::report::prometheus::{prometheus, prometheus_failed, Previous};
use xdpdoctor::snapshot::Snapshot;

/// One sample: (metric name, labels, value).
pub type Sample = (String, BTreeMap<String, String>, f64);

fn metric_name_ok(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(x) if x.is_ascii_alphabetic() || x == '_' || x == ':')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == ':')
}

fn label_name_ok(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(x) if x.is_ascii_alphabetic() || x == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
        && !s.starts_with("__")
}

fn float(s: &str) -> Result<f64, String> {
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ if s.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c)) => {
            s.parse::<f64>().map_err(|e| format!("value {s:?}: {e}"))
        }
        _ => Err(format!("value {s:?} is not a number")),
    }
}

/// Unescapes HELP text: only `\\` and `\n` are escapes.
fn unescape(s: &str, quote: bool) -> Result<String, String> {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            if quote && c == '"' {
                return Err(format!("unescaped quote in {s:?}"));
            }
            out.push(c);
            continue;
        }
        match it.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quote => out.push('"'),
            other => return Err(format!("bad escape \\{other:?} in {s:?}")),
        }
    }
    Ok(out)
}

/// `{a="x",b="y"}` -> map, and what follows it.
fn labels(s: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut map = BTreeMap::new();
    let mut rest = s.strip_prefix('{').unwrap();
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix('}') {
            return Ok((map, r));
        }
        let eq = rest.find('=').ok_or(format!("no '=' in labels {s:?}"))?;
        let name = rest[..eq].trim();
        if !label_name_ok(name) {
            return Err(format!("bad label name {name:?}"));
        }
        rest = rest[eq + 1..]
            .trim_start()
            .strip_prefix('"')
            .ok_or(format!("label {name} value not quoted"))?;
        // The closing quote: the first '"' not escaped.
        let b = rest.as_bytes();
        let mut i = 0;
        while i < b.len() && b[i] != b'"' {
            i += if b[i] == b'\\' { 2 } else { 1 };
        }
        if i >= b.len() {
            return Err(format!("unterminated label value in {s:?}"));
        }
        let v = unescape(&rest[..i], true)?;
        if map.insert(name.to_string(), v).is_some() {
            return Err(format!("label {name} twice"));
        }
        rest = rest[i + 1..].trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
        } else if !rest.starts_with('}') {
            return Err(format!("expected ',' or '}}' in {s:?}"));
        }
    }
}

/// Validates an exposition; returns its samples or the first error with its line.
pub fn validate(text: &str) -> Result<Vec<Sample>, String> {
    if !text.ends_with('\n') {
        return Err("the last line must end with a newline".into());
    }
    let mut types: HashMap<String, String> = HashMap::new();
    let mut helps: HashSet<String> = HashSet::new();
    let mut closed: HashSet<String> = HashSet::new(); // families whose group has ended
    let mut current: Option<String> = None;
    let mut series: HashSet<String> = HashSet::new();
    let mut samples = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let err = |m: String| format!("line {}: {m}: {line:?}", n + 1);
        if line.trim().is_empty() {
            continue;
        }
        let family = |name: &str, types: &HashMap<String, String>| -> String {
            for suf in ["_bucket", "_sum", "_count"] {
                if let Some(base) = name.strip_suffix(suf) {
                    if matches!(
                        types.get(base).map(String::as_str),
                        Some("histogram" | "summary")
                    ) {
                        return base.to_string();
                    }
                }
            }
            name.to_string()
        };
        let mut enter = |fam: &str, current: &mut Option<String>| -> Result<(), String> {
            if current.as_deref() != Some(fam) {
                if closed.contains(fam) {
                    return Err(format!("family {fam} is not one contiguous group"));
                }
                if let Some(c) = current.take() {
                    closed.insert(c);
                }
                *current = Some(fam.to_string());
            }
            Ok(())
        };
        if let Some(c) = line.strip_prefix('#') {
            let mut parts = c.trim_start().splitn(3, ' ');
            match parts.next() {
                Some("HELP") => {
                    let name = parts
                        .next()
                        .ok_or_else(|| err("HELP without name".into()))?;
                    if !metric_name_ok(name) {
                        return Err(err(format!("bad metric name {name:?}")));
                    }
                    unescape(parts.next().unwrap_or(""), false).map_err(err)?;
                    if !helps.insert(name.to_string()) {
                        return Err(err(format!("second HELP for {name}")));
                    }
                    enter(name, &mut current).map_err(err)?;
                }
                Some("TYPE") => {
                    let name = parts
                        .next()
                        .ok_or_else(|| err("TYPE without name".into()))?;
                    let t = parts.next().unwrap_or("");
                    if !metric_name_ok(name) {
                        return Err(err(format!("bad metric name {name:?}")));
                    }
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&t) {
                        return Err(err(format!("bad type {t:?}")));
                    }
                    if samples
                        .iter()
                        .any(|(m, _, _): &Sample| family(m, &types) == name)
                    {
                        return Err(err(format!("TYPE of {name} after its samples")));
                    }
                    if types.insert(name.to_string(), t.to_string()).is_some() {
                        return Err(err(format!("second TYPE for {name}")));
                    }
                    enter(name, &mut current).map_err(err)?;
                }
                _ => {} // a comment
            }
            continue;
        }
        let end = line
            .find(['{', ' '])
            .ok_or_else(|| err("no value".into()))?;
        let name = &line[..end];
        if !metric_name_ok(name) {
            return Err(err(format!("bad metric name {name:?}")));
        }
        let (lbl, rest) = if line[end..].starts_with('{') {
            labels(&line[end..]).map_err(err)?
        } else {
            (BTreeMap::new(), &line[end..])
        };
        let mut fields = rest.split_whitespace();
        let value = float(fields.next().ok_or_else(|| err("no value".into()))?).map_err(err)?;
        if let Some(ts) = fields.next() {
            ts.parse::<i64>()
                .map_err(|e| err(format!("timestamp {ts:?}: {e}")))?;
        }
        if fields.next().is_some() {
            return Err(err("text after the timestamp".into()));
        }
        let fam = family(name, &types);
        enter(&fam, &mut current).map_err(err)?;
        if types.get(&fam).map(String::as_str) == Some("counter") {
            if !name.ends_with("_total") {
                return Err(err(format!("counter {name} not named _total")));
            }
            if value < 0.0 || value.is_nan() {
                return Err(err("negative counter".into()));
            }
        }
        if !series.insert(format!("{name}{lbl:?}")) {
            return Err(err("duplicate series".into()));
        }
        samples.push((name.to_string(), lbl, value));
    }
    Ok(samples)
}

pub fn value(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| {
            n == name
                && want
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| *v)
}

#[test]
fn the_validator_refuses_what_the_format_forbids() {
    assert!(validate("a 1\n").is_ok());
    assert!(validate("a{b=\"x\\\"y\\\\z\\n\"} 1 1700000000000\n").is_ok());
    for bad in [
        "a 1",                                   // no final newline
        "1a 1\n",                                // metric name
        "a{__x=\"1\"} 1\n",                      // reserved label name
        "a{b=\"x\\q\"} 1\n",                     // bad escape
        "a{b=\"x\"y\"} 1\n",                     // unescaped quote
        "a one\n",                               // value
        "# TYPE a gauge\n# TYPE a gauge\na 1\n", // two TYPEs
        "a 1\n# TYPE a gauge\n",                 // TYPE after samples
        "# TYPE a counter\na 1\n",               // counter without _total
        "a{b=\"1\"} 1\nc 1\na{b=\"2\"} 1\n",     // not one group
        "a 1\na 2\n",                            // duplicate series
        "# TYPE a nonsense\na 1\n",              // type
    ] {
        assert!(validate(bad).is_err(), "accepted {bad:?}");
    }
}

/// The samples of `name` in `s` whose labels include `want`, summed.
pub fn sum(s: &[Sample], name: &str, want: &[(&str, &str)]) -> f64 {
    s.iter()
        .filter(|(n, l, _)| {
            n == name
                && want
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| v)
        .sum()
}

#[test]
fn check_prometheus_text_of_the_seed_snapshots_is_valid() {
    for (file, healthy) in [("seed-faults.json", false), ("seed-healthy.json", true)] {
        let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
        let r = diagnose_saved(Snapshot::load(std::path::Path::new(&path)).unwrap());
        let code = if healthy { 0 } else { 1 };
        let text = prometheus(&r, code, 1_795_770_707.5, &Previous::default());
        eprintln!("{file}:\n{text}");
        let s = validate(&text).unwrap_or_else(|e| panic!("{file}: {e}\n{text}"));
        let ns = r.snapshot.home().ns.name.clone();
        let at = |name: &str, l: &[(&str, &str)]| {
            let mut all = vec![("netns", ns.as_str())];
            all.extend_from_slice(l);
            value(&s, name, &all).unwrap_or_else(|| panic!("{name} {l:?} missing"))
        };
        assert_eq!(at("xdpdoctor_check_success", &[]), 1.0);
        assert_eq!(
            at("xdpdoctor_check_healthy", &[]),
            if healthy { 1.0 } else { 0.0 }
        );
        assert_eq!(at("xdpdoctor_check_exit_code", &[]), f64::from(code));
        for m in [
            "xdpdoctor_check_last_run_timestamp_seconds",
            "xdpdoctor_check_last_success_timestamp_seconds",
        ] {
            assert_eq!(at(m, &[]), 1_795_770_707.5);
        }
        // Findings: one series per (namespace the finding is in, rule, severity), counting
        // them, each naming the checked namespace too.
        let checked = [("checked_netns", ns.as_str())];
        let findings: Vec<_> = s
            .iter()
            .filter(|(n, _, _)| n == "xdpdoctor_check_findings")
            .collect();
        assert_eq!(
            sum(&s, "xdpdoctor_check_findings", &checked) as usize,
            r.diagnosis.findings.len()
        );
        for f in &r.diagnosis.findings {
            let sev = serde_json::to_value(f.severity).unwrap();
            let want = [
                ("checked_netns", ns.as_str()),
                ("netns", f.subject.netns.name.as_str()),
                ("rule", f.id.as_str()),
                ("severity", sev.as_str().unwrap()),
            ];
            assert!(
                sum(&s, "xdpdoctor_check_findings", &want) >= 1.0,
                "{want:?} missing"
            );
        }
        assert_eq!(findings.is_empty(), healthy);
        let expected = r.diagnosis.findings.iter().filter(|f| f.is_root()).count();
        assert_eq!(
            sum(&s, "xdpdoctor_check_root_causes", &checked) as usize,
            expected
        );
        if !healthy {
            // The seed's root cause is in a container's namespace, not the diagnosed one.
            let peer = r
                .diagnosis
                .findings
                .iter()
                .find(|f| f.id.as_str() == "veth-peer-no-xdp")
                .unwrap();
            assert_ne!(peer.subject.netns.name, ns);
            let l = [
                ("checked_netns", ns.as_str()),
                ("netns", peer.subject.netns.name.as_str()),
                ("rule", "veth-peer-no-xdp"),
                ("severity", "error"),
            ];
            assert!(sum(&s, "xdpdoctor_check_root_causes", &l) >= 1.0);
            // The seed's symptoms are consequences: never counted as root causes.
            let l = [("checked_netns", ns.as_str()), ("rule", "redirect-errors")];
            assert_eq!(sum(&s, "xdpdoctor_check_root_causes", &l), 0.0);
        }
        assert!(at("xdpdoctor_check_duration_seconds", &[("phase", "total")]) >= 0.0);
        assert_eq!(
            at("xdpdoctor_forwarder_deployed", &[]),
            if r.snapshot.forwarder.is_some() {
                1.0
            } else {
                0.0
            }
        );
        if r.snapshot.forwarder.is_some() {
            at("xdpdoctor_forwarder_packets_total", &[("counter", "seen")]);
        }
    }
}

/// The next run's file after the broken seed's: fixed root causes fall to 0 (and are dropped
/// on the run after); a run that could not diagnose keeps the last results beside
/// `xdpdoctor_check_success 0` and the last success's time.
#[test]
fn fixed_causes_fall_to_zero_and_a_failed_run_keeps_the_last_results() {
    let load = |f: &str| {
        let path = format!("{}/tests/fixtures/{f}", env!("CARGO_MANIFEST_DIR"));
        diagnose_saved(Snapshot::load(std::path::Path::new(&path)).unwrap())
    };
    let (broken, fixed) = (load("seed-faults.json"), load("seed-healthy.json"));
    let ns = broken.snapshot.home().ns.name.clone();
    assert_eq!(
        ns,
        fixed.snapshot.home().ns.name,
        "the fixtures are one lab"
    );
    let checked = [("checked_netns", ns.as_str())];
    let t1 = prometheus(&broken, 1, 1000.0, &Previous::default());
    let roots = sum(
        &validate(&t1).unwrap(),
        "xdpdoctor_check_root_causes",
        &checked,
    );
    assert!(roots >= 1.0);

    // Fixed: every series of the first file is there, at 0.
    let t2 = prometheus(&fixed, 0, 1060.0, &Previous::parse(&t1, &ns));
    let s2 = validate(&t2).unwrap_or_else(|e| panic!("{e}\n{t2}"));
    let s1 = validate(&t1).unwrap();
    for fam in ["xdpdoctor_check_root_causes", "xdpdoctor_check_findings"] {
        let before: Vec<_> = s1.iter().filter(|(n, _, _)| n == fam).collect();
        assert!(!before.is_empty());
        for (_, l, _) in before {
            let want: Vec<_> = l.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            assert_eq!(value(&s2, fam, &want), Some(0.0), "{fam} {l:?}\n{t2}");
        }
    }
    // And dropped on the run after.
    let t3 = prometheus(&fixed, 0, 1120.0, &Previous::parse(&t2, &ns));
    assert!(!t3.contains("xdpdoctor_check_root_causes"), "{t3}");

    // Broken again, then a run that fails: the last results stay, dated by the last success.
    let t4 = prometheus(&broken, 1, 1180.0, &Previous::parse(&t3, &ns));
    let t5 = prometheus_failed(&ns, 2, 0.25, 1240.0, &Previous::parse(&t4, &ns));
    let s5 = validate(&t5).unwrap_or_else(|e| panic!("{e}\n{t5}"));
    let here = [("netns", ns.as_str())];
    assert_eq!(value(&s5, "xdpdoctor_check_success", &here), Some(0.0));
    assert_eq!(value(&s5, "xdpdoctor_check_exit_code", &here), Some(2.0));
    assert_eq!(
        value(&s5, "xdpdoctor_check_last_run_timestamp_seconds", &here),
        Some(1240.0)
    );
    assert_eq!(
        value(&s5, "xdpdoctor_check_last_success_timestamp_seconds", &here),
        Some(1180.0)
    );
    assert_eq!(sum(&s5, "xdpdoctor_check_root_causes", &checked), roots);
    assert_eq!(value(&s5, "xdpdoctor_check_healthy", &here), Some(0.0));
    // A failure with no previous file: the failure alone, still a valid file.
    let t6 = prometheus_failed("host", 2, 30.0, 1300.0, &Previous::default());
    let s6 = validate(&t6).unwrap();
    assert_eq!(
        value(&s6, "xdpdoctor_check_success", &[("netns", "host")]),
        Some(0.0)
    );
    assert_eq!(s6.len(), 5, "{t6}");
    assert_eq!(
        value(
            &s6,
            "xdpdoctor_build_info",
            &[("netns", "host"), ("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
    // Another check's file (another namespace) is not this one's past.
    let t7 = prometheus(&fixed, 0, 1360.0, &Previous::parse(&t1, "other"));
    assert!(!t7.contains("xdpdoctor_check_root_causes"), "{t7}");
}
