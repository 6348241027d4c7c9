//! The grammar of one tool call, as a [`Constraint`] on decoding: free text until the model opens a
//! call, then only bytes that continue a call to an offered tool with arguments its schema allows,
//! in the canonical text of the model's format ([`ToolFormat::render_call`]). A call decoded under
//! it always parses.

use std::sync::Arc;

use hearth_decode::Constraint;

use super::format::ToolFormat;
use super::schema::Schema;

/// The tools a call may name, with their argument schemas.
#[derive(Clone, Debug)]
pub struct CallGrammar {
    format: ToolFormat,
    tools: Arc<Vec<(String, Schema)>>,
}

/// How far a text gets in the grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefix {
    /// Not the start of a call.
    Invalid,
    /// A start of a call, not yet complete.
    Partial,
    /// A whole call, `n` bytes long.
    Complete(usize),
}

impl CallGrammar {
    pub fn new(format: ToolFormat, tools: Vec<(String, Schema)>) -> Self {
        CallGrammar { format, tools: Arc::new(tools) }
    }

    /// Bytes (so at most tokens) that closing an open call can take: the longest of the tools'
    /// shortest calls, plus the end of a string value.
    pub fn closing_reserve(&self) -> usize {
        let shortest = |schema: &Schema| -> String {
            let Schema::Object { properties, required } = schema else { return self.format.render_raw("x", "{}") };
            let args: serde_json::Map<String, serde_json::Value> =
                properties.iter().filter(|(k, _)| required.contains(k)).map(|(k, s)| (k.clone(), minimal(s))).collect();
            self.format.render_call(&super::format::ParsedCall { name: String::new(), arguments: args })
        };
        self.tools.iter().map(|(name, schema)| shortest(schema).len() + name.len()).max().unwrap_or(0) + 16
    }

    /// Where `text`, the bytes after the format's opening marker, stands in the grammar.
    pub fn check(&self, text: &[u8]) -> Prefix {
        self.check_closing(text, usize::MAX)
    }

    /// [`CallGrammar::check`], where bytes from `close_from` on must finish the call by the
    /// shortest way: no more string text, digits, whitespace, array items or optional keys.
    pub fn check_closing(&self, text: &[u8], close_from: usize) -> Prefix {
        let mut c = Cursor { b: text, i: 0, close_from };
        match self.call(&mut c) {
            Ok(()) => Prefix::Complete(c.i),
            Err(Stop::End) => Prefix::Partial,
            Err(Stop::Bad) => Prefix::Invalid,
        }
    }

    fn call(&self, c: &mut Cursor<'_>) -> Step {
        match self.format {
            ToolFormat::Hermes => {
                c.lit(b"\n{\"name\": \"")?;
                let schema = self.name(c)?;
                c.lit(b"\", \"arguments\": ")?;
                value(c, schema)?;
                c.lit(b"}\n</tool_call>")
            }
            ToolFormat::Llama3Json => {
                c.lit(b"{\"name\": \"")?;
                let schema = self.name(c)?;
                c.lit(b"\", \"parameters\": ")?;
                value(c, schema)?;
                c.lit(b"}")
            }
            ToolFormat::QwenXml => {
                c.lit(b"\n<function=")?;
                let schema = self.name(c)?;
                c.lit(b">\n")?;
                xml_parameters(c, schema)?;
                c.lit(b"</function>\n</tool_call>")
            }
        }
    }

    /// A tool's name, ended by the format's delimiter (not consumed).
    fn name(&self, c: &mut Cursor<'_>) -> Result<&Schema, Stop> {
        let end = if self.format == ToolFormat::QwenXml { b'>' } else { b'"' };
        let names: Vec<&[u8]> = self.tools.iter().map(|(n, _)| n.as_bytes()).collect();
        let i = c.one_of(&names, end)?;
        Ok(&self.tools[i].1)
    }
}

/// The shortest value a schema allows.
fn minimal(schema: &Schema) -> serde_json::Value {
    match schema {
        Schema::String { choices } => serde_json::Value::String(choices.iter().min_by_key(|c| c.len()).cloned().unwrap_or_default()),
        Schema::Integer | Schema::Number => 0.into(),
        Schema::Boolean => false.into(),
        Schema::Array(_) => serde_json::Value::Array(Vec::new()),
        Schema::Object { properties, required } => serde_json::Value::Object(
            properties.iter().filter(|(k, _)| required.contains(k)).map(|(k, s)| (k.clone(), minimal(s))).collect(),
        ),
        Schema::Any => 0.into(),
    }
}

/// Why parsing stopped: the text ended inside the grammar, or left it.
enum Stop {
    End,
    Bad,
}

type Step = Result<(), Stop>;

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
    /// From this byte on, only the shortest way to the end is allowed.
    close_from: usize,
}

impl Cursor<'_> {
    /// Whether the byte at the cursor is past the point where the call must close.
    fn closing(&self) -> bool {
        self.i >= self.close_from
    }

    fn peek(&self) -> Result<u8, Stop> {
        self.b.get(self.i).copied().ok_or(Stop::End)
    }

    fn next(&mut self) -> Result<u8, Stop> {
        let b = self.peek()?;
        self.i += 1;
        Ok(b)
    }

    fn lit(&mut self, lit: &[u8]) -> Step {
        for &want in lit {
            if self.next()? != want {
                return Err(Stop::Bad);
            }
        }
        Ok(())
    }

    /// Which of `options` comes next, followed by `end` (left unconsumed).
    fn one_of(&mut self, options: &[&[u8]], end: u8) -> Result<usize, Stop> {
        let start = self.i;
        loop {
            let got = &self.b[start..self.i];
            let b = self.peek()?;
            if b == end {
                return options.iter().position(|o| *o == got).ok_or(Stop::Bad);
            }
            let mut longer = got.to_vec();
            longer.push(b);
            if !options.iter().any(|o| o.starts_with(&longer)) {
                return Err(Stop::Bad);
            }
            self.i += 1;
        }
    }

    /// The first of `options` the text continues; the chosen one is consumed.
    fn choose(&mut self, options: &[&[u8]]) -> Result<usize, Stop> {
        let rest = &self.b[self.i..];
        if let Some(k) = options.iter().position(|o| rest.starts_with(o)) {
            self.i += options[k].len();
            return Ok(k);
        }
        if options.iter().any(|o| o.starts_with(rest)) {
            return Err(Stop::End);
        }
        Err(Stop::Bad)
    }

    fn ws(&mut self) -> Step {
        let start = self.i;
        while matches!(self.peek()?, b' ' | b'\n' | b'\t' | b'\r') {
            if self.closing() || self.i - start >= MAX_WS {
                return Err(Stop::Bad);
            }
            self.i += 1;
        }
        Ok(())
    }
}

/// The longest run of whitespace between JSON tokens (pretty-printed arguments fit; endless blanks do not).
const MAX_WS: usize = 32;

/// A JSON value that `schema` allows.
fn value(c: &mut Cursor<'_>, schema: &Schema) -> Step {
    match schema {
        Schema::String { choices } if !choices.is_empty() => {
            let encoded: Vec<String> = choices.iter().map(|s| serde_json::to_string(s).unwrap_or_default()).collect();
            let options: Vec<&[u8]> = encoded.iter().map(|s| s.as_bytes()).collect();
            c.choose(&options).map(drop)
        }
        Schema::String { .. } => string(c),
        Schema::Integer => integer(c),
        Schema::Number => number(c),
        Schema::Boolean => c.choose(&[b"true", b"false"]).map(drop),
        Schema::Array(item) => array(c, item),
        Schema::Object { properties, required } => object(c, properties, required),
        Schema::Any => any(c),
    }
}

fn string(c: &mut Cursor<'_>) -> Step {
    c.lit(b"\"")?;
    loop {
        let closing = c.closing();
        match c.next()? {
            b'"' => return Ok(()),
            _ if closing => return Err(Stop::Bad),
            b'\\' => match c.next()? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                b'u' => {
                    for _ in 0..4 {
                        if !c.next()?.is_ascii_hexdigit() {
                            return Err(Stop::Bad);
                        }
                    }
                }
                _ => return Err(Stop::Bad),
            },
            b if b < 0x20 => return Err(Stop::Bad),
            _ => {}
        }
    }
}

/// Digits, ended by a byte that is not one (left unconsumed): at least one, at most `max`.
fn digits(c: &mut Cursor<'_>, max: usize) -> Step {
    if !c.next()?.is_ascii_digit() {
        return Err(Stop::Bad);
    }
    let mut n = 1;
    while c.peek()?.is_ascii_digit() {
        if c.closing() || n == max {
            return Err(Stop::Bad);
        }
        n += 1;
        c.i += 1;
    }
    Ok(())
}

/// Digits of an integer argument: every integer of 18 digits fits the parser's `i64`, so the
/// model cannot write one (`100000000000000000000`) that the call then refuses.
const INTEGER_DIGITS: usize = 18;

/// An optional leading `-`.
fn minus(c: &mut Cursor<'_>) -> Step {
    if c.peek()? == b'-' {
        c.i += 1;
    }
    Ok(())
}

fn integer(c: &mut Cursor<'_>) -> Step {
    minus(c)?;
    digits(c, INTEGER_DIGITS)
}

fn number(c: &mut Cursor<'_>) -> Step {
    minus(c)?;
    digits(c, usize::MAX)?;
    if c.peek()? == b'.' {
        c.i += 1;
        digits(c, usize::MAX)?;
    }
    if matches!(c.peek()?, b'e' | b'E') {
        c.i += 1;
        if matches!(c.peek()?, b'+' | b'-') {
            c.i += 1;
        }
        digits(c, usize::MAX)?;
    }
    Ok(())
}

fn array(c: &mut Cursor<'_>, item: &Schema) -> Step {
    c.lit(b"[")?;
    c.ws()?;
    if c.peek()? == b']' {
        c.i += 1;
        return Ok(());
    }
    loop {
        value(c, item)?;
        c.ws()?;
        let closing = c.closing();
        match c.next()? {
            b',' if !closing => c.ws()?,
            b']' => return Ok(()),
            _ => return Err(Stop::Bad),
        }
    }
}

/// An object with keys among `properties` (each at most once), closed only once every required key is in.
fn object(c: &mut Cursor<'_>, properties: &[(String, Schema)], required: &[String]) -> Step {
    c.lit(b"{")?;
    let mut seen: Vec<usize> = Vec::new();
    c.ws()?;
    loop {
        let complete = required.iter().all(|r| seen.iter().any(|&i| properties[i].0 == *r));
        // Closing: only the required keys still missing, if any.
        let unseen: Vec<usize> = (0..properties.len()).filter(|i| !seen.contains(i)).collect();
        let needed: Vec<usize> = unseen.iter().copied().filter(|&i| required.contains(&properties[i].0)).collect();
        let left = if c.closing() && !needed.is_empty() { needed } else { unseen };
        let keys: Vec<String> = left.iter().map(|&i| serde_json::to_string(&properties[i].0).unwrap_or_default()).collect();
        let mut options: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
        if complete && seen.is_empty() {
            options.push(b"}");
        }
        let k = c.choose(&options)?;
        if k == left.len() {
            return Ok(());
        }
        seen.push(left[k]);
        let i = *seen.last().expect("pushed");
        c.ws()?;
        c.lit(b":")?;
        c.ws()?;
        value(c, &properties[i].1)?;
        c.ws()?;
        let complete = required.iter().all(|r| seen.iter().any(|&i| properties[i].0 == *r));
        let closing = c.closing();
        let more = properties.iter().enumerate().any(|(j, (name, _))| !seen.contains(&j) && (!closing || required.contains(name)));
        match c.peek()? {
            b',' if more => {
                c.i += 1;
                c.ws()?;
            }
            b'}' if complete => {
                c.i += 1;
                return Ok(());
            }
            _ => return Err(Stop::Bad),
        }
    }
}

fn any(c: &mut Cursor<'_>) -> Step {
    match c.peek()? {
        b'"' => string(c),
        b'{' => {
            c.i += 1;
            c.ws()?;
            if c.peek()? == b'}' {
                c.i += 1;
                return Ok(());
            }
            loop {
                string(c)?;
                c.ws()?;
                c.lit(b":")?;
                c.ws()?;
                any(c)?;
                c.ws()?;
                match c.next()? {
                    b',' => c.ws()?,
                    b'}' => return Ok(()),
                    _ => return Err(Stop::Bad),
                }
            }
        }
        b'[' => array(c, &Schema::Any),
        b't' | b'f' => c.choose(&[b"true", b"false"]).map(drop),
        b'n' => c.lit(b"null"),
        _ => number(c),
    }
}

/// Qwen3-Coder's `<parameter=KEY>\nVALUE\n</parameter>\n` blocks, up to (not including) `</function>`.
fn xml_parameters(c: &mut Cursor<'_>, schema: &Schema) -> Step {
    let (properties, required): (&[(String, Schema)], &[String]) = match schema {
        Schema::Object { properties, required } => (properties, required),
        _ => (&[], &[]),
    };
    let mut seen: Vec<usize> = Vec::new();
    loop {
        let complete = required.iter().all(|r| seen.iter().any(|&i| properties[i].0 == *r));
        // Closing: only the required parameters still missing, if any.
        let unseen: Vec<usize> = (0..properties.len()).filter(|i| !seen.contains(i)).collect();
        let needed: Vec<usize> = unseen.iter().copied().filter(|&i| required.contains(&properties[i].0)).collect();
        let left = if c.closing() { needed } else { unseen };
        let mut options: Vec<&[u8]> = Vec::new();
        if !left.is_empty() {
            options.push(b"<parameter=");
        }
        if complete {
            options.push(b"</function>");
        }
        let start = c.i;
        let k = c.choose(&options)?;
        if options[k] != b"<parameter=" {
            c.i = start;
            return Ok(());
        }
        let names: Vec<&[u8]> = left.iter().map(|&i| properties[i].0.as_bytes()).collect();
        let i = left[c.one_of(&names, b'>')?];
        seen.push(i);
        c.lit(b">\n")?;
        match &properties[i].1 {
            Schema::String { choices } if choices.is_empty() => xml_text(c)?,
            Schema::String { choices } => {
                let options: Vec<&[u8]> = choices.iter().map(|s| s.as_bytes()).collect();
                c.choose(&options)?;
                c.lit(b"\n</parameter>")?;
            }
            other => {
                value(c, other)?;
                c.lit(b"\n</parameter>")?;
            }
        }
        c.lit(b"\n")?;
    }
}

/// A string parameter's text: anything, up to and including the first `\n</parameter>`.
fn xml_text(c: &mut Cursor<'_>) -> Step {
    const END: &[u8] = b"\n</parameter>";
    let rest = &c.b[c.i..];
    let closed_from = c.close_from.max(c.i);
    if let Some(p) = rest.windows(END.len()).position(|w| w == END) {
        if c.i + p > closed_from {
            return Err(Stop::Bad);
        }
        c.i += p + END.len();
        return Ok(());
    }
    // Closing: what follows the closing point must be the start of the end marker.
    if closed_from < c.b.len() && !END.starts_with(&c.b[closed_from..]) {
        return Err(Stop::Bad);
    }
    Err(Stop::End)
}

/// A [`CallGrammar`] applied to a generation: free until the output opens a call (the format's
/// marker anywhere, or for Llama 3's JSON, `{` first), then restricted until the call is complete.
#[derive(Clone, Debug)]
pub struct CallConstraint {
    grammar: CallGrammar,
    text: Vec<u8>,
    /// Where the call's bytes begin in `text` (after the marker).
    call_start: Option<usize>,
    /// After prose, Llama 3's JSON call can no longer begin.
    prose: bool,
    finished: bool,
    /// A token carried the marker and bytes the grammar rejects (only possible in free text).
    broken: bool,
    tokens: usize,
    /// After this many tokens an open call must close by the shortest way.
    limit: usize,
    /// Where, in the call's bytes, closing began.
    close_from: Option<usize>,
}

impl CallConstraint {
    pub fn new(grammar: CallGrammar) -> Self {
        CallConstraint {
            grammar,
            text: Vec::new(),
            call_start: None,
            prose: false,
            finished: false,
            broken: false,
            tokens: 0,
            limit: usize::MAX,
            close_from: None,
        }
    }

    /// A constraint for a generation of at most `max_tokens`: a call still open when only
    /// [`CallGrammar::closing_reserve`] tokens are left closes by the shortest way, so it parses
    /// even when the budget ends it (every byte is at most one token).
    pub fn within(grammar: CallGrammar, max_tokens: usize) -> Self {
        let limit = max_tokens.saturating_sub(grammar.closing_reserve());
        CallConstraint { limit, ..Self::new(grammar) }
    }

    /// As if the output already began with `text` (a prompt that opens the call itself).
    pub fn after(mut self, text: &str) -> Self {
        self.advance(text.as_bytes());
        self.tokens = 0;
        self
    }

    /// Where the call begins in `text`, if it has begun; `None` with `pending` when the end of the
    /// text may still become the opening.
    fn locate(&self, text: &[u8]) -> (Option<usize>, bool) {
        if let Some(s) = self.call_start {
            return (Some(s), false);
        }
        if self.grammar.format == ToolFormat::Llama3Json {
            if self.prose {
                return (None, false);
            }
            let skip = text.iter().position(|b| !b.is_ascii_whitespace());
            return match skip {
                None => (None, true),
                Some(p) => match text[p] {
                    b'{' => (Some(p), false),
                    _ => (None, false),
                },
            };
        }
        let marker = self.grammar.format.open_marker().as_bytes();
        let from = self.text.len().saturating_sub(marker.len());
        if let Some(p) = text[from..].windows(marker.len()).position(|w| w == marker) {
            return (Some(from + p + marker.len()), false);
        }
        let tail = (1..marker.len()).rev().any(|n| text.len() >= n && marker.starts_with(&text[text.len() - n..]));
        (None, tail)
    }

    fn judge(&self, text: &[u8]) -> Prefix {
        match self.locate(text) {
            (Some(s), _) => match self.grammar.check_closing(&text[s..], self.close_from.unwrap_or(usize::MAX)) {
                Prefix::Complete(n) if !text[s + n..].iter().all(u8::is_ascii_whitespace) => Prefix::Invalid,
                p => p,
            },
            (None, _) => Prefix::Partial,
        }
    }

    /// Whether the generation opened a call.
    pub fn opened(&self) -> bool {
        self.call_start.is_some()
    }
}

impl Constraint for CallConstraint {
    fn active(&self) -> bool {
        if self.finished || self.broken {
            return false;
        }
        self.call_start.is_some() || self.locate(&self.text).1
    }

    fn allows(&self, bytes: &[u8]) -> bool {
        if bytes.is_empty() {
            return false;
        }
        let mut text = self.text.clone();
        text.extend_from_slice(bytes);
        self.judge(&text) != Prefix::Invalid
    }

    fn advance(&mut self, bytes: &[u8]) {
        self.text.extend_from_slice(bytes);
        self.tokens += 1;
        let (start, pending) = self.locate(&self.text);
        if self.grammar.format == ToolFormat::Llama3Json && start.is_none() && !pending {
            self.prose = true;
        }
        self.call_start = start;
        if let Some(s) = start {
            if self.close_from.is_none() && self.tokens >= self.limit {
                self.close_from = Some(self.text.len() - s);
            }
        }
        if start.is_some() {
            match self.judge(&self.text) {
                Prefix::Complete(_) => self.finished = true,
                Prefix::Invalid => self.broken = true,
                Prefix::Partial => {}
            }
        }
    }

    fn finished(&self) -> bool {
        self.finished
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools() -> Vec<(String, Schema)> {
        vec![
            (
                "read_file".into(),
                Schema::parse(
                    r#"{"type": "object", "properties": {"path": {"type": "string"}, "start_line": {"type": "integer"}}, "required": ["path"]}"#,
                ),
            ),
            (
                "search".into(),
                Schema::parse(
                    r#"{"type": "object", "properties": {"query": {"type": "string"}, "mode": {"type": "string", "enum": ["bm25", "symbols"]}}, "required": ["query"]}"#,
                ),
            ),
        ]
    }

    #[test]
    fn hermes_calls() {
        let g = CallGrammar::new(ToolFormat::Hermes, tools());
        let call = b"\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a \\\"b\\\".py\", \"start_line\": 3}}\n</tool_call>";
        assert_eq!(g.check(call), Prefix::Complete(call.len()));
        for n in 0..call.len() {
            assert_eq!(g.check(&call[..n]), Prefix::Partial, "{:?}", String::from_utf8_lossy(&call[..n]));
        }
        let bad: &[&[u8]] = &[
            b"\n{\"name\": \"reed",
            b"\n{\"name\": \"read_file\", \"arguments\": {}",
            b"\n{\"name\": \"read_file\", \"arguments\": {\"start_line\": \"3\"",
            b"\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a\", \"path\"",
            b"\n{\"name\": \"search\", \"arguments\": {\"query\": \"x\", \"mode\": \"regex",
            b"\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a\nb",
        ];
        for b in bad {
            assert_eq!(g.check(b), Prefix::Invalid, "{:?}", String::from_utf8_lossy(b));
        }
    }

    #[test]
    fn an_integer_argument_has_no_more_digits_than_an_i64_holds() {
        let call = |digits: &str| format!("\n{{\"name\": \"read_file\", \"arguments\": {{\"path\": \"a\", \"start_line\": {digits}");
        let g = CallGrammar::new(ToolFormat::Hermes, tools());
        assert_eq!(g.check(call(&"9".repeat(18)).as_bytes()), Prefix::Partial);
        assert_eq!(g.check(call(&"1".repeat(19)).as_bytes()), Prefix::Invalid, "the parser would read 1e18 and more as a float");
        assert_eq!(g.check(call("1e5").as_bytes()), Prefix::Invalid);
        let x = CallGrammar::new(ToolFormat::QwenXml, tools());
        let open = "\n<function=read_file>\n<parameter=start_line>\n";
        assert_eq!(x.check(format!("{open}{}", "7".repeat(18)).as_bytes()), Prefix::Partial);
        assert_eq!(x.check(format!("{open}{}", "7".repeat(19)).as_bytes()), Prefix::Invalid);
    }

    #[test]
    fn qwen_xml_calls() {
        let g = CallGrammar::new(ToolFormat::QwenXml, tools());
        let call = b"\n<function=read_file>\n<parameter=path>\nsrc/a </b>.py\n</parameter>\n<parameter=start_line>\n12\n</parameter>\n</function>\n</tool_call>";
        assert_eq!(g.check(call), Prefix::Complete(call.len()));
        for n in 0..call.len() {
            assert_eq!(g.check(&call[..n]), Prefix::Partial, "{:?}", String::from_utf8_lossy(&call[..n]));
        }
        assert_eq!(g.check(b"\n<function=read_file>\n</function>"), Prefix::Invalid);
        assert_eq!(g.check(b"\n<function=read_file>\n<parameter=start_line>\nx"), Prefix::Invalid);
    }

    #[test]
    fn closing_allows_only_the_shortest_way_to_the_end() {
        let g = CallGrammar::new(ToolFormat::Hermes, tools());
        let open = b"\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a";
        let close = open.len();
        let at = |more: &[u8]| g.check_closing(&[&open[..], more].concat(), close);
        assert_eq!(at(b""), Prefix::Partial);
        assert_eq!(at(b"b"), Prefix::Invalid, "no more string text");
        assert_eq!(at(b"\", "), Prefix::Invalid, "no optional key");
        assert_eq!(at(b"\"}}\n</tool_call>"), Prefix::Complete(close + 16));
        let x = CallGrammar::new(ToolFormat::QwenXml, tools());
        let open = b"\n<function=search>\n<parameter=query>\nfoo";
        let at = |more: &[u8]| x.check_closing(&[&open[..], more].concat(), open.len());
        assert_eq!(at(b"o"), Prefix::Invalid);
        assert_eq!(at(b"\n</para"), Prefix::Partial);
        assert_eq!(at(b"\n</parameter>\n<parameter=mode>"), Prefix::Invalid, "no optional parameter");
        assert!(matches!(at(b"\n</parameter>\n</function>\n</tool_call>"), Prefix::Complete(_)));
    }

    #[test]
    fn llama_json_calls() {
        let g = CallGrammar::new(ToolFormat::Llama3Json, tools());
        let call = b"{\"name\": \"search\", \"parameters\": {\"query\": \"budget\", \"mode\": \"bm25\"}}";
        assert_eq!(g.check(call), Prefix::Complete(call.len()));
    }

    #[test]
    fn free_until_the_marker_then_restricted() {
        let mut c = CallConstraint::new(CallGrammar::new(ToolFormat::Hermes, tools()));
        assert!(!c.active());
        c.advance(b"Let me look. a < b <tool");
        assert!(c.active(), "a partial marker restricts the next token");
        assert!(c.allows(b"_call>\n{\""));
        assert!(c.allows(b"box"), "leaving the marker is free text");
        assert!(!c.allows(b"_call>{"));
        c.advance(b"_call>");
        assert!(c.active() && c.opened());
        assert!(!c.allows(b"<|im_end|>"));
        c.advance(b"\n{\"name\": \"search\", \"arguments\": {\"query\": \"x\"}}\n</tool_call>");
        assert!(c.finished() && !c.active());
    }

    #[test]
    fn llama_json_starts_the_message_or_never() {
        let mut c = CallConstraint::new(CallGrammar::new(ToolFormat::Llama3Json, tools()));
        assert!(c.active());
        assert!(c.allows(b"Sure"));
        assert!(c.allows(b"{\"name\""));
        assert!(!c.allows(b"{\"nom"));
        c.advance(b"Sure, {");
        assert!(!c.active() && !c.opened());
    }
}
