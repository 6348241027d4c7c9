//! Reading an instruction: is it a mechanical rename ("rename X to Y"), and which identifiers does it
//! name (for the planner)?

/// A rename the structural fast path can do without the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rename {
    pub from: String,
    pub to: String,
    /// Also rename whole-word mentions inside comments / string literals (only when asked).
    pub in_comments: bool,
    pub in_strings: bool,
}

/// Words that may sit between "rename" and the old name ("rename the function `x` to `y`").
const KIND_WORDS: &[&str] = &[
    "the",
    "a",
    "function",
    "func",
    "fn",
    "def",
    "method",
    "class",
    "struct",
    "enum",
    "type",
    "trait",
    "interface",
    "symbol",
    "variable",
    "var",
    "field",
    "property",
    "constant",
    "const",
    "identifier",
    "module",
    "parameter",
    "param",
    "argument",
    "macro",
    "local",
    "global",
];

/// Words a pure rename may end with ("and update every caller, also in comments").
const TAIL_WORDS: &[&str] = &[
    "and",
    "update",
    "updating",
    "fix",
    "every",
    "all",
    "each",
    "caller",
    "callers",
    "call",
    "calls",
    "site",
    "sites",
    "usage",
    "usages",
    "use",
    "uses",
    "reference",
    "references",
    "occurrence",
    "occurrences",
    "everywhere",
    "in",
    "the",
    "repo",
    "repository",
    "codebase",
    "project",
    "workspace",
    "files",
    "also",
    "too",
    "including",
    "include",
    "inside",
    "comment",
    "comments",
    "string",
    "strings",
    "docstring",
    "docstrings",
    "literal",
    "literals",
    "its",
    "their",
    "of",
    "it",
    "them",
    "across",
    "accordingly",
    "as",
    "well",
    "please",
    "not",
    "but",
    "no",
    "only",
    "code",
];

/// Recognizes "rename X to Y" / "rename X as Y" (any case, names optionally in backticks or quotes,
/// optional kind words such as "the function"), followed by nothing but the usual "and update every
/// caller" phrasing. Mentions inside comments and strings are renamed only when the instruction asks
/// for them ("including comments", "also in strings").
pub fn parse_rename(instruction: &str) -> Option<Rename> {
    let words: Vec<&str> = instruction.split_whitespace().collect();
    let start = words.iter().position(|w| clean(w).eq_ignore_ascii_case("rename"))?;
    if words[..start].iter().any(|w| !matches!(clean(w).to_ascii_lowercase().as_str(), "please" | "")) {
        return None;
    }
    let mut i = start + 1;
    while i < words.len() && KIND_WORDS.contains(&clean(words[i]).to_ascii_lowercase().as_str()) && !is_quoted(words[i]) {
        i += 1;
    }
    let from = identifier(words.get(i)?)?;
    let connector = clean(words.get(i + 1)?).to_ascii_lowercase();
    if !matches!(connector.as_str(), "to" | "as" | "into" | "->" | "=>") {
        return None;
    }
    let to = identifier(words.get(i + 2)?)?;
    let tail: Vec<String> = words[i + 3..].iter().map(|w| clean(w).to_ascii_lowercase()).filter(|w| !w.is_empty()).collect();
    if tail.iter().any(|w| !TAIL_WORDS.contains(&w.as_str())) || from == to {
        return None;
    }
    let tail = tail.join(" ");
    let negated = |what: &str| ["not in ", "no ", "but not ", "not "].iter().any(|n| tail.contains(&format!("{n}{what}")));
    let asked = |what: &str| tail.contains(what) && !negated(what);
    Some(Rename { from, to, in_comments: asked("comment"), in_strings: asked("string") || asked("literal") })
}

/// Identifiers an instruction names: in backticks or quotes, written like code (`snake_case`,
/// `camelCase`, `f()`), in order of appearance, without duplicates. The planner also tries the
/// remaining words against the index's symbol table.
pub(crate) fn named_identifiers(instruction: &str) -> (Vec<String>, Vec<String>) {
    let mut code_like = Vec::new();
    let mut other = Vec::new();
    for word in instruction.split_whitespace() {
        let Some(ident) = identifier(word) else { continue };
        let looks_like_code = is_quoted(word)
            || word.contains("()")
            || ident.contains('_')
            || ident.chars().skip(1).any(|c| c.is_ascii_uppercase()) && ident.chars().any(|c| c.is_ascii_lowercase());
        let list = if looks_like_code { &mut code_like } else { &mut other };
        if !list.contains(&ident) {
            list.push(ident);
        }
    }
    other.retain(|w| !code_like.contains(w));
    (code_like, other)
}

fn is_quoted(word: &str) -> bool {
    word.starts_with(['`', '\'', '"'])
}

/// The word without surrounding quotes, backticks, punctuation or a call's `()`.
fn clean(word: &str) -> &str {
    let w = word.trim_matches(|c: char| matches!(c, '`' | '\'' | '"' | ',' | '.' | ';' | ':' | '!' | '?' | '(' | ')'));
    w.strip_suffix("()").unwrap_or(w)
}

fn identifier(word: &str) -> Option<String> {
    let w = clean(word);
    let mut chars = w.chars();
    let first = chars.next()?;
    let ok = (first.is_alphabetic() || first == '_' || first == '$') && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '$');
    ok.then(|| w.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(from: &str, to: &str, c: bool, s: bool) -> Option<Rename> {
        Some(Rename { from: from.into(), to: to.into(), in_comments: c, in_strings: s })
    }

    #[test]
    fn renames_are_recognized() {
        assert_eq!(parse_rename("rename parse_cfg to parse_config"), r("parse_cfg", "parse_config", false, false));
        assert_eq!(
            parse_rename("Rename `parse_cfg` to `parse_config` and update every caller"),
            r("parse_cfg", "parse_config", false, false)
        );
        assert_eq!(parse_rename("rename the function fetch() as fetch_all"), r("fetch", "fetch_all", false, false));
        assert_eq!(parse_rename("rename Foo to Bar everywhere, including comments and strings"), r("Foo", "Bar", true, true));
        assert_eq!(parse_rename("rename Foo to Bar, also in comments but not in strings"), r("Foo", "Bar", true, false));
    }

    #[test]
    fn other_instructions_are_not_renames() {
        assert_eq!(parse_rename("rename x to y and add a timeout parameter"), None);
        assert_eq!(parse_rename("add a timeout parameter to every HTTP helper"), None);
        assert_eq!(parse_rename("rename x to 3y"), None);
        assert_eq!(parse_rename("rename x to x"), None);
        assert_eq!(parse_rename("do not rename x to y"), None);
    }

    #[test]
    fn named_identifiers_prefer_code_like_words() {
        let (code, other) = named_identifiers("add a timeout to `fetch` and http_get, then call retryLater()");
        assert_eq!(code, ["fetch", "http_get", "retryLater"]);
        assert!(other.contains(&"timeout".to_string()));
    }
}
