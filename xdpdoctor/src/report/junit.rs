//! JUnit XML for CI: one testcase per rule, a failure per root cause found by that rule (its
//! consequences are listed in the failure's text; a rule whose findings are all consequences
//! of other rules' causes passes, so the failure count is the number of root causes' rules).

use crate::diagnose::Report;

/// Character data and attribute values, valid XML whatever names the system gave.
fn esc(s: &str) -> String {
    super::escape::xml(s)
}

/// The report as JUnit XML (one testsuite for the namespace; see the module doc).
pub fn junit(r: &Report) -> String {
    let d = &r.diagnosis;
    let failures = d
        .rules
        .iter()
        .filter(|id| d.roots().any(|f| f.id == **id))
        .count();
    let secs = r.timing.total_ms as f64 / 1000.0;
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    s += &format!(
        "<testsuites name=\"xdpdoctor check\" tests=\"{}\" failures=\"{failures}\" time=\"{secs:.3}\">\n",
        d.rules.len()
    );
    s += &format!(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{secs:.3}\">\n",
        esc(&format!("xdpdoctor.{}", r.snapshot.home().ns.name)),
        d.rules.len()
    );
    for id in &d.rules {
        let fs: Vec<_> = d.roots().filter(|f| f.id == *id).collect();
        s += &format!(
            "    <testcase classname=\"xdpdoctor.rules\" name=\"{}\"",
            esc(id.as_str())
        );
        if fs.is_empty() {
            s += "/>\n";
            continue;
        }
        s += ">\n";
        for f in fs {
            let consequences: Vec<String> = d
                .consequences_of(f)
                .map(|c| format!("consequence: {} on {}", c.id, c.subject))
                .collect();
            s += &format!(
                "      <failure type=\"{}\" message=\"{}\">{}\n{}\nfix: {}{}</failure>\n",
                esc(f.id.as_str()),
                esc(&format!("{}: {}", f.subject, f.severity_str())),
                esc(&f.why),
                esc(&f.evidence.join("\n")),
                esc(&f.fix_text()),
                esc(&consequences
                    .iter()
                    .map(|c| format!("\n{c}"))
                    .collect::<String>())
            );
        }
        s += "    </testcase>\n";
    }
    s += "  </testsuite>\n</testsuites>\n";
    s
}

impl crate::diagnose::Finding {
    fn severity_str(&self) -> &'static str {
        match self.severity {
            crate::diagnose::Severity::Error => "error",
            crate::diagnose::Severity::Warning => "warning",
        }
    }
}
