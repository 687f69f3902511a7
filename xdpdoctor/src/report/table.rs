//! The findings table and the per-finding details.

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, ContentArrangement, Table};

use super::{escape::text, Style};
use crate::diagnose::evidence::Traffic;
use crate::diagnose::{Finding, Report};

/// The findings as printed: each root cause numbered in packet-path order (`1`, `2`), the
/// consequences it explains right after it (`1.1`, `1.2`). A consequence whose cause is not
/// in the list (cannot happen; defensive) is printed as a root.
pub fn numbered(r: &Report) -> Vec<(String, &Finding)> {
    let d = &r.diagnosis;
    let mut out = Vec::new();
    for (n, root) in d.roots().enumerate() {
        out.push(((n + 1).to_string(), root));
        for (k, c) in d.consequences_of(root).enumerate() {
            out.push((format!("{}.{}", n + 1, k + 1), c));
        }
    }
    let orphans: Vec<&Finding> = d
        .findings
        .iter()
        .filter(|f| !out.iter().any(|(_, g)| std::ptr::eq(*g, *f)))
        .collect();
    let first = d.roots().count();
    for (k, f) in orphans.into_iter().enumerate() {
        out.push(((first + k + 1).to_string(), f));
    }
    out
}

/// One row per finding: root causes in packet-path order, each followed by its consequences.
pub fn table(r: &Report, st: Style) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_content_arrangement(ContentArrangement::Dynamic);
    if !st.color {
        t.force_no_tty();
    }
    t.set_header(vec!["#", "where", "severity", "finding", "subject", "fix"]);
    for (n, f) in numbered(r) {
        let (finding, fix) = match &f.caused_by {
            Some(c) => (
                format!(
                    "  ↳ {} (because of #{})",
                    f.id,
                    n.split('.').next().unwrap_or("")
                ),
                format!("(fix {})", c.id),
            ),
            None => (
                f.id.to_string(),
                f.fix
                    .as_ref()
                    .map(|x| x.id().to_string())
                    .unwrap_or_else(|| "manual".into()),
            ),
        };
        t.add_row(vec![
            Cell::new(n),
            Cell::new(f.stage.label()),
            Cell::new(st.severity(f.severity)),
            Cell::new(finding),
            Cell::new(text(&f.subject.to_string())),
            Cell::new(fix),
        ]);
    }
    t.to_string()
}

/// Why / evidence / fix of every finding, in the order of [`numbered`].
pub fn details(r: &Report, st: Style) -> String {
    let mut s = String::new();
    for (n, f) in numbered(r) {
        let indent = if f.caused_by.is_some() { "   " } else { "" };
        s += &format!(
            "\n{indent}{n}. {} [{}] {}\n",
            st.bad(f.id.as_str()),
            f.stage.label(),
            text(&f.subject.to_string())
        );
        if let Some(c) = &f.caused_by {
            s += &format!(
                "{indent}   because of: {} on {} ({})\n",
                c.id,
                text(&c.subject.to_string()),
                text(&c.because)
            );
        }
        if !f.entries.is_empty() {
            s += &format!("{indent}   entries: {}\n", f.entries.join(", "));
        }
        s += &format!("{indent}   why: {}\n", text(&f.why));
        for e in &f.evidence {
            s += &format!("{indent}   evidence: {}\n", text(e));
        }
        for o in &f.observed {
            s += &format!("{indent}   observed: {} = {}\n", text(&o.what), o.count);
        }
        s += &format!("{indent}   fix: {}\n", text(&f.fix_text()));
    }
    s
}

/// What the observation window did.
pub fn evidence_summary(r: &Report) -> String {
    let ev = &r.evidence;
    let mut s = String::new();
    match &ev.traffic {
        Traffic::None => s += "evidence: static only\n",
        Traffic::Passive => s += &format!("evidence: {} ms passive window\n", ev.window_ms),
        Traffic::Client { by, results } => {
            let ok = results.iter().filter(|r| r.ok).count();
            s += &format!(
                "evidence: {} ms window, {by}: {ok}/{} connections answered\n",
                ev.window_ms,
                results.len()
            );
        }
    }
    if ev.window_ms > 0 {
        s += &format!("probes: {}\n", ev.probes.note);
        for c in &ev.captures {
            match &c.stats {
                Some(x) => {
                    let v6 = |n: u64| {
                        if n > 0 {
                            format!(", {n} over IPv6")
                        } else {
                            String::new()
                        }
                    };
                    let udp = if x.udp.packets > 0 {
                        format!(
                            "; {} udp ({} correct, {} partial, {} corrupt{})",
                            x.udp.packets,
                            x.udp.correct + x.udp.absent,
                            x.udp.partial,
                            x.udp.corrupt,
                            v6(x.udp.ipv6)
                        )
                    } else {
                        String::new()
                    };
                    s += &format!(
                        "capture {}/{}: {} tcp ({} correct, {} partial, {} corrupt{}){udp}\n",
                        c.netns,
                        c.interface,
                        x.tcp,
                        x.correct,
                        x.partial,
                        x.corrupt,
                        v6(x.tcp_ipv6)
                    )
                }
                None => {
                    s += &format!(
                        "capture {}/{}: {}\n",
                        c.netns,
                        c.interface,
                        c.note.as_deref().unwrap_or("failed")
                    )
                }
            }
        }
    }
    for n in &ev.notes {
        s += &format!("note: {n}\n");
    }
    s += &format!(
        "time: snapshot {} ms, evidence {} ms, total {} ms\n",
        r.timing.snapshot_ms, r.timing.evidence_ms, r.timing.total_ms
    );
    super::escape::lines(&s).into_owned()
}

/// One line saying what runs in the diagnosed namespace and where the NAT entries come from.
pub fn deployment_line(r: &Report) -> String {
    use crate::snapshot::NatSource;
    use crate::xdp::Owner;
    let snap = &r.snapshot;
    let progs: Vec<String> = snap
        .xdp
        .attachments
        .iter()
        .map(|a| {
            let p = snap.xdp.program(a.prog_id);
            let owner = match p.map(|p| p.owner) {
                Some(Owner::Forwarder) => ", xdpdoctor forwarder",
                Some(Owner::Fix) => ", xdpdoctor fix",
                _ => "",
            };
            format!(
                "{}: {} (id {}, {:?}{owner})",
                a.ifname,
                p.map(|p| p.name.as_str()).unwrap_or("?"),
                a.prog_id,
                a.mode
            )
        })
        .collect();
    let entries = match &snap.nat.source {
        NatSource::Forwarder => format!(
            "{} NAT entries from the forwarder's maps",
            snap.nat.entries.len()
        ),
        NatSource::Config { file } => format!("{} NAT entries from {file}", snap.nat.entries.len()),
        NatSource::Unknown => "NAT entries unknown (--config names them)".into(),
    };
    text(&format!(
        "XDP in {}: {}; {entries}",
        snap.home().ns.name,
        if progs.is_empty() {
            "none attached".to_string()
        } else {
            progs.join(", ")
        }
    ))
    .into_owned()
}
