//! The harness's layering: no import cycle between its top-level modules (`harness/X/`), nor
//! between the files of one module. Dependencies are read off the source: every `crate::X`
//! (module level) and `super::Y` / `self::Y` (file level) path, including inside `use` groups.
//! The allowed order is printed on failure; README's module map follows it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The source without comments and string literals (a doc comment naming `crate::x` is not a
/// dependency).
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let (mut out, mut i) = (String::with_capacity(src.len()), 0);
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            i += 2;
            while i + 1 < b.len() && !b[i..].starts_with(b"*/") {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && i + 2 < b.len() && (b[i + 2] == b'\'' || b[i + 1] == b'\\') {
            // a char literal ('x', '\n', '\''); lifetimes ('a) are left alone
            i += 1;
            while i < b.len() && b[i] != b'\'' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// The first path segments after every `prefix::`, looking inside `{...}` groups.
fn heads_after(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut heads = BTreeSet::new();
    let pat = format!("{prefix}::");
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut rest = code;
    while let Some(at) = rest.find(&pat) {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + pat.len()..];
        if before.is_some_and(|c| is_ident(c) || c == ':') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            // top-level names of the group: after `{` or `,` at depth 0
            let (mut depth, mut start) = (0, true);
            for (k, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && depth == 0 && is_ident(c) => {
                        let name: String = group[k..].chars().take_while(|&c| is_ident(c)).collect();
                        heads.insert(name);
                        start = false;
                    }
                    c if !c.is_whitespace() => start = false,
                    _ => {}
                }
            }
        } else {
            let name: String = rest.chars().take_while(|&c| is_ident(c)).collect();
            if !name.is_empty() {
                heads.insert(name);
            }
        }
    }
    heads
}

/// Item name → file, for every `pub use file::...` of a mod.rs.
fn re_exports(code: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for stmt in code.split(';') {
        let Some(path) = stmt.trim().strip_prefix("pub use ") else {
            continue;
        };
        let file: String = path.chars().take_while(|&c| c.is_alphanumeric() || c == '_').collect();
        for name in heads_after(path, &file) {
            out.insert(name, file.clone());
        }
    }
    out
}

/// A cycle in `graph`, as the list of its nodes, or None.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            match state.get(m.as_str()).copied().unwrap_or(0) {
                1 => {
                    let from = stack.iter().position(|s| s == m).unwrap();
                    let mut c = stack[from..].to_vec();
                    c.push(m.clone());
                    return Some(c);
                }
                0 => {
                    if let Some(c) = visit(m, g, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(n, graph, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

/// (module-level graph, file-level graphs per module) of the harness.
fn graphs() -> (
    BTreeMap<String, BTreeSet<String>>,
    BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("harness");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut modules: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut file_graphs: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&root).unwrap();
        let parts: Vec<String> = rel
            .iter()
            .map(|s| s.to_string_lossy().trim_end_matches(".rs").to_string())
            .collect();
        if parts.len() < 2 {
            continue; // lib.rs, main.rs: the crate root and the CLI sit above every module
        }
        let module = parts[0].clone();
        let file = parts[1].clone();
        let code = code_only(&std::fs::read_to_string(&f).unwrap());
        let deps = modules.entry(module.clone()).or_default();
        for d in heads_after(&code, "crate") {
            if d != module {
                deps.insert(d);
            }
        }
        // Files of one module: `super::x` from a file below the module's mod.rs, `self::x` and
        // bare submodule paths from mod.rs itself are the module's own wiring (mod.rs re-exports
        // its files), so mod.rs is left out of the file graph.
        if file == "mod" || parts.len() > 2 {
            continue;
        }
        let fg = file_graphs.entry(module.clone()).or_default();
        let mine = fg.entry(file.clone()).or_default();
        for d in heads_after(&code, "super") {
            if d != file {
                mine.insert(d);
            }
        }
    }
    // A file's `super::Name` names a file, or an item mod.rs re-exports from one (`pub use
    // file::{Name, ...}`): resolve re-exports to their file, keep file names only.
    for (module, fg) in file_graphs.iter_mut() {
        let mod_rs = root.join(module).join("mod.rs");
        let exports = std::fs::read_to_string(&mod_rs)
            .map(|s| re_exports(&code_only(&s)))
            .unwrap_or_default();
        let names: BTreeSet<String> = fg.keys().cloned().collect();
        for (file, deps) in fg.iter_mut() {
            let resolved: BTreeSet<String> = deps
                .iter()
                .filter_map(|d| {
                    if names.contains(d) {
                        Some(d.clone())
                    } else {
                        exports.get(d).cloned()
                    }
                })
                .filter(|d| d != file)
                .collect();
            *deps = resolved;
        }
    }
    (modules, file_graphs)
}

#[test]
fn the_harness_modules_form_no_import_cycle() {
    let (modules, _) = graphs();
    assert!(modules.len() >= 10, "read the harness's modules: {:?}", modules.keys());
    if let Some(c) = find_cycle(&modules) {
        panic!(
            "import cycle among harness modules: {}\n(module → what it imports: {modules:#?})",
            c.join(" → ")
        );
    }
}

#[test]
fn no_file_imports_a_file_that_imports_it_back() {
    let (_, files) = graphs();
    let cycles: Vec<String> = files
        .iter()
        .filter_map(|(m, g)| find_cycle(g).map(|c| format!("{m}: {}", c.join(" → "))))
        .collect();
    assert!(
        cycles.is_empty(),
        "import cycles between files of one module:\n{}",
        cycles.join("\n")
    );
}

#[test]
fn the_cycle_finder_sees_cycles_through_use_groups() {
    // The checker itself: a `use crate::{a::X, b}` group and a comment are parsed as they should be.
    let code = code_only("use crate::{model::Decoder, suite};\n// crate::report is only named here\nlet s = \"crate::runner\";");
    assert_eq!(
        heads_after(&code, "crate"),
        BTreeSet::from(["model".to_string(), "suite".to_string()])
    );
    let g = BTreeMap::from([
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["c".to_string()])),
        ("c".to_string(), BTreeSet::from(["a".to_string()])),
    ]);
    assert_eq!(find_cycle(&g).unwrap(), ["a", "b", "c", "a"]);
    let e = re_exports(&code_only("pub use kind::{FineTuning, Method};\npub use lora::LoraLinear;"));
    assert_eq!(e.get("Method").map(String::as_str), Some("kind"));
    assert_eq!(e.get("LoraLinear").map(String::as_str), Some("lora"));
}

/// Functions of the harness whose body runs past `max` lines (from the `fn` line to the closing
/// brace at its indentation; rustfmt's layout), as (lines, file, line, name).
fn long_functions(max: usize) -> Vec<(usize, String, usize, String)> {
    let mut files = Vec::new();
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("harness"), &mut files);
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let t = l.trim_start();
            let indent = l.len() - t.len();
            let head = [
                "pub(crate) fn ",
                "pub(super) fn ",
                "pub fn ",
                "fn ",
                "pub unsafe fn ",
                "unsafe fn ",
                "pub const fn ",
                "const fn ",
            ]
            .iter()
            .find(|p| t.starts_with(*p));
            let Some(head) = head else { continue };
            if t.ends_with(';') {
                continue; // a declaration in a trait
            }
            let name: String = t[head.len()..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            let close = " ".repeat(indent) + "}";
            let end = lines[i + 1..]
                .iter()
                .position(|x| x.starts_with(&close) && x[indent + 1..].chars().next().is_none_or(|c| " ;),".contains(c)));
            if let Some(end) = end {
                if end + 2 > max {
                    out.push((end + 2, f.display().to_string(), i + 1, name));
                }
            }
        }
    }
    out
}

#[test]
fn no_function_in_the_harness_is_longer_than_80_lines() {
    let long = long_functions(80);
    assert!(
        long.is_empty(),
        "functions over 80 lines (split them into named steps): {:#?}",
        long
    );
}
