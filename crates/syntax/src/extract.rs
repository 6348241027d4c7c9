//! Extraction from a parse tree: symbols, retrieval chunks, references and syntax-error counts.

use std::cell::RefCell;
use std::collections::HashMap;

use hearth_base::LineIndex;
use tree_sitter::{Node, Parser, QueryCursor, StreamingIterator, Tree};

use crate::queries::{queries, LanguageQueries};
use crate::{Language, SyntaxError};

/// A definition longer than this many lines becomes several chunks (an outline plus its members, or
/// windows that each repeat the definition's first line as a header).
pub const MAX_CHUNK_LINES: u32 = 60;

/// Longest signature line kept, in bytes.
pub const MAX_SIGNATURE_BYTES: usize = 240;

/// A span of the text: byte offsets (end exclusive) and zero-based lines (end inclusive: the line of the
/// last character).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TextRange {
    pub start_byte: usize,
    pub end_byte: usize,
    pub start_line: u32,
    pub end_line: u32,
}

impl TextRange {
    fn of(node: Node<'_>) -> Self {
        let (start, end) = (node.start_position(), node.end_position());
        // A node that swallows its trailing newline (`#define X 1\n`) ends on the line before.
        let end_line = if end.column == 0 && end.row > start.row { end.row - 1 } else { end.row };
        TextRange { start_byte: node.start_byte(), end_byte: node.end_byte(), start_line: start.row as u32, end_line: end_line as u32 }
    }

    pub fn contains(&self, other: &TextRange) -> bool {
        self.start_byte <= other.start_byte && other.end_byte <= self.end_byte
    }
}

/// What a definition is. `Method` is any function whose nearest enclosing definition is a type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SymbolKind {
    Function,
    Method,
    Class,
    Struct,
    Enum,
    Union,
    Interface,
    Trait,
    Impl,
    Module,
    Namespace,
    Constant,
    Variable,
    Type,
    Macro,
    Field,
}

impl SymbolKind {
    pub const ALL: [SymbolKind; 16] = [
        SymbolKind::Function,
        SymbolKind::Method,
        SymbolKind::Class,
        SymbolKind::Struct,
        SymbolKind::Enum,
        SymbolKind::Union,
        SymbolKind::Interface,
        SymbolKind::Trait,
        SymbolKind::Impl,
        SymbolKind::Module,
        SymbolKind::Namespace,
        SymbolKind::Constant,
        SymbolKind::Variable,
        SymbolKind::Type,
        SymbolKind::Macro,
        SymbolKind::Field,
    ];

    /// The name used in query captures (`@definition.<name>`) and in the index.
    pub fn as_str(self) -> &'static str {
        match self {
            SymbolKind::Function => "function",
            SymbolKind::Method => "method",
            SymbolKind::Class => "class",
            SymbolKind::Struct => "struct",
            SymbolKind::Enum => "enum",
            SymbolKind::Union => "union",
            SymbolKind::Interface => "interface",
            SymbolKind::Trait => "trait",
            SymbolKind::Impl => "impl",
            SymbolKind::Module => "module",
            SymbolKind::Namespace => "namespace",
            SymbolKind::Constant => "constant",
            SymbolKind::Variable => "variable",
            SymbolKind::Type => "type",
            SymbolKind::Macro => "macro",
            SymbolKind::Field => "field",
        }
    }

    pub fn parse(name: &str) -> Option<SymbolKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Types whose member functions are methods.
    fn is_type(self) -> bool {
        matches!(
            self,
            SymbolKind::Class
                | SymbolKind::Struct
                | SymbolKind::Enum
                | SymbolKind::Union
                | SymbolKind::Interface
                | SymbolKind::Trait
                | SymbolKind::Impl
        )
    }

    /// Kinds that name a scope for what they contain (fields and variables do not).
    fn is_scope(self) -> bool {
        !matches!(self, SymbolKind::Field | SymbolKind::Variable | SymbolKind::Constant | SymbolKind::Macro)
    }
}

/// A definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    pub name: String,
    pub kind: SymbolKind,
    /// The whole definition.
    pub range: TextRange,
    /// Just the name (where go-to-definition should land).
    pub name_range: TextRange,
    /// The definition's first line, trimmed (`pub fn parse(text: &str) -> Tree {`).
    pub signature: String,
    /// Enclosing definitions, outermost first, joined with `::` (Rust, C++) or `.`; for Go methods the
    /// receiver type.
    pub scope: Option<String>,
}

/// What a retrieval chunk holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChunkKind {
    Function,
    Method,
    /// A type, module or impl block. When longer than [`MAX_CHUNK_LINES`], its text is an outline: its own
    /// lines plus the first line of each member, whose bodies are chunks of their own.
    Class,
    /// Top-level code outside any definition (imports, statements), in windows of at most
    /// [`MAX_CHUNK_LINES`].
    Block,
}

impl ChunkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChunkKind::Function => "function",
            ChunkKind::Method => "method",
            ChunkKind::Class => "class",
            ChunkKind::Block => "block",
        }
    }

    pub fn parse(name: &str) -> Option<ChunkKind> {
        [ChunkKind::Function, ChunkKind::Method, ChunkKind::Class, ChunkKind::Block].into_iter().find(|k| k.as_str() == name)
    }
}

/// A piece of a file worth showing a model on its own: whole lines, at most [`MAX_CHUNK_LINES`] of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub kind: ChunkKind,
    /// The definition's name; empty for blocks.
    pub name: String,
    /// The lines (and whole-line bytes) this chunk covers.
    pub range: TextRange,
    /// For a window into a long definition (not its first): the definition's first line.
    pub header: Option<String>,
    /// The text: the covered lines, or an outline for long classes.
    pub text: String,
}

/// One use of an identifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    pub name: String,
    pub range: TextRange,
}

/// A parse tree with its language.
pub struct Parsed {
    pub lang: Language,
    pub tree: Tree,
}

impl Parsed {
    /// ERROR and MISSING nodes in the tree (0 for a text that parses cleanly).
    pub fn error_count(&self) -> usize {
        let root = self.tree.root_node();
        if !root.has_error() {
            return 0;
        }
        let mut count = 0;
        walk(root, &mut |node| {
            if node.is_error() || node.is_missing() {
                count += 1;
                return false;
            }
            node.has_error()
        });
        count
    }

    /// The zero-based line of the first ERROR or MISSING node, if any.
    pub fn first_error_line(&self) -> Option<u32> {
        let root = self.tree.root_node();
        if !root.has_error() {
            return None;
        }
        let mut line = None;
        walk(root, &mut |node| {
            if line.is_some() {
                return false;
            }
            if node.is_error() || node.is_missing() {
                line = Some(node.start_position().row as u32);
                return false;
            }
            node.has_error()
        });
        line
    }
}

/// Everything the index takes from one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSyntax {
    pub lang: Language,
    pub symbols: Vec<Symbol>,
    /// Every line of the text with a word in it is in some chunk's `text`. For identifier positions, see
    /// [`references`] and [`identifier_occurrences`].
    pub chunks: Vec<Chunk>,
    /// ERROR and MISSING nodes; the rest of the file is still extracted.
    pub error_count: usize,
}

/// Parse `text`. Syntax errors are not failures: the tree holds ERROR nodes and parses on past them.
pub fn parse(lang: Language, text: &str) -> Result<Parsed, SyntaxError> {
    thread_local! {
        static PARSER: RefCell<Parser> = RefCell::new(Parser::new());
    }
    PARSER.with(|parser| {
        let mut parser = parser.borrow_mut();
        parser.set_language(&lang.grammar()).map_err(|e| SyntaxError::Grammar { language: lang.name(), message: e.to_string() })?;
        let tree = parser.parse(text, None).ok_or(SyntaxError::ParseFailed { language: lang.name() })?;
        Ok(Parsed { lang, tree })
    })
}

/// Parse once and extract everything.
pub fn analyze(lang: Language, text: &str) -> Result<FileSyntax, SyntaxError> {
    analyze_with(lang, text, QueryScope::AtRootKinds)
}

/// [`analyze`] with the query run over the whole tree, as tree-sitter does by default: the reference the
/// one-walk extraction is checked against (the fixture tests, `examples/phase_times.rs`).
#[doc(hidden)]
pub fn analyze_whole_tree(lang: Language, text: &str) -> Result<FileSyntax, SyntaxError> {
    analyze_with(lang, text, QueryScope::WholeTree)
}

fn analyze_with(lang: Language, text: &str, scope: QueryScope) -> Result<FileSyntax, SyntaxError> {
    let parsed = parse(lang, text)?;
    let lines = LineIndex::new(text);
    let matches = run_query(&parsed, text, scope)?;
    Ok(FileSyntax {
        lang,
        symbols: build_symbols(parsed.lang, text, &lines, matches.symbols),
        chunks: build_chunks(text, &lines, matches.chunks),
        error_count: parsed.error_count(),
    })
}

/// ERROR and MISSING nodes in `text`: an edit that raises this number broke the syntax.
pub fn error_count(lang: Language, text: &str) -> Result<usize, SyntaxError> {
    Ok(parse(lang, text)?.error_count())
}

/// Every occurrence of the identifier `name` in code: never inside strings or comments, never as part
/// of a longer identifier. In source order. The rename engine edits exactly these ranges.
pub fn identifier_occurrences(lang: Language, text: &str, name: &str) -> Result<Vec<TextRange>, SyntaxError> {
    occurrences_in(&parse(lang, text)?, text, name)
}

/// [`identifier_occurrences`] in a text already parsed.
pub fn occurrences_in(parsed: &Parsed, text: &str, name: &str) -> Result<Vec<TextRange>, SyntaxError> {
    let mut out = Vec::new();
    for_each_identifier(parsed, text, |node, ident| {
        if ident == name {
            out.push(TextRange::of(node));
        }
    })?;
    Ok(out)
}

/// The kind of a literal node, for renames that also reach into comments and strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Literal {
    Comment,
    String,
}

/// The comment and string-literal nodes of a parsed text (outermost ones: not those inside a
/// string's interpolation), in source order. Iterative: deep nesting cannot overflow the stack.
pub fn literals(parsed: &Parsed) -> Vec<(TextRange, Literal)> {
    let mut out = Vec::new();
    walk(parsed.tree.root_node(), &mut |node| {
        let kind = node.kind();
        let literal = if kind.contains("comment") {
            Some(Literal::Comment)
        } else if kind.contains("string") && !kind.ends_with("identifier") {
            Some(Literal::String)
        } else {
            None
        };
        match literal {
            Some(literal) => {
                out.push((TextRange::of(node), literal));
                false
            }
            None => true,
        }
    });
    out
}

/// The definitions in a parsed text, in source order.
pub fn symbols(parsed: &Parsed, text: &str) -> Result<Vec<Symbol>, SyntaxError> {
    let matches = run_query(parsed, text, QueryScope::AtRootKinds)?;
    Ok(build_symbols(parsed.lang, text, &LineIndex::new(text), matches.symbols))
}

/// The retrieval chunks of a parsed text, in source order of their first line.
pub fn chunks(parsed: &Parsed, text: &str) -> Result<Vec<Chunk>, SyntaxError> {
    let matches = run_query(parsed, text, QueryScope::AtRootKinds)?;
    Ok(build_chunks(text, &LineIndex::new(text), matches.chunks))
}

/// Every identifier used in a parsed text (definitions' names included), in source order.
pub fn references(parsed: &Parsed, text: &str) -> Result<Vec<Reference>, SyntaxError> {
    let mut out = Vec::new();
    for_each_identifier(parsed, text, |node, ident| {
        out.push(Reference { name: ident.to_string(), range: TextRange::of(node) });
    })?;
    Ok(out)
}

/// Every identifier leaf in source order. Kinds are compared by id (a table per grammar), not by name.
fn for_each_identifier<'t>(parsed: &Parsed, text: &'t str, mut f: impl FnMut(Node<'_>, &'t str)) -> Result<(), SyntaxError> {
    let identifier_kinds = &queries(parsed.lang)?.identifier_kinds;
    let mut cursor = parsed.tree.walk();
    loop {
        if cursor.goto_first_child() {
            continue;
        }
        let node = cursor.node();
        if identifier_kinds.get(node.kind_id() as usize).copied().unwrap_or(false) {
            if let Some(ident) = text.get(node.byte_range()) {
                f(node, ident);
            }
        }
        loop {
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return Ok(());
            }
        }
    }
}

/// Pre-order walk; `visit` returns whether to descend into the node's children.
fn walk(root: Node<'_>, visit: &mut dyn FnMut(Node<'_>) -> bool) {
    let mut cursor = root.walk();
    loop {
        let descend = visit(cursor.node());
        if descend && cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return;
            }
        }
    }
}

fn node_text<'t>(text: &'t str, node: Node<'_>) -> &'t str {
    text.get(node.byte_range()).unwrap_or("")
}

/// Byte range of whole lines `first..=last`, without the final newline.
fn line_span(lines: &LineIndex, text: &str, first: u32, last: u32) -> (usize, usize) {
    let start = lines.line_start(first).unwrap_or(text.len());
    let end = match lines.line_start(last + 1) {
        Ok(next) => next.saturating_sub(1).max(start),
        Err(_) => text.len(),
    };
    (start, end)
}

fn line_text<'t>(lines: &LineIndex, text: &'t str, line: u32) -> &'t str {
    let (start, end) = line_span(lines, text, line, line);
    text[start..end].trim_end_matches('\r')
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn scope_separator(lang: Language) -> &'static str {
    match lang {
        Language::Rust | Language::Cpp => "::",
        _ => ".",
    }
}

/// A symbol's display name: one line, and for impl blocks the type without generics (`impl<T> Foo<T>` is `Foo`).
fn clean_name(raw: &str, kind: SymbolKind) -> String {
    let first_line = raw.lines().next().unwrap_or("").trim();
    if kind == SymbolKind::Impl {
        return first_line.split('<').next().unwrap_or(first_line).trim().to_string();
    }
    first_line.to_string()
}

/// A symbols.scm match: (pattern index, symbol without scope, explicit `@scope`).
type SymbolMatch = (usize, Symbol, Option<String>);
/// A chunks.scm match: (node range, kind, name).
type ChunkMatch = (TextRange, ChunkKind, String);

struct QueryMatches {
    symbols: Vec<SymbolMatch>,
    chunks: Vec<ChunkMatch>,
}

/// Where the combined query runs.
#[derive(Clone, Copy)]
enum QueryScope {
    /// At each node whose kind roots a pattern, matching only the patterns rooted there, found by one
    /// walk of the tree. Tree-sitter's own cursor over the whole tree tests every node against every
    /// pattern: on Rust and Python sources that cost half as much time as the parse itself, 2.7× this
    /// (`examples/phase_times.rs`).
    AtRootKinds,
    /// One query cursor over the whole tree.
    WholeTree,
}

fn run_query(parsed: &Parsed, text: &str, scope: QueryScope) -> Result<QueryMatches, SyntaxError> {
    let queries = queries(parsed.lang)?;
    let mut cursor = QueryCursor::new();
    let mut out = QueryMatches { symbols: Vec::new(), chunks: Vec::new() };
    let root = parsed.tree.root_node();
    let root_kinds = match (scope, &queries.root_kinds) {
        (QueryScope::AtRootKinds, Some(kinds)) => kinds,
        _ => {
            collect_matches(queries, &mut cursor, root, text, &mut out);
            return Ok(out);
        }
    };
    cursor.set_max_start_depth(Some(0));
    let descend = &queries.descend_kinds;
    walk(root, &mut |node| {
        let kind = node.kind_id() as usize;
        if root_kinds.get(kind).copied().unwrap_or(false) {
            collect_matches(queries, &mut cursor, node, text, &mut out);
        }
        // Error recovery can put any node anywhere.
        descend.get(kind).copied().unwrap_or(true) || node.has_error()
    });
    Ok(out)
}

/// Run the combined query at `node` (bounded by the cursor's start depth) and keep its matches.
fn collect_matches(queries: &LanguageQueries, cursor: &mut QueryCursor, node: Node<'_>, text: &str, out: &mut QueryMatches) {
    let query = &queries.combined;
    let capture_names = query.capture_names();
    let mut matches = cursor.matches(query, node, text.as_bytes());
    while let Some(m) = matches.next() {
        let (mut node, mut name, mut scope, mut kind) = (None, None, None, None);
        for capture in m.captures {
            match capture_names[capture.index as usize] {
                "name" => name = Some(capture.node),
                "scope" => scope = Some(node_text(text, capture.node).to_string()),
                other => {
                    node = Some(capture.node);
                    kind = Some(other);
                }
            }
        }
        let (Some(node), Some(name), Some(kind)) = (node, name, kind) else {
            continue;
        };
        if m.pattern_index < queries.symbol_patterns {
            let Some(kind) = kind.strip_prefix("definition.").and_then(SymbolKind::parse) else {
                continue;
            };
            let name_text = clean_name(node_text(text, name), kind);
            if name_text.is_empty() {
                continue;
            }
            let symbol = Symbol {
                name: name_text,
                kind,
                range: TextRange::of(node),
                name_range: TextRange::of(name),
                signature: String::new(),
                scope: None,
            };
            out.symbols.push((m.pattern_index, symbol, scope));
        } else if let Some(kind) = kind.strip_prefix("chunk.").and_then(ChunkKind::parse) {
            let first_line = node_text(text, name).lines().next().unwrap_or("");
            // `Cache<K>` is the chunk of `Cache`.
            let name = first_line.split('<').next().unwrap_or("").trim().to_string();
            out.chunks.push((TextRange::of(node), kind, name));
        }
    }
}

fn build_symbols(lang: Language, text: &str, lines: &LineIndex, matches: Vec<SymbolMatch>) -> Vec<Symbol> {
    // One symbol per (definition node, name node); the earliest pattern in the file wins.
    let mut found: HashMap<(usize, usize), SymbolMatch> = HashMap::new();
    for (pattern, mut symbol, scope) in matches {
        let key = (symbol.range.start_byte, symbol.name_range.start_byte);
        if found.get(&key).is_some_and(|(p, _, _)| *p <= pattern) {
            continue;
        }
        let first = line_text(lines, text, symbol.range.start_line).trim();
        symbol.signature = truncate(first, MAX_SIGNATURE_BYTES).to_string();
        found.insert(key, (pattern, symbol, scope));
    }
    let mut symbols: Vec<(Symbol, Option<String>)> = found.into_values().map(|(_, s, scope)| (s, scope)).collect();
    symbols.sort_by(|(a, _), (b, _)| {
        (a.range.start_byte, std::cmp::Reverse(a.range.end_byte), a.name_range.start_byte).cmp(&(
            b.range.start_byte,
            std::cmp::Reverse(b.range.end_byte),
            b.name_range.start_byte,
        ))
    });
    assign_scopes(lang, symbols)
}

/// Fill in `scope` from the enclosing definitions, and turn functions inside types into methods.
fn assign_scopes(lang: Language, symbols: Vec<(Symbol, Option<String>)>) -> Vec<Symbol> {
    let sep = scope_separator(lang);
    // Open scopes: (end byte, kind, qualified name).
    let mut stack: Vec<(usize, SymbolKind, String)> = Vec::new();
    let mut out = Vec::with_capacity(symbols.len());
    for (mut symbol, explicit_scope) in symbols {
        while stack.last().is_some_and(|(end, _, _)| *end <= symbol.range.start_byte) {
            stack.pop();
        }
        let parent = stack.last();
        if symbol.kind == SymbolKind::Function && (parent.is_some_and(|(_, kind, _)| kind.is_type()) || explicit_scope.is_some()) {
            symbol.kind = SymbolKind::Method;
        }
        symbol.scope = explicit_scope.or_else(|| parent.map(|(_, _, qualified)| qualified.clone()));
        if symbol.kind.is_scope() {
            let qualified = match &symbol.scope {
                Some(scope) => format!("{scope}{sep}{}", symbol.name),
                None => symbol.name.clone(),
            };
            stack.push((symbol.range.end_byte, symbol.kind, qualified));
        }
        out.push(symbol);
    }
    out
}

/// A chunk-query match, before splitting.
struct Candidate {
    range: TextRange,
    kind: ChunkKind,
    name: String,
    children: Vec<Candidate>,
}

fn build_chunks(text: &str, lines: &LineIndex, mut flat: Vec<ChunkMatch>) -> Vec<Chunk> {
    flat.sort_by_key(|(r, _, _)| (r.start_byte, std::cmp::Reverse(r.end_byte)));
    flat.dedup_by(|b, a| a.0.start_byte == b.0.start_byte && a.0.end_byte == b.0.end_byte);

    let roots = nest(flat);
    let mut out = Vec::new();
    let mut covered = vec![false; lines.line_count() as usize];
    for root in &roots {
        for line in root.range.start_line..=root.range.end_line {
            if let Some(c) = covered.get_mut(line as usize) {
                *c = true;
            }
        }
        emit_chunk(root, false, text, lines, &mut out);
    }
    emit_blocks(&covered, text, lines, &mut out);
    out.sort_by_key(|c| (c.range.start_line, c.range.end_line));
    out
}

/// Turn a start-sorted list of ranges into a forest by containment.
fn nest(flat: Vec<(TextRange, ChunkKind, String)>) -> Vec<Candidate> {
    fn attach(forest: &mut Vec<Candidate>, candidate: Candidate) {
        if let Some(last) = forest.last_mut() {
            if last.range.contains(&candidate.range) {
                attach(&mut last.children, candidate);
                return;
            }
        }
        forest.push(candidate);
    }
    let mut roots = Vec::new();
    for (range, kind, name) in flat {
        attach(&mut roots, Candidate { range, kind, name, children: Vec::new() });
    }
    roots
}

fn lines_range(text: &str, lines: &LineIndex, first: u32, last: u32) -> TextRange {
    let (start, end) = line_span(lines, text, first, last);
    TextRange { start_byte: start, end_byte: end, start_line: first, end_line: last }
}

fn whole_lines(text: &str, lines: &LineIndex, first: u32, last: u32) -> (TextRange, String) {
    let range = lines_range(text, lines, first, last);
    (range, text[range.start_byte..range.end_byte].to_string())
}

fn emit_chunk(c: &Candidate, in_type: bool, text: &str, lines: &LineIndex, out: &mut Vec<Chunk>) {
    let kind = if c.kind == ChunkKind::Function && in_type { ChunkKind::Method } else { c.kind };
    let (first, last) = (c.range.start_line, c.range.end_line);
    if last - first < MAX_CHUNK_LINES {
        let (range, body) = whole_lines(text, lines, first, last);
        out.push(Chunk { kind, name: c.name.clone(), range, header: None, text: body });
        return;
    }
    if !c.children.is_empty() {
        // Outline: own lines, plus the first line of each member; members become chunks of their own.
        // Past MAX_CHUNK_LINES entries the outline goes on in windows headed by the definition's first
        // line, so every line of the file is in some chunk (the index finds references through them).
        let mut outline: Vec<(u32, &str)> = Vec::new();
        let mut members = c.children.iter().peekable();
        let mut line = first;
        while line <= last {
            match members.peek() {
                Some(m) if line >= m.range.start_line => {
                    outline.push((m.range.start_line, line_text(lines, text, m.range.start_line)));
                    line = line.max(m.range.end_line + 1);
                    members.next();
                }
                _ => {
                    outline.push((line, line_text(lines, text, line)));
                    line += 1;
                }
            }
        }
        let header = line_text(lines, text, first).to_string();
        for (i, window) in outline.chunks(MAX_CHUNK_LINES as usize).enumerate() {
            let range = match i {
                0 => lines_range(text, lines, first, last),
                _ => lines_range(text, lines, window[0].0, window[window.len() - 1].0),
            };
            let body: Vec<&str> = window.iter().map(|(_, line)| *line).collect();
            out.push(Chunk { kind, name: c.name.clone(), range, header: (i > 0).then(|| header.clone()), text: body.join("\n") });
        }
        let member_of_type = c.kind == ChunkKind::Class;
        for child in &c.children {
            emit_chunk(child, member_of_type, text, lines, out);
        }
        return;
    }
    // A long body: windows, each after the first headed by the definition's first line.
    let header = line_text(lines, text, first).to_string();
    let mut start = first;
    while start <= last {
        let end = (start + MAX_CHUNK_LINES - 1).min(last);
        let (range, body) = whole_lines(text, lines, start, end);
        let header = (start != first).then(|| header.clone());
        out.push(Chunk { kind, name: c.name.clone(), range, header, text: body });
        start = end + 1;
    }
}

/// Chunks for runs of lines outside every definition, skipping runs without a word in them.
fn emit_blocks(covered: &[bool], text: &str, lines: &LineIndex, out: &mut Vec<Chunk>) {
    let mut line = 0usize;
    while line < covered.len() {
        if covered[line] {
            line += 1;
            continue;
        }
        let start = line;
        while line < covered.len() && !covered[line] && line - start < MAX_CHUNK_LINES as usize {
            line += 1;
        }
        let (range, body) = whole_lines(text, lines, start as u32, line as u32 - 1);
        // Blank runs and lone closing braces say nothing.
        if body.chars().any(char::is_alphanumeric) {
            out.push(Chunk { kind: ChunkKind::Block, name: String::new(), range, header: None, text: body });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_found_without_recursion_on_deep_nesting() {
        let text = "# note\nx = \"s\" + f\"{y}\"\n";
        let parsed = parse(Language::Python, text).unwrap();
        let found: Vec<(&str, Literal)> = literals(&parsed).into_iter().map(|(r, l)| (&text[r.start_byte..r.end_byte], l)).collect();
        assert_eq!(found, [("# note", Literal::Comment), ("\"s\"", Literal::String), ("f\"{y}\"", Literal::String)]);
        // 20,000 levels of parentheses on a 256 KiB stack: a recursive walk would overflow it.
        let depth = 20_000;
        let deep = format!("x = {}\"s\"{}\n", "(".repeat(depth), ")".repeat(depth));
        let parsed = parse(Language::Python, &deep).unwrap();
        let count = std::thread::Builder::new().stack_size(256 << 10).spawn(move || literals(&parsed).len()).unwrap().join().unwrap();
        assert_eq!(count, 1);
    }

    #[test]
    fn every_query_compiles_against_its_grammar() {
        for lang in Language::ALL {
            match queries(lang) {
                Ok(q) => assert!(
                    q.root_kinds.is_some(),
                    "{lang}: every pattern should open with a plain `(kind`, so the query runs only at its root kinds"
                ),
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn the_walk_skips_kinds_that_cannot_hold_a_definition() {
        let q = queries(Language::Python).unwrap();
        let grammar = Language::Python.grammar();
        let descends = |kind: &str| q.descend_kinds[grammar.id_for_node_kind(kind, true) as usize];
        for kind in ["module", "block", "class_definition", "if_statement", "decorated_definition"] {
            assert!(descends(kind), "{kind}");
        }
        for kind in ["binary_operator", "call", "argument_list", "string", "lambda"] {
            assert!(!descends(kind), "{kind}");
        }
    }

    #[test]
    fn error_count_rises_when_syntax_breaks() {
        let good = "fn main() { let x = 1; }\n";
        let bad = "fn main() { let x = ; }\n";
        assert_eq!(error_count(Language::Rust, good).unwrap(), 0);
        assert!(error_count(Language::Rust, bad).unwrap() > 0);
        assert!(error_count(Language::Python, "def f(:\n  pass\n").unwrap() > 0);
    }

    #[test]
    fn identifier_occurrences_skip_strings_comments_and_longer_names() {
        let text = "fn count(n: u32) -> u32 {\n    // count is recursive\n    let s = \"count\";\n    count(n - 1) + counter\n}\n";
        let hits = identifier_occurrences(Language::Rust, text, "count").unwrap();
        let lines: Vec<u32> = hits.iter().map(|r| r.start_line).collect();
        assert_eq!(lines, vec![0, 3]);
        for hit in hits {
            assert_eq!(&text[hit.start_byte..hit.end_byte], "count");
        }
    }

    #[test]
    fn long_functions_become_headed_windows() {
        let body: String = (0..130).map(|i| format!("    let v{i} = {i};\n")).collect();
        let text = format!("fn long() {{\n{body}}}\n");
        let chunks = chunks(&parse(Language::Rust, &text).unwrap(), &text).unwrap();
        let spans: Vec<(u32, u32, bool)> = chunks.iter().map(|c| (c.range.start_line, c.range.end_line, c.header.is_some())).collect();
        assert_eq!(spans, vec![(0, 59, false), (60, 119, true), (120, 131, true)]);
        assert_eq!(chunks[1].header.as_deref(), Some("fn long() {"));
        assert_chunks_cover(&text, &chunks);
        assert!(chunks.iter().all(|c| c.text.lines().count() <= MAX_CHUNK_LINES as usize));
    }

    /// Every line with a word in it is a line of some chunk's text.
    fn assert_chunks_cover(text: &str, chunks: &[Chunk]) {
        for line in text.lines().filter(|l| l.chars().any(char::is_alphanumeric)) {
            assert!(chunks.iter().any(|c| c.text.lines().any(|t| t == line)), "no chunk holds {line:?}");
        }
    }

    #[test]
    fn a_long_class_outline_goes_on_in_headed_windows() {
        let fields: String = (0..150).map(|i| format!("    field_{i} = {i}\n")).collect();
        let text = format!("class Big:\n{fields}    def first(self):\n        return 1\n\n    def second(self):\n        return 2\n");
        let chunks = chunks(&parse(Language::Python, &text).unwrap(), &text).unwrap();
        let outline: Vec<(u32, u32, Option<&str>, usize)> = chunks
            .iter()
            .filter(|c| c.kind == ChunkKind::Class)
            .map(|c| {
                let lines = c.text.lines().count();
                (c.range.start_line, c.range.end_line, c.header.as_deref(), lines)
            })
            .collect();
        assert_eq!(outline, vec![(0, 155, None, 60), (60, 119, Some("class Big:"), 60), (120, 154, Some("class Big:"), 34)]);
        assert_chunks_cover(&text, &chunks);
    }

    #[test]
    fn a_file_with_syntax_errors_is_extracted_as_far_as_it_parses() {
        let text = "def ok():\n    return 1\n\ndef broken(:\n    pass\n\nclass Later:\n    def m(self):\n        pass\n";
        let file = analyze(Language::Python, text).unwrap();
        assert!(file.error_count > 0);
        let names: Vec<&str> = file.symbols.iter().map(|s| s.name.as_str()).collect();
        assert!(names.contains(&"ok"), "{names:?}");
        assert!(names.contains(&"Later"), "{names:?}");
    }
}
