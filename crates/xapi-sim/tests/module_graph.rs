//! The simulator's modules form a tree of dependencies, not a web: the graph
//! of references between them must have no cycle, and the layers point down
//! (behaviours never reach for dispatch, the fixtures never for behaviours).
//!
//! A text scan of `src/**/*.rs`: comments and literals are blanked, then
//! every path that starts with `crate::`, `super::` or a child module a
//! file declares (`mod vm;` ... `vm::register`) is resolved to a node, the
//! top-level module or, below a directory, the second-level one
//! (`behaviour/vm/power.rs` is `behaviour::vm`). `lib.rs` and `main.rs` only
//! tie the crate together and are left out.

// Tests own the terminal.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Where a dependency was seen: file and the path as written.
type Seen = (String, String);

struct Graph {
    nodes: BTreeSet<String>,
    /// from -> to -> first place the reference was seen.
    edges: BTreeMap<String, BTreeMap<String, Seen>>,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).expect("src dir").map(|e| e.expect("entry").path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a file: `behaviour/vm/mod.rs` is `[behaviour, vm]`.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" {
        parts.push(stem.to_string());
    }
    parts
}

fn node_of(module: &[String]) -> String {
    module.iter().take(2).cloned().collect::<Vec<_>>().join("::")
}

fn ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The number of `#`s of a raw string starting at `i` (`r"`, `r#"`), if one does.
fn raw_string_at(cs: &[char], i: usize) -> Option<usize> {
    if cs[i] != 'r' {
        return None;
    }
    let hashes = cs[i + 1..].iter().take_while(|&&h| h == '#').count();
    (cs.get(i + 1 + hashes) == Some(&'"')).then_some(hashes)
}

/// The code of a file with comments, strings and char literals blanked
/// (replaced by spaces, newlines kept), so only real paths remain.
fn strip(src: &str) -> String {
    let cs: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        let next = cs.get(i + 1).copied();
        // An identifier character before, but not the `b` of `br"..."`.
        let prev_ident = i > 0 && ident_char(cs[i - 1]) && !(cs[i - 1] == 'b' && (i < 2 || !ident_char(cs[i - 2])));
        if c == '/' && next == Some('/') {
            while i < cs.len() && cs[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < cs.len() {
                if cs[i] == '/' && cs.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if cs[i] == '*' && cs.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(cs[i]));
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw_string_at(&cs, i).filter(|_| !prev_ident) {
            let closes =
                |j: usize| cs[j] == '"' && cs[j + 1..].iter().take(hashes).filter(|&&h| h == '#').count() == hashes;
            let mut j = i + 2 + hashes;
            while j < cs.len() && !closes(j) {
                j += 1;
            }
            let stop = (j + 1 + hashes).min(cs.len());
            out.extend(cs[i..stop].iter().map(|&ch| blank(ch)));
            i = stop;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < cs.len() && cs[i] != '"' {
                if cs[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < cs.len() {
                    out.push(blank(cs[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && (next == Some('\\') || cs.get(i + 2) == Some(&'\'')) {
            // A char literal ('a', '"', '\n', '\'', '\u{..}'), not a lifetime:
            // the opening quote, an escape's backslash and the escaped
            // character, then up to the closing quote.
            let mut j = i + if next == Some('\\') { 3 } else { 2 };
            while j < cs.len() && cs[j] != '\'' {
                j += 1;
            }
            let stop = (j + 1).min(cs.len());
            out.extend(std::iter::repeat_n(' ', stop - i));
            i = stop;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Every path of two or more segments in the code, with `a::{b, c::d}`
/// groups expanded, each with the inline modules (`mod tests { ... }`) it
/// sits in.
fn paths(code: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let cs: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    // Open braces, each with the inline module it opens, if any.
    let mut braces: Vec<Option<String>> = Vec::new();
    let mut pending_mod: Option<String> = None;
    let mut i = 0;
    while i < cs.len() {
        let starts = ident_char(cs[i]) && !cs[i].is_ascii_digit();
        let after_path = i > 0 && (ident_char(cs[i - 1]) || cs[i - 1] == ':' || cs[i - 1] == '$');
        if starts && !after_path {
            let (word, end) = ident_at(&cs, i);
            if word == "mod" {
                let (name, end) = ident_at(&cs, skip_ws(&cs, end));
                pending_mod = Some(name);
                i = end;
                continue;
            }
            let (found, end) = path_at(&cs, i, Vec::new());
            let inline: Vec<String> = braces.iter().flatten().cloned().collect();
            out.extend(found.into_iter().filter(|p| p.len() > 1).map(|p| (inline.clone(), p)));
            i = end.max(i + 1);
            continue;
        }
        match cs[i] {
            '{' => braces.push(pending_mod.take()),
            '}' => {
                braces.pop();
            }
            ';' => pending_mod = None,
            _ => {}
        }
        i += 1;
    }
    out
}

fn ident_at(cs: &[char], mut i: usize) -> (String, usize) {
    let start = i;
    while i < cs.len() && ident_char(cs[i]) {
        i += 1;
    }
    (cs[start..i].iter().collect(), i)
}

fn skip_ws(cs: &[char], mut i: usize) -> usize {
    while i < cs.len() && cs[i].is_whitespace() {
        i += 1;
    }
    i
}

/// Reads `ident(::ident)*` (and groups) at `i` under `prefix`.
fn path_at(cs: &[char], i: usize, prefix: Vec<String>) -> (Vec<Vec<String>>, usize) {
    let mut segs = prefix;
    let (first, mut i) = ident_at(cs, i);
    if first.is_empty() {
        return (Vec::new(), i);
    }
    segs.push(first);
    loop {
        let j = skip_ws(cs, i);
        if !(cs.get(j) == Some(&':') && cs.get(j + 1) == Some(&':')) {
            return (vec![segs], i);
        }
        let k = skip_ws(cs, j + 2);
        match cs.get(k) {
            Some('{') => {
                let mut found = Vec::new();
                let mut m = k + 1;
                loop {
                    m = skip_ws(cs, m);
                    match cs.get(m) {
                        None => return (found, m),
                        Some('}') => return (found, m + 1),
                        Some(',') => m += 1,
                        Some(c) if ident_char(*c) => {
                            let (more, end) = path_at(cs, m, segs.clone());
                            found.extend(more);
                            m = end;
                            // `x as y`: the alias is not a path.
                            let n = skip_ws(cs, m);
                            if cs[n..].starts_with(&['a', 's', ' ']) {
                                m = ident_at(cs, skip_ws(cs, n + 2)).1;
                            }
                        }
                        Some(_) => m += 1,
                    }
                }
            }
            Some(c) if ident_char(*c) => {
                let (seg, end) = ident_at(cs, k);
                segs.push(seg);
                i = end;
            }
            Some('*') => {
                segs.push("*".to_string());
                return (vec![segs], k + 1);
            }
            _ => return (vec![segs], i),
        }
    }
}

/// The child modules a file declares (`mod x;`, `pub(crate) mod x;`).
fn declared_children(code: &str) -> Vec<String> {
    code.split(';')
        .filter_map(|stmt| {
            let words: Vec<&str> = stmt.split_whitespace().collect();
            match words.as_slice() {
                [.., "mod", name] => Some(name.to_string()),
                _ => None,
            }
        })
        .collect()
}

/// Resolves a path written in `module` to an absolute module path, if it is one of ours.
fn resolve(module: &[String], children: &[String], path: &[String]) -> Option<Vec<String>> {
    let first = path.first()?;
    match first.as_str() {
        "crate" => Some(path[1..].to_vec()),
        "super" | "self" => {
            let mut base = module.to_vec();
            let mut rest = path;
            if rest[0] == "self" {
                rest = &rest[1..];
            }
            while rest.first().is_some_and(|s| s == "super") {
                base.pop()?;
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            Some(base)
        }
        name if children.iter().any(|c| c == name) => {
            let mut base = module.to_vec();
            base.extend(path.iter().cloned());
            Some(base)
        }
        _ => None,
    }
}

fn scan() -> Graph {
    let src = src_dir();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let files: Vec<(PathBuf, Vec<String>)> = files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(&src).expect("under src").to_path_buf();
            let module = module_path(&rel);
            (rel, module)
        })
        .filter(|(rel, _)| rel != Path::new("lib.rs") && rel != Path::new("main.rs"))
        .collect();
    let nodes: BTreeSet<String> = files.iter().map(|(_, m)| node_of(m)).collect();
    let mut edges: BTreeMap<String, BTreeMap<String, Seen>> = BTreeMap::new();
    for (rel, module) in &files {
        let text = std::fs::read_to_string(src.join(rel)).expect("readable source");
        let code = strip(&text);
        let children = declared_children(&code);
        let from = node_of(module);
        for (inline, path) in paths(&code) {
            let here: Vec<String> = module.iter().chain(&inline).cloned().collect();
            let children = if inline.is_empty() { &children[..] } else { &[] };
            let Some(abs) = resolve(&here, children, &path) else {
                continue;
            };
            let to = [2, 1]
                .into_iter()
                .filter(|&n| abs.len() >= n)
                .map(|n| abs[..n].join("::"))
                .find(|candidate| nodes.contains(candidate));
            if let Some(to) = to.filter(|to| *to != from) {
                edges
                    .entry(from.clone())
                    .or_default()
                    .entry(to)
                    .or_insert_with(|| (rel.display().to_string(), path.join("::")));
            }
        }
    }
    Graph { nodes, edges }
}

/// A cycle through the graph, if there is one, as its nodes in order.
fn find_cycle(g: &Graph) -> Option<Vec<String>> {
    fn visit(g: &Graph, n: &str, state: &mut BTreeMap<String, u8>, stack: &mut Vec<String>) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for next in g.edges.get(n).into_iter().flat_map(BTreeMap::keys) {
            match state.get(next.as_str()).copied().unwrap_or(0) {
                1 => {
                    let start = stack.iter().position(|s| s == next).unwrap_or(0);
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(g, next, state, stack) {
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
    for n in &g.nodes {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            let mut stack = Vec::new();
            if let Some(c) = visit(g, n, &mut state, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

fn describe(g: &Graph) -> String {
    let mut out = String::new();
    for (from, tos) in &g.edges {
        out += &format!("{from} -> {}\n", tos.keys().cloned().collect::<Vec<_>>().join(", "));
    }
    out
}

#[test]
fn module_graph_has_no_cycle() {
    let g = scan();
    // `cargo test -p xapi-sim --test module_graph -- --nocapture` shows the map.
    println!("{}", describe(&g));
    // The scan must see the simulator's obvious dependencies, or it sees nothing.
    for (from, to) in [("rpc", "behaviour"), ("db", "relations"), ("behaviour", "behaviour::vm")] {
        assert!(g.edges.get(from).is_some_and(|t| t.contains_key(to)), "{from} -> {to} not found:\n{}", describe(&g));
    }
    if let Some(cycle) = find_cycle(&g) {
        let mut text = String::new();
        for pair in cycle.windows(2) {
            let (file, path) = &g.edges[&pair[0]][&pair[1]];
            text += &format!("  {} -> {}   ({file}: {path})\n", pair[0], pair[1]);
        }
        panic!("the simulator's modules have a cycle:\n{text}\nall dependencies:\n{}", describe(&g));
    }
}

#[test]
fn layers_point_down() {
    let g = scan();
    let under = |node: &str, top: &str| node == top || node.starts_with(&format!("{top}::"));
    // (modules, modules they must not depend on)
    let rules: &[(&str, &[&str])] = &[
        ("behaviour", &["rpc", "server", "fixtures"]),
        ("fixtures", &["behaviour", "rpc", "server", "call", "implicit"]),
        ("rules", &["behaviour", "rpc", "server", "fixtures", "call", "implicit", "tasks", "core"]),
        ("call", &["rpc", "behaviour", "implicit", "server"]),
        ("core", &["rpc", "behaviour", "call", "implicit", "tasks", "server"]),
        ("db", &["core", "call", "rpc", "behaviour", "rules"]),
        // Fault rules decide and the trace writes; the transport does the rest.
        ("faults", &["core", "db", "call", "rpc", "tasks", "behaviour", "server", "trace"]),
        // Data handlers are served by the transport; they call down, like it.
        ("handlers", &["server"]),
        // The database file format knows the database, not who serves it.
        ("xmldb", &["core", "call", "rpc", "tasks", "behaviour", "server", "handlers", "rules"]),
        ("trace", &["core", "db", "call", "rpc", "tasks", "behaviour", "server", "faults"]),
        // Disk contents and the VHD format know nothing of the pool.
        ("disks", &["core", "db", "call", "rpc", "tasks", "behaviour", "server", "rules", "handlers", "vhd"]),
        // Certificates know X.509 and rustls, not the pool.
        ("certs", &["core", "db", "call", "rpc", "tasks", "behaviour", "server", "rules", "handlers"]),
        ("vhd", &["core", "db", "call", "rpc", "tasks", "behaviour", "server", "rules", "handlers", "disks"]),
    ];
    let mut bad = Vec::new();
    for (from, tos) in &g.edges {
        for (to, (file, path)) in tos {
            // Behaviours share rules, not each other's code.
            if from.starts_with("behaviour::") && to.starts_with("behaviour") {
                bad.push(format!("{from} -> {to} ({file}: {path})"));
            }
            for (low, forbidden) in rules {
                if under(from, low) && !under(to, low) && forbidden.iter().any(|f| under(to, f)) {
                    bad.push(format!("{from} -> {to} ({file}: {path})"));
                }
            }
        }
    }
    assert!(bad.is_empty(), "dependencies against the layering:\n{}", bad.join("\n"));
}

#[test]
fn the_scan_reads_paths_not_text() {
    let code = strip(
        "use crate::a::{b, c::{d, e as f}};\n// crate::comment\nlet s = \"crate::string\"; let c = '\"'; crate::g::h();\n\
         let r = r#\"crate::raw\"#; let b = br\"crate::bytes\\\"; let q = ['\\'', '{'];\n\
         /* crate::block /* nested */ crate::still_comment */ fn x<'a>(y: &'a str) { super::z::w(y) }",
    );
    let found: Vec<String> = paths(&code).into_iter().map(|(_, p)| p.join("::")).collect();
    assert_eq!(found, ["crate::a::b", "crate::a::c::d", "crate::a::c::e", "crate::g::h", "super::z::w"]);
    let tests = paths("pub(super) fn f() {}\nmod tests {\n    use super::*;\n}\nuse super::x;");
    assert_eq!(
        tests,
        [
            (vec!["tests".to_string()], vec!["super".to_string(), "*".to_string()]),
            (vec![], vec!["super".to_string(), "x".to_string()])
        ]
    );
    assert_eq!(declared_children("pub mod a;\nmod b;\npub(crate) mod c;\nuse x;"), ["a", "b", "c"]);
}
