//! The library's layering, checked on its source: every top-level module may import only
//! modules on a strictly lower layer (docs/architecture.md explains each layer). A new import
//! that runs upward or sideways (say `diagnose` -> `lab`, or `fix` <-> `report`) fails here,
//! naming the file and the import, so the pipeline stays one-way:
//! snapshot -> evidence -> rules -> findings -> fix / report, with the lab and the bench on top.
//!
//! Reads `src/` as text: `crate::module` paths (also inside `use crate::{a, b}` groups) outside
//! comments. Runs anywhere, no privileges.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// (module, layer): a module may use modules of lower layers only. Same number = siblings
/// that must not know each other.
const LAYERS: &[(&str, u32)] = &[
    ("error", 0),
    ("cancel", 1),
    ("state", 1),
    ("progress", 1),
    ("netns", 2),
    ("model", 3),
    ("bpf", 3),
    ("netlink", 3),
    ("pcapng", 3),
    ("capture", 4),
    ("decisions", 4),
    ("forwarder", 4),
    ("xdp", 4),
    ("probes", 5),
    ("snapshot", 6),
    ("diagnose", 7),
    ("fix", 8),
    ("report", 8),
    ("lab", 9),
    ("bench", 10),
];

fn layer(m: &str) -> Option<u32> {
    LAYERS.iter().find(|(n, _)| *n == m).map(|(_, l)| *l)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file under `src/` belongs to (`src/fix/plan.rs` -> `fix`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    Some(first.trim_end_matches(".rs").to_string())
}

/// Every module named after `crate::` in `text`, comments removed, with its line number.
fn crate_imports(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // `use crate::{a, b::c, ...}`: may continue on the next lines.
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    push_ident(item.trim(), n, &mut out);
                }
                if group.find('}').is_none() {
                    for (m, l) in text.lines().enumerate().skip(n + 1) {
                        let l = l.split("//").next().unwrap_or("");
                        let stop = l.find('}');
                        for item in l[..stop.unwrap_or(l.len())].split(',') {
                            push_ident(item.trim(), m, &mut out);
                        }
                        if stop.is_some() {
                            break;
                        }
                    }
                }
            } else {
                push_ident(rest, n, &mut out);
            }
        }
    }
    out
}

fn push_ident(s: &str, line: usize, out: &mut Vec<(usize, String)>) {
    let id: String = s
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    // Lowercase identifiers are modules; `crate::Result` and friends are re-exports of `error`.
    let id = if id.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
        "error".to_string()
    } else {
        id
    };
    if !id.is_empty() {
        out.push((line + 1, id));
    }
}

#[test]
fn every_module_imports_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut violations = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for f in &files {
        let Some(m) = module_of(&src, f) else {
            continue;
        };
        // The binary's front end and the crate root sit above everything.
        if matches!(m.as_str(), "cli" | "main" | "lib") {
            continue;
        }
        let Some(from) = layer(&m) else {
            violations.push(format!(
                "{}: module `{m}` has no layer in tests/architecture.rs",
                f.display()
            ));
            continue;
        };
        *seen.entry(m.clone()).or_default() += 1;
        let text = std::fs::read_to_string(f).expect("read source");
        for (line, to) in crate_imports(&text) {
            if to == m {
                continue;
            }
            match layer(&to) {
                Some(l) if l < from => {}
                Some(l) => violations.push(format!(
                    "{}:{line}: `{m}` (layer {from}) imports `{to}` (layer {l})",
                    f.strip_prefix(&src).unwrap_or(f).display()
                )),
                None => violations.push(format!(
                    "{}:{line}: `{m}` imports unknown module `{to}`",
                    f.strip_prefix(&src).unwrap_or(f).display()
                )),
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports that break the layering:\n{}",
        violations.join("\n")
    );
    for (m, _) in LAYERS {
        assert!(
            seen.contains_key(*m),
            "layer table names `{m}`, which has no file"
        );
    }
}

#[test]
fn the_checker_sees_imports_it_must_refuse() {
    let text = "use crate::{diagnose::Finding, lab,\n    fix::Action};\n// crate::bench in a comment\nlet x = crate::report::table(r); // crate::lab\n";
    let got: Vec<String> = crate_imports(text).into_iter().map(|(_, m)| m).collect();
    assert_eq!(got, ["diagnose", "lab", "fix", "report"]);
    assert_eq!(
        crate_imports("fn f() -> crate::Result<()> {}")[0].1,
        "error"
    );
}
