//! The query files of `grammars/`, embedded at build time and compiled once per language.

use std::sync::OnceLock;

use tree_sitter::Query;

use crate::{Language, SyntaxError};

/// The compiled queries of one language: symbols.scm and chunks.scm as one query, so one pass over the
/// tree serves both; patterns below `symbol_patterns` come from symbols.scm.
pub(crate) struct LanguageQueries {
    pub combined: Query,
    pub symbol_patterns: usize,
    /// Indexed by node kind id: whether that kind is an identifier (see `Language::is_identifier_kind`).
    pub identifier_kinds: Vec<bool>,
}

fn sources(lang: Language) -> (&'static str, &'static str) {
    macro_rules! files {
        ($dir:literal) => {
            (
                include_str!(concat!("../../../grammars/", $dir, "/symbols.scm")),
                include_str!(concat!("../../../grammars/", $dir, "/chunks.scm")),
            )
        };
    }
    match lang {
        Language::Rust => files!("rust"),
        Language::Python => files!("python"),
        Language::JavaScript => files!("javascript"),
        Language::TypeScript => files!("typescript"),
        Language::Tsx => files!("tsx"),
        Language::Go => files!("go"),
        Language::Java => files!("java"),
        Language::C => files!("c"),
        Language::Cpp => files!("cpp"),
        Language::CSharp => files!("c_sharp"),
        Language::Ruby => files!("ruby"),
        Language::Lua => files!("lua"),
    }
}

fn compile(lang: Language) -> Result<LanguageQueries, SyntaxError> {
    let grammar = lang.grammar();
    let (symbols, chunks) = sources(lang);
    let build = |file: &'static str, src: &str| {
        Query::new(&grammar, src).map_err(|e| SyntaxError::Query {
            language: lang.name(),
            file,
            message: e.to_string(),
        })
    };
    // Compiled alone first, so an error names the file it is in.
    let symbol_patterns = build("symbols.scm", symbols)?.pattern_count();
    build("chunks.scm", chunks)?;
    let combined = build("symbols.scm + chunks.scm", &format!("{symbols}\n{chunks}"))?;
    let identifier_kinds = (0..grammar.node_kind_count())
        .map(|id| {
            let id = id as u16;
            grammar.node_kind_is_named(id)
                && grammar
                    .node_kind_for_id(id)
                    .is_some_and(|kind| lang.is_identifier_kind(kind))
        })
        .collect();
    Ok(LanguageQueries {
        combined,
        symbol_patterns,
        identifier_kinds,
    })
}

/// The compiled queries of `lang`; compiled on first use, shared by all threads afterwards.
pub(crate) fn queries(lang: Language) -> Result<&'static LanguageQueries, SyntaxError> {
    static CELLS: [OnceLock<Result<LanguageQueries, String>>; Language::ALL.len()] =
        [const { OnceLock::new() }; Language::ALL.len()];
    let slot = Language::ALL
        .iter()
        .position(|l| *l == lang)
        .expect("every language is in ALL");
    let compiled = CELLS[slot].get_or_init(|| compile(lang).map_err(|e| e.to_string()));
    compiled.as_ref().map_err(|message| SyntaxError::Query {
        language: lang.name(),
        file: "symbols.scm or chunks.scm",
        message: message.clone(),
    })
}
