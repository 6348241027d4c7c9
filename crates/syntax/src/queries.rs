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
    /// Indexed by node kind id: whether some pattern's outermost node can be of that kind. With it the
    /// extractor runs the query only at such nodes, found in one walk of the tree; `None` when a
    /// pattern's root is not a plain `(kind ...)` and the query must run over the whole tree.
    pub root_kinds: Option<Vec<bool>>,
    /// Indexed by node kind id: whether a node of that kind may hold a pattern-root node somewhere
    /// below it (from the grammar's `node-types.json`; kinds it does not list count as yes). The walk
    /// skips the rest: in Python no expression can hold a definition.
    pub descend_kinds: Vec<bool>,
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
        // TSX's grammar has TypeScript's node kinds for everything these queries match.
        Language::TypeScript | Language::Tsx => files!("typescript"),
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
        Query::new(&grammar, src).map_err(|e| SyntaxError::Query { language: lang.name(), file, message: e.to_string() })
    };
    // Compiled alone first, so an error names the file it is in.
    let symbol_patterns = build("symbols.scm", symbols)?.pattern_count();
    build("chunks.scm", chunks)?;
    let source = format!("{symbols}\n{chunks}");
    let combined = build("symbols.scm + chunks.scm", &source)?;
    let root_kinds = pattern_root_kinds(&grammar, &combined, &source);
    let descend_kinds = match &root_kinds {
        Some(roots) => may_hold_kinds(&grammar, lang.node_types(), roots),
        None => vec![true; grammar.node_kind_count()],
    };
    let identifier_kinds = (0..grammar.node_kind_count())
        .map(|id| {
            let id = id as u16;
            grammar.node_kind_is_named(id) && grammar.node_kind_for_id(id).is_some_and(|kind| lang.is_identifier_kind(kind))
        })
        .collect();
    Ok(LanguageQueries { combined, symbol_patterns, identifier_kinds, root_kinds, descend_kinds })
}

/// For each node kind id, whether a node of that kind may have a descendant whose kind is in `roots`,
/// by the child types `node-types.json` lists (supertypes expanded). Kinds without an entry of their own
/// (`ERROR`) and an unreadable file count as yes: the walk then just descends. A kind that appears only
/// as a child type is taken to hold nothing below it: the one such kind in these grammars is
/// tree-sitter-python's `as_pattern_target`, an aliased expression. The fixture tests and
/// `examples/phase_times.rs` (every file of two large trees) check the result against the whole-tree
/// query.
fn may_hold_kinds(grammar: &tree_sitter::Language, node_types: &str, roots: &[bool]) -> Vec<bool> {
    use std::collections::{HashMap, HashSet};
    let kinds = grammar.node_kind_count();
    let Ok(serde_json::Value::Array(types)) = serde_json::from_str(node_types) else {
        return vec![true; kinds];
    };
    let named_types = |list: Option<&serde_json::Value>| -> Vec<String> {
        list.and_then(|l| l.as_array())
            .into_iter()
            .flatten()
            .filter(|t| t["named"].as_bool() == Some(true))
            .filter_map(|t| t["type"].as_str().map(str::to_string))
            .collect()
    };
    // Named kind -> the named kinds its children may have; supertype -> its subtypes.
    let mut children: HashMap<String, Vec<String>> = HashMap::new();
    let mut subtypes: HashMap<String, Vec<String>> = HashMap::new();
    for t in &types {
        let (Some(name), Some(true)) = (t["type"].as_str(), t["named"].as_bool()) else {
            continue;
        };
        if t.get("subtypes").is_some() {
            subtypes.insert(name.to_string(), named_types(t.get("subtypes")));
            continue;
        }
        let mut kids = named_types(t["children"].get("types"));
        if let Some(fields) = t["fields"].as_object() {
            for field in fields.values() {
                kids.extend(named_types(field.get("types")));
            }
        }
        children.insert(name.to_string(), kids);
    }
    let concrete = |name: &str| -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![name.to_string()];
        let mut seen = HashSet::new();
        while let Some(n) = stack.pop() {
            if !seen.insert(n.clone()) {
                continue;
            }
            match subtypes.get(&n) {
                Some(subs) => stack.extend(subs.iter().cloned()),
                None => out.push(n),
            }
        }
        out
    };
    let root_names: HashSet<String> = (0..kinds as u16)
        .filter(|&id| roots.get(id as usize).copied().unwrap_or(false))
        .filter_map(|id| grammar.node_kind_for_id(id).map(str::to_string))
        .collect();
    let expanded: HashMap<String, Vec<String>> =
        children.iter().map(|(name, kids)| (name.clone(), kids.iter().flat_map(|k| concrete(k)).collect())).collect();
    let mut holds: HashSet<String> = HashSet::new();
    loop {
        let before = holds.len();
        for (name, kids) in &expanded {
            if !holds.contains(name) && kids.iter().any(|k| root_names.contains(k) || holds.contains(k)) {
                holds.insert(name.clone());
            }
        }
        if holds.len() == before {
            break;
        }
    }
    (0..kinds as u16)
        .map(|id| {
            if !grammar.node_kind_is_named(id) {
                return false;
            }
            match grammar.node_kind_for_id(id) {
                Some(name) => holds.contains(name) || !children.contains_key(name),
                None => true,
            }
        })
        .collect()
}

/// For each node kind id, whether a pattern of `query` is rooted at that kind: the `(kind` that opens
/// each pattern in `source`, its aliases (same name) and, for a supertype, its subtypes. `None` for a
/// pattern that opens with anything else (`[`, `_`, a string, a sibling sequence).
fn pattern_root_kinds(grammar: &tree_sitter::Language, query: &Query, source: &str) -> Option<Vec<bool>> {
    let kinds = grammar.node_kind_count();
    let mut roots = vec![false; kinds];
    for pattern in 0..query.pattern_count() {
        if !query.is_pattern_rooted(pattern) {
            return None;
        }
        let rest = source.get(query.start_byte_for_pattern(pattern)..)?;
        let rest = rest.trim_start().strip_prefix('(')?.trim_start();
        let name_len = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
        let name = &rest[..name_len];
        if name.is_empty() || name == "_" {
            return None;
        }
        let mut found = false;
        let mut stack: Vec<u16> =
            (0..kinds as u16).filter(|&id| grammar.node_kind_is_named(id) && grammar.node_kind_for_id(id) == Some(name)).collect();
        while let Some(id) = stack.pop() {
            found = true;
            if std::mem::replace(&mut roots[id as usize], true) {
                continue;
            }
            if grammar.node_kind_is_supertype(id) {
                stack.extend_from_slice(grammar.subtypes_for_supertype(id));
            }
        }
        if !found {
            return None;
        }
    }
    Some(roots)
}

/// The compiled queries of `lang`; compiled on first use, shared by all threads afterwards.
pub(crate) fn queries(lang: Language) -> Result<&'static LanguageQueries, SyntaxError> {
    static CELLS: [OnceLock<Result<LanguageQueries, String>>; Language::ALL.len()] = [const { OnceLock::new() }; Language::ALL.len()];
    let slot = Language::ALL.iter().position(|l| *l == lang).expect("every language is in ALL");
    let compiled = CELLS[slot].get_or_init(|| compile(lang).map_err(|e| e.to_string()));
    compiled.as_ref().map_err(|message| SyntaxError::Query {
        language: lang.name(),
        file: "symbols.scm or chunks.scm",
        message: message.clone(),
    })
}
