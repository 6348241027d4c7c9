//! Retrieval: the few snippets worth sending to the model for a cursor, ranked, deduplicated, explained
//! and cut to a token budget.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{TantivyDocument, Term};

use crate::schema::SegmentColumns;
use hearth_syntax::Language;

use crate::resolve::{self, MemberSet, ResolvedImport};
use crate::store::{dir_of, Index, NameCounts, OpenFiles, RecentEdit, State, SymbolEntry};
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
/// Longest definition shown whole, in lines; a longer one is shown as its signature (and members).
const FULL_DEFINITION_LINES: u32 = 12;
/// Longest recent-edit snippet, in lines.
const MAX_EDIT_LINES: u32 = 24;
/// Longest signature line kept, in bytes.
const MAX_SIGNATURE_LINE: usize = 160;
/// Bytes read per wanted line of a definition (the read ends at the definition's end).
const SPAN_BYTES_PER_LINE: usize = 512;
/// An outline with more lines than this reads its whole file once.
const OUTLINE_LINES_PER_READ: usize = 4;
/// Bytes of the cursor's file scanned for the names it mentions.
const MENTION_BYTES: usize = 32 << 10;
/// Declarations either side of a name the file uses that count as declared beside it.
const NEIGHBOURS: usize = 2;
/// Most member lines a long type's definition snippet lists.
const MAX_DEFINITION_MEMBERS: usize = 24;
/// Shares of the budget one members outline, and one file's imported signatures, may take.
const MEMBERS_SHARE: f32 = 0.6;
const IMPORTS_SHARE: f32 = 0.35;
/// Names of its own package (Go) the cursor's file uses whose signatures are offered, nearest first.
const MAX_PACKAGE_NAMES: usize = 32;
/// Names whose use across the repository is looked up per retrieval, to rank members within a tier;
/// the counts are kept for at most `MAX_COUNTED_NAMES` names until the next commit.
const MAX_POPULARITY_LOOKUPS: usize = 96;
const MAX_COUNTED_NAMES: usize = 65_536;
/// Types a package offers where a type is wanted beyond those the file uses (Go), best first, out
/// of at most `MAX_TYPE_CANDIDATES`.
const MAX_PACKAGE_TYPES: usize = 48;
const MAX_TYPE_CANDIDATES: usize = 256;
/// Member lines a package of many files (Go) offers, over all its files, best first.
const MAX_PACKAGE_MEMBER_LINES: usize = 40;
/// Lines of a long function shown (its signature and the start of its body), so that many fit.
const LONG_DEFINITION_HEAD: u32 = 6;
/// Weight of an imported name's whole definition (its signature line is already in an outline).
const IMPORTED_BODY: f32 = 0.5;
/// Of the budget, most that one long type's definition (its head and member lines) may take.
const DEFINITION_SHARE: f32 = 0.3;
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
    /// Signatures of the members of what the qualifier before the cursor names (`_base.`, `self.`).
    Members { of: String },
    /// Signatures of the names the file imports from this file.
    Imports { names: Vec<String> },
    /// Signatures of names that this file of the cursor's own package defines and the cursor's file
    /// uses (a Go package: one scope over its directory).
    Package { names: Vec<String> },
}

impl Reason {
    /// Outlines list lines from all over a file: they neither block nor are blocked by other snippets.
    fn is_outline(&self) -> bool {
        matches!(self, Reason::Members { .. } | Reason::Imports { .. } | Reason::Package { .. })
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Definition { name, imported: false } => write!(f, "definition of `{name}`, used near the cursor"),
            Reason::Definition { name, imported: true } => write!(f, "definition of `{name}`, imported by the file"),
            Reason::Similar { bm25 } => write!(f, "similar code (BM25 {bm25:.1} over identifiers)"),
            Reason::RecentEdit { seconds_ago } => write!(f, "edited {seconds_ago}s ago"),
            Reason::Members { of } => {
                write!(f, "members of `{of}`, the qualifier before the cursor")
            }
            Reason::Imports { names } => {
                write!(f, "signatures of ")?;
                for (i, name) in names.iter().enumerate() {
                    write!(f, "{}`{name}`", if i > 0 { ", " } else { "" })?;
                }
                write!(f, ", imported by the file")
            }
            Reason::Package { names } => {
                write!(f, "signatures of ")?;
                for (i, name) in names.iter().enumerate() {
                    write!(f, "{}`{name}`", if i > 0 { ", " } else { "" })?;
                }
                write!(f, ", of the file's own package")
            }
        }
    }
}

/// A piece of the repository for the prompt; its reason serializes as the sentence `Display` gives.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snippet {
    /// Root-relative, `/`-separated.
    pub path: String,
    /// Zero-based, end inclusive.
    pub start_line: u32,
    pub end_line: u32,
    pub text: String,
    #[serde(serialize_with = "as_sentence")]
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

fn as_sentence<S: serde::Serializer>(reason: &Reason, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(reason)
}

/// A cheap token estimate (about 3.5 bytes a token for code) for callers without a tokenizer.
pub fn approximate_tokens(text: &str) -> usize {
    (text.len() * 2).div_ceil(7)
}

/// A file's text and the byte offsets its lines start at.
type LinedText = (Arc<str>, Vec<usize>);

/// File texts read during one retrieval, with their line starts.
struct Texts<'i> {
    index: &'i Index,
    cache: HashMap<String, Option<LinedText>>,
    files: OpenFiles,
}

impl Texts<'_> {
    fn get(&mut self, rel: &str) -> Option<&LinedText> {
        if !self.cache.contains_key(rel) {
            match self.index.text_of(rel) {
                Some(text) => self.insert(rel, text),
                None => {
                    self.cache.insert(rel.to_string(), None);
                }
            }
        }
        self.cache.get(rel).and_then(Option::as_ref)
    }

    fn insert(&mut self, rel: &str, text: Arc<str>) {
        let starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        self.cache.insert(rel.to_string(), Some((text, starts)));
    }

    /// Lines `first..=last` of the definition at `anchor`: from the file's text when it is at hand,
    /// else from the definition's span.
    fn lines_in(&mut self, rel: &str, anchor: Anchor, first: u32, last: u32) -> Option<(u32, u32, String)> {
        if matches!(self.cache.get(rel), Some(Some(_))) {
            return self.lines(rel, first, last);
        }
        let skip = first.checked_sub(anchor.start_line)?;
        let max_lines = last.checked_sub(anchor.start_line)? + 1;
        // Lines are rarely longer than this: a long definition costs a short read, not its whole span.
        let span_end = (anchor.start_byte as usize + max_lines as usize * SPAN_BYTES_PER_LINE).min(anchor.end_byte as usize);
        let span = (anchor.start_byte as usize, span_end);
        let body = self.index.read_span(rel, span.0, span.1, max_lines, &mut self.files)?;
        let picked: Vec<&str> = body.lines().skip(skip as usize).collect();
        let text = picked.join("\n");
        let text = text.trim_end();
        if text.is_empty() {
            return None;
        }
        Some((first, first + text.lines().count().max(1) as u32 - 1, text.to_string()))
    }

    /// One line of the definition at `anchor`, without its newline.
    fn line_in(&mut self, rel: &str, anchor: Anchor, line: u32) -> Option<String> {
        self.lines_in(rel, anchor, line, line).map(|(_, _, text)| text)
    }

    /// Lines `first..=last` of a file (clamped), or None if it cannot be read.
    fn lines(&mut self, rel: &str, first: u32, last: u32) -> Option<(u32, u32, String)> {
        let (text, starts) = self.get(rel)?;
        let begin = *starts.get(first as usize)?;
        let last = last.min(starts.len() as u32 - 1);
        let end = starts.get(last as usize + 1).map_or(text.len(), |e| e - 1);
        let body = text[begin..end.max(begin)].trim_end();
        if body.is_empty() {
            return None;
        }
        Some((first, first + body.lines().count().max(1) as u32 - 1, body.to_string()))
    }
}

/// Where a definition's text lies: reading lines of it is one short read, not the whole file.
#[derive(Clone, Copy, Debug)]
struct Anchor {
    start_line: u32,
    start_byte: u32,
    end_byte: u32,
}

impl Anchor {
    fn of(def: &SymbolEntry) -> Anchor {
        Anchor { start_line: def.start_line, start_byte: def.start_byte, end_byte: def.end_byte }
    }
}

/// A signature line as outlines show it: the indentation kept, a comment at its end dropped, long
/// lines cut at a char boundary.
fn signature_line(mut line: String, path: &str) -> String {
    if let Some(lang) = Language::from_path(Path::new(path)) {
        let code = lang.without_trailing_comment(&line).len();
        line.truncate(code);
    }
    if line.len() > MAX_SIGNATURE_LINE {
        let mut cut = MAX_SIGNATURE_LINE;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
        line.push_str(" …");
    }
    line
}

/// Lines of an outline snippet (members or imported signatures), decided under the state lock.
struct Outline {
    path: Arc<str>,
    /// The type's own header line, shown first (members of a type).
    header: Option<(u32, Anchor)>,
    /// (line, rank, the definition it is in): lower ranks are kept first when the outline does not
    /// fit its share.
    lines: Vec<(u32, u32, Anchor)>,
    reason: Reason,
    score: f32,
    /// Outlines of one group (a package's files) share one budget.
    group: Option<u32>,
}

impl Index {
    /// Snippets for the cursor, best first, within the budget: the members of what the qualifier before
    /// the cursor names, the signatures of the names the file imports, definitions of the names used near
    /// the cursor, chunks similar to the code before the cursor, and recently edited regions. Nothing
    /// overlapping the cursor's own window comes back, and no two snippets overlap (but outlines).
    pub fn retrieve(&self, request: &RetrieveRequest<'_>) -> Result<Vec<Snippet>, IndexError> {
        let rel = self.relative_path(request.path).ok_or_else(|| IndexError::OutsideRoot(request.path.to_path_buf()))?;
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
        let window = (cursor_line.saturating_sub(WINDOW_BEFORE), cursor_line + WINDOW_AFTER);
        let lang = Language::from_path(Path::new(&rel));
        let wants_type = lang.is_some_and(|lang| hearth_syntax::expects_type(lang, text, offset));
        let imports = lang.map_or_else(Vec::new, |lang| hearth_syntax::imports(lang, &rel, text));
        let mut texts = Texts { index: self, cache: HashMap::new(), files: OpenFiles::default() };

        let searcher = self.reader.searcher();
        // Decide under the state lock; read texts after it (text reads take the lock themselves).
        let (definitions, edits, outlines) = {
            let state = self.read_state();
            let imports = resolve::resolve_imports(&state, imports);
            let mut outlines = Vec::new();
            let mut popularity = Popularity::new(&searcher, self.fields.body, &self.popularity);
            let qualifier = lang.and_then(|lang| hearth_syntax::qualifier_before(lang, text, offset).map(|q| (lang, q)));
            if let Some((lang, qualifier)) = qualifier {
                let partial = qualifier.partial.as_str();
                let sets = resolve::qualified_members(&state, lang, &rel, text, offset, &qualifier, &imports);
                let own = (state.file_id(&rel), window);
                let mut mentioned = HashSet::new();
                if !sets.is_empty() {
                    for_each_identifier(mention_window(text, offset), |_, ident| {
                        mentioned.insert(ident);
                    });
                }
                for (rank, set) in sets.iter().enumerate() {
                    let score = 1.3 - 0.1 * rank as f32;
                    let ranking = (score, &mut popularity);
                    members_outlines(&state, lang, set, (partial, wants_type), &mentioned, own, ranking, &mut outlines);
                }
            }
            let mut near = HashMap::new();
            let mut definitions = definition_candidates(&state, &rel, text, cursor_line, window, &imports, &mut near);
            definitions.sort_by(|a, b| b.score.total_cmp(&a.score));
            definitions.truncate(MAX_DEFINITION_READS);
            for candidate in &mut definitions {
                candidate.member_lines = member_lines(&state, candidate);
            }
            let mut imported = Vec::new();
            imported_outlines(&state, &imports, &near, &outlines, &mut imported);
            outlines.extend(imported);
            if let Some(lang) = lang.filter(|&l| hearth_syntax::directory_is_package(l)) {
                package_outlines(&state, lang, &rel, (text, offset, wants_type), &mut popularity, &mut outlines);
            }
            let edits: Vec<RecentEdit> = state.recent_edits.iter().cloned().collect();
            (definitions, edits, outlines)
        };
        let mut candidates = Vec::new();
        let mut groups: Vec<Vec<Outline>> = Vec::new();
        for outline in outlines {
            match groups.iter_mut().find(|g| outline.group.is_some() && g[0].group == outline.group) {
                Some(group) => group.push(outline),
                None => groups.push(vec![outline]),
            }
        }
        for group in groups {
            let share = match group[0].reason {
                Reason::Members { .. } | Reason::Package { .. } => MEMBERS_SHARE,
                _ => IMPORTS_SHARE,
            };
            let cap = (request.budget_tokens as f32 * share) as usize;
            candidates.extend(render_outlines(group, cap, &mut texts, request.count_tokens));
        }
        for candidate in definitions {
            let cap = (request.budget_tokens as f32 * DEFINITION_SHARE) as usize;
            if let Some(snippet) = render_definition(candidate, cap, &mut texts, request.count_tokens) {
                candidates.push(snippet);
            }
        }
        recent_edits(&edits, &rel, window, &mut texts, &mut candidates);
        self.similar(&rel, text, cursor_line, window, &mut texts.files, &mut candidates)?;
        {
            let state = self.read_state();
            for snippet in &mut candidates {
                snippet.score *= 1.0 + 0.15 * state.git.recency(&snippet.path);
                // Open files are the neighbouring tabs: what the user works on now.
                if state.overlays.contains_key(&snippet.path) && snippet.path != rel {
                    snippet.score *= 1.1;
                }
            }
        }
        Ok(select(candidates, request.budget_tokens, request.count_tokens))
    }

    fn similar(
        &self,
        rel: &str,
        text: &str,
        cursor_line: u32,
        window: (u32, u32),
        files: &mut OpenFiles,
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
                let q: Box<dyn Query> = Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs));
                (Occur::Should, q)
            })
            .collect();
        let query = BooleanQuery::new(clauses);
        let top = searcher.search(&query, &tantivy::collector::TopDocs::with_limit(MAX_SIMILAR + 4).order_by_score())?;
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
                let field_str = |f| doc.get_first(f).and_then(|v| v.as_str()).map(str::to_string);
                header = field_str(self.fields.header);
                outline = field_str(self.fields.text);
            }
            let path = chunk.path;
            let body = match outline {
                Some(outline) => Some((start, end, outline)),
                None => self.read_span(&path, chunk.start_byte as usize, chunk.end_byte as usize, MAX_CHUNK_LINES, files).map(|body| {
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

/// The part of the cursor's file whose names count as mentioned (members it uses rank first):
/// at most `MENTION_BYTES` before the cursor and a quarter of that after, at char boundaries.
fn mention_window(text: &str, offset: usize) -> &str {
    let start = floor_char_boundary(text, offset.saturating_sub(MENTION_BYTES));
    let end = floor_char_boundary(text, offset + MENTION_BYTES / 4);
    &text[start..end.max(start)]
}

/// A definition worth showing, resolved out of the symbol table.
struct Candidate {
    name: String,
    path: Arc<str>,
    def: SymbolEntry,
    imported: bool,
    score: f32,
    /// For a long type: the lines its members are named on, shown as the whole body does not fit
    /// (filled in for the candidates that are rendered).
    member_lines: Vec<(u32, Anchor)>,
}

/// Definitions worth showing, best names first. A name the file imports resolves to the import's
/// module; any other to the definitions nearest the cursor's file.
fn definition_candidates(
    state: &State,
    rel: &str,
    text: &str,
    cursor_line: u32,
    window: (u32, u32),
    imports: &[ResolvedImport],
    near_weights: &mut HashMap<String, f32>,
) -> Vec<Candidate> {
    let mut out = Vec::new();
    // Name -> (weight, on an import line only, near the cursor): nearer weighs more; import lines a
    // fixed amount.
    let mut names: HashMap<&str, (f32, bool, bool)> = HashMap::new();
    // Imports sit at the top; past that only the window matters (and big files stay cheap).
    let scan_end = window.1.max(IMPORT_SCAN_LINES);
    for (line_no, line) in text.lines().enumerate().take(scan_end as usize + 1) {
        let line_no = line_no as u32;
        let import = is_import_line(line);
        // An import line near the cursor still only imports: its names come as signatures.
        let near = line_no >= window.0 && line_no <= window.1 && !import;
        if !near && !import {
            continue;
        }
        let weight = if near { 1.0 / (1.0 + line_no.abs_diff(cursor_line) as f32 / 6.0) } else { 0.35 };
        for_each_identifier(line, |_, ident| {
            if ident.len() < 2 || STOP_WORDS.contains(&ident) {
                return;
            }
            let slot = names.entry(ident).or_insert((0.0, false, false));
            slot.0 = slot.0.max(weight);
            slot.1 |= import && !near;
            slot.2 |= near;
        });
    }
    let mut ranked: Vec<(&str, f32, bool, bool)> = names.into_iter().map(|(n, (w, i, near))| (n, w, i, near)).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    for &(name, weight, _, near) in &ranked {
        if near && imports.iter().any(|i| i.local == name) {
            near_weights.insert(name.to_string(), weight);
        }
    }
    let dir = dir_of(rel);
    let own_id = state.file_id(rel);
    // The cursor's file is in its directory too (when indexed).
    let same_dir = state.files_in_dir(dir);
    let mut looked_up = 0;
    for (name, weight, imported, near) in ranked {
        let Some(defs) = state.symbols.get(name) else {
            continue;
        };
        looked_up += 1;
        if looked_up > MAX_NAMES {
            break;
        }
        // Definitions visible in the cursor's own window are already in the prompt.
        let outside_window = |d: &&SymbolEntry| !(Some(d.file) == own_id && d.start_line <= window.1 && d.end_line >= window.0);
        // An imported name is the import's definition, whatever else shares the name.
        let import = imports.iter().find(|i| i.member.as_deref() == Some(name) || (i.local == name && i.member.is_some()));
        if let Some(import) = import {
            if !near {
                continue; // only on import lines: its signature comes in the imports outline
            }
            let member = import.member.as_deref().unwrap_or(name);
            let Some(defs) = state.symbols.get(member) else {
                continue;
            };
            for def in defs.iter().filter(|d| import.files.contains(&d.file) && d.scope.is_none()).take(1) {
                // Its signature is in the imports outline: the body comes when the budget allows.
                let score = IMPORTED_BODY * weight * kind_weight(def);
                out.push(candidate(state, member, def, true, score));
            }
            continue;
        }
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
            b.1.total_cmp(&a.1).then_with(|| (state.path(a.0.file), a.0.start_line).cmp(&(state.path(b.0.file), b.0.start_line)))
        });
        let spread = (count as f32).sqrt();
        for (def, affinity) in defs.into_iter().take(2) {
            if ambiguous && affinity < 0.9 {
                continue;
            }
            let score = weight * affinity * kind_weight(def) / spread.max(1.0);
            out.push(candidate(state, name, def, imported, score));
        }
    }
    out
}

fn candidate(state: &State, name: &str, def: &SymbolEntry, imported: bool, score: f32) -> Candidate {
    Candidate { name: name.to_string(), path: state.path(def.file).clone(), def: def.clone(), imported, score, member_lines: Vec::new() }
}

/// The lines a long type's members are named on, in file order.
fn member_lines(state: &State, candidate: &Candidate) -> Vec<(u32, Anchor)> {
    let def = &candidate.def;
    if def.end_line - def.start_line < FULL_DEFINITION_LINES || !resolve::is_type(def.kind) {
        return Vec::new();
    }
    state
        .file_symbols(def.file)
        .into_iter()
        .filter(|(_, d)| d.scope.as_deref().is_some_and(|s| resolve::scope_is(s, &candidate.name)))
        .map(|(_, d)| (d.name_line, Anchor::of(d)))
        .collect()
}

/// A definition as a snippet: the whole of it when short; else its head, and for a type the
/// signature lines of its members, with `…` where lines were left out.
fn render_definition(candidate: Candidate, cap: usize, texts: &mut Texts<'_>, count_tokens: &dyn Fn(&str) -> usize) -> Option<Snippet> {
    let Candidate { name, path, def, imported, score, member_lines } = candidate;
    let reason = Reason::Definition { name, imported };
    let (start, end) = (def.start_line, def.end_line);
    let anchor = Anchor::of(&def);
    if end - start < FULL_DEFINITION_LINES {
        let (start_line, end_line, text) = texts.lines_in(&path, anchor, start, end)?;
        return Some(Snippet { path: path.to_string(), start_line, end_line, text, reason, score });
    }
    // Decorators and a signature over several lines up to the name, then the body's start.
    let head_end = def.name_line.max(start).min(start + 3);
    let head_end = if member_lines.is_empty() { head_end.max(start + LONG_DEFINITION_HEAD - 1) } else { head_end };
    let (start_line, mut end_line, mut text) = texts.lines_in(&path, anchor, start, head_end)?;
    let indent = |line: &str| line.len() - line.trim_start().len();
    let body_indent = " ".repeat(text.lines().next().map_or(0, indent) + 4);
    let mut last = end_line;
    let mut used = count_tokens(&text);
    for (line, member_anchor) in member_lines.into_iter().filter(|&(l, _)| l > head_end).take(MAX_DEFINITION_MEMBERS) {
        let Some(member) = texts.line_in(&path, member_anchor, line) else {
            continue;
        };
        used += count_tokens(&member) + 1;
        if used > cap {
            break;
        }
        if line > last + 1 {
            text.push_str(&format!("\n{body_indent}…"));
        }
        text.push('\n');
        text.push_str(&signature_line(member, &path));
        last = line;
    }
    end_line = end_line.max(last);
    if last < end {
        text.push_str(&format!("\n{body_indent}…"));
        if let Some(closing) = texts.line_in(&path, anchor, end).filter(|l| matches!(l.trim(), "}" | "};")) {
            text.push('\n');
            text.push_str(&closing);
        }
        end_line = end;
    }
    Some(Snippet { path: path.to_string(), start_line, end_line, text, reason, score })
}

/// The members of `set` as outlines, one per file: the lines that name them, ranked so that what the
/// cursor's partial name starts, the kind the position wants (a type after `*`), names the file
/// mentions (and those declared beside them), exported names, and functions and types come first;
/// within a rank, names the repository uses more. A set of many files (a Go package) ranks its
/// members together and keeps the best `MAX_PACKAGE_MEMBER_LINES` as one group.
#[allow(clippy::too_many_arguments)]
fn members_outlines(
    state: &State,
    lang: Language,
    set: &MemberSet,
    (partial, wants_type): (&str, bool),
    mentioned: &HashSet<&str>,
    own: (Option<u32>, (u32, u32)),
    (score, popularity): (f32, &mut Popularity<'_>),
    out: &mut Vec<Outline>,
) {
    use hearth_syntax::SymbolKind::*;
    // (tier, file slot, order in the file, name, line, anchor); lower tiers first.
    let mut members: Vec<(u32, usize, usize, Arc<str>, u32, Anchor)> = Vec::new();
    let mut headers = Vec::new();
    for (slot, &file) in set.files.iter().enumerate() {
        let mut header = None;
        let first = members.len();
        for (order, (name, def)) in state.file_symbols(file).into_iter().enumerate() {
            let member = match (&set.scope, def.scope.as_deref()) {
                (None, None) => !matches!(def.kind, Impl),
                (Some(want), Some(have)) => resolve::scope_is(have, want),
                (Some(want), None) => {
                    if *name == **want && resolve::is_type(def.kind) && (header.is_none() || def.kind != Impl) {
                        header = Some((def.name_line, Anchor::of(def)));
                    }
                    false
                }
                (None, Some(_)) => false,
            };
            let in_window = own.0 == Some(file) && def.name_line >= own.1 .0 && def.name_line <= own.1 .1;
            if !member || in_window {
                continue;
            }
            let private = !hearth_syntax::exported(lang, &name);
            if private && set.scope.is_none() && hearth_syntax::exports_by_name(lang) {
                continue; // another package's unexported name is out of reach
            }
            let misses_partial = !name.starts_with(partial);
            let wrong_kind = wants_type && !resolve::is_type(def.kind);
            let unmentioned = !mentioned.contains(&*name);
            let minor = !hearth_syntax::exports_by_name(lang) && matches!(def.kind, Constant | Variable)
                || (set.scope.is_none() && def.kind == Field);
            let tier = (misses_partial as u32) << 5
                | (wrong_kind as u32) << 4
                | (unmentioned as u32) << 3
                | (private as u32) << 2
                | (minor as u32) << 1;
            members.push((tier, slot, order, name, def.name_line, Anchor::of(def)));
        }
        // Names declared beside one the file mentions are used with it (`color.White`, then `Black`):
        // they rank as if mentioned, just after the mentioned ones.
        let in_file = &mut members[first..];
        let mut beside = vec![false; in_file.len()];
        for at in (0..in_file.len()).filter(|&i| in_file[i].0 & 8 == 0) {
            beside[declared_beside(in_file.len(), at)].fill(true);
        }
        for (m, beside) in in_file.iter_mut().zip(beside) {
            if m.0 & 8 != 0 && beside {
                m.0 = m.0 & !8 | 1;
            }
        }
        headers.push(header);
    }
    // Within a tier, the names the repository uses most first (`net.Listener` before `net.SRV`);
    // looked up for the best candidates only, the files' first members before their later ones.
    members.sort_by_key(|m| (m.0, m.2, m.1));
    let uses = popularity.uses(members.iter().map(|m| &m.3));
    let mut ranked: Vec<usize> = (0..members.len()).collect();
    ranked.sort_by_key(|&i| (members[i].0, std::cmp::Reverse(uses[i]), members[i].1, members[i].2));
    let many = set.files.len() > 1;
    if many {
        ranked.truncate(MAX_PACKAGE_MEMBER_LINES);
    }
    let mut per_file: Vec<Vec<(u32, u32, Anchor)>> = vec![Vec::new(); set.files.len()];
    let mut best_tier: Vec<Option<u32>> = vec![None; set.files.len()];
    for (rank, i) in ranked.into_iter().enumerate() {
        let (tier, slot, _, _, line, anchor) = &members[i];
        per_file[*slot].push((*line, rank as u32, *anchor));
        best_tier[*slot] = Some(best_tier[*slot].map_or(*tier, |b| b.min(*tier)));
    }
    // One group: the files' lines share one budget, best ranks first over all of them.
    let group = many.then(|| out.iter().filter_map(|o| o.group).max().map_or(0, |g| g + 1));
    for (slot, lines) in per_file.into_iter().enumerate() {
        let Some(best) = best_tier[slot] else {
            continue;
        };
        let score = if many { score - 0.01 * (best >> 1) as f32 } else { score };
        let reason = Reason::Members { of: set.label.clone() };
        let path = state.path(set.files[slot]).clone();
        out.push(Outline { path, header: headers[slot], lines, reason, score, group });
    }
}

/// The declarations beside the one at `at`, of `count` in file order: `NEIGHBOURS` either side.
fn declared_beside(count: usize, at: usize) -> std::ops::Range<usize> {
    at.saturating_sub(NEIGHBOURS)..(at + NEIGHBOURS + 1).min(count)
}

/// How much the repository uses a name: the chunks whose identifiers include it (Tantivy's document
/// frequency of the lower-cased name), kept until the next commit (typing in one file asks for the
/// same names at every keystroke).
struct Popularity<'s> {
    searcher: &'s tantivy::Searcher,
    field: tantivy::schema::Field,
    seen: std::sync::MutexGuard<'s, NameCounts>,
}

impl<'s> Popularity<'s> {
    fn new(searcher: &'s tantivy::Searcher, field: tantivy::schema::Field, counts: &'s std::sync::Mutex<NameCounts>) -> Self {
        let mut seen = crate::store::lock(counts);
        let generation = searcher.generation().generation_id();
        if seen.generation != generation || seen.counts.len() > MAX_COUNTED_NAMES {
            seen.counts.clear();
            seen.generation = generation;
        }
        Popularity { searcher, field, seen }
    }

    /// The uses of each name, looked up for the first `MAX_POPULARITY_LOOKUPS` (0 for the rest).
    fn uses<'n>(&mut self, names: impl Iterator<Item = &'n Arc<str>>) -> Vec<u64> {
        names.enumerate().map(|(i, name)| if i < MAX_POPULARITY_LOOKUPS { self.of(name) } else { 0 }).collect()
    }

    fn of(&mut self, name: &Arc<str>) -> u64 {
        if let Some(&n) = self.seen.counts.get(name) {
            return n;
        }
        let term = Term::from_field_text(self.field, &name.to_lowercase());
        let n = self.searcher.doc_freq(&term).unwrap_or(0);
        self.seen.counts.insert(name.clone(), n);
        n
    }
}

/// The signatures of the names the file imports, one outline per defining file, the names used
/// nearest the cursor first (in lines and in score); files whose whole top level a members outline
/// already shows are left out.
fn imported_outlines(state: &State, imports: &[ResolvedImport], near: &HashMap<String, f32>, shown: &[Outline], out: &mut Vec<Outline>) {
    for import in imports {
        let Some(member) = &import.member else {
            continue;
        };
        let weight = near.get(&import.local).copied().unwrap_or(0.0);
        let Some(defs) = state.symbols.get(member.as_str()) else {
            continue;
        };
        let Some(def) = defs.iter().find(|d| import.files.contains(&d.file) && d.scope.is_none()) else {
            continue;
        };
        let path = state.path(def.file);
        if shown.iter().any(|o| o.path == *path && matches!(o.reason, Reason::Members { .. }) && o.header.is_none()) {
            continue;
        }
        let outline = outline_for(out, path, Reason::Imports { names: Vec::new() });
        let Reason::Imports { names } = &mut outline.reason else {
            continue;
        };
        if !names.contains(member) {
            names.push(member.clone());
            let rank = ((1.0 - weight) * 1000.0) as u32 * 1000 + outline.lines.len() as u32;
            outline.lines.push((def.name_line, rank, Anchor::of(def)));
            outline.score = outline.score.max(0.75 + 0.35 * weight);
        }
    }
}

/// The signatures of the names the cursor's file uses that a sibling file of its package defines
/// (Go: a package's files share one scope, with no import to name them), one outline per defining
/// file, the names used nearest the cursor first.
fn package_outlines(
    state: &State,
    lang: Language,
    rel: &str,
    (text, offset, wants_type): (&str, usize, bool),
    popularity: &mut Popularity<'_>,
    out: &mut Vec<Outline>,
) {
    let own = state.file_id(rel);
    let dir = dir_of(rel);
    let sibling = |file: u32| Some(file) != own && dir_of(state.path(file)) == dir && resolve::in_package(state, file);
    if !state.files_in_dir(dir).iter().any(|&f| sibling(f)) {
        return;
    }
    // A name the cursor's file defines at top level is its own (or shadows the package's); its
    // methods and fields do not.
    let own_defines =
        |name: &str| state.symbols.get(name).is_some_and(|defs| defs.iter().any(|d| Some(d.file) == own && d.scope.is_none()));
    // Name -> lines between it and the cursor, over the mention window.
    let window = mention_window(text, offset);
    let window_start = window.as_ptr() as usize - text.as_ptr() as usize;
    let cursor_line = text[window_start..floor_char_boundary(text, offset)].matches('\n').count();
    let locals: HashSet<&str> = hearth_syntax::local_bindings(lang, window).into_iter().collect();
    let mut distance: HashMap<&str, usize> = HashMap::new();
    for (line_no, line) in window.lines().enumerate() {
        for_each_identifier(line, |_, ident| {
            if ident.len() < 2 || STOP_WORDS.contains(&ident) || locals.contains(ident) {
                return;
            }
            let d = distance.entry(ident).or_insert(usize::MAX);
            *d = (*d).min(line_no.abs_diff(cursor_line));
        });
    }
    let mut used: Vec<(usize, &str, &SymbolEntry)> = distance
        .iter()
        .filter_map(|(&name, &d)| {
            if own_defines(name) {
                return None;
            }
            let def = state
                .symbols
                .get(name)?
                .iter()
                .find(|def| def.scope.is_none() && def.kind != hearth_syntax::SymbolKind::Impl && sibling(def.file))?;
            Some((d, name, def))
        })
        .collect();
    used.sort_by_key(|&(d, name, _)| (d, name));
    used.truncate(MAX_PACKAGE_NAMES);
    // Each used name, then the names declared beside it that the file does not use yet: what is
    // declared together is used together (`encryptBlock`, then `decryptBlock`).
    let mut ranked: Vec<(usize, Arc<str>, &SymbolEntry)> = Vec::new();
    let mut taken: HashSet<Arc<str>> = HashSet::new();
    let mut top_levels: HashMap<u32, Vec<(Arc<str>, &SymbolEntry)>> = HashMap::new();
    for (d, name, def) in used {
        let name: Arc<str> = Arc::from(name);
        if !taken.insert(name.clone()) {
            continue;
        }
        ranked.push((d, name, def));
        let declared = top_levels.entry(def.file).or_insert_with(|| top_level_symbols(state, def.file));
        let Some(at) = declared.iter().position(|(_, d)| d.start_byte == def.start_byte && d.name_line == def.name_line) else {
            continue;
        };
        for (other, other_def) in &declared[declared_beside(declared.len(), at)] {
            if !distance.contains_key(&**other) && !own_defines(other) && taken.insert(other.clone()) {
                ranked.push((d, other.clone(), other_def));
            }
        }
    }
    if wants_type {
        // A type is wanted: the types the file uses first, then the package's other types: those of
        // the files it draws on most, then the rest, the ones the repository uses most first.
        let mut drawn_on: Vec<(usize, usize, u32)> = Vec::new();
        for &(d, _, def) in &ranked {
            match drawn_on.iter_mut().find(|f| f.2 == def.file) {
                Some(f) => (f.0, f.1) = (f.0 + 1, f.1.min(d)),
                None => drawn_on.push((1, d, def.file)),
            }
        }
        drawn_on.sort_by_key(|&(uses, d, file)| (std::cmp::Reverse(uses), d, file));
        let far = drawn_on.iter().map(|f| f.1).max().unwrap_or(0) + 1;
        let others = state.files_in_dir(dir).iter().filter(|&&f| sibling(f) && !drawn_on.iter().any(|d| d.2 == f));
        let files: Vec<(bool, usize, u32)> =
            drawn_on.iter().map(|&(_, d, file)| (false, d, file)).chain(others.map(|&file| (true, far, file))).collect();
        // (in a file the file does not draw on, distance, name, definition)
        let mut more: Vec<(bool, usize, Arc<str>, &SymbolEntry)> = Vec::new();
        for (other, d, file) in files {
            if more.len() >= MAX_TYPE_CANDIDATES {
                break;
            }
            let declared = top_levels.entry(file).or_insert_with(|| top_level_symbols(state, file));
            for (name, def) in declared.iter() {
                let fresh = resolve::is_type(def.kind) && !distance.contains_key(&**name) && !own_defines(name);
                if fresh && taken.insert(name.clone()) {
                    more.push((other, d, name.clone(), *def));
                }
            }
        }
        let uses = popularity.uses(more.iter().map(|m| &m.2));
        let mut order: Vec<usize> = (0..more.len()).collect();
        order.sort_by_key(|&i| (more[i].0, std::cmp::Reverse(uses[i]), i));
        ranked.extend(order.into_iter().take(MAX_PACKAGE_TYPES).map(|i| (more[i].1, more[i].2.clone(), more[i].3)));
        ranked.sort_by_key(|r| !resolve::is_type(r.2.kind));
    }
    let group = out.iter().filter_map(|o| o.group).max().map_or(0, |g| g + 1);
    for (rank, (d, name, def)) in ranked.into_iter().enumerate() {
        let path = state.path(def.file);
        let outline = outline_for(out, path, Reason::Package { names: Vec::new() });
        if let Reason::Package { names } = &mut outline.reason {
            names.push(name.to_string());
        }
        outline.group = Some(group);
        outline.lines.push((def.name_line, rank as u32, Anchor::of(def)));
        let weight = 1.0 / (1.0 + d as f32 / 6.0);
        outline.score = outline.score.max(0.7 + 0.35 * weight);
    }
}

/// A file's top-level definitions, in file order (no methods, fields or impl blocks).
fn top_level_symbols(state: &State, file: u32) -> Vec<(Arc<str>, &SymbolEntry)> {
    let mut symbols = state.file_symbols(file);
    symbols.retain(|(_, d)| d.scope.is_none() && d.kind != hearth_syntax::SymbolKind::Impl);
    symbols
}

/// The outline of `path` in `out` whose reason is of `empty`'s kind, added (with `empty`) when none is.
fn outline_for<'o>(out: &'o mut Vec<Outline>, path: &Arc<str>, empty: Reason) -> &'o mut Outline {
    let kind = std::mem::discriminant(&empty);
    let at = match out.iter().position(|o| o.path == *path && std::mem::discriminant(&o.reason) == kind) {
        Some(at) => at,
        None => {
            out.push(Outline { path: path.clone(), header: None, lines: Vec::new(), reason: empty, score: 0.0, group: None });
            out.len() - 1
        }
    };
    &mut out[at]
}

/// Outlines that share `cap` tokens (one, or a package's files), a snippet each: their lines best
/// ranks first over all of them until the cap, each shown in file order. A file's path header (and
/// a type's own header line) counts when its first line is taken.
fn render_outlines(group: Vec<Outline>, cap: usize, texts: &mut Texts<'_>, count_tokens: &dyn Fn(&str) -> usize) -> Vec<Snippet> {
    let mut kept: Vec<Vec<(u32, String)>> = vec![Vec::new(); group.len()];
    let mut pending: Vec<(u32, usize, u32, Anchor)> = Vec::new();
    for (i, outline) in group.iter().enumerate() {
        if outline.lines.len() > OUTLINE_LINES_PER_READ {
            texts.get(&outline.path); // one read of the file for many lines, not a read each
        }
        pending.extend(outline.lines.iter().map(|&(line, rank, anchor)| (rank, i, line, anchor)));
    }
    pending.sort_by_key(|&(rank, i, line, _)| (rank, i, line));
    let mut used = 0;
    for (_, i, line, anchor) in pending {
        let outline = &group[i];
        if kept[i].iter().any(|(l, _)| *l == line) {
            continue;
        }
        let Some(text) = texts.line_in(&outline.path, anchor, line) else {
            continue;
        };
        let text = signature_line(text, &outline.path);
        let mut cost = count_tokens(&text) + 1;
        let mut opening = None;
        if kept[i].is_empty() {
            cost += count_tokens(&format!("// {}:1\n", outline.path));
            if let Some((header_line, header_anchor)) = outline.header.filter(|h| h.0 != line) {
                if let Some(header) = texts.line_in(&outline.path, header_anchor, header_line) {
                    cost += count_tokens(&header) + 1;
                    opening = Some((header_line, header));
                }
            }
        }
        if used + cost > cap {
            break;
        }
        used += cost;
        kept[i].extend(opening);
        kept[i].push((line, text));
    }
    let mut out = Vec::new();
    for (outline, mut kept) in group.into_iter().zip(kept) {
        if kept.is_empty() {
            continue;
        }
        let Outline { path, lines, mut reason, score, .. } = outline;
        kept.sort_by_key(|(line, _)| *line);
        if let Reason::Imports { names } | Reason::Package { names } = &mut reason {
            // The names of an imports or package outline go with its lines, in order.
            let named: Vec<(u32, String)> = lines.iter().map(|l| l.0).zip(names.drain(..)).collect();
            *names = named.into_iter().filter(|(line, _)| kept.iter().any(|(l, _)| l == line)).map(|(_, name)| name).collect();
        }
        let text = kept.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>().join("\n");
        out.push(Snippet { path: path.to_string(), start_line: kept[0].0, end_line: kept[kept.len() - 1].0, text, reason, score });
    }
    out
}

fn recent_edits(edits: &[RecentEdit], rel: &str, window: (u32, u32), texts: &mut Texts<'_>, out: &mut Vec<Snippet>) {
    for (rank, edit) in edits.iter().enumerate() {
        if out.iter().filter(|s| matches!(s.reason, Reason::RecentEdit { .. })).count() >= MAX_RECENT {
            break;
        }
        if edit.path == rel && edit.start_line <= window.1 + RECENT_CONTEXT_LINES && edit.end_line + RECENT_CONTEXT_LINES >= window.0 {
            continue;
        }
        let first = edit.start_line.saturating_sub(RECENT_CONTEXT_LINES);
        let last = (edit.end_line + RECENT_CONTEXT_LINES).min(first + MAX_EDIT_LINES);
        let Some((start_line, end_line, body)) = texts.lines(&edit.path, first, last) else {
            continue;
        };
        out.push(Snippet {
            path: edit.path.clone(),
            start_line,
            end_line,
            text: body,
            reason: Reason::RecentEdit { seconds_ago: edit.at.elapsed().as_secs() },
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
    ["use ", "import ", "from ", "#include", "require", "using ", "pub use "].iter().any(|p| line.starts_with(p))
        || line.contains("require(")
}

/// Best first, no overlaps (a lower-ranked snippet overlapping a kept one is dropped), within budget.
fn select(mut candidates: Vec<Snippet>, budget: usize, count_tokens: &dyn Fn(&str) -> usize) -> Vec<Snippet> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| (&a.path, a.start_line).cmp(&(&b.path, b.start_line))));
    let mut kept: Vec<Snippet> = Vec::new();
    let mut used = 0;
    for snippet in candidates {
        let overlaps = !snippet.reason.is_outline()
            && kept.iter().any(|k| {
                !k.reason.is_outline() && k.path == snippet.path && k.start_line <= snippet.end_line && snippet.start_line <= k.end_line
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
        Snippet { path: path.into(), start_line: start, end_line: end, text: text.into(), reason: Reason::Similar { bm25: 1.0 }, score }
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
        let got: Vec<(&str, u32)> = picked.iter().map(|s| (s.path.as_str(), s.start_line)).collect();
        assert_eq!(got, vec![("a.rs", 5), ("c.rs", 3)]);
    }
}
