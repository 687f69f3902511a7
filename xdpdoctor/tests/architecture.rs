//! The library's architecture, checked on its source. Two rules:
//!
//! 1. **Modules import only what their row allows.** [`ALLOWED`] is the "may import" column
//!    of docs/architecture.md, per top-level module, and the test reads that table back from
//!    the doc and fails if the two differ: the doc and the check cannot drift. An import
//!    outside a module's row fails naming the file and line; a row that allows a module
//!    nothing imports fails too (the table says what is true, not what once was). Every
//!    allowed import runs to a lower layer of [`LAYERS`] (also read back from the doc), so
//!    the pipeline stays one-way: snapshot -> evidence -> rules -> findings -> fix / report,
//!    with the lab and the bench on top.
//! 2. **Files do not import each other in a loop**, parent files included: a `mod.rs` (or
//!    `x.rs` beside a folder `x/`) that holds code is a node like any other. A path through a
//!    parent's re-export (`pub use`) leads to the file that defines the item, so a parent
//!    that only declares and re-exports its children is never part of a loop; one that
//!    holds items its children use, and uses theirs, is.
//!
//! Reads `src/` as text: `use` trees and inline `crate::`/`super::`/`self::`/child-module
//! paths outside comments and unit-test modules. Runs anywhere, no privileges.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// (module, layer). Same number = siblings that must not know each other. The drawing in
/// docs/architecture.md shows the same numbers.
const LAYERS: &[(&str, u32)] = &[
    ("error", 0),
    ("cancel", 1),
    ("state", 1),
    ("progress", 1),
    ("runtime", 1),
    ("netns", 2),
    ("files", 2),
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
    ("trace", 6),
    ("diagnose", 7),
    ("fix", 8),
    ("report", 8),
    ("lab", 9),
    ("bench", 10),
];

/// What a module may import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum May {
    /// Exactly these modules (each must be imported somewhere in the module).
    Only(&'static [&'static str]),
    /// Any module on a lower layer (the users of the library that ship with it).
    AllBelow,
}

/// The "may import" column of docs/architecture.md, row by row. Every module may import
/// `error` (the one error type); the rows leave it out.
const ALLOWED: &[(&str, May)] = &[
    ("error", May::Only(&[])),
    ("cancel", May::Only(&[])),
    ("state", May::Only(&[])),
    ("progress", May::Only(&[])),
    ("runtime", May::Only(&[])),
    ("netns", May::Only(&["runtime", "state"])),
    ("files", May::Only(&["cancel"])),
    ("model", May::Only(&["netns"])),
    ("bpf", May::Only(&[])),
    ("netlink", May::Only(&["netns"])),
    ("pcapng", May::Only(&[])),
    ("capture", May::Only(&["cancel", "netns", "pcapng"])),
    ("decisions", May::Only(&["bpf", "state"])),
    (
        "forwarder",
        May::Only(&["bpf", "cancel", "files", "netlink", "netns", "state"]),
    ),
    ("xdp", May::Only(&["bpf", "netlink", "netns", "state"])),
    (
        "probes",
        May::Only(&["bpf", "cancel", "forwarder", "netlink", "netns", "pcapng"]),
    ),
    (
        "snapshot",
        May::Only(&[
            "bpf",
            "files",
            "forwarder",
            "model",
            "netlink",
            "netns",
            "state",
            "xdp",
        ]),
    ),
    (
        "trace",
        May::Only(&[
            "cancel",
            "decisions",
            "files",
            "forwarder",
            "netns",
            "probes",
            "state",
        ]),
    ),
    (
        "diagnose",
        May::Only(&[
            "bpf",
            "cancel",
            "capture",
            "decisions",
            "files",
            "forwarder",
            "model",
            "netlink",
            "netns",
            "pcapng",
            "probes",
            "progress",
            "snapshot",
            "xdp",
        ]),
    ),
    (
        "fix",
        May::Only(&[
            "bpf",
            "cancel",
            "diagnose",
            "forwarder",
            "model",
            "netlink",
            "netns",
            "state",
        ]),
    ),
    (
        "report",
        May::Only(&[
            "diagnose",
            "forwarder",
            "probes",
            "snapshot",
            "trace",
            "xdp",
        ]),
    ),
    ("lab", May::AllBelow),
    ("bench", May::AllBelow),
];

fn layer(m: &str) -> Option<u32> {
    LAYERS.iter().find(|(n, _)| *n == m).map(|(_, l)| *l)
}

fn allowed(m: &str) -> Option<May> {
    ALLOWED.iter().find(|(n, _)| *n == m).map(|(_, a)| *a)
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn doc_text() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/architecture.md");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
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

/// Every top-level module's imports: (importing module, imported module) -> first place.
fn module_imports() -> (BTreeMap<(String, String), String>, Vec<String>) {
    let src = src_dir();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut found = BTreeMap::new();
    let mut problems = Vec::new();
    for f in &files {
        let Some(m) = module_of(&src, f) else {
            continue;
        };
        // The binary's front end and the crate root sit above everything.
        if matches!(m.as_str(), "cli" | "main" | "lib") {
            continue;
        }
        if allowed(&m).is_none() || layer(&m).is_none() {
            problems.push(format!(
                "{}: module `{m}` has no row in tests/architecture.rs (LAYERS and ALLOWED) \
                 and docs/architecture.md",
                f.display()
            ));
            continue;
        }
        let text = std::fs::read_to_string(f).expect("read source");
        for (line, to) in crate_imports(&text) {
            if to != m {
                let at = format!("{}:{line}", f.strip_prefix(&src).unwrap_or(f).display());
                found.entry((m.clone(), to)).or_insert(at);
            }
        }
    }
    (found, problems)
}

#[test]
fn every_module_imports_only_what_its_row_allows() {
    let (found, mut violations) = module_imports();
    for ((from, to), at) in &found {
        let (Some(lf), Some(may)) = (layer(from), allowed(from)) else {
            continue;
        };
        if to == "error" {
            continue;
        }
        match (layer(to), may) {
            (None, _) => violations.push(format!("{at}: `{from}` imports unknown module `{to}`")),
            (Some(lt), May::AllBelow) if lt >= lf => violations.push(format!(
                "{at}: `{from}` (layer {lf}) imports `{to}` (layer {lt}), not a lower layer"
            )),
            (Some(_), May::Only(list)) if !list.contains(&to.as_str()) => violations.push(format!(
                "{at}: `{from}` imports `{to}`, which its row in docs/architecture.md \
                     does not allow (add it to the row and to ALLOWED here if it belongs, \
                     or import something the row allows)"
            )),
            _ => {}
        }
    }
    for (m, may) in ALLOWED {
        if let May::Only(list) = may {
            for to in *list {
                if !found.contains_key(&(m.to_string(), to.to_string())) {
                    violations.push(format!(
                        "the row of `{m}` allows `{to}`, which nothing in `{m}` imports: \
                         remove it from the row (docs/architecture.md and ALLOWED)"
                    ));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports that break the architecture:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_table_runs_downward_and_names_every_module() {
    let src = src_dir();
    for (m, may) in ALLOWED {
        let l = layer(m).unwrap_or_else(|| panic!("`{m}` has a row but no layer"));
        if let May::Only(list) = may {
            for to in *list {
                let lt = layer(to).unwrap_or_else(|| panic!("`{m}` may import unknown `{to}`"));
                assert!(lt < l, "`{m}` (layer {l}) may import `{to}` (layer {lt})");
            }
        }
        assert!(
            src.join(format!("{m}.rs")).is_file() || src.join(m).join("mod.rs").is_file(),
            "the table names `{m}`, which has no file"
        );
    }
    for (m, _) in LAYERS {
        assert!(allowed(m).is_some(), "`{m}` has a layer but no row");
    }
}

/// The doc's "may import" column, by module: the backticked modules of the cell outside
/// parentheses ("nothing" = none), or `AllBelow` for "everything below".
fn doc_rows(doc: &str) -> BTreeMap<String, (bool, BTreeSet<String>)> {
    let mut rows = BTreeMap::new();
    let mut in_table = false;
    for line in doc.lines() {
        if line.starts_with("| module | owns | may import |") {
            in_table = true;
            continue;
        }
        if !in_table {
            continue;
        }
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() < 3 || cells[0].starts_with("---") {
            continue;
        }
        let module = cells[0].trim_matches('`').to_string();
        let may = cells[cells.len() - 1];
        let all_below = may.starts_with("everything below");
        // Explanations in parentheses are not modules.
        let mut plain = String::new();
        let mut depth = 0;
        for c in may.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ if depth == 0 => plain.push(c),
                _ => {}
            }
        }
        let names: BTreeSet<String> = plain
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect();
        rows.insert(module, (all_below, names));
    }
    rows
}

/// The doc's layer drawing: `layer N  a  b  ...` lines and their continuation lines.
fn doc_layers(doc: &str) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    let mut current = None;
    for line in doc.lines() {
        let t = line.trim_start();
        let words: Vec<&str> = if let Some(rest) = t.strip_prefix("layer ") {
            let mut w = rest.split_whitespace();
            current = w.next().and_then(|n| n.parse::<u32>().ok());
            w.collect()
        } else if current.is_some() && line.starts_with("          ") && !t.is_empty() {
            t.split_whitespace().collect()
        } else {
            current = None;
            continue;
        };
        // Module names come first on the line; the explanation follows.
        for w in words.iter().take_while(|w| layer(w).is_some()) {
            if let Some(l) = current {
                out.insert(w.to_string(), l);
            }
        }
    }
    out
}

#[test]
fn the_doc_shows_the_same_table() {
    let doc = doc_text();
    let rows = doc_rows(&doc);
    let mut diff = Vec::new();
    for (m, may) in ALLOWED {
        let want = match may {
            May::AllBelow => (true, BTreeSet::new()),
            May::Only(l) => (false, l.iter().map(|s| s.to_string()).collect()),
        };
        let got = rows.get(*m).cloned();
        if got.as_ref() != Some(&want) {
            diff.push(format!(
                "`{m}`: tests/architecture.rs allows {want:?}, docs/architecture.md says {got:?}"
            ));
        }
    }
    for m in rows.keys() {
        if allowed(m).is_none() {
            diff.push(format!(
                "docs/architecture.md has a row `{m}` the test does not"
            ));
        }
    }
    let drawn = doc_layers(&doc);
    for (m, l) in LAYERS {
        if drawn.get(*m) != Some(l) {
            diff.push(format!(
                "`{m}`: layer {l} here, {:?} in the drawing of docs/architecture.md",
                drawn.get(*m)
            ));
        }
    }
    assert!(
        diff.is_empty(),
        "docs/architecture.md and tests/architecture.rs disagree:\n{}",
        diff.join("\n")
    );
}

#[test]
fn the_checkers_see_what_they_must_refuse() {
    let text = "use crate::{diagnose::Finding, lab,\n    fix::Action};\n// crate::bench in a comment\nlet x = crate::report::table(r); // crate::lab\n";
    let got: Vec<String> = crate_imports(text).into_iter().map(|(_, m)| m).collect();
    assert_eq!(got, ["diagnose", "lab", "fix", "report"]);
    assert_eq!(
        crate_imports("fn f() -> crate::Result<()> {}")[0].1,
        "error"
    );
    let doc = "| module | owns | may import |\n|---|---|---|\n\
               | `a` | x | nothing |\n| `b` | y | `a` (a `K`), `c` |\n\
               | `lab` | z | everything below |\n\nlayer  2  b   words\n          a\n";
    let rows = doc_rows(doc);
    assert_eq!(rows["a"], (false, BTreeSet::new()));
    assert_eq!(
        rows["b"].1.iter().collect::<Vec<_>>(),
        [&"a".to_string(), &"c".to_string()]
    );
    assert!(rows["lab"].0);
}

// ---- Rule 2: no loops between files ----

/// One `use` item: the full path, the name it binds (None for a glob), and whether it is a
/// re-export (`pub use`, `pub(crate) use`).
#[derive(Debug, Clone)]
struct Use {
    path: Vec<String>,
    bind: Option<String>,
    public: bool,
}

/// A source file as the loop check sees it.
struct SrcFile {
    module: Vec<String>,
    uses: Vec<Use>,
    /// Paths written in code (not in `use` statements).
    inline: Vec<Vec<String>>,
    /// Child modules declared with `mod name;`.
    children: BTreeSet<String>,
}

/// The text of `f` the check reads: comments removed, the unit-test module at the end cut.
fn code_of(text: &str) -> String {
    // A file's unit tests (`#[cfg(test)] mod tests` at its end) may use a sibling to build
    // their input; that is not a dependency of the code.
    let text = match text.find("#[cfg(test)]\nmod tests {") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn parse_file(src: &Path, f: &Path) -> SrcFile {
    let text = std::fs::read_to_string(f).expect("read source");
    let code = code_of(&text);
    let mut children = BTreeSet::new();
    for l in code.lines() {
        let t = l.trim();
        let t = t
            .strip_prefix("pub(crate) ")
            .or_else(|| t.strip_prefix("pub(super) "))
            .or_else(|| t.strip_prefix("pub "))
            .unwrap_or(t);
        if let Some(name) = t.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) {
            children.insert(name.trim().to_string());
        }
    }
    let (uses, inline_text) = use_items(&code);
    let inline = inline_paths(&inline_text);
    SrcFile {
        module: module_path(src, f),
        uses,
        inline,
        children,
    }
}

/// The `use` items of `code` and the rest of the code (without the `use` statements).
fn use_items(code: &str) -> (Vec<Use>, String) {
    let mut out = Vec::new();
    let mut rest = code;
    let mut inline = String::new();
    while let Some((i, public)) = find_use(rest) {
        inline.push_str(&rest[..i]);
        let stmt = &rest[i + 4..];
        let end = stmt.find(';').unwrap_or(stmt.len());
        expand(&[], &stmt[..end], public, &mut out);
        rest = &stmt[(end + 1).min(stmt.len())..];
    }
    inline.push_str(rest);
    (out, inline)
}

/// Every path of two or more segments written in `code` (`a::b`, `crate::x::y`).
fn inline_paths(code: &str) -> Vec<Vec<String>> {
    code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter_map(|w| {
            let segs: Vec<String> = w
                .split("::")
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            (segs.len() > 1 && w.contains("::")).then_some(segs)
        })
        .collect()
}

/// Where the next `use` statement's tree starts, and whether it is a re-export: `use ` first
/// on its line, or after `pub` / `pub(crate)` (so prose in strings that says "use " is not
/// one).
fn find_use(s: &str) -> Option<(usize, bool)> {
    let mut from = 0;
    while let Some(i) = s[from..].find("use ") {
        let at = from + i;
        let line_start = s[..at].rfind('\n').map_or(0, |n| n + 1);
        let lead = s[line_start..at].trim();
        if lead.is_empty() {
            return Some((at, false));
        }
        if lead == "pub" || (lead.starts_with("pub(") && lead.ends_with(')')) {
            return Some((at, true));
        }
        from = at + 4;
    }
    None
}

/// Expands one use tree (`a::b::{c, d::{self, E as F}}`) under `prefix` into its items.
fn expand(prefix: &[String], tree: &str, public: bool, out: &mut Vec<Use>) {
    let tree = tree.trim();
    let (head, group) = match (tree.find('{'), tree.rfind('}')) {
        (Some(i), Some(j)) if i < j => (&tree[..i], Some(&tree[i + 1..j])),
        _ => (tree, None),
    };
    let (head, alias) = match head.split_once(" as ") {
        Some((h, a)) => (h, Some(a.trim().to_string())),
        None => (head, None),
    };
    let mut p = prefix.to_vec();
    let mut glob = false;
    for s in head.split("::").map(str::trim).filter(|s| !s.is_empty()) {
        if s == "*" {
            glob = true;
        } else {
            p.push(s.to_string());
        }
    }
    match group {
        None => {
            if p.last().is_some_and(|s| s == "self") {
                p.pop();
            }
            if p.is_empty() {
                return;
            }
            let bind = if glob {
                None
            } else {
                alias.or_else(|| p.last().cloned())
            };
            out.push(Use {
                path: p,
                bind,
                public,
            });
        }
        Some(g) => {
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in g.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(&p, &g[start..i], public, out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            if !g[start..].trim().is_empty() {
                expand(&p, &g[start..], public, out);
            }
        }
    }
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

/// The whole source tree, by module path.
struct Tree {
    files: BTreeMap<Vec<String>, (PathBuf, SrcFile)>,
}

impl Tree {
    fn read(src: &Path) -> Tree {
        let mut paths = Vec::new();
        rust_files(src, &mut paths);
        let mut files = BTreeMap::new();
        for f in paths {
            // Unit tests kept in a file of their own (`#[cfg(test)] mod tests;`).
            if f.file_name().is_some_and(|n| n == "tests.rs") {
                continue;
            }
            let sf = parse_file(src, &f);
            files.insert(sf.module.clone(), (f, sf));
        }
        Tree { files }
    }

    fn file(&self, m: &[String]) -> Option<&(PathBuf, SrcFile)> {
        self.files.get(m)
    }

    /// The file that defines what `path`, written in module `from`, names: walks the path's
    /// modules, and follows an item's `use` in the file that brings it in (a re-export leads
    /// to the file that defines the item). None for other crates and local names.
    fn resolve(&self, from: &[String], path: &[String], depth: u32) -> Option<&PathBuf> {
        if depth > 16 || path.is_empty() {
            return None;
        }
        let (mut cur, rest): (Vec<String>, &[String]) = match path[0].as_str() {
            "crate" => (Vec::new(), &path[1..]),
            "self" => (from.to_vec(), &path[1..]),
            "super" => {
                let mut base = from.to_vec();
                base.pop();
                let mut rest = &path[1..];
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop();
                    rest = &rest[1..];
                }
                (base, rest)
            }
            first => {
                let (_, here) = self.file(from)?;
                if here.children.contains(first) {
                    (from.to_vec(), path)
                } else if let Some(u) = here.uses.iter().find(|u| u.bind.as_deref() == Some(first))
                {
                    // A name this file imported: continue from where it points.
                    let mut p = u.path.clone();
                    p.extend(path[1..].iter().cloned());
                    return self.resolve(from, &p, depth + 1);
                } else {
                    return None;
                }
            }
        };
        for (i, seg) in rest.iter().enumerate() {
            let mut next = cur.clone();
            next.push(seg.clone());
            if self.files.contains_key(&next) {
                cur = next;
                continue;
            }
            // `seg` is an item of module `cur`: defined there, or brought in by a `use`.
            let (file, sf) = self.file(&cur)?;
            if let Some(u) = sf.uses.iter().find(|u| u.bind.as_deref() == Some(seg)) {
                let mut p = u.path.clone();
                p.extend(rest[i + 1..].iter().cloned());
                return self.resolve(&cur, &p, depth + 1).or(Some(file));
            }
            return Some(file);
        }
        self.file(&cur).map(|(f, _)| f)
    }

    /// Each file's dependencies on other files of the crate: its `use` items (re-exports
    /// aside: they are the parent's index, not its code) and the paths in its code.
    fn edges(&self) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
        let mut edges: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
        for (m, (f, sf)) in &self.files {
            let mut paths: Vec<&Vec<String>> = sf
                .uses
                .iter()
                .filter(|u| !u.public)
                .map(|u| &u.path)
                .collect();
            paths.extend(sf.inline.iter());
            for p in paths {
                if let Some(t) = self.resolve(m, p, 0) {
                    if t != f {
                        edges.entry(f.clone()).or_default().insert(t.clone());
                    }
                }
            }
        }
        edges
    }
}

#[test]
fn no_files_import_each_other_in_a_loop() {
    let src = src_dir();
    let tree = Tree::read(&src);
    let edges: BTreeMap<PathBuf, Vec<PathBuf>> = tree
        .edges()
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().collect()))
        .collect();
    let shown: Vec<String> = circles(&edges)
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
         import, or into the one that uses them; a parent file that holds code counts):\n{}",
        shown.join("\n")
    );
}

#[test]
fn the_circle_checker_sees_a_loop_through_a_group() {
    let (uses, rest) = use_items(
        "use super::{rounds::{self, Sample}, variants::Variant as V};\n\
         pub use crate::x::Y;\nfn f() { super::cost::measure(); crate::lab::up(); }\n",
    );
    let shown: Vec<(String, Option<String>, bool)> = uses
        .iter()
        .map(|u| (u.path.join("::"), u.bind.clone(), u.public))
        .collect();
    assert_eq!(
        shown,
        [
            ("super::rounds".into(), Some("rounds".into()), false),
            ("super::rounds::Sample".into(), Some("Sample".into()), false),
            ("super::variants::Variant".into(), Some("V".into()), false),
            ("crate::x::Y".into(), Some("Y".into()), true),
        ]
    );
    let inline: Vec<String> = inline_paths(&rest).iter().map(|p| p.join("::")).collect();
    assert_eq!(inline, ["super::cost::measure", "crate::lab::up"]);
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

/// A parent file with code is a node: `p/mod.rs` uses `p/a.rs`, which uses an item defined
/// in `p/mod.rs`, is a loop; the same through a re-export only is not.
#[test]
fn a_loop_through_a_parent_file_is_seen() {
    let dir = std::env::temp_dir().join(format!("xdpdoctor-arch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let write = |p: &str, t: &str| {
        let f = dir.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, t).unwrap();
    };
    write("lib.rs", "pub mod p;\npub mod q;\n");
    write(
        "p/mod.rs",
        "mod a;\nmod b;\npub use a::A;\npub struct Shared;\nfn f() { b::g(); }\n",
    );
    write("p/a.rs", "use super::Shared;\npub struct A;\n");
    write("p/b.rs", "use super::A;\npub fn g() {}\n");
    write("q/mod.rs", "mod c;\npub use c::C;\npub struct Index;\n");
    write("q/c.rs", "use crate::p::A;\npub struct C;\n");
    let tree = Tree::read(&dir);
    let edges: BTreeMap<PathBuf, Vec<PathBuf>> = tree
        .edges()
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().collect()))
        .collect();
    let name = |p: &PathBuf| p.strip_prefix(&dir).unwrap().display().to_string();
    // b -> a through the parent's re-export, not through the parent.
    assert!(edges[&dir.join("p/b.rs")].contains(&dir.join("p/a.rs")));
    assert!(edges[&dir.join("q/c.rs")].contains(&dir.join("p/a.rs")));
    let got: Vec<Vec<String>> = circles(&edges)
        .iter()
        .map(|c| c.iter().map(name).collect())
        .collect();
    // mod.rs -> b.rs (code) and a.rs -> mod.rs (Shared); b.rs -> a.rs: one loop of three.
    assert_eq!(got, vec![vec!["p/a.rs", "p/b.rs", "p/mod.rs"]]);
    let _ = std::fs::remove_dir_all(&dir);
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

// ---- Rule 3: names are defined once ----

/// The string literals of `code` (comments already removed), with their line numbers. Plain
/// and raw strings; escapes are kept as written.
fn string_literals(code: &str) -> Vec<(usize, String)> {
    let b = code.as_bytes();
    let (mut out, mut i, mut line) = (Vec::new(), 0, 1);
    while i < b.len() {
        match b[i] {
            b'\n' => line += 1,
            b'\'' if i + 2 < b.len() && (b[i + 2] == b'\'' || b[i + 1] == b'\\') => {
                // A char literal ('"' or '\"'): skip it.
                let end = b[i + 1..]
                    .iter()
                    .position(|&c| c == b'\'')
                    .map_or(i, |p| i + 1 + p);
                i = end + usize::from(b[i + 1] == b'\\' && b[i + 2] == b'\'');
            }
            b'r' if b.get(i + 1).is_some_and(|&c| c == b'"' || c == b'#')
                && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) =>
            {
                let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                let start = i + 1 + hashes + 1;
                if b.get(start - 1) == Some(&b'"') {
                    let close: String = std::iter::once('"')
                        .chain(std::iter::repeat_n('#', hashes))
                        .collect();
                    let end = code[start..].find(&close).map_or(b.len(), |p| start + p);
                    out.push((line, code[start..end].to_string()));
                    line += code[start..end].matches('\n').count();
                    i = end + close.len();
                    continue;
                }
            }
            b'"' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != b'"' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                let s = &code[i + 1..j.min(b.len())];
                out.push((line, s.to_string()));
                line += s.matches('\n').count();
                i = j + 1;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Whether `word` occurs in `s` on its own (not inside a longer identifier or id).
fn has_word(s: &str, word: &str) -> bool {
    let part = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    s.match_indices(word).any(|(at, _)| {
        !s[..at].chars().next_back().is_some_and(part)
            && !s[at + word.len()..].chars().next().is_some_and(part)
    })
}

/// A rule id or a map name written as text outside its definition drifts from it silently:
/// a typo links no cause, a renamed map leaves a command that no longer runs. Code names
/// them through `RuleId` and the ABI constants (`bpf::*_abi`); this fails on a string literal
/// that spells one, naming the file and line. Distinctive names (rule ids, map names with an
/// underscore) are refused anywhere in a literal, short ones (`devmap`, `events`) as a whole
/// literal. Unit tests are left out (they may spell what they expect).
#[test]
fn rule_ids_and_map_names_are_spelled_once() {
    use xdpdoctor::bpf::{forwarder_abi as fwd, log_abi as log, probes_abi as probes};
    let maps = [
        (fwd::DNAT_MAP, "bpf/forwarder_abi/mod.rs"),
        (fwd::SNAT_MAP, "bpf/forwarder_abi/mod.rs"),
        (fwd::DEVMAP, "bpf/forwarder_abi/mod.rs"),
        (fwd::COUNTERS_MAP, "bpf/forwarder_abi/mod.rs"),
        (fwd::NAT_INDEX_MAP, "bpf/forwarder_abi/mod.rs"),
        (fwd::NAT_ACTIVE_MAP, "bpf/forwarder_abi/mod.rs"),
        (fwd::CSUM_SCRATCH_MAP, "bpf/forwarder_abi/mod.rs"),
        (fwd::FIB_CACHE_MAP, "bpf/forwarder_abi/mod.rs"),
        (fwd::REDIRECT_DEVMAP, "bpf/forwarder_abi/mod.rs"),
        (fwd::RX_COUNT_MAP, "bpf/forwarder_abi/mod.rs"),
        (fwd::ROUTER_DEVMAP, "bpf/forwarder_abi/mod.rs"),
        (fwd::PRISTINE_MAP, "bpf/forwarder_abi/mod.rs"),
        (probes::MAP_EVENTS, "bpf/probes_abi.rs"),
        (probes::MAP_COUNTS, "bpf/probes_abi.rs"),
        (probes::MAP_LOST, "bpf/probes_abi.rs"),
        (probes::MAP_NETNS_FILTER, "bpf/probes_abi.rs"),
        (probes::MAP_VETH_XMIT_CALLS, "bpf/probes_abi.rs"),
        (log::LOGS_MAP, "bpf/log_abi.rs"),
        (log::CTL_MAP, "bpf/log_abi.rs"),
        (log::STATE_MAP, "bpf/log_abi.rs"),
        (log::SCRATCH_MAP, "bpf/log_abi.rs"),
    ];
    let ids = xdpdoctor::diagnose::RuleId::EVERY
        .iter()
        .map(|id| (id.as_str(), "diagnose/rules/id.rs"));
    let names: Vec<(&str, &str, bool)> = ids
        .map(|(n, f)| (n, f, true))
        .chain(maps.iter().map(|&(n, f)| (n, f, n.contains('_'))))
        .collect();
    // The same word meaning something else.
    let other_meaning = [
        (
            "model/stage.rs",
            "devmap",
            "the label of the devmap stage of the packet path",
        ),
        (
            "probes/tracefs.rs",
            "events",
            "the tracefs directory of the tracepoints",
        ),
    ];
    let src = src_dir();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut found = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap().display().to_string();
        if rel.ends_with("tests.rs") {
            continue;
        }
        let names: Vec<_> = names
            .iter()
            .filter(|(n, _, _)| !other_meaning.iter().any(|(f, w, _)| *f == rel && w == n))
            .collect();
        let code = code_of(&std::fs::read_to_string(f).unwrap());
        for (line, lit) in string_literals(&code) {
            for (name, home, anywhere) in &names {
                let hit = if *anywhere {
                    has_word(&lit, name)
                } else {
                    lit == *name
                };
                if hit && rel != *home {
                    found.push(format!("{rel}:{line}: \"{lit}\" spells `{name}` ({home})"));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "rule ids and map names written as text (use RuleId or the ABI constant):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_literal_scanner_finds_what_it_must() {
    let code = "let a = \"x-y\"; let c = '\"'; let b = r#\"raw \"q\" dnat_entries\"#;\n\
                f(\"{DNAT_MAP}: x\", \"snat_entries 1\");";
    let lits: Vec<String> = string_literals(code).into_iter().map(|(_, s)| s).collect();
    assert_eq!(
        lits,
        [
            "x-y",
            "raw \"q\" dnat_entries",
            "{DNAT_MAP}: x",
            "snat_entries 1"
        ]
    );
    assert!(has_word("add snat_entries 1 -> 2", "snat_entries"));
    assert!(!has_word("my_snat_entries", "snat_entries"));
    assert!(has_word(
        "fix the cause, peer-link-down on x",
        "peer-link-down"
    ));
    assert!(!has_word("not-peer-link-down", "peer-link-down"));
}
