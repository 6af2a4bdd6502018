//! The house stays in order (issue 18): every source file holds one job, and the gateway's
//! top-level modules depend on each other one way.
//!
//! - No non-test source file under `src/`, `dsp/src/`, `hardware/src/` or `web/` (`.rs`, `.js`,
//!   `.html`, `.css`) is longer than [`MAX_LINES`]. A test file (one under a `tests` directory,
//!   or named `tests.rs`) may be.
//! - The root crate's top-level modules (`src/<module>.rs` and everything under
//!   `src/<module>/`) form no dependency cycle, except those in [`ALLOWED_CYCLES`]. A module
//!   depends on another when its code names it: a `crate::<module>` path (also inside
//!   `use crate::{..}` groups), or a `super::` path that climbs to the crate root. Comments,
//!   string literals, `#[cfg(test)]` items and test files do not count: tests may reach across.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One file, one job: about what a reader takes in at once (`docs/contributing.md`).
const MAX_LINES: usize = 700;

/// Where the source files are, relative to the repository.
const SOURCE_ROOTS: [&str; 4] = ["src", "dsp/src", "hardware/src", "web"];

/// The kinds of source file the line limit applies to.
const SOURCE_EXTENSIONS: [&str; 4] = ["rs", "js", "html", "css"];

/// Cycles between top-level modules that are accepted, each with why: its modules, sorted, and
/// the reason. Empty: every dependency points one way.
const ALLOWED_CYCLES: &[(&[&str], &str)] = &[];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir`, recursively, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("a readable directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// A test file: under a `tests` directory, or named `tests.rs`.
fn is_test_file(relative: &Path) -> bool {
    let mut components: Vec<&str> = relative.iter().filter_map(|c| c.to_str()).collect();
    let name = components.pop().unwrap_or_default();
    name == "tests.rs" || components.contains(&"tests")
}

#[test]
fn no_source_file_is_longer_than_the_limit() {
    let mut too_long = Vec::new();
    let mut checked = 0;
    for source_root in SOURCE_ROOTS {
        for path in files_under(&root().join(source_root)) {
            let relative = path
                .strip_prefix(root())
                .expect("under the repository")
                .to_path_buf();
            let kind = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
            if !SOURCE_EXTENSIONS.contains(&kind) || is_test_file(&relative) {
                continue;
            }
            checked += 1;
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let lines = text.lines().count();
            if lines > MAX_LINES {
                too_long.push(format!("{} ({lines} lines)", relative.display()));
            }
        }
    }
    assert!(checked > 100, "only {checked} source files found: wrong roots?");
    assert!(
        too_long.is_empty(),
        "source files over {MAX_LINES} lines (split them by job; tests go in a sibling tests.rs):\n  {}",
        too_long.join("\n  ")
    );
}

/// `text` with comments removed and string and character literals emptied (their newlines
/// kept), so that what remains of braces and paths is code.
fn code_only(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let at = |i: usize, s: &str| s.chars().enumerate().all(|(k, ch)| c.get(i + k) == Some(&ch));
    let is_ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut out = String::with_capacity(text.len());
    // Keeps the line structure of a skipped literal.
    let blank = |out: &mut String, from: usize, to: usize| {
        out.push_str("\"\"");
        out.extend(c[from..to.min(c.len())].iter().filter(|&&ch| ch == '\n'));
    };
    let mut i = 0;
    while i < c.len() {
        let after_ident = i > 0 && is_ident(c[i - 1]);
        if at(i, "//") {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if at(i, "/*") {
            let mut depth = 0;
            while i < c.len() {
                if at(i, "/*") {
                    depth += 1;
                    i += 2;
                } else if at(i, "*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if c[i] == '\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
            }
        } else if !after_ident && (at(i, "r#") || at(i, "r\"") || at(i, "br#") || at(i, "br\"")) {
            // Raw string: r"..", r#".."#, br"..".
            let start = i;
            i += if c[i] == 'b' { 2 } else { 1 };
            let mut hashes = 0;
            while at(i, "#") {
                hashes += 1;
                i += 1;
            }
            if !at(i, "\"") {
                // A raw identifier (r#type), not a string.
                out.extend(&c[start..i]);
                continue;
            }
            let close: String = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            i += 1;
            while i < c.len() && !at(i, &close) {
                i += 1;
            }
            i += close.chars().count();
            blank(&mut out, start, i);
        } else if c[i] == '"' {
            let start = i;
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            blank(&mut out, start, i);
        } else if c[i] == '\'' && c.get(i + 1) == Some(&'\\') {
            // An escaped character literal: '\n', '\'', '\u{7f}'.
            i += 3;
            while i < c.len() && c[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else if c[i] == '\'' && c.get(i + 2) == Some(&'\'') {
            i += 3;
            out.push_str("' '");
        } else {
            // Code, or the quote of a lifetime.
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// `code` (from [`code_only`]) without its `#[cfg(test)]` items: each attribute and the item
/// after it, up to its `;` or through its braces.
fn without_test_items(code: &str) -> String {
    const MARK: &str = "#[cfg(test)]";
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(start) = rest.find(MARK) {
        out.push_str(&rest[..start]);
        let item = &rest[start + MARK.len()..];
        let end = match (item.find(';'), item.find('{')) {
            (Some(semicolon), Some(brace)) if semicolon < brace => semicolon + 1,
            (Some(semicolon), None) => semicolon + 1,
            (_, Some(brace)) => {
                let mut depth = 0;
                let mut end = item.len();
                for (k, ch) in item.char_indices().skip_while(|&(k, _)| k < brace) {
                    match ch {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = k + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            (None, None) => item.len(),
        };
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

/// The first name of each path in `path` (what follows `crate::`): `hub` for `hub::Hub`, and
/// `hub`, `ws` for `{hub::Hub, ws::{A, B}}`.
fn first_names(path: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|&ch| ch.is_alphanumeric() || ch == '_')
            .collect()
    };
    let Some(group) = path.strip_prefix('{') else {
        return vec![ident(path)];
    };
    let mut names = Vec::new();
    let mut depth = 0;
    let mut at_start = true;
    for (k, ch) in group.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => at_start = true,
            ch if ch.is_whitespace() => {}
            _ if at_start && depth == 0 => {
                names.push(ident(&group[k..]));
                at_start = false;
            }
            _ => {}
        }
    }
    names
}

/// The crate-root names the code of a file `depth` modules below the crate root refers to: by
/// `crate::` paths, and by paths of `depth` `super::`s.
fn root_names(code: &str, depth: usize) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let before_ok = |k: usize| {
        !code[..k]
            .chars()
            .next_back()
            .is_some_and(|ch| ch.is_alphanumeric() || ch == '_' || ch == '$' || ch == ':')
    };
    for (k, _) in code.match_indices("crate::") {
        if before_ok(k) {
            names.extend(first_names(&code[k + "crate::".len()..]));
        }
    }
    let climb = "super::".repeat(depth);
    for (k, _) in code.match_indices(&climb) {
        let rest = &code[k + climb.len()..];
        if before_ok(k) && !rest.starts_with("super::") {
            names.extend(first_names(rest));
        }
    }
    names.retain(|n| !n.is_empty());
    names
}

/// The root crate's top-level modules, from `src/lib.rs`.
fn top_level_modules() -> Vec<String> {
    let lib = std::fs::read_to_string(root().join("src/lib.rs")).expect("src/lib.rs");
    without_test_items(&code_only(&lib))
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let line = line.strip_prefix("pub ").unwrap_or(line);
            Some(line.strip_prefix("mod ")?.strip_suffix(';')?.trim().to_string())
        })
        .collect()
}

/// Module -> the modules it depends on -> the files (relative to `src/`) that make it so.
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

fn module_graph() -> Graph {
    let modules = top_level_modules();
    let src = root().join("src");
    let mut graph = Graph::new();
    for module in &modules {
        let edges = graph.entry(module.clone()).or_default();
        let folder = src.join(module);
        let mut files = if folder.is_dir() {
            files_under(&folder)
        } else {
            Vec::new()
        };
        files.push(src.join(format!("{module}.rs")));
        for path in files.into_iter().filter(|p| p.is_file()) {
            let relative = path.strip_prefix(&src).expect("under src/").to_path_buf();
            if path.extension().is_none_or(|e| e != "rs") || is_test_file(&relative) {
                continue;
            }
            // src/hub.rs and src/hub/mod.rs are one level down, src/hub/state.rs two.
            let depth = relative.iter().count() - usize::from(relative.ends_with("mod.rs"));
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            for name in root_names(&without_test_items(&code_only(&text)), depth) {
                if name != *module && modules.contains(&name) {
                    edges
                        .entry(name)
                        .or_default()
                        .insert(relative.display().to_string());
                }
            }
        }
    }
    graph
}

/// The groups of two or more modules that all reach each other (strongly connected
/// components): each holds at least one cycle.
fn cycles(graph: &Graph) -> Vec<BTreeSet<String>> {
    let modules: Vec<&String> = graph.keys().collect();
    let index = |m: &String| modules.iter().position(|x| *x == m);
    let n = modules.len();
    let mut reach = vec![vec![false; n]; n];
    for (from, edges) in graph {
        for to in edges.keys() {
            if let (Some(a), Some(b)) = (index(from), index(to)) {
                reach[a][b] = true;
            }
        }
    }
    for k in 0..n {
        for a in 0..n {
            for b in 0..n {
                reach[a][b] |= reach[a][k] && reach[k][b];
            }
        }
    }
    let mut groups: Vec<BTreeSet<String>> = Vec::new();
    for (a, from_a) in reach.iter().enumerate() {
        let group: BTreeSet<String> = (0..n)
            .filter(|&b| b == a || (from_a[b] && reach[b][a]))
            .map(|b| modules[b].clone())
            .collect();
        if group.len() > 1 && !groups.contains(&group) {
            groups.push(group);
        }
    }
    groups
}

#[test]
fn top_level_modules_form_no_dependency_cycle() {
    let graph = module_graph();
    for module in [
        "cli",
        "tools",
        "hub",
        "ws",
        "api",
        "server",
        "config",
        "bus",
        "app_state",
        "pipeline",
        "history",
    ] {
        assert!(graph.contains_key(module), "no module `{module}` in src/lib.rs");
    }
    let allowed: Vec<BTreeSet<String>> = ALLOWED_CYCLES
        .iter()
        .map(|(modules, _)| modules.iter().map(|m| m.to_string()).collect())
        .collect();
    let found = cycles(&graph);
    let mut problems = Vec::new();
    for group in found.iter().filter(|g| !allowed.contains(g)) {
        let edges: Vec<String> = group
            .iter()
            .flat_map(|from| {
                graph[from]
                    .iter()
                    .filter(|(to, _)| group.contains(*to))
                    .map(move |(to, files)| {
                        format!(
                            "    {from} -> {to}: {}",
                            Vec::from_iter(files.iter().cloned()).join(", ")
                        )
                    })
            })
            .collect();
        problems.push(format!(
            "cycle among {}:\n{}",
            Vec::from_iter(group.iter().cloned()).join(", "),
            edges.join("\n")
        ));
    }
    for group in allowed.iter().filter(|g| !found.contains(g)) {
        problems.push(format!(
            "ALLOWED_CYCLES lists {:?}, which is no longer a cycle: remove it",
            group
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_dependency_scan_sees_only_code_outside_tests() {
    let text = r##"
        use crate::{hub::Hub, ws::{a, b}};
        // crate::comment::X
        /* crate::block /* nested */ crate::block2 */
        const S: &str = "crate::string";
        const R: &str = r#"crate::raw "quoted""#;
        const Q: char = '"';
        fn f<'a>(x: &'a str) -> crate::config::Config { super::events::now() }
        #[cfg(test)]
        mod tests {
            use crate::server::Server;
            fn g() { let s = "}"; }
        }
        #[cfg(test)]
        use crate::api;
        pub(crate) fn h() -> crate::bus::Bus { self::x::super_y() }
    "##;
    let names = root_names(&without_test_items(&code_only(text)), 1);
    let want: BTreeSet<String> = ["bus", "config", "events", "hub", "ws"].map(String::from).into();
    assert_eq!(names, want);
    // Two levels down, one `super::` stays inside the top-level module.
    assert_eq!(
        root_names("use super::state::State; use super::super::bus::Bus;", 2),
        BTreeSet::from(["bus".to_string()])
    );
}
