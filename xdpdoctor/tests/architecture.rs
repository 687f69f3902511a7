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

/// Inside a module, files must not import each other in a loop either (issue 11 found
/// `bench/cost` <-> `bench/report` and `lab/fleet` <-> `lab/scenario`; issue 15 briefly added
/// `bench/decision_log` -> `rounds` -> `decision_log`). A file that only holds submodules'
/// parent (`mod.rs`, `lib.rs`, `x.rs` beside a folder `x/`) is not a node: a child reading
/// its parent's items is how Rust modules work.
#[test]
fn no_files_import_each_other_in_a_loop() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    for f in &files {
        if is_parent_file(f) {
            continue;
        }
        let text = std::fs::read_to_string(f).expect("read source");
        // A file's unit tests (`#[cfg(test)] mod tests` at its end) may use a sibling to
        // build their input; that is not a dependency of the code.
        let text = match text.find("#[cfg(test)]\nmod ") {
            Some(i) => &text[..i],
            None => &text[..],
        };
        let module = module_path(&src, f);
        for path in use_paths(text) {
            if let Some(t) = resolve(&src, &module, &path) {
                if &t != f && !is_parent_file(&t) {
                    edges.entry(f.clone()).or_default().push(t);
                }
            }
        }
    }
    let circles = circles(&edges);
    let shown: Vec<String> = circles
        .iter()
        .map(|c| {
            c.iter()
                .map(|p| p.strip_prefix(&src).unwrap().display().to_string())
                .collect::<Vec<_>>()
                .join(" <-> ")
        })
        .collect();
    assert!(
        shown.is_empty(),
        "files that import each other in a loop (move the shared items to a file both can \
         import, or into the one that uses them):\n{}",
        shown.join("\n")
    );
}

#[test]
fn the_circle_checker_sees_a_loop_through_a_group() {
    let paths = use_paths(
        "use super::{rounds::{self, Sample}, variants::Variant as V};\n\
         // use super::report;\nfn f() { super::cost::measure(); crate::lab::up(); }\n",
    );
    let shown: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        shown,
        [
            "super::rounds",
            "super::rounds::Sample",
            "super::variants::Variant",
            "super::cost::measure",
            "crate::lab::up"
        ]
    );
    let a = PathBuf::from("a.rs");
    let b = PathBuf::from("b.rs");
    let c = PathBuf::from("c.rs");
    let edges: BTreeMap<PathBuf, Vec<PathBuf>> = [
        (a.clone(), vec![b.clone()]),
        (b.clone(), vec![c.clone()]),
        (c.clone(), vec![a.clone()]),
    ]
    .into_iter()
    .collect();
    assert_eq!(circles(&edges), vec![vec![a.clone(), b.clone(), c.clone()]]);
    let line: BTreeMap<PathBuf, Vec<PathBuf>> = [(a.clone(), vec![b.clone()]), (b, vec![c])]
        .into_iter()
        .collect();
    assert!(circles(&line).is_empty());
}

/// `mod.rs`, `lib.rs`, `main.rs`, or `x.rs` with a folder `x/` beside it.
fn is_parent_file(f: &Path) -> bool {
    let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
    matches!(name, "mod.rs" | "lib.rs" | "main.rs") || f.with_extension("").is_dir()
}

/// The module path of a file (`src/bench/rounds.rs` -> `[bench, rounds]`, `src/fix/mod.rs` ->
/// `[fix]`, `src/lib.rs` -> `[]`).
fn module_path(src: &Path, f: &Path) -> Vec<String> {
    let rel = f.strip_prefix(src).expect("under src");
    let mut m: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = m.pop().unwrap_or_default();
    if !matches!(last.as_str(), "mod.rs" | "lib.rs" | "main.rs") {
        m.push(last.trim_end_matches(".rs").to_string());
    }
    m
}

/// The file of module `m`, if it has one.
fn file_of(src: &Path, m: &[String]) -> Option<PathBuf> {
    if m.is_empty() {
        return None;
    }
    let base = m.iter().fold(src.to_path_buf(), |p, s| p.join(s));
    let flat = base.with_extension("rs");
    let nested = base.join("mod.rs");
    [flat, nested].into_iter().find(|p| p.is_file())
}

/// The file a `crate::` / `super::` / `self::` path leads into (the longest prefix that is a
/// module with a file); None for other crates.
fn resolve(src: &Path, module: &[String], path: &[String]) -> Option<PathBuf> {
    let mut base: Vec<String> = match path.first()?.as_str() {
        "crate" => Vec::new(),
        "self" => module.to_vec(),
        "super" => module.to_vec(),
        _ => return None,
    };
    let mut rest = &path[1..];
    if path[0] == "super" {
        base.pop();
        while rest.first().is_some_and(|s| s == "super") {
            base.pop();
            rest = &rest[1..];
        }
    }
    let full: Vec<String> = base.into_iter().chain(rest.iter().cloned()).collect();
    (1..=full.len())
        .rev()
        .find_map(|n| file_of(src, &full[..n]))
}

/// Every `crate::`/`super::`/`self::` path in `text` outside comments: the items of each `use`
/// (groups expanded, `self` in a group is its prefix, aliases and globs dropped) and the paths
/// written inline in code.
fn use_paths(text: &str) -> Vec<Vec<String>> {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    let mut rest = code.as_str();
    let mut inline = String::new();
    while let Some(i) = find_use(rest) {
        inline.push_str(&rest[..i]);
        let stmt = &rest[i + 4..];
        let end = stmt.find(';').unwrap_or(stmt.len());
        expand(&[], &stmt[..end], &mut out);
        rest = &stmt[(end + 1).min(stmt.len())..];
    }
    inline.push_str(rest);
    let words: Vec<&str> = inline
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .collect();
    for w in words {
        let segs: Vec<String> = w
            .split("::")
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        if segs.len() > 1 && matches!(segs[0].as_str(), "crate" | "super" | "self") {
            out.push(segs);
        }
    }
    out.retain(|p| matches!(p[0].as_str(), "crate" | "super" | "self"));
    out
}

/// Where the next `use` statement's tree starts: `use ` first on its line, or after `pub` /
/// `pub(crate)` (so prose in strings that says "use " is not one).
fn find_use(s: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = s[from..].find("use ") {
        let at = from + i;
        let line_start = s[..at].rfind('\n').map_or(0, |n| n + 1);
        let lead = s[line_start..at].trim();
        if lead.is_empty() || lead == "pub" || (lead.starts_with("pub(") && lead.ends_with(')')) {
            return Some(at);
        }
        from = at + 4;
    }
    None
}

/// Expands one use tree (`a::b::{c, d::{self, E}}`) under `prefix` into full paths.
fn expand(prefix: &[String], tree: &str, out: &mut Vec<Vec<String>>) {
    let tree = tree.trim();
    let (head, group) = match (tree.find('{'), tree.rfind('}')) {
        (Some(i), Some(j)) if i < j => (&tree[..i], Some(&tree[i + 1..j])),
        // `path as alias`: the path.
        _ => (tree.split(" as ").next().unwrap_or(tree), None),
    };
    let mut p = prefix.to_vec();
    p.extend(
        head.split("::")
            .map(str::trim)
            .filter(|s| !s.is_empty() && *s != "*")
            .map(String::from),
    );
    match group {
        None => {
            if p.last().is_some_and(|s| s == "self") {
                p.pop();
            }
            if !p.is_empty() {
                out.push(p);
            }
        }
        Some(g) => {
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in g.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(&p, &g[start..i], out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            if !g[start..].trim().is_empty() {
                expand(&p, &g[start..], out);
            }
        }
    }
}

/// The strongly connected groups of more than one file (Tarjan), each sorted, in order.
fn circles(edges: &BTreeMap<PathBuf, Vec<PathBuf>>) -> Vec<Vec<PathBuf>> {
    struct T<'a> {
        edges: &'a BTreeMap<PathBuf, Vec<PathBuf>>,
        index: BTreeMap<&'a PathBuf, (usize, usize)>,
        stack: Vec<&'a PathBuf>,
        next: usize,
        out: Vec<Vec<PathBuf>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a PathBuf) {
        t.index.insert(v, (t.next, t.next));
        t.next += 1;
        t.stack.push(v);
        for w in t.edges.get(v).into_iter().flatten() {
            match t.index.get(w) {
                None => {
                    visit(t, w);
                    let low = t.index[w].1.min(t.index[v].1);
                    t.index.get_mut(v).unwrap().1 = low;
                }
                Some(&(wi, _)) if t.stack.contains(&w) => {
                    let low = wi.min(t.index[v].1);
                    t.index.get_mut(v).unwrap().1 = low;
                }
                _ => {}
            }
        }
        if t.index[v].0 == t.index[v].1 {
            let mut group = Vec::new();
            while let Some(w) = t.stack.pop() {
                group.push(w.clone());
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                t.out.push(group);
            }
        }
    }
    let mut t = T {
        edges,
        index: BTreeMap::new(),
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !t.index.contains_key(v) {
            visit(&mut t, v);
        }
    }
    t.out.sort();
    t.out
}
