//! Retrieval: the few snippets worth sending to the model for a cursor, ranked, deduplicated, explained
//! and cut to a token budget.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{TantivyDocument, Term};

use crate::schema::SegmentColumns;
use crate::store::{dir_of, Index, RecentEdit, State, SymbolEntry};
use crate::tokenizer::for_each_identifier;
use crate::walk::floor_char_boundary;
use crate::IndexError;

/// Lines before and after the cursor whose identifiers count as "near the cursor".
const WINDOW_BEFORE: u32 = 30;
const WINDOW_AFTER: u32 = 10;
/// Lines before the cursor whose identifiers make the similarity query.
const SIMILAR_BEFORE: u32 = 15;
/// Names looked up, most relevant first.
const MAX_NAMES: usize = 24;
/// A name defined in more places than this is too ambiguous unless a definition is close by.
const MAX_DEFS_PER_NAME: usize = 3;
/// Longest definition snippet, in lines.
const MAX_DEFINITION_LINES: u32 = 24;
const MAX_SIMILAR: usize = 8;
/// Definitions read from disk per call, best first; more rarely fit a prompt budget anyway.
const MAX_DEFINITION_READS: usize = 16;
const MAX_SIMILAR_TERMS: usize = 12;
/// Distinct identifiers whose document frequency is looked up, out of which the rarest are kept.
const MAX_TERM_LOOKUPS: usize = 48;
const MAX_RECENT: usize = 4;
/// Lines from the top of the cursor's file searched for imports.
const IMPORT_SCAN_LINES: u32 = 300;
/// Longest similar-chunk snippet, in lines (chunks are at most this long anyway).
const MAX_CHUNK_LINES: u32 = hearth_syntax::MAX_CHUNK_LINES;
const RECENT_CONTEXT_LINES: u32 = 3;

/// Words that look like identifiers but are keywords or builtins in the languages Hearth reads.
const STOP_WORDS: &[&str] = &[
    "as",
    "async",
    "await",
    "bool",
    "break",
    "case",
    "catch",
    "char",
    "class",
    "const",
    "continue",
    "def",
    "default",
    "del",
    "do",
    "elif",
    "else",
    "end",
    "enum",
    "except",
    "export",
    "extends",
    "false",
    "final",
    "finally",
    "fn",
    "for",
    "from",
    "func",
    "function",
    "go",
    "if",
    "impl",
    "import",
    "in",
    "int",
    "interface",
    "is",
    "let",
    "local",
    "loop",
    "match",
    "mod",
    "mut",
    "new",
    "nil",
    "none",
    "None",
    "not",
    "null",
    "or",
    "and",
    "package",
    "pass",
    "private",
    "protected",
    "pub",
    "public",
    "raise",
    "ref",
    "return",
    "self",
    "Self",
    "static",
    "str",
    "String",
    "struct",
    "super",
    "switch",
    "then",
    "this",
    "throw",
    "trait",
    "true",
    "True",
    "False",
    "try",
    "type",
    "typeof",
    "unsafe",
    "use",
    "using",
    "var",
    "void",
    "where",
    "while",
    "with",
    "yield",
    "usize",
    "u8",
    "u16",
    "u32",
    "u64",
    "i32",
    "i64",
    "f32",
    "f64",
    "Option",
    "Some",
    "Ok",
    "Err",
    "Result",
    "Vec",
    "len",
    "std",
];

/// What to retrieve for: a cursor in a file.
pub struct RetrieveRequest<'a> {
    /// The file, absolute or root-relative.
    pub path: &'a Path,
    /// Its current text; None means its overlay, else the disk.
    pub text: Option<&'a str>,
    /// Cursor byte offset in that text (clamped to it).
    pub offset: usize,
    /// Tokens the snippets may use in all, as `count_tokens` counts them (the snippet text plus a
    /// one-line path header each).
    pub budget_tokens: usize,
    /// The model's token counter; [`approximate_tokens`] when there is no model at hand.
    pub count_tokens: &'a dyn Fn(&str) -> usize,
}

/// Why a snippet was chosen.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// The definition of a name used near the cursor (or imported by the file).
    Definition { name: String, imported: bool },
    /// A chunk that shares identifiers with the code before the cursor (BM25).
    Similar { bm25: f32 },
    /// Lines the user changed recently (an overlay edit), `seconds_ago`.
    RecentEdit { seconds_ago: u64 },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Definition {
                name,
                imported: false,
            } => write!(f, "definition of `{name}`, used near the cursor"),
            Reason::Definition {
                name,
                imported: true,
            } => write!(f, "definition of `{name}`, imported by the file"),
            Reason::Similar { bm25 } => write!(f, "similar code (BM25 {bm25:.1} over identifiers)"),
            Reason::RecentEdit { seconds_ago } => write!(f, "edited {seconds_ago}s ago"),
        }
    }
}

/// A piece of the repository for the prompt.
#[derive(Clone, Debug, Serialize)]
pub struct Snippet {
    /// Root-relative, `/`-separated.
    pub path: String,
    /// Zero-based, end inclusive.
    pub start_line: u32,
    pub end_line: u32,
    pub text: String,
    pub reason: Reason,
    /// Relative rank in [0, ~1.2]; snippets come sorted by it, best first.
    pub score: f32,
}

impl Snippet {
    /// The line that introduces the snippet in a prompt, counted in the budget.
    pub fn header(&self) -> String {
        format!("// {}:{}\n", self.path, self.start_line + 1)
    }
}

/// A cheap token estimate (about 3.5 bytes a token for code) for callers without a tokenizer.
pub fn approximate_tokens(text: &str) -> usize {
    (text.len() * 2).div_ceil(7)
}

/// File texts read during one retrieval.
struct Texts<'i> {
    index: &'i Index,
    cache: HashMap<String, Option<Arc<str>>>,
}

impl Texts<'_> {
    fn get(&mut self, rel: &str) -> Option<Arc<str>> {
        if let Some(text) = self.cache.get(rel) {
            return text.clone();
        }
        let text = self.index.text_of(rel);
        self.cache.insert(rel.to_string(), text.clone());
        text
    }

    /// Lines `first..=last` of a file (clamped), or None if it cannot be read.
    fn lines(&mut self, rel: &str, first: u32, last: u32) -> Option<(u32, u32, String)> {
        let text = self.get(rel)?;
        let lines: Vec<&str> = text
            .lines()
            .skip(first as usize)
            .take((last.saturating_sub(first) + 1) as usize)
            .collect();
        if lines.is_empty() {
            return None;
        }
        Some((first, first + lines.len() as u32 - 1, lines.join("\n")))
    }
}

impl Index {
    /// Snippets for the cursor, best first, within the budget: definitions of the names used near the
    /// cursor and imported by the file, chunks similar to the code before the cursor, and recently edited
    /// regions. Nothing overlapping the cursor's own window comes back, and no two snippets overlap.
    pub fn retrieve(&self, request: &RetrieveRequest<'_>) -> Result<Vec<Snippet>, IndexError> {
        let rel = self
            .relative_path(request.path)
            .ok_or_else(|| IndexError::OutsideRoot(request.path.to_path_buf()))?;
        let owned;
        let text: &str = match request.text {
            Some(text) => text,
            None => {
                owned = self.text_of(&rel).unwrap_or_else(|| Arc::from(""));
                &owned
            }
        };
        let offset = floor_char_boundary(text, request.offset);
        let cursor_line = text[..offset].matches('\n').count() as u32;
        let window = (
            cursor_line.saturating_sub(WINDOW_BEFORE),
            cursor_line + WINDOW_AFTER,
        );
        let mut texts = Texts {
            index: self,
            cache: HashMap::new(),
        };
        texts.cache.insert(rel.clone(), Some(Arc::from(text)));

        // Decide under the state lock; read texts after it (text reads take the lock themselves).
        let (definitions, edits) = {
            let state = self.read_state();
            let definitions = definition_candidates(&state, &rel, text, cursor_line, window);
            let edits: Vec<RecentEdit> = state.recent_edits.iter().cloned().collect();
            (definitions, edits)
        };
        let mut definitions = definitions;
        definitions.sort_by(|a, b| b.score.total_cmp(&a.score));
        definitions.truncate(MAX_DEFINITION_READS);
        let mut candidates = Vec::new();
        for Candidate {
            name,
            path,
            def,
            imported,
            score,
        } in definitions
        {
            let span = (def.start_byte as usize, def.end_byte as usize);
            let Some(body) = self.read_span(&path, span.0, span.1, MAX_DEFINITION_LINES) else {
                continue;
            };
            candidates.push(Snippet {
                path: path.to_string(),
                start_line: def.start_line,
                end_line: def.start_line + body.lines().count().max(1) as u32 - 1,
                text: body,
                reason: Reason::Definition { name, imported },
                score,
            });
        }
        recent_edits(&edits, &rel, window, &mut texts, &mut candidates);
        self.similar(&rel, text, cursor_line, window, &mut candidates)?;
        {
            let state = self.read_state();
            for snippet in &mut candidates {
                snippet.score *= 1.0 + 0.15 * state.git.recency(&snippet.path);
            }
        }
        Ok(select(
            candidates,
            request.budget_tokens,
            request.count_tokens,
        ))
    }

    fn similar(
        &self,
        rel: &str,
        text: &str,
        cursor_line: u32,
        window: (u32, u32),
        out: &mut Vec<Snippet>,
    ) -> Result<(), IndexError> {
        let searcher = self.reader.searcher();
        let first = cursor_line.saturating_sub(SIMILAR_BEFORE) as usize;
        let mut terms: Vec<String> = Vec::new();
        for line in text.lines().skip(first).take(SIMILAR_BEFORE as usize + 1) {
            for_each_identifier(line, |_, ident| {
                if ident.len() >= 3 && !STOP_WORDS.contains(&ident) {
                    terms.push(ident.to_lowercase());
                }
            });
        }
        terms.sort();
        terms.dedup();
        // Each candidate costs a dictionary lookup per segment: a line with thousands of identifiers
        // (a data table) would cost a second. Longer identifiers tend to be the rarer ones.
        if terms.len() > MAX_TERM_LOOKUPS {
            terms.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
            terms.truncate(MAX_TERM_LOOKUPS);
        }
        // The rarest terms carry the similarity; very common ones only cost time.
        let mut rated: Vec<(u64, Term)> = Vec::new();
        for t in terms {
            let term = Term::from_field_text(self.fields.body, &t);
            let df = searcher.doc_freq(&term)?;
            if df > 0 {
                rated.push((df, term));
            }
        }
        rated.sort_by_key(|(df, _)| *df);
        rated.truncate(MAX_SIMILAR_TERMS);
        if rated.is_empty() {
            return Ok(());
        }
        let clauses: Vec<(Occur, Box<dyn Query>)> = rated
            .into_iter()
            .map(|(_, term)| {
                let q: Box<dyn Query> =
                    Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs));
                (Occur::Should, q)
            })
            .collect();
        let query = BooleanQuery::new(clauses);
        let top = searcher.search(
            &query,
            &tantivy::collector::TopDocs::with_limit(MAX_SIMILAR + 4).order_by_score(),
        )?;
        let best = top.first().map_or(1.0, |(s, _)| *s).max(f32::EPSILON);
        let mut taken = 0;
        let mut columns = SegmentColumns::new(&searcher);
        for (score, address) in top {
            if taken == MAX_SIMILAR {
                break;
            }
            let Some(chunk) = columns.chunk(address)? else {
                continue;
            };
            let (start, end) = (chunk.start_line, chunk.end_line);
            if chunk.path == rel && start <= window.1 && end >= window.0 {
                continue;
            }
            // Only windows and outlines store anything: most hits never touch the doc store.
            let (mut header, mut outline) = (None, None);
            if chunk.stored_extra {
                let doc: TantivyDocument = searcher.doc(address)?;
                let field_str = |f| {
                    doc.get_first(f)
                        .and_then(|v| v.as_str())
                        .map(str::to_string)
                };
                header = field_str(self.fields.header);
                outline = field_str(self.fields.text);
            }
            let path = chunk.path;
            let body = match outline {
                Some(outline) => Some((start, end, outline)),
                None => self
                    .read_span(
                        &path,
                        chunk.start_byte as usize,
                        chunk.end_byte as usize,
                        MAX_CHUNK_LINES,
                    )
                    .map(|body| {
                        let last = start + body.lines().count().max(1) as u32 - 1;
                        (start, last, body)
                    }),
            };
            let Some((start_line, end_line, mut body)) = body else {
                continue;
            };
            if let Some(header) = header {
                body = format!("{header}\n    ...\n{body}");
            }
            taken += 1;
            out.push(Snippet {
                path,
                start_line,
                end_line,
                text: body,
                reason: Reason::Similar { bm25: score },
                score: 0.6 * score / best,
            });
        }
        Ok(())
    }
}

/// A definition worth showing, resolved out of the symbol table.
struct Candidate {
    name: String,
    path: Arc<str>,
    def: SymbolEntry,
    imported: bool,
    score: f32,
}

/// Definitions worth showing, best names first.
fn definition_candidates(
    state: &State,
    rel: &str,
    text: &str,
    cursor_line: u32,
    window: (u32, u32),
) -> Vec<Candidate> {
    let mut out = Vec::new();
    // Name -> (weight, imported): nearer the cursor weighs more; import lines weigh a fixed amount.
    let mut names: HashMap<&str, (f32, bool)> = HashMap::new();
    // Imports sit at the top; past that only the window matters (and big files stay cheap).
    let scan_end = window.1.max(IMPORT_SCAN_LINES);
    for (line_no, line) in text.lines().enumerate().take(scan_end as usize + 1) {
        let line_no = line_no as u32;
        let near = line_no >= window.0 && line_no <= window.1;
        let import = is_import_line(line);
        if !near && !import {
            continue;
        }
        let weight = if near {
            1.0 / (1.0 + line_no.abs_diff(cursor_line) as f32 / 6.0)
        } else {
            0.35
        };
        for_each_identifier(line, |_, ident| {
            if ident.len() < 2 || STOP_WORDS.contains(&ident) {
                return;
            }
            let slot = names.entry(ident).or_insert((0.0, false));
            slot.0 = slot.0.max(weight);
            slot.1 |= import && !near;
        });
    }
    let mut ranked: Vec<(&str, f32, bool)> =
        names.into_iter().map(|(n, (w, i))| (n, w, i)).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    let dir = dir_of(rel);
    let own_id = state.file_id(rel);
    // The cursor's file is in its directory too (when indexed).
    let same_dir = state.files_in_dir(dir);
    let mut looked_up = 0;
    for (name, weight, imported) in ranked {
        let Some(defs) = state.symbols.get(name) else {
            continue;
        };
        looked_up += 1;
        if looked_up > MAX_NAMES {
            break;
        }
        // Definitions visible in the cursor's own window are already in the prompt.
        let outside_window = |d: &&SymbolEntry| {
            !(Some(d.file) == own_id && d.start_line <= window.1 && d.end_line >= window.0)
        };
        let count = defs.iter().filter(outside_window).count();
        if count == 0 {
            continue;
        }
        // An ambiguous name (`fmt`, `from`: thousands of definitions on a big tree) keeps only
        // definitions in the cursor's file or directory: a binary search in the directory's sorted
        // file ids before scoring, so a common name costs one pass and no sort of all its definitions.
        let ambiguous = count > MAX_DEFS_PER_NAME;
        let mut defs: Vec<(&SymbolEntry, f32)> = defs
            .iter()
            .filter(outside_window)
            .filter(|d| !ambiguous || same_dir.binary_search(&d.file).is_ok())
            .map(|d| (d, affinity(rel, dir, state.path(d.file))))
            .collect();
        defs.sort_by(|a, b| {
            b.1.total_cmp(&a.1).then_with(|| {
                (state.path(a.0.file), a.0.start_line).cmp(&(state.path(b.0.file), b.0.start_line))
            })
        });
        let spread = (count as f32).sqrt();
        for (def, affinity) in defs.into_iter().take(2) {
            if ambiguous && affinity < 0.9 {
                continue;
            }
            out.push(Candidate {
                name: name.to_string(),
                path: state.path(def.file).clone(),
                def: def.clone(),
                imported,
                score: weight * affinity * kind_weight(def) / spread.max(1.0),
            });
        }
    }
    out
}

fn recent_edits(
    edits: &[RecentEdit],
    rel: &str,
    window: (u32, u32),
    texts: &mut Texts<'_>,
    out: &mut Vec<Snippet>,
) {
    for (rank, edit) in edits.iter().enumerate() {
        if out
            .iter()
            .filter(|s| matches!(s.reason, Reason::RecentEdit { .. }))
            .count()
            >= MAX_RECENT
        {
            break;
        }
        if edit.path == rel
            && edit.start_line <= window.1 + RECENT_CONTEXT_LINES
            && edit.end_line + RECENT_CONTEXT_LINES >= window.0
        {
            continue;
        }
        let first = edit.start_line.saturating_sub(RECENT_CONTEXT_LINES);
        let last = (edit.end_line + RECENT_CONTEXT_LINES).min(first + MAX_DEFINITION_LINES);
        let Some((start_line, end_line, body)) = texts.lines(&edit.path, first, last) else {
            continue;
        };
        out.push(Snippet {
            path: edit.path.clone(),
            start_line,
            end_line,
            text: body,
            reason: Reason::RecentEdit {
                seconds_ago: edit.at.elapsed().as_secs(),
            },
            score: 0.45 / (1.0 + rank as f32 * 0.3),
        });
    }
}

/// How close a definition's file is to the cursor's file.
fn affinity(rel: &str, dir: &str, path: &str) -> f32 {
    if path == rel {
        1.0
    } else if dir_of(path) == dir {
        0.9
    } else if path.split('/').next() == rel.split('/').next() {
        0.75
    } else {
        0.6
    }
}

fn kind_weight(def: &SymbolEntry) -> f32 {
    use hearth_syntax::SymbolKind::*;
    match def.kind {
        Function | Method | Class | Struct | Enum | Interface | Trait | Type | Macro => 1.0,
        Impl | Module | Namespace | Union => 0.8,
        Constant | Variable | Field => 0.7,
    }
}

fn is_import_line(line: &str) -> bool {
    let line = line.trim_start();
    [
        "use ", "import ", "from ", "#include", "require", "using ", "pub use ",
    ]
    .iter()
    .any(|p| line.starts_with(p))
        || line.contains("require(")
}

/// Best first, no overlaps (a lower-ranked snippet overlapping a kept one is dropped), within budget.
fn select(
    mut candidates: Vec<Snippet>,
    budget: usize,
    count_tokens: &dyn Fn(&str) -> usize,
) -> Vec<Snippet> {
    candidates.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| (&a.path, a.start_line).cmp(&(&b.path, b.start_line)))
    });
    let mut kept: Vec<Snippet> = Vec::new();
    let mut used = 0;
    for snippet in candidates {
        let overlaps = kept.iter().any(|k| {
            k.path == snippet.path
                && k.start_line <= snippet.end_line
                && snippet.start_line <= k.end_line
        });
        if overlaps {
            continue;
        }
        let cost = count_tokens(&snippet.header()) + count_tokens(&snippet.text);
        if used + cost > budget {
            continue;
        }
        used += cost;
        kept.push(snippet);
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snippet(path: &str, start: u32, end: u32, score: f32, text: &str) -> Snippet {
        Snippet {
            path: path.into(),
            start_line: start,
            end_line: end,
            text: text.into(),
            reason: Reason::Similar { bm25: 1.0 },
            score,
        }
    }

    #[test]
    fn select_ranks_dedups_and_keeps_to_the_budget() {
        let count = |s: &str| s.len();
        let header_cost = "// a.rs:1\n".len();
        let picked = select(
            vec![
                snippet("a.rs", 0, 9, 0.5, "aaaa"),
                snippet("a.rs", 5, 12, 0.9, "bbbb"),
                snippet("b.rs", 0, 1, 0.7, &"c".repeat(100)),
                snippet("c.rs", 3, 4, 0.1, "dd"),
            ],
            2 * header_cost + 6,
            &count,
        );
        let got: Vec<(&str, u32)> = picked
            .iter()
            .map(|s| (s.path.as_str(), s.start_line))
            .collect();
        assert_eq!(got, vec![("a.rs", 5), ("c.rs", 3)]);
    }
}
