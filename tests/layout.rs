//! The pipeline's files import each other without a cycle, and none imports from a
//! module file above it (issue #31): data flows one way through `src/pipeline/`, and a
//! `mod.rs` is a face for the files under it, never a place they reach back into.
//!
//! The check reads the source text, so it runs without the `app` feature and sees every
//! platform's files (the `#[cfg]`'d camera backends included). An edge goes from a file
//! to the file that defines the module a path ends in, for every `use` declaration
//! (groups expanded, `pub use` re-exports in a `mod.rs` counted like any other import)
//! and every path in code that starts with `super::`, `self::`, `crate::` or the name of
//! a module the file declares (`worker::WorkerChange`). Comments and string literals are
//! skipped, so intra-doc links are not edges; `mod name;` declarations are not edges.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

/// One import: `from` reaches into `to` (files relative to `src/`) through `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Edge {
    from: String,
    to: String,
    path: String,
}

/// The module path of a file under `src/`: `pipeline/sources/mod.rs` is
/// `pipeline::sources`, `pipeline/capture.rs` is `pipeline::capture`.
fn module_of(file: &str) -> Vec<String> {
    let mut parts: Vec<String> = file
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_string)
        .collect();
    if parts.last().is_some_and(|last| last == "mod") {
        parts.pop();
    }
    parts
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    PathSep,
    Punct(char),
}

/// The code's identifiers, `::` and punctuation; comments, literals and lifetimes dropped.
fn tokens(source: &str) -> Vec<Token> {
    let chars: Vec<char> = source.chars().collect();
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = at(i);
        if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && at(i) != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            loop {
                if i >= chars.len() {
                    break;
                } else if at(i) == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if at(i) == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == '"' || (matches!(c, 'r' | 'b') && matches!(at(i + 1), '"' | '#' | 'r')) {
            // A string: plain, byte, raw (`r#"..."#`) or a raw identifier (`r#type`).
            let start = i;
            while matches!(at(i), 'r' | 'b') {
                i += 1;
            }
            let hashes = (i..).take_while(|&j| at(j) == '#').count();
            i += hashes;
            if at(i) != '"' {
                // `br`, `r#ident` or an identifier such as `b` or `r`: read it as one.
                i = start + 1;
                while at(i).is_alphanumeric() || at(i) == '_' {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                out.push(Token::Ident(word));
                continue;
            }
            i += 1;
            let raw = chars[start..i].contains(&'r');
            while i < chars.len() {
                if !raw && at(i) == '\\' {
                    i += 2;
                } else if at(i) == '"' && (i + 1..=i + hashes).all(|j| at(j) == '#') {
                    i += 1 + hashes;
                    break;
                } else {
                    i += 1;
                }
            }
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{1F600}') or a lifetime ('a).
            if at(i + 1) == '\\' {
                i += 2;
                while i < chars.len() && at(i) != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1;
                while at(i).is_alphanumeric() || at(i) == '_' {
                    i += 1;
                }
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while at(i).is_alphanumeric() || at(i) == '_' {
                i += 1;
            }
            out.push(Token::Ident(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit() {
            while at(i).is_alphanumeric() || at(i) == '_' || at(i) == '.' && at(i + 1) != '.' {
                i += 1;
            }
        } else if c == ':' && at(i + 1) == ':' {
            out.push(Token::PathSep);
            i += 2;
        } else {
            if !c.is_whitespace() {
                out.push(Token::Punct(c));
            }
            i += 1;
        }
    }
    out
}

/// The paths a `use` tree starting at `tokens[*i]` names, groups expanded (`a::{b, c::d}`
/// gives `a::b` and `a::c::d`; `self` in a group and `*` name the prefix; a leading `::`
/// stays as a segment); `*i` ends past the tree.
fn use_tree(tokens: &[Token], i: &mut usize, prefix: &[String], out: &mut Vec<Vec<String>>) {
    let mut path = prefix.to_vec();
    loop {
        match tokens.get(*i) {
            Some(Token::Ident(word)) if word == "as" => {
                *i += 2;
                break;
            }
            Some(Token::Ident(word)) => {
                if word != "self" || path.is_empty() {
                    path.push(word.clone());
                }
                *i += 1;
            }
            Some(Token::PathSep) => {
                // A leading `::` names another crate (`::nokhwa`, beside a module `nokhwa`).
                if path.is_empty() {
                    path.push("::".to_string());
                }
                *i += 1;
            }
            Some(Token::Punct('*')) => {
                *i += 1;
                break;
            }
            Some(Token::Punct('{')) => {
                *i += 1;
                while !matches!(tokens.get(*i), None | Some(Token::Punct('}'))) {
                    use_tree(tokens, i, &path, out);
                    if tokens.get(*i) == Some(&Token::Punct(',')) {
                        *i += 1;
                    }
                }
                *i += 1;
                return;
            }
            _ => break,
        }
    }
    out.push(path);
}

/// The edges out of `file` (relative to `src/`), whose text is `source`; `files` are the
/// module paths of every file, to find which file a path ends in.
fn edges_of(file: &str, source: &str, files: &BTreeMap<Vec<String>, String>) -> Vec<Edge> {
    let tokens = tokens(source);
    let module = module_of(file);
    let ident = |i: usize| match tokens.get(i) {
        Some(Token::Ident(word)) => Some(word.as_str()),
        _ => None,
    };
    let punct = |i: usize, c: char| tokens.get(i) == Some(&Token::Punct(c));
    let children: HashSet<&str> = (0..tokens.len())
        .filter(|&i| ident(i) == Some("mod") && punct(i + 2, ';'))
        .filter_map(|i| ident(i + 1))
        .collect();
    // The inline modules (`mod tests { ... }`) around the current token, with the brace
    // depth each opened at.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut paths: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let scope = || -> Vec<String> {
            let mut scope = module.clone();
            scope.extend(inline.iter().map(|(name, _)| name.clone()));
            scope
        };
        let after_sep = i > 0 && tokens.get(i - 1) == Some(&Token::PathSep);
        match (&tokens[i], ident(i)) {
            (Token::Punct('{'), _) => {
                depth += 1;
                i += 1;
            }
            (Token::Punct('}'), _) => {
                depth -= 1;
                if inline.last().is_some_and(|&(_, opened)| opened == depth) {
                    inline.pop();
                }
                i += 1;
            }
            (_, Some("mod")) if punct(i + 2, '{') => {
                inline.push((ident(i + 1).unwrap_or_default().to_string(), depth));
                i += 2;
            }
            (_, Some("use")) => {
                i += 1;
                let mut named = Vec::new();
                use_tree(&tokens, &mut i, &[], &mut named);
                paths.extend(named.into_iter().map(|path| (scope(), path)));
            }
            (_, Some(word))
                if !after_sep
                    && tokens.get(i + 1) == Some(&Token::PathSep)
                    && (["super", "self", "crate"].contains(&word) || children.contains(word)) =>
            {
                let mut path = Vec::new();
                while let Some(word) = ident(i) {
                    path.push(word.to_string());
                    i += 1;
                    if tokens.get(i) != Some(&Token::PathSep) {
                        break;
                    }
                    i += 1;
                }
                paths.push((scope(), path));
            }
            _ => i += 1,
        }
    }
    let mut edges = Vec::new();
    for (scope, path) in paths {
        let Some(first) = path.first() else { continue };
        let mut target = match first.as_str() {
            "crate" => Vec::new(),
            "super" | "self" => scope,
            child if children.contains(child) => module.clone(),
            _ => continue,
        };
        for segment in &path {
            match segment.as_str() {
                "crate" | "self" => {}
                "super" => {
                    target.pop();
                }
                name => target.push(name.to_string()),
            }
        }
        let defined_in = (1..=target.len())
            .rev()
            .find_map(|len| files.get(target.get(..len).unwrap_or_default()));
        if let Some(to) = defined_in.filter(|to| to.as_str() != file) {
            edges.push(Edge {
                from: file.to_string(),
                to: to.clone(),
                path: path.join("::"),
            });
        }
    }
    edges
}

/// Every edge among `sources` (file relative to `src/`, text).
fn edges(sources: &[(String, String)]) -> Vec<Edge> {
    let files: BTreeMap<Vec<String>, String> = sources
        .iter()
        .map(|(file, _)| (module_of(file), file.clone()))
        .collect();
    sources
        .iter()
        .flat_map(|(file, source)| edges_of(file, source, &files))
        .collect()
}

/// A cycle among the edges, as the edges that make it, if there is one.
fn find_cycle(edges: &[Edge]) -> Option<Vec<Edge>> {
    fn visit<'a>(
        file: &'a str,
        edges: &'a [Edge],
        done: &mut BTreeSet<&'a str>,
        trail: &mut Vec<&'a Edge>,
    ) -> Option<Vec<Edge>> {
        if let Some(start) = trail.iter().position(|edge| edge.from == file) {
            return Some(trail[start..].iter().map(|&edge| edge.clone()).collect());
        }
        if done.contains(file) {
            return None;
        }
        for edge in edges.iter().filter(|edge| edge.from == file) {
            trail.push(edge);
            let cycle = visit(&edge.to, edges, done, trail);
            trail.pop();
            if cycle.is_some() {
                return cycle;
            }
        }
        done.insert(file);
        None
    }
    let mut done = BTreeSet::new();
    edges
        .iter()
        .find_map(|edge| visit(&edge.from, edges, &mut done, &mut Vec::new()))
}

/// The edges that reach from a file into the module file of one of its parents.
fn imports_from_parents(edges: &[Edge]) -> Vec<&Edge> {
    edges
        .iter()
        .filter(|edge| {
            let (from, to) = (module_of(&edge.from), module_of(&edge.to));
            to.len() < from.len() && from.starts_with(&to)
        })
        .collect()
}

fn describe(edges: &[&Edge]) -> String {
    edges
        .iter()
        .map(|edge| format!("  {} -> {} ({})", edge.from, edge.to, edge.path))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The pipeline's files, relative to `src/`, with their text.
fn pipeline_sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, src: &Path, out: &mut Vec<(String, String)>) {
        let entries = std::fs::read_dir(dir).expect("src/pipeline is readable");
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, src, out);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let relative = path.strip_prefix(src).expect("under src/");
                let name = relative.to_string_lossy().replace('\\', "/");
                let text = std::fs::read_to_string(&path).expect("a source file");
                out.push((name, text));
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut sources = Vec::new();
    walk(&src.join("pipeline"), &src, &mut sources);
    sources.sort();
    sources
}

#[test]
fn the_pipeline_files_import_each_other_without_a_cycle() {
    let edges = edges(&pipeline_sources());
    // The check reads the real imports: a few it must see.
    for (from, to) in [
        ("pipeline/capture.rs", "pipeline/messages.rs"),
        ("pipeline/worker.rs", "pipeline/messages.rs"),
        ("pipeline/mod.rs", "pipeline/worker.rs"),
        ("pipeline/sources/spec.rs", "pipeline/sources/camera/mod.rs"),
        (
            "pipeline/sources/camera/v4l.rs",
            "pipeline/sources/camera/error.rs",
        ),
        (
            "pipeline/sources/camera/mod.rs",
            "pipeline/sources/camera/nokhwa.rs",
        ),
    ] {
        assert!(
            edges.iter().any(|edge| edge.from == from && edge.to == to),
            "{from} -> {to} not found among\n{}",
            describe(&edges.iter().collect::<Vec<_>>())
        );
    }
    if let Some(cycle) = find_cycle(&edges) {
        panic!(
            "an import cycle in src/pipeline:\n{}",
            describe(&cycle.iter().collect::<Vec<_>>())
        );
    }
}

#[test]
fn no_pipeline_file_imports_from_the_module_file_above_it() {
    let edges = edges(&pipeline_sources());
    let upward = imports_from_parents(&edges);
    assert!(
        upward.is_empty(),
        "files that import from a parent's module file (import from the file that \
         defines the item instead):\n{}",
        describe(&upward)
    );
}

fn sources(files: &[(&str, &str)]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|(file, text)| (file.to_string(), text.to_string()))
        .collect()
}

#[test]
fn the_check_finds_a_cycle_through_a_group_a_reexport_and_a_path_in_code() {
    let files = sources(&[
        (
            "p/mod.rs",
            "mod a;\nmod b;\npub use a::{Thing, other::{self, More}};",
        ),
        ("p/a.rs", "use super::{b::{Helper}};\npub struct Thing;"),
        ("p/b.rs", "pub fn f() { let x = super::a::Thing; }"),
    ]);
    let edges = edges(&files);
    let cycle = find_cycle(&edges).expect("a -> b -> a");
    let files_in_cycle: BTreeSet<&str> = cycle.iter().map(|edge| edge.from.as_str()).collect();
    assert_eq!(files_in_cycle, BTreeSet::from(["p/a.rs", "p/b.rs"]));
    assert!(
        edges
            .iter()
            .any(|edge| edge.from == "p/mod.rs" && edge.to == "p/a.rs" && edge.path == "a::Thing")
    );
}

#[test]
fn the_check_skips_comments_strings_tests_and_other_crates() {
    let files = sources(&[
        (
            "p/mod.rs",
            "mod a;\nmod b;\nuse crate::detect::Detection;\nuse std::fmt;\nuse ::b::Crate;",
        ),
        (
            "p/a.rs",
            "//! See [`super::b`].\n/* super::b::X */\nconst S: &str = \"super::b::X\";\n\
             const R: &str = r#\"super::b::\"#;\nfn f<'a>(c: char) -> bool { c == '{' }\n\
             use super::b::Used;\n#[cfg(test)]\nmod tests {\n    use super::*;\n}",
        ),
        ("p/b.rs", "pub struct Used;"),
    ]);
    let edges = edges(&files);
    let found: Vec<(&str, &str, &str)> = edges
        .iter()
        .map(|edge| (edge.from.as_str(), edge.to.as_str(), edge.path.as_str()))
        .collect();
    assert_eq!(found, [("p/a.rs", "p/b.rs", "super::b::Used")]);
    assert_eq!(find_cycle(&edges), None);
}

#[test]
fn the_check_finds_an_import_from_the_module_file_above() {
    let files = sources(&[
        ("p/mod.rs", "mod a;\nmod inner;\npub struct Frame;"),
        ("p/a.rs", "use super::Frame;"),
        ("p/inner/mod.rs", "mod deep;"),
        (
            "p/inner/deep.rs",
            "use crate::p::Frame;\nuse super::super::a::X;",
        ),
    ]);
    let edges = edges(&files);
    let upward: Vec<(&str, &str)> = imports_from_parents(&edges)
        .into_iter()
        .map(|edge| (edge.from.as_str(), edge.to.as_str()))
        .collect();
    assert_eq!(
        upward,
        [("p/a.rs", "p/mod.rs"), ("p/inner/deep.rs", "p/mod.rs")]
    );
}
