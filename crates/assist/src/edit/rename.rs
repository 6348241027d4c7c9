//! The structural fast path for "rename X to Y": identifier nodes found with tree-sitter (never
//! inside strings or comments unless asked, never part of a longer name), files found with the index.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;

use hearth_index::Index;
use hearth_syntax::Language;
use tree_sitter::Node;

use super::{
    workspace::Workspace, EditError, EditRequest, FileChange, Plan, Region, Rename, Report, Scope, Strategy, Texts,
};

/// Where an occurrence sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Code,
    Comment,
    String,
}

pub(crate) fn plan(
    workspace: &Workspace,
    index: Option<&Index>,
    request: &EditRequest,
    rename: &Rename,
    texts: &Texts<'_>,
) -> Result<Plan, EditError> {
    let (files, selection) = candidate_files(workspace, index, request, rename)?;
    let mut regions = Vec::new();
    let mut notes = Vec::new();
    let mut clashes = BTreeSet::new();
    for rel in files {
        let Some(lang) = Language::from_path(Path::new(&rel)) else { continue };
        let text = match texts.get(&rel) {
            Ok(text) => text,
            // A file the user named must be readable; one the index found may be skipped.
            Err(e) if request.scope != Scope::Repository => return Err(e),
            Err(e) => {
                notes.push(format!("skipped {rel}: {e}"));
                continue;
            }
        };
        if !text.contains(rename.from.as_str()) {
            continue;
        }
        let found = occurrences(lang, &text, rename)?;
        if found.is_empty() {
            continue;
        }
        let symbols = hearth_syntax::analyze(lang, &text)?.symbols;
        let lines = hearth_base::LineIndex::new(&text);
        for (range, place) in found {
            if let Some(sel) = &selection {
                if range.start < sel.start || range.end > sel.end {
                    continue;
                }
            }
            let line = lines.line_col(&text, range.start, hearth_base::WideEncoding::Utf8).map(|p| p.line).unwrap_or(0);
            let reason = match place {
                Place::Comment => "mention in a comment".to_string(),
                Place::String => "mention in a string".to_string(),
                Place::Code => match symbols.iter().find(|s| s.name_range.start_byte == range.start) {
                    Some(s) => format!("definition of `{}` ({})", s.name, s.kind.as_str()),
                    None => format!("reference to `{}`", rename.from),
                },
            };
            regions.push(Region { path: rel.clone(), start_line: line, end_line: line, start_byte: range.start, end_byte: range.end, reason });
        }
        if !hearth_syntax::identifier_occurrences(lang, &text, &rename.to)?.is_empty() {
            clashes.insert(rel.clone());
        }
    }
    if let Some(index) = index {
        for def in index.symbols(&rename.to) {
            clashes.insert(format!("{}:{} ({})", def.path, def.start_line + 1, def.kind.as_str()));
        }
    }
    if !clashes.is_empty() {
        notes.push(format!(
            "`{}` already exists in {}: check that the rename does not clash",
            rename.to,
            clashes.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    if regions.is_empty() {
        notes.push(format!("no occurrence of `{}` found", rename.from));
    }
    Ok(Plan {
        strategy: Strategy::Rename {
            from: rename.from.clone(),
            to: rename.to.clone(),
            in_comments: rename.in_comments,
            in_strings: rename.in_strings,
        },
        regions,
        omitted: 0,
        limit: request.limit,
        notes,
    })
}

/// Replaces every planned occurrence.
pub(crate) fn apply_plan(
    workspace: &Workspace,
    plan: &Plan,
    texts: &Texts<'_>,
) -> Result<(Vec<FileChange>, Report), EditError> {
    let Strategy::Rename { to, .. } = &plan.strategy else { unreachable!("rename::apply_plan on a rewrite plan") };
    let mut by_file: BTreeMap<&str, Vec<Range<usize>>> = BTreeMap::new();
    for r in &plan.regions {
        by_file.entry(&r.path).or_default().push(r.start_byte..r.end_byte);
    }
    let mut files = Vec::new();
    let mut notes = Vec::new();
    let mut renamed = 0;
    for (rel, mut ranges) in by_file {
        let old = texts.get(rel)?;
        let count = ranges.len();
        ranges.sort_by_key(|r| std::cmp::Reverse(r.start));
        let mut new = old.clone();
        for range in ranges {
            new.replace_range(range, to);
        }
        // The same gate as model rewrites: a keyword as the new name must not break the file.
        if let Some(lang) = Language::from_path(Path::new(rel)) {
            if hearth_syntax::error_count(lang, &new)? > hearth_syntax::error_count(lang, &old)? {
                notes.push(format!("{rel} left unchanged: renaming to `{to}` breaks its syntax (a keyword?)"));
                continue;
            }
        }
        renamed += count;
        files.push(FileChange { path: rel.to_string(), abs_path: workspace.root().join(rel), old, new });
    }
    notes.insert(0, format!("{renamed} occurrence(s) renamed in {} file(s)", files.len()));
    notes.extend(plan.notes.iter().cloned());
    let report = Report { files_changed: files.len(), notes, ..Report::default() };
    Ok((files, report))
}

/// Files that may hold occurrences, root-relative and sorted, and the selection's byte range if any.
fn candidate_files(
    workspace: &Workspace,
    index: Option<&Index>,
    request: &EditRequest,
    rename: &Rename,
) -> Result<(Vec<String>, Option<Range<usize>>), EditError> {
    match &request.scope {
        Scope::File(path) => Ok((vec![workspace.resolve(path)?.rel], None)),
        Scope::Selection { path, range } => Ok((vec![workspace.resolve(path)?.rel], Some(range.clone()))),
        Scope::Repository => {
            let limits = request.paths.iter().map(|p| workspace.resolve(p).map(|p| p.rel)).collect::<Result<Vec<_>, _>>()?;
            let files: BTreeSet<String> = match index {
                Some(index) if !rename.in_comments && !rename.in_strings => {
                    index.references(&rename.from)?.into_iter().map(|l| l.path).collect()
                }
                _ => walk_source_files(workspace.root()),
            };
            Ok((files.into_iter().filter(|f| within(f, &limits)).collect(), None))
        }
    }
}

/// Whether root-relative `file` is one of `limits` or under one of them (no limits: always).
pub(crate) fn within(file: &str, limits: &[String]) -> bool {
    limits.is_empty()
        || limits.iter().any(|l| l.is_empty() || file == l || file.strip_prefix(l.as_str()).is_some_and(|rest| rest.starts_with('/')))
}

/// Source files under `root` as git sees them (.gitignore and friends honoured, hidden files skipped).
fn walk_source_files(root: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for entry in ignore::WalkBuilder::new(root).require_git(false).build().flatten() {
        if !entry.file_type().is_some_and(|t| t.is_file()) || Language::from_path(entry.path()).is_none() {
            continue;
        }
        if let Ok(rel) = entry.path().strip_prefix(root) {
            out.insert(rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"));
        }
    }
    out
}

/// Occurrences of `rename.from` in source order: identifier nodes, plus whole-word mentions in
/// comments and string literals when the rename asks for them.
fn occurrences(lang: Language, text: &str, rename: &Rename) -> Result<Vec<(Range<usize>, Place)>, EditError> {
    let mut out: Vec<(Range<usize>, Place)> = hearth_syntax::identifier_occurrences(lang, text, &rename.from)?
        .into_iter()
        .map(|r| (r.start_byte..r.end_byte, Place::Code))
        .collect();
    if rename.in_comments || rename.in_strings {
        let parsed = hearth_syntax::parse(lang, text)?;
        let mut extra = Vec::new();
        collect_text_mentions(parsed.tree.root_node(), text, rename, &mut extra);
        for (range, place) in extra {
            if !out.iter().any(|(r, _)| r.start < range.end && range.start < r.end) {
                out.push((range, place));
            }
        }
        out.sort_by_key(|(r, _)| r.start);
    }
    Ok(out)
}

fn collect_text_mentions(node: Node<'_>, text: &str, rename: &Rename, out: &mut Vec<(Range<usize>, Place)>) {
    let kind = node.kind();
    let place = if kind.contains("comment") {
        Some(Place::Comment)
    } else if kind.contains("string") && !kind.ends_with("identifier") {
        Some(Place::String)
    } else {
        None
    };
    if let Some(place) = place {
        let wanted = match place {
            Place::Comment => rename.in_comments,
            _ => rename.in_strings,
        };
        if wanted {
            out.extend(word_matches(text, node.byte_range(), &rename.from).map(|r| (r, place)));
        }
        return;
    }
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        collect_text_mentions(child, text, rename, out);
    }
}

/// Whole-word occurrences of `word` within `range` of `text`.
fn word_matches<'t>(text: &'t str, range: Range<usize>, word: &'t str) -> impl Iterator<Item = Range<usize>> + 't {
    let is_word = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    let base = range.start;
    text[range].match_indices(word).filter_map(move |(i, _)| {
        let (start, end) = (base + i, base + i + word.len());
        let before = text[..start].chars().next_back();
        let after = text[end..].chars().next();
        (!before.is_some_and(is_word) && !after.is_some_and(is_word)).then_some(start..end)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rename(c: bool, s: bool) -> Rename {
        Rename { from: "load".into(), to: "fetch".into(), in_comments: c, in_strings: s }
    }

    fn spans<'t>(text: &'t str, r: &Rename) -> Vec<(&'t str, Place)> {
        occurrences(Language::Python, text, r).unwrap().into_iter().map(|(range, p)| (&text[range], p)).collect()
    }

    const SRC: &str = "# load the data\ndef load(path):\n    msg = \"load failed\"\n    return loader(path), load\n";

    #[test]
    fn code_only_by_default() {
        let found = occurrences(Language::Python, SRC, &rename(false, false)).unwrap();
        let starts: Vec<usize> = found.iter().map(|(r, _)| r.start).collect();
        assert_eq!(starts, [SRC.find("def load").unwrap() + 4, SRC.rfind("load\n").unwrap()]);
        assert!(found.iter().all(|(_, p)| *p == Place::Code));
    }

    #[test]
    fn comments_and_strings_when_asked() {
        assert_eq!(spans(SRC, &rename(true, false)).iter().filter(|(_, p)| *p == Place::Comment).count(), 1);
        let all = spans(SRC, &rename(true, true));
        assert_eq!(all.len(), 4, "{all:?}");
        assert!(all.iter().all(|(s, _)| *s == "load"), "`loader` must not match: {all:?}");
    }

    #[test]
    fn limits_match_directories_and_files() {
        assert!(within("src/a.py", &["src".into()]));
        assert!(!within("src2/a.py", &["src".into()]));
        assert!(within("a.py", &["a.py".into()]));
        assert!(within("a.py", &[]));
    }
}
