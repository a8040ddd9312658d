//! The shape of the source tree: every module opens with a `//!` doc saying
//! what it owns, no source file is over 600 lines, no two source files
//! import each other, directly or through others (data flows one way), and
//! the README's Layout section lists every file.
//!
//! Imports are the `crate::` and `super::` paths in a file's code and its
//! `child::` paths (comments, `pub use` re-export lines and its unit-test
//! module left out), each resolved to the file of the longest module prefix
//! it names, or, for a name that module re-exports, to the child file that
//! defines it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The most lines a source file may have.
const MAX_LINES: usize = 600;

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read src")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a file: `src/a/b.rs` and `src/a/b/mod.rs` are `a::b`;
/// `lib.rs` and `main.rs` are the crate root (empty).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code of a file: no comment lines, and nothing from its unit tests
/// (`#[cfg(test)]` followed by `mod tests`) on.
fn code(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//") && !l.trim().is_empty())
        .collect();
    let end = lines
        .windows(2)
        .position(|w| w[0].trim() == "#[cfg(test)]" && w[1].trim_start().starts_with("mod tests"))
        .unwrap_or(lines.len());
    lines[..end].join("\n")
}

/// Is a `pub use` line: a re-export, the module's facade, not a dependency.
fn is_reexport(line: &str) -> bool {
    let l = line.trim_start();
    l.starts_with("pub use ")
        || l.starts_with("pub(crate) use ")
        || l.starts_with("pub(super) use ")
}

/// The names a file re-exports from its child modules: `pub use child::A;`
/// and `pub use child::{A, B};` give `(A, child)` and `(B, child)`.
fn reexports(code: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in code.lines().filter(|l| is_reexport(l)) {
        let path = line.split_once("use ").map_or("", |(_, p)| p);
        let path = path.trim_end_matches(';');
        let Some((child, rest)) = path.split_once("::") else {
            continue;
        };
        let names = rest.trim_start_matches('{').trim_end_matches('}');
        for n in names.split(',') {
            let n = n.trim().rsplit("::").next().unwrap_or("").trim();
            if !n.is_empty() && n != "self" {
                out.push((n.to_string(), child.to_string()));
            }
        }
    }
    out
}

/// The module paths a file's code names: `crate::a::b::C` gives
/// `[a, b, C]`; `super::x` in module `m::n` gives `[m, x]`; `x::Y` in module
/// `m` with a child module `x` gives `[m, x, Y]` (re-export lines left out).
/// A braced group (`crate::a::{b, c}`) gives each member.
fn named_paths(code: &str, module: &[String], children: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (start, head) in [("crate::", 0usize), ("super::", 1)] {
        let mut rest = code;
        while let Some(i) = rest.find(start) {
            let before = rest[..i].chars().next_back();
            rest = &rest[i + start.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let mut base: Vec<String> = if head == 0 {
                Vec::new()
            } else {
                let mut m = module.to_vec();
                m.pop();
                m
            };
            let path: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            base.extend(
                path.split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
            );
            let after = &rest[path.len()..];
            let open = path.is_empty() || path.ends_with("::");
            if let (true, Some(group)) = (open, after.strip_prefix('{')) {
                let group = group.split('}').next().unwrap_or("");
                for member in group.split(',') {
                    let first = member.trim().split("::").next().unwrap_or("").trim();
                    if !first.is_empty() && first != "self" {
                        let mut p = base.clone();
                        p.push(first.to_string());
                        out.push(p);
                    }
                }
            }
            out.push(base);
        }
    }
    // `child::X`: a path relative to this module, in a `use` or in code.
    for line in code.lines().filter(|l| !is_reexport(l)) {
        for child in children {
            let pat = format!("{child}::");
            let mut rest = line;
            while let Some(i) = rest.find(&pat) {
                let before = rest[..i].chars().next_back();
                rest = &rest[i + pat.len()..];
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                    continue;
                }
                let mut p = module.to_vec();
                p.push(child.clone());
                let next: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !next.is_empty() {
                    p.push(next);
                }
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn modules_are_documented_small_and_acyclic() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let modules: BTreeMap<Vec<String>, PathBuf> = files
        .iter()
        .map(|f| (module_of(&src, f), f.clone()))
        .collect();
    let name = |f: &Path| f.strip_prefix(&src).unwrap_or(f).display().to_string();

    let texts: BTreeMap<PathBuf, String> = files
        .iter()
        .map(|f| (f.clone(), std::fs::read_to_string(f).expect("read source")))
        .collect();
    // (module, name) -> the child module that defines what it re-exports.
    let mut reexported: BTreeMap<(Vec<String>, String), Vec<String>> = BTreeMap::new();
    for (f, text) in &texts {
        let m = module_of(&src, f);
        for (name, child) in reexports(&code(text)) {
            let mut c = m.clone();
            c.push(child);
            reexported.insert((m.clone(), name), c);
        }
    }

    let mut problems = Vec::new();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let text = &texts[f];
        if !text.trim_start().starts_with("//!") {
            problems.push(format!("{} does not open with a //! doc", name(f)));
        }
        let lines = text.lines().count();
        if lines > MAX_LINES {
            problems.push(format!("{} has {lines} lines (most: {MAX_LINES})", name(f)));
        }
        let me = module_of(&src, f);
        let children: Vec<String> = modules
            .keys()
            .filter(|k| k.len() == me.len() + 1 && k.starts_with(&me))
            .filter_map(|k| k.last().cloned())
            .collect();
        let deps = edges.entry(name(f)).or_default();
        for path in named_paths(&code(text), &me, &children) {
            // The longest prefix that is a module with a file of its own;
            // a name that module re-exports is its child's.
            let target = (1..=path.len()).rev().find_map(|n| {
                let prefix = path.get(..n)?;
                let file = modules.get(prefix)?;
                let via = path.get(n).and_then(|next| {
                    let child = reexported.get(&(prefix.to_vec(), next.clone()))?;
                    modules.get(child)
                });
                Some(via.unwrap_or(file))
            });
            if let Some(t) = target.filter(|t| *t != f) {
                // A file may name its own ancestors' children through them,
                // but naming an ancestor module file itself is an import too.
                deps.insert(name(t));
            }
        }
    }

    // Depth-first search for a cycle.
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
        cycles: &mut Vec<String>,
    ) {
        match state.get(n) {
            Some(2) => return,
            Some(1) => {
                let from = stack.iter().position(|s| s == n).unwrap_or(0);
                let mut c = stack[from..].to_vec();
                c.push(n.to_string());
                cycles.push(c.join(" -> "));
                return;
            }
            _ => {}
        }
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for d in edges.get(n).into_iter().flatten() {
            visit(d, edges, state, stack, cycles);
        }
        stack.pop();
        state.insert(n.to_string(), 2);
    }
    let mut state = BTreeMap::new();
    let mut cycles = Vec::new();
    for n in edges.keys() {
        visit(n, &edges, &mut state, &mut Vec::new(), &mut cycles);
    }
    problems.extend(cycles.into_iter().map(|c| format!("import cycle: {c}")));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The README's Layout section lists every source file, one line each.
#[test]
fn readme_layout_lists_every_source_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("read README");
    let listed: BTreeSet<&str> = readme
        .lines()
        .filter(|l| l.starts_with("src/"))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    let present: BTreeSet<String> = files
        .iter()
        .map(|f| f.strip_prefix(root).unwrap_or(f).display().to_string())
        .collect();
    let missing: Vec<&String> = present
        .iter()
        .filter(|f| !listed.contains(f.as_str()))
        .collect();
    let stale: Vec<&&str> = listed.iter().filter(|f| !present.contains(**f)).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "README Layout: missing {missing:?}, no such file {stale:?}"
    );
}

#[test]
fn paths_resolve_through_groups_and_super() {
    let me = vec!["pipeline".to_string(), "csv".to_string()];
    let got = named_paths(
        "use crate::flow::{FinishedFlow, Snapshot};\nuse super::outfile::OutFile;",
        &me,
        &[],
    );
    assert!(got.contains(&vec!["flow".into(), "FinishedFlow".into()]));
    assert!(got.contains(&vec!["pipeline".into(), "outfile".into(), "OutFile".into()]));
}
