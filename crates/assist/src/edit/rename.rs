//! The structural fast path for "rename X to Y": identifier nodes found with tree-sitter (never
//! inside strings or comments unless asked, never part of a longer name), files found with the index.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::path::Path;

use hearth_index::{Index, SkipReason};
use hearth_syntax::{Language, Literal, Parsed};

use super::{
    workspace::{Workspace, MAX_FILE_BYTES},
    EditError, EditRequest, FileChange, Plan, Region, Rename, Report, Scope, SkippedFile, Strategy, Texts,
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
    let Candidates { files, selection, unedited: mut skipped_files } = candidate_files(workspace, index, request, rename)?;
    let mut regions = Vec::new();
    let mut notes = Vec::new();
    let mut clashes = BTreeSet::new();
    for rel in files {
        let Some(lang) = Language::from_path(Path::new(&rel)) else { continue };
        let text = match texts.get(&rel) {
            Ok(text) => text,
            // A file the user named must be readable; one the index found may be skipped, and is
            // listed when it mentions the name.
            Err(e) if request.scope != Scope::Repository => return Err(e),
            Err(e) => {
                if mentions(&workspace.root().join(&rel), &rename.from) {
                    skipped_files.push(SkippedFile { path: rel, reason: e.to_string() });
                }
                continue;
            }
        };
        if !text.contains(rename.from.as_str()) {
            continue;
        }
        let parsed = match hearth_syntax::parse(lang, &text) {
            Ok(parsed) => parsed,
            Err(e) if request.scope != Scope::Repository => return Err(e.into()),
            Err(e) => {
                skipped_files.push(SkippedFile { path: rel, reason: format!("cannot parse it: {e}") });
                continue;
            }
        };
        let found = occurrences(&parsed, &text, rename)?;
        if found.is_empty() {
            continue;
        }
        let symbols = hearth_syntax::symbols(&parsed, &text)?;
        let definitions: HashMap<usize, &hearth_syntax::Symbol> = symbols.iter().map(|s| (s.name_range.start_byte, s)).collect();
        let lines = hearth_base::LineIndex::new(&text);
        for (range, place) in found {
            if let Some(sel) = &selection {
                if range.start < sel.start || range.end > sel.end {
                    continue;
                }
            }
            let line = lines.line_of(range.start);
            let reason = match place {
                Place::Comment => "mention in a comment".to_string(),
                Place::String => "mention in a string".to_string(),
                Place::Code => match definitions.get(&range.start) {
                    Some(s) => format!("definition of `{}` ({})", s.name, s.kind.as_str()),
                    None => format!("reference to `{}`", rename.from),
                },
            };
            regions.push(Region {
                path: rel.clone(),
                start_line: line,
                end_line: line,
                start_byte: range.start,
                end_byte: range.end,
                reason,
            });
        }
        if !hearth_syntax::occurrences_in(&parsed, &text, &rename.to)?.is_empty() {
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
        skipped_files,
    })
}

/// Replaces every planned occurrence.
pub(crate) fn apply_plan(workspace: &Workspace, plan: &Plan, texts: &Texts<'_>) -> Result<(Vec<FileChange>, Report), EditError> {
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
        ranges.sort_by_key(|r| r.start);
        let new = replace_all(&old, &ranges, to);
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
    let report = Report { files_changed: files.len(), notes, skipped_files: plan.skipped_files.clone(), ..Report::default() };
    Ok((files, report))
}

/// Files past this are not searched for mentions, and are listed as possibly mentioning the name.
const MAX_MENTION_SCAN: u64 = 64 << 20;

/// Whether the file at `abs` holds `word` as a whole word, byte for byte (for files that are not
/// text the rename can edit); a file too large to search counts as a mention.
fn mentions(abs: &Path, word: &str) -> bool {
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80;
    let bytes = match hearth_base::read_regular(abs, MAX_MENTION_SCAN) {
        Ok(bytes) => bytes,
        Err(hearth_base::ReadError::TooLarge { .. }) => return true,
        Err(_) => return false,
    };
    let word = word.as_bytes();
    if word.is_empty() {
        return false;
    }
    let mut from = 0;
    while let Some(at) = bytes[from..].windows(word.len()).position(|w| w == word) {
        let (start, end) = (from + at, from + at + word.len());
        let before = start.checked_sub(1).map(|i| bytes[i]);
        if !before.is_some_and(is_word) && !bytes.get(end).copied().is_some_and(is_word) {
            return true;
        }
        from = start + 1;
    }
    false
}

/// `text` with each of `ranges` (sorted, disjoint) replaced by `to`, in one pass.
fn replace_all(text: &str, ranges: &[Range<usize>], to: &str) -> String {
    let mut out = String::with_capacity(text.len() + ranges.len() * to.len());
    let mut at = 0;
    for range in ranges {
        out.push_str(&text[at..range.start]);
        out.push_str(to);
        at = range.end;
    }
    out.push_str(&text[at..]);
    out
}

/// Where a rename looks.
struct Candidates {
    /// Files that may hold occurrences, root-relative and sorted.
    files: BTreeSet<String>,
    /// The selection's byte range, if any.
    selection: Option<Range<usize>>,
    /// Files the index skipped that mention the name but cannot be edited.
    unedited: Vec<SkippedFile>,
}

fn candidate_files(workspace: &Workspace, index: Option<&Index>, request: &EditRequest, rename: &Rename) -> Result<Candidates, EditError> {
    match &request.scope {
        Scope::File(path) => {
            Ok(Candidates { files: BTreeSet::from([workspace.resolve(path)?.rel]), selection: None, unedited: Vec::new() })
        }
        Scope::Selection { path, range } => {
            Ok(Candidates { files: BTreeSet::from([workspace.resolve(path)?.rel]), selection: Some(range.clone()), unedited: Vec::new() })
        }
        Scope::Repository => {
            let limits = request.paths.iter().map(|p| workspace.resolve(p).map(|p| p.rel)).collect::<Result<Vec<_>, _>>()?;
            // The index's file set either way: references when only code is renamed, every indexed
            // file when mentions in comments and strings count too.
            let files: BTreeSet<String> = match index {
                Some(index) if !rename.in_comments && !rename.in_strings => {
                    index.references(&rename.from)?.into_iter().map(|l| l.path).collect()
                }
                Some(index) => index.file_paths().into_iter().collect(),
                None => hearth_index::source_files(workspace.root(), MAX_FILE_BYTES).into_iter().collect(),
            };
            let mut files: BTreeSet<String> = files.into_iter().filter(|f| within(f, &limits)).collect();
            let mut unedited = Vec::new();
            for skipped in index.map(Index::skipped_files).unwrap_or_default().into_iter().filter(|s| within(&s.path, &limits)) {
                match skipped.reason {
                    // Text the index passed over for its own reasons: renamed like any other file.
                    SkipReason::Minified { .. } | SkipReason::Generated { .. } | SkipReason::OverIndexCap { .. } => {
                        files.insert(skipped.path);
                    }
                    reason => {
                        if mentions(&workspace.root().join(&skipped.path), &rename.from) {
                            unedited.push(SkippedFile { path: skipped.path, reason: reason.to_string() });
                        }
                    }
                }
            }
            Ok(Candidates { files, selection: None, unedited })
        }
    }
}

/// Whether root-relative `file` is one of `limits` or under one of them (no limits: always).
pub(crate) fn within(file: &str, limits: &[String]) -> bool {
    limits.is_empty()
        || limits.iter().any(|l| l.is_empty() || file == l || file.strip_prefix(l.as_str()).is_some_and(|rest| rest.starts_with('/')))
}

/// Occurrences of `rename.from` in source order: identifier nodes, plus whole-word mentions in
/// comments and string literals when the rename asks for them.
fn occurrences(parsed: &Parsed, text: &str, rename: &Rename) -> Result<Vec<(Range<usize>, Place)>, EditError> {
    let mut out: Vec<(Range<usize>, Place)> =
        hearth_syntax::occurrences_in(parsed, text, &rename.from)?.into_iter().map(|r| (r.start_byte..r.end_byte, Place::Code)).collect();
    if rename.in_comments || rename.in_strings {
        let mut extra = Vec::new();
        for (range, literal) in hearth_syntax::literals(parsed) {
            let place = match literal {
                Literal::Comment if rename.in_comments => Place::Comment,
                Literal::String if rename.in_strings => Place::String,
                _ => continue,
            };
            extra.extend(word_matches(text, range.start_byte..range.end_byte, &rename.from).map(|r| (r, place)));
        }
        // `out` is in source order: a binary search finds the code occurrence a mention could overlap.
        let overlaps = |range: &Range<usize>| {
            let after = out.partition_point(|(r, _)| r.end <= range.start);
            out.get(after).is_some_and(|(r, _)| r.start < range.end)
        };
        let extra: Vec<_> = extra.into_iter().filter(|(range, _)| !overlaps(range)).collect();
        out.extend(extra);
        out.sort_by_key(|(r, _)| r.start);
    }
    Ok(out)
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
        occurrences(&hearth_syntax::parse(Language::Python, text).unwrap(), text, r)
            .unwrap()
            .into_iter()
            .map(|(range, p)| (&text[range], p))
            .collect()
    }

    const SRC: &str = "# load the data\ndef load(path):\n    msg = \"load failed\"\n    return loader(path), load\n";

    #[test]
    fn code_only_by_default() {
        let found = occurrences(&hearth_syntax::parse(Language::Python, SRC).unwrap(), SRC, &rename(false, false)).unwrap();
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
