//! The marks that make privileged tests visible, checked on this directory's source (needs no
//! root). Every `#[ignore]` in this binary reads `needs root: <reason>`, and exactly those
//! tests start with `require_root()`. So as a normal user they are reported as ignored, never
//! "ok"; one run anyway without root fails; and `scripts/test.sh`, which passes
//! `--include-ignored` as root, runs the privileged tests and nothing else that was set aside
//! (measurements are benches: `benches/trace_throughput.rs`).

use std::path::Path;

const MARK: &str = "#[ignore = \"needs root: ";

/// One `#[test]` function: (file, name, its attributes, first statement of its body).
struct TestFn {
    file: String,
    name: String,
    attrs: Vec<String>,
    first: String,
}

fn test_fns(dir: &Path) -> Vec<TestFn> {
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("tests/integration")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for (i, _) in lines.iter().enumerate().filter(|(_, l)| **l == "#[test]") {
            let mut j = i + 1;
            let mut attrs = Vec::new();
            while !lines[j].starts_with("fn ") {
                if lines[j].starts_with("#[") {
                    attrs.push(lines[j].to_string());
                }
                j += 1;
            }
            let name = lines[j][3..].split('(').next().unwrap().to_string();
            let first = lines[j + 1..]
                .iter()
                .find(|l| !l.is_empty() && !l.starts_with("use ") && !l.starts_with("//"))
                .unwrap()
                .to_string();
            out.push(TestFn {
                file: path.file_name().unwrap().to_string_lossy().into_owned(),
                name,
                attrs,
                first,
            });
        }
    }
    out
}

#[test]
fn privileged_tests_are_ignored_with_a_reason_and_guarded() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration");
    let tests = test_fns(&dir);
    let mut wrong = Vec::new();
    let mut privileged = 0;
    for t in &tests {
        let marked = t
            .attrs
            .iter()
            .any(|a| a.starts_with(MARK) && a.ends_with("\"]") && a.len() > MARK.len() + 2);
        let other_ignore = t
            .attrs
            .iter()
            .any(|a| a.starts_with("#[ignore") && !a.starts_with(MARK));
        let guarded = t.first == "require_root();";
        let at = format!("{}: {}", t.file, t.name);
        if other_ignore {
            wrong.push(format!("{at}: #[ignore] without `needs root: <reason>`"));
        }
        if marked && !guarded {
            wrong.push(format!(
                "{at}: marked needs root, does not start with require_root()"
            ));
        }
        if guarded && !marked {
            wrong.push(format!(
                "{at}: calls require_root() but is not #[ignore = \"needs root: ...\"]"
            ));
        }
        privileged += usize::from(marked);
    }
    eprintln!(
        "{} tests, {privileged} privileged, {} unprivileged",
        tests.len(),
        tests.len() - privileged
    );
    assert!(wrong.is_empty(), "{wrong:#?}");
    // The parser found both kinds, or it proves nothing.
    assert!(privileged >= 20, "only {privileged} privileged tests found");
    assert!(
        tests
            .iter()
            .any(|t| t.name == "help_and_version_exit_0" && t.attrs.is_empty()),
        "cli tests not found"
    );
}
