//! Tool calls in the formats local models emit: parsing them, and writing them back.
//!
//! Three formats, each as the model's chat template teaches it:
//! - [`ToolFormat::Hermes`] (Qwen2.5, Qwen3, Hermes 2 Pro / 3): `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>`,
//!   possibly several, possibly after prose. `arguments` may also be a string holding the object, as Qwen's own
//!   parser accepts.
//! - [`ToolFormat::QwenXml`] (Qwen3-Coder): `<tool_call>\n<function=NAME>\n<parameter=KEY>\nVALUE\n</parameter>\n
//!   </function>\n</tool_call>`. Values are text, typed by the tool's schema as Qwen's `qwen3coder_tool_parser.py`
//!   does (one leading and one trailing newline stripped). As in llama.cpp, the first call may omit `<tool_call>`.
//! - [`ToolFormat::Llama3Json`] (Llama 3.1 / 3.2 / 3.3 custom tools): the whole message is `{"name": ...,
//!   "parameters": {...}}`, optionally after `<|python_tag|>` (prose before the tag is content), optionally with
//!   `"type": "function"` first (Meta's docs), several separated by `;` (vLLM's parser). `"arguments"` is not
//!   accepted: llama.cpp's parser takes `"parameters"` only. A message that starts with other JSON is content.
//!
//! Every call is checked against its tool's JSON schema (the subset our tools use: `properties`, `required`,
//! `type`, `enum`, `items`); a [`FormatError`] says what is wrong in words the model can act on. Content is the
//! prose outside the calls, trimmed.

use std::fmt::Write as _;

use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::chat::python::{self, float_repr};
use crate::chat::ToolSpec;

/// How a model writes tool calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolFormat {
    Hermes,
    QwenXml,
    Llama3Json,
}

/// An assistant message split into its prose and its tool calls.
#[derive(Clone, Debug, PartialEq)]
pub struct AssistantTurn {
    pub content: String,
    pub calls: Vec<ParsedCall>,
}

/// One tool call, checked against its tool's schema.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedCall {
    pub name: String,
    /// Sorted by key (the workspace's serde_json has no `preserve_order`).
    pub arguments: Map<String, Value>,
}

/// Why a message's tool call could not be used, in sentences meant for the model (it is sent back as the
/// tool result).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FormatError {
    pub message: String,
}

const TOOL_CALL: &str = "<tool_call>";
const TOOL_CALL_END: &str = "</tool_call>";
const FUNCTION: &str = "<function=";
const FUNCTION_END: &str = "</function>";
const PARAMETER: &str = "<parameter=";
const PARAMETER_END: &str = "</parameter>";
const PYTHON_TAG: &str = "<|python_tag|>";
const XML_SHAPE: &str = "<tool_call>\n<function=NAME>\n<parameter=KEY>\nVALUE\n</parameter>\n</function>\n</tool_call>";

impl ToolFormat {
    /// Which format a model's chat template teaches, from marker strings in its Jinja source: `<function=` and
    /// `<parameter=` → QwenXml; `<tool_call>` → Hermes; Llama 3.x's JSON (`"parameters": dictionary`,
    /// `<|python_tag|>`, `{"name": function name`) → Llama3Json; anything else (also no template) → Hermes.
    pub fn detect(template_source: &str) -> ToolFormat {
        let has = |marker: &str| template_source.contains(marker);
        if has(FUNCTION) && has(PARAMETER) {
            ToolFormat::QwenXml
        } else if has(TOOL_CALL) {
            ToolFormat::Hermes
        } else if has(PYTHON_TAG) || has("\"parameters\": dictionary") || has("{\"name\": function name") {
            ToolFormat::Llama3Json
        } else {
            ToolFormat::Hermes
        }
    }

    /// `hermes`, `qwen_xml`, `llama3_json` (as it serializes).
    pub fn name(self) -> &'static str {
        match self {
            ToolFormat::Hermes => "hermes",
            ToolFormat::QwenXml => "qwen_xml",
            ToolFormat::Llama3Json => "llama3_json",
        }
    }

    /// The text that opens a tool call in the model's output: `<tool_call>` for Hermes and QwenXml (whose first
    /// call may also start at `<function=`); for Llama3Json `{` at the start of the message (possibly after
    /// `<|python_tag|>`).
    pub fn open_marker(self) -> &'static str {
        match self {
            ToolFormat::Hermes | ToolFormat::QwenXml => TOOL_CALL,
            ToolFormat::Llama3Json => "{",
        }
    }

    /// Splits an assistant message into its prose and its tool calls; validates each call against `tools`.
    pub fn parse(self, text: &str, tools: &[ToolSpec]) -> Result<AssistantTurn, FormatError> {
        match self {
            ToolFormat::Hermes => parse_hermes(text, tools),
            ToolFormat::QwenXml => parse_qwen_xml(text, tools),
            ToolFormat::Llama3Json => parse_llama(text, tools),
        }
    }

    /// The canonical text of one call, as the chat template shows an earlier call (arguments in the map's
    /// order: the template's matches when it is given [`ParsedCall::arguments_json`]`(None)`).
    /// `parse(render_call(c))` gives back `c` (QwenXml: for strings without `</parameter>`).
    pub fn render_call(self, call: &ParsedCall) -> String {
        let mut out = String::new();
        match self {
            ToolFormat::Hermes => {
                out.push_str("<tool_call>\n{\"name\": ");
                write_json_str(&mut out, &call.name);
                out.push_str(", \"arguments\": ");
                write_object(&mut out, call.arguments.iter());
                out.push_str("}\n</tool_call>");
            }
            ToolFormat::QwenXml => {
                let _ = writeln!(out, "<tool_call>\n<function={}>", call.name);
                for (key, value) in &call.arguments {
                    let _ = writeln!(out, "<parameter={key}>");
                    write_py_str(&mut out, value);
                    out.push_str("\n</parameter>\n");
                }
                out.push_str("</function>\n</tool_call>");
            }
            ToolFormat::Llama3Json => {
                out.push_str("{\"name\": ");
                write_json_str(&mut out, &call.name);
                out.push_str(", \"parameters\": ");
                write_object(&mut out, call.arguments.iter());
                out.push('}');
            }
        }
        out
    }
}

impl ParsedCall {
    /// The arguments as JSON text (`json.dumps` style), keys in the order the tool's schema lists its
    /// properties, then any others sorted; for the chat template, which keeps key order.
    pub fn arguments_json(&self, tool: Option<&ToolSpec>) -> String {
        let order = tool.map(|t| Schema::of(t).order).unwrap_or_default();
        let listed = order.iter().filter_map(|k| self.arguments.get_key_value(k.as_str()));
        let others = self.arguments.iter().filter(|(k, _)| !order.contains(k));
        let mut out = String::new();
        write_object(&mut out, listed.chain(others));
        out
    }
}

fn error(message: impl Into<String>) -> FormatError {
    FormatError { message: message.into() }
}

/// Non-empty prose segments, trimmed, one per line.
fn join_content(segments: &[&str]) -> String {
    segments.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).collect::<Vec<_>>().join("\n")
}

fn skip_ws(s: &str, i: usize) -> usize {
    s.len() - s[i..].trim_start().len()
}

/// The first line of `s`, at most 40 characters, for quoting in a message.
fn preview(s: &str) -> String {
    let line = s.lines().next().unwrap_or("");
    let short: String = line.chars().take(40).collect();
    if short.len() < line.len() {
        format!("{short}…")
    } else {
        short
    }
}

// ---- Hermes ----

fn parse_hermes(text: &str, tools: &[ToolSpec]) -> Result<AssistantTurn, FormatError> {
    let shape = ToolFormat::Hermes.call_shape();
    let (mut segments, mut calls, mut pos) = (Vec::new(), Vec::new(), 0);
    while let Some(found) = text[pos..].find(TOOL_CALL) {
        segments.push(&text[pos..pos + found]);
        let n = calls.len() + 1;
        let start = skip_ws(text, pos + found + TOOL_CALL.len());
        let (value, len) = first_json(&text[start..]).map_err(|e| json_error(n, &e, &shape))?;
        let after = skip_ws(text, start + len);
        let rest = &text[after..];
        if rest.starts_with(TOOL_CALL_END) {
            pos = after + TOOL_CALL_END.len();
        } else if rest.is_empty() {
            return Err(error(format!("tool call {n} is not closed: end it with {TOOL_CALL_END}")));
        } else {
            return Err(error(format!(
                "tool call {n} has text after its JSON object: `{}`; end the call with {TOOL_CALL_END} right after the object",
                preview(rest)
            )));
        }
        calls.push(json_call(n, value, ToolFormat::Hermes, tools)?);
    }
    segments.push(&text[pos..]);
    Ok(AssistantTurn { content: join_content(&segments), calls })
}

impl ToolFormat {
    fn args_key(self) -> &'static str {
        if self == ToolFormat::Llama3Json {
            "parameters"
        } else {
            "arguments"
        }
    }

    fn call_shape(self) -> String {
        format!("{{\"name\": ..., \"{}\": {{...}}}}", self.args_key())
    }
}

/// The JSON value at the start of `s`, and its length in bytes.
fn first_json(s: &str) -> Result<(Value, usize), serde_json::Error> {
    let mut stream = serde_json::Deserializer::from_str(s).into_iter::<Value>();
    match stream.next() {
        Some(Ok(value)) => Ok((value, stream.byte_offset())),
        Some(Err(e)) => Err(e),
        // Only whitespace: the whole-text parse says where it ended.
        None => serde_json::from_str::<Value>(s).map(|value| (value, s.len())),
    }
}

fn json_error(n: usize, e: &serde_json::Error, shape: &str) -> FormatError {
    let text = e.to_string();
    let what = text.rfind(" at line ").map_or(text.as_str(), |i| &text[..i]);
    error(format!("tool call {n} is not valid JSON at line {} column {}: {what}; write one JSON object: {shape}", e.line(), e.column()))
}

/// A call from its JSON object (Hermes, Llama3Json).
fn json_call(n: usize, value: Value, format: ToolFormat, tools: &[ToolSpec]) -> Result<ParsedCall, FormatError> {
    let shape = format.call_shape();
    let args_key = format.args_key();
    let Value::Object(mut object) = value else {
        return Err(error(format!("tool call {n} is {}, not a JSON object; write {shape}", describe(&value))));
    };
    let Some(Value::String(name)) = object.remove("name") else {
        return Err(error(format!("tool call {n} has no \"name\" string; write {shape}")));
    };
    if format == ToolFormat::Llama3Json {
        match object.remove("type") {
            None => {}
            Some(Value::String(t)) if t == "function" => {}
            Some(other) => return Err(error(format!("tool call {n}: \"type\" must be \"function\", not {}", describe(&other)))),
        }
    }
    let arguments = object.remove(args_key);
    if let Some(key) = object.keys().next() {
        return Err(if key == "arguments" || key == "parameters" {
            error(format!("tool call {n}: write the arguments as \"{args_key}\": {shape}"))
        } else {
            error(format!("tool call {n} has the unexpected key `{key}`; write {shape}"))
        });
    }
    let (tool, schema) = find_tool(n, &name, tools)?;
    let arguments = match arguments {
        None => Map::new(),
        Some(Value::Object(map)) => map,
        // Qwen's own parser (its function-calling docs) also takes the object as a JSON string.
        Some(Value::String(s)) if format == ToolFormat::Hermes && s.trim_start().starts_with('{') => serde_json::from_str(&s)
            .map_err(|e| error(format!("tool call {n} to `{name}`: the \"arguments\" string is not a JSON object: {e}")))?,
        Some(other) => {
            return Err(error(format!(
                "tool call {n} to `{name}`: \"{args_key}\" must be a JSON object of the arguments, not {}",
                describe(&other)
            )))
        }
    };
    validate(n, tool, &schema, &arguments)?;
    Ok(ParsedCall { name, arguments })
}

// ---- Qwen3-Coder XML ----

fn parse_qwen_xml(text: &str, tools: &[ToolSpec]) -> Result<AssistantTurn, FormatError> {
    let (mut segments, mut calls, mut pos) = (Vec::new(), Vec::new(), 0);
    loop {
        let rest = &text[pos..];
        let tag = rest.find(TOOL_CALL);
        // Only the first call may start at `<function=` without `<tool_call>` (llama.cpp's test-chat.cpp).
        let bare = if calls.is_empty() { rest.find(FUNCTION) } else { None };
        let (start, body) = match (tag, bare) {
            (Some(t), Some(f)) if f < t => (f, f),
            (Some(t), _) => (t, t + TOOL_CALL.len()),
            (None, Some(f)) => (f, f),
            (None, None) => break,
        };
        segments.push(&rest[..start]);
        let (call, len) = xml_call(calls.len() + 1, &rest[body..], tools)?;
        calls.push(call);
        pos += body + len;
    }
    segments.push(&text[pos..]);
    Ok(AssistantTurn { content: join_content(&segments), calls })
}

/// One call from `<function=` (after optional whitespace) through `</tool_call>`, and its length in bytes.
fn xml_call(n: usize, s: &str, tools: &[ToolSpec]) -> Result<(ParsedCall, usize), FormatError> {
    let mut i = skip_ws(s, 0);
    if !s[i..].starts_with(FUNCTION) {
        return Err(error(format!("tool call {n} does not start with <function=NAME>; write {XML_SHAPE}")));
    }
    i += FUNCTION.len();
    let Some((name, len)) = tag_name(&s[i..]) else {
        return Err(error(format!("tool call {n}: close the function name with `>`; write {XML_SHAPE}")));
    };
    i += len;
    let (tool, schema) = find_tool(n, name, tools)?;
    let mut arguments = Map::new();
    loop {
        i = skip_ws(s, i);
        let rest = &s[i..];
        if let Some(after) = rest.strip_prefix(PARAMETER) {
            let Some((key, len)) = tag_name(after) else {
                return Err(error(format!("tool call {n} to `{name}`: close the parameter name with `>`; write {XML_SHAPE}")));
            };
            i += PARAMETER.len() + len;
            let value = &s[i..];
            let end = value.find(PARAMETER_END);
            let stray = [value.find("\n<parameter="), value.find("\n</function>")].into_iter().flatten().min();
            let end = match (end, stray) {
                (Some(end), stray) if stray.is_none_or(|s| s > end) => end,
                _ => {
                    return Err(error(format!(
                        "tool call {n} to `{name}`: the parameter `{key}` is not closed; end its value with {PARAMETER_END}"
                    )))
                }
            };
            i += end + PARAMETER_END.len();
            let text = &value[..end];
            let text = text.strip_prefix('\n').unwrap_or(text);
            let text = text.strip_suffix('\n').unwrap_or(text);
            if arguments.contains_key(key) {
                return Err(error(format!("tool call {n} to `{name}`: the argument `{key}` is given twice")));
            }
            arguments.insert(key.to_owned(), typed_value(text, schema.property(key)));
        } else if rest.starts_with(FUNCTION_END) {
            i += FUNCTION_END.len();
            break;
        } else if rest.is_empty() {
            return Err(error(format!("tool call {n} to `{name}` is not closed: end it with {FUNCTION_END} and {TOOL_CALL_END}")));
        } else {
            return Err(error(format!(
                "tool call {n} to `{name}`: unexpected text `{}`; write each argument as <parameter=KEY>\\nVALUE\\n</parameter>, then {FUNCTION_END}",
                preview(rest)
            )));
        }
    }
    i = skip_ws(s, i);
    if !s[i..].starts_with(TOOL_CALL_END) {
        return Err(error(format!("tool call {n} to `{name}` is not closed: end it with {TOOL_CALL_END}")));
    }
    validate(n, tool, &schema, &arguments)?;
    Ok((ParsedCall { name: name.to_owned(), arguments }, i + TOOL_CALL_END.len()))
}

/// `NAME>` on one line: the trimmed name and the length through `>`.
fn tag_name(s: &str) -> Option<(&str, usize)> {
    let end = s.find(['>', '\n'])?;
    let name = s[..end].trim();
    (s.as_bytes()[end] == b'>' && !name.is_empty()).then_some((name, end + 1))
}

/// A parameter's text as the value its schema types it as: null where the type allows it and the text is
/// `null`/`None`, then the first non-string type the text parses as, else the text (which validation rejects
/// where a string is not allowed). Without a `type`: JSON where it parses (to one of the `enum` values, if any).
fn typed_value(text: &str, property: Option<&Value>) -> Value {
    let as_string = || Value::String(text.to_owned());
    let Some(property) = property else { return as_string() };
    let types = schema_types(property);
    let t = text.trim();
    if types.is_empty() {
        let parsed = serde_json::from_str::<Value>(t).ok();
        return match property.get("enum").and_then(Value::as_array) {
            Some(options) => parsed.filter(|v| options.contains(v)).unwrap_or_else(as_string),
            None => parsed.unwrap_or_else(as_string),
        };
    }
    if types.contains(&"null") && (t.eq_ignore_ascii_case("null") || t == "None") {
        return Value::Null;
    }
    for ty in &types {
        let parsed = match *ty {
            "integer" => t.parse::<i64>().map(Value::from).or_else(|_| t.parse::<u64>().map(Value::from)).ok(),
            "number" => number(t),
            "boolean" if t.eq_ignore_ascii_case("true") => Some(Value::Bool(true)),
            "boolean" if t.eq_ignore_ascii_case("false") => Some(Value::Bool(false)),
            "array" | "object" => serde_json::from_str::<Value>(t).ok().filter(|v| type_matches(v, ty)),
            _ => None,
        };
        if let Some(value) = parsed {
            return value;
        }
    }
    as_string()
}

/// An integer where the text is one, else a finite float.
fn number(t: &str) -> Option<Value> {
    if let Ok(i) = t.parse::<i64>() {
        return Some(Value::from(i));
    }
    let is_numeric = t.bytes().all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b));
    t.parse::<f64>().ok().filter(|f| is_numeric && f.is_finite()).and_then(serde_json::Number::from_f64).map(Value::Number)
}

// ---- Llama 3.x JSON ----

fn parse_llama(text: &str, tools: &[ToolSpec]) -> Result<AssistantTurn, FormatError> {
    let shape = ToolFormat::Llama3Json.call_shape();
    let (prose, body, tagged) = match text.find(PYTHON_TAG) {
        Some(i) => (&text[..i], &text[i + PYTHON_TAG.len()..], true),
        None => ("", text, false),
    };
    let content_only = || Ok(AssistantTurn { content: text.trim().to_owned(), calls: Vec::new() });
    let mut rest = body.trim_start();
    if !tagged && !rest.starts_with('{') {
        return content_only();
    }
    let mut calls = Vec::new();
    loop {
        let n = calls.len() + 1;
        let (value, len) = match first_json(rest) {
            Ok(found) => found,
            Err(_) if n == 1 && !tagged && !looks_like_call(rest) => return content_only(),
            Err(e) => return Err(json_error(n, &e, &shape)),
        };
        if n == 1 && !tagged && value.get("name").is_none() {
            return content_only();
        }
        calls.push(json_call(n, value, ToolFormat::Llama3Json, tools)?);
        rest = rest[len..].trim_start();
        match rest.strip_prefix(';') {
            _ if rest.is_empty() => break,
            Some(next) if !next.trim().is_empty() => rest = next.trim_start(),
            Some(_) => break,
            None => {
                return Err(error(format!(
                    "tool call {n} is followed by text: `{}`; a tool call is the whole message (separate several with `;`)",
                    preview(rest)
                )))
            }
        }
    }
    Ok(AssistantTurn { content: prose.trim().to_owned(), calls })
}

/// `{` then `"name"` or `"type"`: meant as a call even where the JSON is broken.
fn looks_like_call(s: &str) -> bool {
    let inner = s.strip_prefix('{').unwrap_or(s).trim_start();
    inner.starts_with("\"name\"") || inner.starts_with("\"type\"")
}

// ---- Schemas and validation ----

/// A tool's parameter schema, and its properties in the order of its text.
struct Schema {
    root: Value,
    order: Vec<String>,
}

impl Schema {
    fn of(tool: &ToolSpec) -> Schema {
        let text = tool.parameters.get();
        let root = serde_json::from_str(text).unwrap_or(Value::Null);
        let order = serde_json::from_str::<PropertyOrder>(text).map(|p| p.properties.0).unwrap_or_default();
        Schema { root, order }
    }

    /// `properties`, where the schema has them.
    fn properties(&self) -> Option<&Map<String, Value>> {
        self.root.get("properties").and_then(Value::as_object)
    }

    fn property(&self, key: &str) -> Option<&Value> {
        self.properties()?.get(key)
    }
}

#[derive(Deserialize)]
struct PropertyOrder {
    #[serde(default)]
    properties: Keys,
}

/// An object's keys in the order of its text.
#[derive(Default)]
struct Keys(Vec<String>);

impl<'de> Deserialize<'de> for Keys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeysVisitor;
        impl<'de> Visitor<'de> for KeysVisitor {
            type Value = Keys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                let mut keys = Vec::new();
                while let Some((key, IgnoredAny)) = map.next_entry::<String, IgnoredAny>()? {
                    keys.push(key);
                }
                Ok(Keys(keys))
            }
        }
        deserializer.deserialize_map(KeysVisitor)
    }
}

fn find_tool<'a>(n: usize, name: &str, tools: &'a [ToolSpec]) -> Result<(&'a ToolSpec, Schema), FormatError> {
    match tools.iter().find(|t| t.name == name) {
        Some(tool) => Ok((tool, Schema::of(tool))),
        None if tools.is_empty() => Err(error(format!("tool call {n}: `{name}` is not a tool; there are no tools"))),
        None => {
            let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
            Err(error(format!("tool call {n}: `{name}` is not a tool; the tools are: {}", names.join(", "))))
        }
    }
}

/// Unknown arguments, missing required ones and wrongly typed ones, all in one message.
fn validate(n: usize, tool: &ToolSpec, schema: &Schema, arguments: &Map<String, Value>) -> Result<(), FormatError> {
    let name = &tool.name;
    let mut problems = Vec::new();
    if let Some(properties) = schema.properties() {
        for key in arguments.keys().filter(|k| !properties.contains_key(*k)) {
            problems.push(if properties.is_empty() {
                format!("`{name}` takes no arguments, but got `{key}`")
            } else {
                format!("`{key}` is not an argument of `{name}`; its arguments are: {}", schema.order.join(", "))
            });
        }
    }
    let missing: Vec<&str> = required(&schema.root).into_iter().filter(|k| !arguments.contains_key(*k)).collect();
    match missing.as_slice() {
        [] => {}
        [one] => problems.push(format!("the required argument `{one}` is missing")),
        [init @ .., last] => {
            let init: Vec<String> = init.iter().map(|k| format!("`{k}`")).collect();
            problems.push(format!("the required arguments {} and `{last}` are missing", init.join(", ")));
        }
    }
    for key in schema.order.iter().chain(arguments.keys().filter(|k| !schema.order.contains(k))) {
        if let (Some(value), Some(property)) = (arguments.get(key), schema.property(key)) {
            if let Err(problem) = check(value, property, key) {
                problems.push(problem);
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(error(format!("tool call {n} to `{name}`: {}", problems.join("; "))))
    }
}

fn required(schema: &Value) -> Vec<&str> {
    schema.get("required").and_then(Value::as_array).map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

/// `type` as a list (a string, or an array of them); empty where there is none.
fn schema_types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Whether `value` is of JSON schema type `ty` (types this validator does not know accept anything).
fn type_matches(value: &Value, ty: &str) -> bool {
    match ty {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "null" => value.is_null(),
        _ => true,
    }
}

/// The first way `value` breaks `schema` (type, enum, array items, an object's properties), at `path`.
fn check(value: &Value, schema: &Value, path: &str) -> Result<(), String> {
    let types = schema_types(schema);
    if !types.is_empty() && !types.iter().any(|t| type_matches(value, t)) {
        let expected: Vec<&str> = types.iter().map(|t| type_phrase(t)).collect();
        return Err(format!("the argument `{path}` must be {}, not {}", expected.join(" or "), describe(value)));
    }
    if let Some(Value::Array(options)) = schema.get("enum") {
        if !options.contains(value) {
            let options: Vec<String> = options.iter().map(json_text).collect();
            return Err(format!("the argument `{path}` must be one of {}, not {}", options.join(", "), json_text(value)));
        }
    }
    match value {
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) {
                for (i, item) in items.iter().enumerate() {
                    check(item, item_schema, &format!("{path}[{i}]"))?;
                }
            }
        }
        Value::Object(map) => {
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (key, item) in map {
                    match properties.get(key) {
                        Some(item_schema) => check(item, item_schema, &format!("{path}.{key}"))?,
                        None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                            return Err(format!("the argument `{path}` has no key `{key}`"));
                        }
                        None => {}
                    }
                }
            }
            if let Some(key) = required(schema).into_iter().find(|k| !map.contains_key(*k)) {
                return Err(format!("the argument `{path}` lacks the required key `{key}`"));
            }
        }
        _ => {}
    }
    Ok(())
}

fn type_phrase(ty: &str) -> &str {
    match ty {
        "string" => "a string",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "true or false",
        "array" => "an array",
        "object" => "an object",
        other => other,
    }
}

/// A value as a message names it: `the string "10"`, `the number 1.5`, `true`, `null`, `an array`.
fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => {
            let short: String = s.chars().take(40).collect();
            let mut out = String::from("the string ");
            write_json_str(&mut out, &short);
            if short.len() < s.len() {
                out.insert(out.len() - 1, '…');
            }
            out
        }
        Value::Number(n) => format!("the number {n}"),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_owned(),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

// ---- Writing values as the templates do ----

fn json_text(value: &Value) -> String {
    let mut out = String::new();
    write_json(&mut out, value);
    out
}

/// Python's `json.dumps(value, ensure_ascii=False)`, as transformers' `tojson` writes it.
fn write_json(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_json_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map.iter()),
    }
}

fn write_object<'a>(out: &mut String, entries: impl Iterator<Item = (&'a String, &'a Value)>) {
    out.push('{');
    for (i, (key, value)) in entries.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_json_str(out, key);
        out.push_str(": ");
        write_json(out, value);
    }
    out.push('}');
}

fn write_number(out: &mut String, n: &serde_json::Number) {
    match n.as_f64().filter(|_| n.is_f64()) {
        Some(f) => out.push_str(&float_repr(f)),
        None => out.push_str(&n.to_string()),
    }
}

/// A JSON string as `json.dumps(ensure_ascii=False)` writes it.
fn write_json_str(out: &mut String, s: &str) {
    python::write_json_str(out, s, false);
}

/// A value as Qwen3-Coder's template writes a parameter: strings as they are, objects and arrays as JSON,
/// the rest as Python's `str()` (`True`, `None`, `1.5`).
fn write_py_str(out: &mut String, value: &Value) {
    match value {
        Value::String(s) => out.push_str(s),
        Value::Bool(b) => out.push_str(if *b { "True" } else { "False" }),
        Value::Null => out.push_str("None"),
        Value::Number(n) => write_number(out, n),
        Value::Array(_) | Value::Object(_) => write_json(out, value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool(name: &str, parameters: &str) -> ToolSpec {
        ToolSpec {
            name: name.into(),
            description: String::new(),
            parameters: serde_json::value::RawValue::from_string(parameters.into()).unwrap(),
        }
    }

    #[test]
    fn names_and_markers() {
        let all = [ToolFormat::Hermes, ToolFormat::QwenXml, ToolFormat::Llama3Json];
        let names: Vec<_> = all.iter().map(|f| (f.name(), serde_json::to_string(f).unwrap(), f.open_marker())).collect();
        assert_eq!(
            names,
            [
                ("hermes", "\"hermes\"".to_owned(), "<tool_call>"),
                ("qwen_xml", "\"qwen_xml\"".to_owned(), "<tool_call>"),
                ("llama3_json", "\"llama3_json\"".to_owned(), "{")
            ]
        );
    }

    #[test]
    fn detect_markers() {
        assert_eq!(ToolFormat::detect(""), ToolFormat::Hermes);
        assert_eq!(ToolFormat::detect("{{ '<tool_call>' }}"), ToolFormat::Hermes);
        assert_eq!(ToolFormat::detect("<tool_call>\n<function=x>\n<parameter=y>"), ToolFormat::QwenXml);
        assert_eq!(ToolFormat::detect("{{ '<|python_tag|>' }}"), ToolFormat::Llama3Json);
        assert_eq!(ToolFormat::detect("<function=x> only"), ToolFormat::Hermes);
    }

    #[test]
    fn floats_print_as_python() {
        let cases = [
            (1.0, "1.0"),
            (1.5, "1.5"),
            (-0.25, "-0.25"),
            (1e16, "1e+16"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (123456.789, "123456.789"),
        ];
        for (f, want) in cases {
            assert_eq!(float_repr(f), want, "{f}");
        }
    }

    #[test]
    fn json_is_json_dumps() {
        let value = json!({"b": [1, 2.5, true, null], "a": "x\"\n\u{1}é"});
        assert_eq!(json_text(&value), r#"{"a": "x\"\n\u0001é", "b": [1, 2.5, true, null]}"#);
    }

    #[test]
    fn arguments_json_follows_the_schema() {
        let t = tool(
            "read_file",
            r#"{"type":"object","properties":{"path":{"type":"string"},"start_line":{"type":"integer"},"end_line":{"type":"integer"}}}"#,
        );
        let call = ParsedCall {
            name: "read_file".into(),
            arguments: json!({"end_line": 9, "path": "a.py", "start_line": 1, "zzz": 0, "aaa": 0}).as_object().unwrap().clone(),
        };
        assert_eq!(call.arguments_json(Some(&t)), r#"{"path": "a.py", "start_line": 1, "end_line": 9, "aaa": 0, "zzz": 0}"#);
        assert_eq!(call.arguments_json(None), r#"{"aaa": 0, "end_line": 9, "path": "a.py", "start_line": 1, "zzz": 0}"#);
    }

    #[test]
    fn typed_values() {
        let typed = |text: &str, property: Value| typed_value(text, Some(&property));
        assert_eq!(typed(" 42 ", json!({"type": "integer"})), json!(42));
        assert_eq!(typed("4x", json!({"type": "integer"})), json!("4x"));
        assert_eq!(typed("2.50", json!({"type": "number"})), json!(2.5));
        assert_eq!(typed("True", json!({"type": "boolean"})), json!(true));
        assert_eq!(typed("null", json!({"type": "string"})), json!("null"));
        assert_eq!(typed("None", json!({"type": ["string", "null"]})), Value::Null);
        assert_eq!(typed("[1]", json!({"type": "object"})), json!("[1]"));
        assert_eq!(typed("inf", json!({"type": "number"})), json!("inf"));
        assert_eq!(typed_value("[1]", None), json!("[1]"));
        assert_eq!(typed("1", json!({"enum": [1, 2]})), json!(1));
        assert_eq!(typed("1", json!({"enum": ["1", "2"]})), json!("1"));
        assert_eq!(typed("{\"a\": 1}", json!({"anyOf": []})), json!({"a": 1}));
    }
}
