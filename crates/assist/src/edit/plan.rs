//! Planning a model rewrite: the regions an instruction is about, from the index (definitions and
//! references of the symbols it names, else the chunks BM25 ranks highest), merged, capped, each
//! with its reason.

use std::collections::BTreeMap;
use std::path::Path;

use hearth_base::LineIndex;
use hearth_index::Index;
use hearth_syntax::{Chunk, Language};

use super::instruction::named_identifiers;
use super::rename::within;
use super::{workspace::Workspace, EditError, EditRequest, Plan, Region, Scope, Strategy, Texts};

/// A candidate region in lines, with its priority (lower first when the cap bites).
struct Candidate {
    path: String,
    start_line: u32,
    end_line: u32,
    priority: u8,
    reasons: Vec<String>,
}

pub(crate) fn plan(workspace: &Workspace, index: Option<&Index>, request: &EditRequest, texts: &Texts<'_>) -> Result<Plan, EditError> {
    let mut notes = Vec::new();
    let candidates = match &request.scope {
        Scope::Selection { path, range } => {
            let rel = workspace.resolve(path)?.rel;
            let text = texts.get(&rel)?;
            if range.start > range.end || range.end > text.len() {
                return Err(EditError::BadSelection { path: rel, start: range.start, end: range.end, len: text.len() });
            }
            let lines = LineIndex::new(&text);
            let line_of = |b: usize| lines.line_of(b);
            // A selection ending at the start of a line does not include that line.
            let end = if range.end > range.start && text[..range.end].ends_with('\n') { range.end - 1 } else { range.end };
            vec![Candidate {
                path: rel,
                start_line: line_of(range.start),
                end_line: line_of(end),
                priority: 0,
                reasons: vec!["the selection".into()],
            }]
        }
        Scope::File(path) => {
            let rel = workspace.resolve(path)?.rel;
            let text = texts.get(&rel)?;
            let mut found = file_candidates(&rel, &text, &request.instruction)?;
            if found.is_empty() {
                let last = LineIndex::new(&text).line_count().saturating_sub(1 + u32::from(text.ends_with('\n')));
                found.push(Candidate {
                    path: rel,
                    start_line: 0,
                    end_line: last,
                    priority: 0,
                    reasons: vec!["the whole file (it defines or uses no symbol the instruction names)".into()],
                });
            }
            found
        }
        Scope::Repository => {
            let Some(index) = index else { return Err(EditError::NoIndex) };
            let limits = request.paths.iter().map(|p| workspace.resolve(p).map(|p| p.rel)).collect::<Result<Vec<_>, _>>()?;
            let mut found = repository_candidates(index, texts, &request.instruction, &mut notes)?;
            found.retain(|c| within(&c.path, &limits));
            found
        }
    };
    let mut merged = merge(candidates);
    merged.sort_by(|a, b| (a.priority, &a.path, a.start_line).cmp(&(b.priority, &b.path, b.start_line)));
    let omitted = merged.len().saturating_sub(request.limit);
    merged.truncate(request.limit);
    merged.sort_by(|a, b| (&a.path, a.start_line).cmp(&(&b.path, b.start_line)));

    let mut regions = Vec::with_capacity(merged.len());
    for c in merged {
        let text = texts.get(&c.path)?;
        let lines = LineIndex::new(&text);
        let start_byte = lines.line_start(c.start_line).unwrap_or(text.len());
        let end_byte = lines.line_start(c.end_line + 1).unwrap_or(text.len());
        regions.push(Region {
            path: c.path,
            start_line: c.start_line,
            end_line: c.end_line,
            start_byte,
            end_byte,
            reason: c.reasons.join("; "),
        });
    }
    if regions.is_empty() {
        notes.push("nothing in the index matches the instruction: name a symbol, or pass a file or a selection".into());
    }
    Ok(Plan { strategy: Strategy::Rewrite, regions, omitted, limit: request.limit, notes, skipped_files: Vec::new() })
}

/// Definitions of, and chunks using, the identifiers the instruction names, within one file.
fn file_candidates(rel: &str, text: &str, instruction: &str) -> Result<Vec<Candidate>, EditError> {
    let Some(lang) = Language::from_path(Path::new(rel)) else { return Ok(Vec::new()) };
    let syntax = hearth_syntax::analyze(lang, text)?;
    let (code_like, other) = named_identifiers(instruction);
    let names: Vec<String> =
        if code_like.is_empty() { other.into_iter().filter(|w| w.len() >= 3 && !is_instruction_word(w)).collect() } else { code_like };
    let mut out = Vec::new();
    for name in &names {
        for s in syntax.symbols.iter().filter(|s| &s.name == name) {
            out.push(Candidate {
                path: rel.into(),
                start_line: s.range.start_line,
                end_line: s.range.end_line,
                priority: 0,
                reasons: vec![format!("definition of `{name}` ({})", s.kind.as_str())],
            });
        }
        for occurrence in hearth_syntax::identifier_occurrences(lang, text, name)? {
            if let Some(chunk) = enclosing_chunk(&syntax.chunks, occurrence.start_line) {
                out.push(chunk_candidate(rel, chunk, 1, format!("uses `{name}`")));
            }
        }
    }
    Ok(out)
}

fn repository_candidates(
    index: &Index,
    texts: &Texts<'_>,
    instruction: &str,
    notes: &mut Vec<String>,
) -> Result<Vec<Candidate>, EditError> {
    let (code_like, other) = named_identifiers(instruction);
    // Plain words count as names only when nothing looks like code ("make `Parser` faster" names
    // `Parser`; "make Parser faster" still finds it), and never the instruction's own verbs.
    let names: Vec<String> = if code_like.is_empty() {
        other.into_iter().filter(|w| w.len() >= 3 && !is_instruction_word(w) && !index.symbols(w).is_empty()).collect()
    } else {
        code_like
    };
    let mut out = Vec::new();
    let mut chunks_of: BTreeMap<String, Option<Vec<Chunk>>> = BTreeMap::new();
    for name in &names {
        for def in index.symbols(name) {
            out.push(Candidate {
                path: def.path.to_string(),
                start_line: def.start_line,
                end_line: def.end_line,
                priority: 0,
                reasons: vec![format!("definition of `{name}` ({})", def.kind.as_str())],
            });
        }
        for loc in index.references(name)? {
            let chunks = chunks_of.entry(loc.path.clone()).or_insert_with(|| {
                let lang = Language::from_path(Path::new(&loc.path))?;
                let text = texts.get(&loc.path).ok()?;
                hearth_syntax::analyze(lang, &text).ok().map(|s| s.chunks)
            });
            if let Some(chunk) = chunks.as_deref().and_then(|c| enclosing_chunk(c, loc.line)) {
                out.push(chunk_candidate(&loc.path, chunk, 1, format!("uses `{name}`")));
            }
        }
    }
    if out.is_empty() {
        // The instruction's own verbs would match unrelated code ("add" finds `def add`); weak hits
        // far below the best one are noise.
        let query: Vec<&str> =
            instruction.split_whitespace().filter(|w| !is_instruction_word(w.trim_matches(|c: char| !c.is_alphanumeric()))).collect();
        let hits = index.search(&query.join(" "), 64)?;
        let best = hits.iter().map(|h| h.score).fold(0.0f32, f32::max);
        for hit in hits.into_iter().filter(|h| h.score >= 0.4 * best) {
            out.push(Candidate {
                path: hit.path,
                start_line: hit.start_line,
                end_line: hit.end_line,
                priority: 2,
                reasons: vec![format!("matches the instruction (BM25 {:.1}, {} `{}`)", hit.score, hit.kind, hit.name)],
            });
        }
        if !out.is_empty() {
            notes.push("no symbol named in the instruction was found; regions come from BM25 search".into());
        }
    }
    Ok(out)
}

fn chunk_candidate(rel: &str, chunk: &Chunk, priority: u8, reason: String) -> Candidate {
    Candidate { path: rel.into(), start_line: chunk.range.start_line, end_line: chunk.range.end_line, priority, reasons: vec![reason] }
}

/// The smallest chunk covering `line`.
fn enclosing_chunk(chunks: &[Chunk], line: u32) -> Option<&Chunk> {
    chunks.iter().filter(|c| c.range.start_line <= line && line <= c.range.end_line).min_by_key(|c| c.range.end_line - c.range.start_line)
}

/// Overlapping candidates of one file become one, with the best priority and all reasons.
fn merge(mut candidates: Vec<Candidate>) -> Vec<Candidate> {
    candidates.sort_by(|a, b| (&a.path, a.start_line, b.end_line).cmp(&(&b.path, b.start_line, a.end_line)));
    let mut out: Vec<Candidate> = Vec::new();
    for c in candidates {
        match out.last_mut() {
            Some(last) if last.path == c.path && c.start_line <= last.end_line => {
                last.end_line = last.end_line.max(c.end_line);
                last.priority = last.priority.min(c.priority);
                for r in c.reasons {
                    if !last.reasons.contains(&r) {
                        last.reasons.push(r);
                    }
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// Words of the request itself, not names in the code, however many symbols they match.
fn is_instruction_word(word: &str) -> bool {
    const WORDS: &[&str] = &[
        "a",
        "an",
        "to",
        "of",
        "in",
        "on",
        "at",
        "by",
        "it",
        "is",
        "be",
        "so",
        "as",
        "or",
        "add",
        "remove",
        "delete",
        "make",
        "convert",
        "change",
        "update",
        "use",
        "replace",
        "rename",
        "move",
        "extract",
        "inline",
        "fix",
        "refactor",
        "rewrite",
        "every",
        "all",
        "each",
        "the",
        "and",
        "with",
        "into",
        "from",
        "for",
        "this",
        "that",
        "these",
        "those",
        "its",
        "their",
        "them",
        "new",
        "old",
        "callers",
        "caller",
        "function",
        "functions",
        "method",
        "methods",
        "class",
        "parameter",
        "parameters",
        "argument",
        "arguments",
        "type",
        "types",
        "hints",
        "async",
        "await",
        "callback",
        "callbacks",
        "test",
        "tests",
        "docstring",
        "docstrings",
        "comment",
        "comments",
        "error",
        "errors",
        "handling",
        "log",
        "logging",
    ];
    WORDS.contains(&word.to_ascii_lowercase().as_str())
}
