//! The code-aware Tantivy tokenizer: identifiers, whole and split at camelCase, snake_case and digits.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// The name the tokenizer is registered under in the Tantivy index.
pub(crate) const CODE_TOKENIZER: &str = "hearth_code";

/// Shortest token kept, in bytes: single letters match everything and tell nothing.
const MIN_TOKEN_LEN: usize = 2;
/// Longest token kept, in bytes (long runs are data, not names).
const MAX_TOKEN_LEN: usize = 64;

/// Emits, for every identifier, its lower-cased whole and then each lower-cased part when it has
/// several: `parseHTTPRequest_v2` gives `parsehttprequest_v2`, `parse`, `http`, `request`, `v2`.
/// Pure numbers are skipped.
#[derive(Clone, Default)]
pub struct CodeTokenizer {
    /// Reused between texts (with their `String`s): only `tokens[..used]` belong to the current text.
    tokens: Vec<Token>,
    used: usize,
}

pub struct CodeTokenStream<'a> {
    tokens: &'a mut [Token],
    next: usize,
}

impl Tokenizer for CodeTokenizer {
    type TokenStream<'a> = CodeTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> CodeTokenStream<'a> {
        self.used = 0;
        let (tokens, used) = (&mut self.tokens, &mut self.used);
        for_each_identifier(text, |start, ident| {
            let mut push = |from: usize, word: &str| {
                if !(MIN_TOKEN_LEN..=MAX_TOKEN_LEN).contains(&word.len()) {
                    return;
                }
                if *used == tokens.len() {
                    tokens.push(Token::default());
                }
                let token = &mut tokens[*used];
                token.offset_from = start + from;
                token.offset_to = start + from + word.len();
                token.position = *used;
                token.position_length = 1;
                token.text.clear();
                push_lowercase(&mut token.text, word);
                *used += 1;
            };
            push(0, ident);
            // Fast path: `foo`, `x86` have no parts.
            if ident.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
                return;
            }
            let parts = identifier_parts(ident);
            if parts.len() > 1 || parts.first().is_some_and(|(_, part)| part.len() != ident.len()) {
                for (from, part) in parts {
                    push(from, part);
                }
            }
        });
        CodeTokenStream { tokens: &mut self.tokens[..self.used], next: 0 }
    }
}

impl TokenStream for CodeTokenStream<'_> {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

fn push_lowercase(out: &mut String, word: &str) {
    if word.is_ascii() {
        // Byte by byte: words are short, and a copy call plus a lower-casing pass cost more.
        out.reserve(word.len());
        for b in word.bytes() {
            out.push(char::from(b.to_ascii_lowercase()));
        }
    } else {
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
}

pub(crate) fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// The most selective token that every text holding `name` as an identifier has among its tokens: the
/// longest run of identifier characters in `name` that the tokenizer keeps whole, lower-cased. `None`
/// when it keeps none (`x`, `$`, a name longer than 64 bytes).
pub(crate) fn whole_token(name: &str) -> Option<String> {
    let mut best: Option<&str> = None;
    for_each_identifier(name, |_, run| {
        if (MIN_TOKEN_LEN..=MAX_TOKEN_LEN).contains(&run.len()) && best.is_none_or(|b| run.len() > b.len()) {
            best = Some(run);
        }
    });
    best.map(|run| {
        let mut token = String::with_capacity(run.len());
        push_lowercase(&mut token, run);
        token
    })
}

/// Whether `text` holds `name` with no identifier character touching it on a side where `name` itself
/// ends in one (`get` is in `x.get(` but not in `get_value`).
pub(crate) fn contains_word(text: &str, name: &str) -> bool {
    let (Some(first), Some(last)) = (name.chars().next(), name.chars().next_back()) else {
        return false;
    };
    let (check_before, check_after) = (is_ident_char(first), is_ident_char(last));
    text.match_indices(name).any(|(at, _)| {
        let clear_before = !check_before || !text[..at].chars().next_back().is_some_and(is_ident_char);
        let clear_after = !check_after || !text[at + name.len()..].chars().next().is_some_and(is_ident_char);
        clear_before && clear_after
    })
}

/// Calls `f(byte_offset, identifier)` for every maximal run of identifier characters that is not a
/// pure number.
pub(crate) fn for_each_identifier<'t>(text: &'t str, mut f: impl FnMut(usize, &'t str)) {
    let bytes = text.as_bytes();
    let mut start = None;
    let mut i = 0;
    while i < bytes.len() {
        // ASCII is classified by byte; anything else is decoded to a char.
        let (ident, len) = match bytes[i] {
            b if b.is_ascii() => (b == b'_' || b.is_ascii_alphanumeric(), 1),
            _ => {
                let c = text[i..].chars().next().expect("i is a char boundary");
                (is_ident_char(c), c.len_utf8())
            }
        };
        match (start, ident) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                emit(text, s, i, &mut f);
                start = None;
            }
            _ => {}
        }
        i += len;
    }
    if let Some(s) = start {
        emit(text, s, text.len(), &mut f);
    }
}

fn emit<'t>(text: &'t str, start: usize, end: usize, f: &mut impl FnMut(usize, &'t str)) {
    let ident = &text[start..end];
    if !ident.as_bytes()[0].is_ascii_digit() {
        f(start, ident);
    }
}

/// The parts of an identifier with their byte offsets: split at `_`, at lower-to-upper case changes,
/// before the last capital of an acronym (`HTTPServer` is `HTTP`, `Server`); digits stay with the letters
/// before them (`utf8ToUtf16` is `utf8`, `To`, `Utf16`).
pub fn identifier_parts(ident: &str) -> Vec<(usize, &str)> {
    if ident.is_ascii() {
        ascii_identifier_parts(ident)
    } else {
        char_identifier_parts(ident)
    }
}

fn char_identifier_parts(ident: &str) -> Vec<(usize, &str)> {
    let chars: Vec<(usize, char)> = ident.char_indices().collect();
    let mut parts = Vec::new();
    let mut start: Option<usize> = None;
    for (k, &(i, c)) in chars.iter().enumerate() {
        if c == '_' {
            if let Some(s) = start.take() {
                parts.push((s, &ident[s..i]));
            }
            continue;
        }
        if let Some(s) = start {
            let prev = chars[k - 1].1;
            let next = chars.get(k + 1).map(|&(_, n)| n);
            let boundary = (prev.is_lowercase() && c.is_uppercase())
                || (prev.is_uppercase() && c.is_uppercase() && next.is_some_and(|n| n.is_lowercase()))
                || (prev.is_ascii_digit() && c.is_uppercase());
            if boundary {
                parts.push((s, &ident[s..i]));
                start = Some(i);
            }
        } else {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        parts.push((s, &ident[s..]));
    }
    parts
}

/// [`identifier_parts`] for an ASCII identifier, by byte: the same rules without decoding chars.
fn ascii_identifier_parts(ident: &str) -> Vec<(usize, &str)> {
    let b = ident.as_bytes();
    let mut parts = Vec::new();
    let mut start: Option<usize> = None;
    for i in 0..b.len() {
        if b[i] == b'_' {
            if let Some(s) = start.take() {
                parts.push((s, &ident[s..i]));
            }
            continue;
        }
        match start {
            Some(s) => {
                let (prev, c) = (b[i - 1], b[i]);
                let next_lower = b.get(i + 1).is_some_and(u8::is_ascii_lowercase);
                let boundary = (prev.is_ascii_lowercase() && c.is_ascii_uppercase())
                    || (prev.is_ascii_uppercase() && c.is_ascii_uppercase() && next_lower)
                    || (prev.is_ascii_digit() && c.is_ascii_uppercase());
                if boundary {
                    parts.push((s, &ident[s..i]));
                    start = Some(i);
                }
            }
            None => start = Some(i),
        }
    }
    if let Some(s) = start {
        parts.push((s, &ident[s..]));
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<String> {
        let mut tokenizer = CodeTokenizer::default();
        let mut stream = tokenizer.token_stream(text);
        let mut out = Vec::new();
        while let Some(t) = stream.next() {
            assert_eq!(text[t.offset_from..t.offset_to].to_lowercase(), t.text);
            out.push(t.text.clone());
        }
        out
    }

    /// Every string of up to `len` chars over `alphabet`.
    fn strings(alphabet: &[char], len: usize) -> Vec<String> {
        let mut all = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..len {
            last = last.iter().flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}"))).collect();
            all.extend(last.iter().cloned());
        }
        all
    }

    #[test]
    fn byte_paths_agree_with_the_char_by_char_rules() {
        for s in strings(&['a', 'B', 'c', 'D', '_', '7', ' ', 'é', 'Ö'], 6) {
            if s.is_ascii() {
                assert_eq!(ascii_identifier_parts(&s), char_identifier_parts(&s), "{s:?}");
            }
            let mut fast = Vec::new();
            for_each_identifier(&s, |at, ident| fast.push((at, ident)));
            // The rule, one char at a time: maximal runs of identifier chars, numbers left out.
            let mut slow = Vec::new();
            let mut start = None;
            for (i, c) in s.char_indices().chain([(s.len(), ' ')]) {
                match (start, is_ident_char(c)) {
                    (None, true) => start = Some(i),
                    (Some(at), false) => {
                        if !s[at..i].starts_with(|c: char| c.is_ascii_digit()) {
                            slow.push((at, &s[at..i]));
                        }
                        start = None;
                    }
                    _ => {}
                }
            }
            assert_eq!(fast, slow, "{s:?}");
        }
    }

    #[test]
    fn whole_token_is_the_longest_run_kept_whole() {
        assert_eq!(whole_token("loadUser").as_deref(), Some("loaduser"));
        assert_eq!(whole_token("$el").as_deref(), Some("el"));
        assert_eq!(whole_token("r#type").as_deref(), Some("type"));
        assert_eq!(whole_token("empty?").as_deref(), Some("empty"));
        assert_eq!(whole_token("x"), None);
        assert_eq!(whole_token(&"a".repeat(65)), None);
        // What the tokenizer makes of a text holding the name includes the name's token.
        for name in ["loadUser", "$el", "empty?", "données", "HTTPServer"] {
            let token = whole_token(name).unwrap();
            assert!(tokens(&format!("a.{name}(b)")).contains(&token), "{name}");
        }
    }

    #[test]
    fn contains_word_needs_a_boundary_where_the_name_has_one() {
        assert!(contains_word("x.get(1)", "get"));
        assert!(!contains_word("get_value(); target", "get"));
        assert!(contains_word("if empty? then", "empty?"));
        assert!(contains_word("let a=$el;", "$el"));
        assert!(!contains_word("let a=$elx;", "$el"));
        assert!(contains_word("é get", "get"));
        assert!(!contains_word("éget", "get"));
        assert!(!contains_word("anything", ""));
    }

    #[test]
    fn splits_camel_snake_acronyms_and_digits_and_keeps_the_whole() {
        assert_eq!(
            tokens("parseHTTPRequest_v2(x, 42) + max_len"),
            ["parsehttprequest_v2", "parse", "http", "request", "v2", "max_len", "max", "len"]
        );
        assert_eq!(tokens("XMLHttpRequest"), ["xmlhttprequest", "xml", "http", "request"]);
        assert_eq!(tokens("__init__ self.données"), ["__init__", "init", "self", "données"]);
        assert_eq!(tokens("utf8ToUtf16 Vec2D"), ["utf8toutf16", "utf8", "to", "utf16", "vec2d", "vec2"]);
    }
}
