//! The documentation holds together: the README stays a landing page (under 300 lines), every
//! relative link in `README.md` and `docs/*.md` reaches a file that exists (and, for a
//! `#anchor`, a heading of that file, as GitHub makes its anchors), and every page under
//! `docs/` is linked from the README, so nothing moved there is lost.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The README is the landing page; the reference lives in `docs/`.
const README_MAX_LINES: usize = 300;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `README.md` and every `docs/*.md`, as paths relative to the repository.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![PathBuf::from("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/ exists")
        .map(|entry| entry.expect("docs/ is readable").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .map(|path| Path::new("docs").join(path.file_name().expect("a file name")))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

fn read(page: &Path) -> String {
    std::fs::read_to_string(root().join(page)).unwrap_or_else(|e| panic!("{}: {e}", page.display()))
}

/// The lines of a Markdown text outside fenced code blocks (```` ``` ```` or `~~~`), with their
/// numbers from 1.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fence: Option<&str> = None;
    let mut lines = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        match fence {
            Some(marker) => {
                if trimmed.starts_with(marker) {
                    fence = None;
                }
            }
            None if trimmed.starts_with("```") => fence = Some("```"),
            None if trimmed.starts_with("~~~") => fence = Some("~~~"),
            None => lines.push((index + 1, line)),
        }
    }
    lines
}

/// `line` without its inline code spans (a link inside backticks is no link).
fn without_code_spans(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let ticks = rest[start..].chars().take_while(|&c| c == '`').count();
        let after = &rest[start + ticks..];
        match after.find(&"`".repeat(ticks)) {
            Some(end) => rest = &after[end + ticks..],
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The targets of the inline links and images (`[text](target)`, `![alt](target "title")`)
/// and of the reference definitions (`[name]: target`) of a page, with their line numbers.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (number, line) in prose_lines(text) {
        let line = without_code_spans(line);
        let trimmed = line.trim_start();
        // A reference definition: `[name]: target` at the start of the line.
        if let Some(rest) = trimmed.strip_prefix('[') {
            if let Some(target) = rest.find(']').and_then(|end| rest[end + 1..].strip_prefix(':')) {
                if let Some(target) = target.split_whitespace().next() {
                    found.push((number, target.trim_matches(['<', '>']).to_string()));
                }
                continue;
            }
        }
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            let target = after[..end].split_whitespace().next().unwrap_or("");
            found.push((number, target.trim_matches(['<', '>']).to_string()));
            rest = &after[end..];
        }
    }
    found
}

/// The text of a heading as GitHub renders it: inline links reduced to their text.
fn heading_text(heading: &str) -> String {
    let mut out = String::new();
    let mut rest = heading;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find("](").map(|i| open + i) else {
            break;
        };
        let Some(end) = rest[close..].find(')').map(|i| close + i) else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push_str(&rest[open + 1..close]);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// GitHub's anchor for a heading: lower case; letters, digits, `-` and `_` kept, spaces made
/// `-`, everything else (punctuation, backticks, symbols) dropped.
fn slug(heading: &str) -> String {
    heading_text(heading)
        .trim()
        .chars()
        .flat_map(char::to_lowercase)
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// Every anchor a page offers: its headings' slugs (a repeated slug gets `-1`, `-2`, ... as on
/// GitHub) and the ids of explicit `<a id="...">` / `<a name="...">` tags.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut anchors = BTreeSet::new();
    for (_, line) in prose_lines(text) {
        let trimmed = line.trim_start();
        let hashes = trimmed.chars().take_while(|&c| c == '#').count();
        if (1..=6).contains(&hashes) && trimmed[hashes..].starts_with(' ') {
            let base = slug(trimmed[hashes..].trim().trim_end_matches('#'));
            let mut anchor = base.clone();
            let mut n = 0;
            while !anchors.insert(anchor.clone()) {
                n += 1;
                anchor = format!("{base}-{n}");
            }
        }
        for attribute in ["<a id=\"", "<a name=\""] {
            let mut rest = line;
            while let Some(at) = rest.find(attribute) {
                let after = &rest[at + attribute.len()..];
                let Some(end) = after.find('"') else { break };
                anchors.insert(after[..end].to_string());
                rest = &after[end..];
            }
        }
    }
    anchors
}

fn is_external(target: &str) -> bool {
    target.contains("://") || target.starts_with("mailto:")
}

/// Every broken relative link of every page, as `page:line: target: why`.
fn broken_links() -> Vec<String> {
    let mut broken = Vec::new();
    for page in pages() {
        let text = read(&page);
        for (line, target) in links(&text) {
            if target.is_empty() || is_external(&target) {
                continue;
            }
            let (path, anchor) = match target.split_once('#') {
                Some((path, anchor)) => (path, Some(anchor)),
                None => (target.as_str(), None),
            };
            let file = if path.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap_or(Path::new("")).join(path)
            };
            let at = format!("{}:{line}: {target}", page.display());
            if !root().join(&file).exists() {
                broken.push(format!("{at}: {} does not exist", file.display()));
                continue;
            }
            let Some(anchor) = anchor else { continue };
            if file.extension().is_some_and(|ext| ext == "md") {
                if !anchors(&read(&file)).contains(anchor) {
                    broken.push(format!("{at}: no heading #{anchor} in {}", file.display()));
                }
            } else if !anchor.starts_with('L') {
                // Only line anchors (#L10) make sense on a source file.
                broken.push(format!("{at}: #{anchor} on a file that is not Markdown"));
            }
        }
    }
    broken
}

#[test]
fn the_readme_is_a_landing_page_under_300_lines() {
    let lines = read(Path::new("README.md")).lines().count();
    assert!(
        lines < README_MAX_LINES,
        "README.md has {lines} lines; the reference belongs in docs/ (at most {} lines)",
        README_MAX_LINES - 1
    );
}

#[test]
fn every_relative_link_reaches_a_file_and_a_heading_that_exist() {
    let broken = broken_links();
    assert!(broken.is_empty(), "broken links:\n  {}", broken.join("\n  "));
}

#[test]
fn every_docs_page_is_linked_from_the_readme() {
    let readme = read(Path::new("README.md"));
    let linked: BTreeSet<PathBuf> = links(&readme)
        .into_iter()
        .filter(|(_, target)| !is_external(target))
        .map(|(_, target)| PathBuf::from(target.split('#').next().unwrap_or("")))
        .collect();
    let unlinked: Vec<String> = pages()
        .into_iter()
        .filter(|page| page.starts_with("docs") && !linked.contains(page))
        .map(|page| page.display().to_string())
        .collect();
    assert!(
        unlinked.is_empty(),
        "docs pages the README does not link: {unlinked:?}"
    );
}

#[test]
fn github_anchors_are_made_as_github_makes_them() {
    assert_eq!(slug("`spectrum:frame` (opt-in)"), "spectrumframe-opt-in");
    assert_eq!(slug("`seq` on gateways"), "seq-on-gateways");
    assert_eq!(
        slug("`sdrhub locate FILES...`: TDOA over Kiwi WAV recordings"),
        "sdrhub-locate-files-tdoa-over-kiwi-wav-recordings"
    );
    assert_eq!(
        slug("Back-pressure: who waits, who drops, who counts"),
        "back-pressure-who-waits-who-drops-who-counts"
    );
    assert_eq!(slug("See [the docs](docs/x.md) now"), "see-the-docs-now");
    let text = "# A\n\n```sh\n# not a heading\n```\n\n## A\n<a id=\"custom\"></a>\n";
    assert_eq!(
        anchors(text),
        ["a", "a-1", "custom"].into_iter().map(String::from).collect()
    );
    let text = "[x](a.md#b) `[not](a link)` ![img](p.png \"title\")\n[ref]: <c.md>\n```\n[no](link)\n```\n";
    assert_eq!(
        links(text).into_iter().map(|(_, t)| t).collect::<Vec<_>>(),
        ["a.md#b", "p.png", "c.md"]
    );
}
