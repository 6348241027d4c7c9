//! Tree-sitter parsing: languages, symbols, retrieval chunks and references.
//!
//! Everything here is a pure function of `(Language, &str)`: no I/O, no global state but the compiled
//! queries. The index builds on [`analyze`]; the edit engine uses [`error_count`] and
//! [`identifier_occurrences`].
//!
//! ```
//! use hearth_syntax::{analyze, Language, SymbolKind};
//! let file = analyze(Language::Rust, "struct S;\nimpl S { fn go(&self) {} }\n").unwrap();
//! let go = file.symbols.iter().find(|s| s.name == "go").unwrap();
//! assert_eq!(go.kind, SymbolKind::Method);
//! assert_eq!(go.scope.as_deref(), Some("S"));
//! ```

mod extract;
mod imports;
mod language;
mod queries;

pub use extract::{
    analyze, analyze_whole_tree, chunks, error_count, identifier_occurrences, literals, occurrences_in, parse, references, symbols, Chunk,
    ChunkKind, FileSyntax, Literal, Parsed, Reference, Symbol, SymbolKind, TextRange, MAX_CHUNK_LINES, MAX_SIGNATURE_BYTES,
};
pub use imports::{
    directory_is_package, expects_type, exported, exports_by_name, imports, local_bindings, outside_package, qualifier_before, Import,
    Qualifier,
};
pub use language::Language;

/// Why a text could not be analysed.
#[derive(Debug, thiserror::Error)]
pub enum SyntaxError {
    /// The grammar crate and the tree-sitter runtime disagree on the ABI version.
    #[error("cannot load the {language} grammar: {message}")]
    Grammar { language: &'static str, message: String },
    /// A query file in `grammars/` does not compile against its grammar.
    #[error("query grammars/{language}/{file} is invalid: {message}")]
    Query { language: &'static str, file: &'static str, message: String },
    /// Tree-sitter gave up (it does so only when cancelled or out of memory).
    #[error("tree-sitter could not parse this {language} text")]
    ParseFailed { language: &'static str },
}
