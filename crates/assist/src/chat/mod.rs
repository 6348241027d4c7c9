//! Chat prompts: a model's own Jinja chat template, rendered as Hugging Face transformers'
//! `tokenizer.apply_chat_template(messages, tools=..., add_generation_prompt=..., tokenize=False, **extra)` renders
//! it with Python jinja2, byte for byte.
//!
//! The environment is transformers': `trim_blocks` and `lstrip_blocks` on, no trailing newline kept, no
//! autoescaping, `break`/`continue`, Python's string/dict/list methods (minijinja-contrib `pycompat`),
//! `raise_exception(msg)`, `strftime_now(fmt)`, and a `tojson` that is Python's `json.dumps`. Values print as
//! Python prints them (`None`, `True`, `['a']`); see `chat/python.rs` for what differs from minijinja and what still
//! does. The template sees `messages`, `tools` (none when the conversation has no tools), `documents` (none),
//! `add_generation_prompt`, `bos_token`, `eos_token` and then each of [`RenderOptions::extra`].
//! transformers' `{% generation %}` block (assistant-token masks) is not supported: such a template does not
//! compile (no recorded one uses it).
//!
//! Key order is kept: templates print `tojson` and iterate `.items()` in insertion order, as Python dicts do.
//! That is why tool-call arguments and tool parameters are [`RawValue`]s (the caller's JSON text) rather than
//! `serde_json::Value`s, whose maps are sorted in this workspace (serde_json's `preserve_order` is off).
//! `crates/assist/tests/chat_templates.rs` checks the renderings against `scripts/record-template-fixtures.py`.
//!
//! A model without a template gets [`ChatTemplate::plain`]; the caller says so in its log.

mod endpoint;
pub(crate) mod python;

use std::fmt;

use chrono::NaiveDateTime;
pub use endpoint::{ChatEndpoint, ChatReply, ChatRequest};
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, Error, ErrorKind};
use serde::{Deserialize, Serialize};
pub use serde_json::value::RawValue;

/// One message of a conversation, in the OpenAI / Hugging Face shape (`{"role": "user", "content": "..."}`).
///
/// The template sees the keys in this order, and only those that are set: `role`, `content`, then
/// `reasoning_content` (also as `thinking`, the name gpt-oss's template reads), `tool_calls` (when there are
/// any), `tool_call_id`, `name`. `content` is always a string: `None` is passed as `""`, the Hugging Face
/// convention for an assistant turn that only calls tools (several templates fail on a null content).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Message {
    /// `system`, `user`, `assistant`, `tool`, or whatever else the template knows.
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The reasoning a thinking model produced before its answer, for templates that render it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// On a `tool` message: the [`ToolCall::id`] it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// On a `tool` message: the tool's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Message {
    /// A message with this role and text, and nothing else.
    pub fn new(role: &str, content: impl Into<String>) -> Self {
        Message { role: role.to_owned(), content: Some(content.into()), ..Message::default() }
    }

    /// A tool's result: role `tool`, answering the call `tool_call_id` to the tool `name`.
    pub fn tool_result(tool_call_id: &str, name: &str, content: impl Into<String>) -> Self {
        Message { tool_call_id: Some(tool_call_id.to_owned()), name: Some(name.to_owned()), ..Message::new("tool", content) }
    }
}

/// A tool call an assistant message made. The template sees `{"id": ..., "type": "function", "function":
/// {"name": ..., "arguments": ...}}` (`id` only when set).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ToolCall {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub function: FunctionCall,
}

/// The function a [`ToolCall`] calls.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    /// The arguments as JSON, by the Hugging Face convention an object (templates that want a string
    /// `tojson` it). Its keys reach the template in the order of this text: `RawValue::from_string(text)`
    /// keeps the model's own order; `serde_json::value::to_raw_value(&x)` a struct's field order.
    pub arguments: Box<RawValue>,
}

/// A tool the model may call. The template sees `{"type": "function", "function": {"name": ...,
/// "description": ..., "parameters": ...}}`, the shape of OpenAI's and transformers' `tools`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// A JSON schema (`{"type": "object", "properties": {...}, "required": [...]}`), keys in the order of
    /// its text as for [`FunctionCall::arguments`].
    pub parameters: Box<RawValue>,
}

/// What a template renders: the messages, and the tools offered (none: `tools` is none, as transformers
/// passes it).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Conversation {
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolSpec>,
}

/// How to render a [`Conversation`].
#[derive(Clone, Debug, Default)]
pub struct RenderOptions {
    /// End with the header of a new assistant turn, for the model to continue.
    pub add_generation_prompt: bool,
    /// Further template variables, as `apply_chat_template(..., **kwargs)` forwards them (`enable_thinking`,
    /// `reasoning_effort`); a later one replaces an earlier variable of the same name. Objects inside them
    /// reach the template with serde_json's (sorted) key order.
    pub extra: Vec<(String, serde_json::Value)>,
    /// What `strftime_now` formats; `None` is the local time when rendering.
    pub now: Option<NaiveDateTime>,
}

/// Why a chat prompt could not be made. Each message is one line.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// The template is not valid Jinja (for minijinja).
    #[error("the chat template does not compile: {0}")]
    Compile(String),
    /// Rendering failed: an undefined value used, a filter given the wrong type, bad JSON in a message.
    #[error("the chat template failed to render: {0}")]
    Render(String),
    /// The template rejected the conversation with `raise_exception(message)`; this is its message.
    #[error("the chat template rejected the conversation: {0}")]
    Raised(String),
}

/// The name the template has inside its environment (no extension, so no autoescaping either way).
const NAME: &str = "chat_template";

/// The format of [`ChatTemplate::plain`], for models that come without a template: blocks separated by a
/// blank line, `Tools:` (one JSON object a line) when there are tools, then `Role: content` per message
/// (`System:`, `User:`, `Assistant:`, `Tool result (name):`), each tool call on its own line after the
/// content as `Tool call: name {arguments}`, and a final `Assistant:` with `add_generation_prompt`.
const PLAIN_TEMPLATE: &str = r#"
{%- set ns = namespace(sep="") -%}
{%- if tools -%}
    {{- "Tools:" -}}
    {%- for tool in tools %}{{ "\n" ~ (tool | tojson) }}{% endfor -%}
    {%- set ns.sep = "\n\n" -%}
{%- endif -%}
{%- for message in messages -%}
    {{- ns.sep -}}
    {%- set ns.sep = "\n\n" -%}
    {%- if message.role == "tool" -%}
        {{- "Tool result" ~ (" (" ~ message.name ~ ")" if message.name else "") ~ ":" -}}
    {%- else -%}
        {{- message.role | capitalize ~ ":" -}}
    {%- endif -%}
    {%- if message.content %}{{ " " ~ message.content }}{% endif -%}
    {%- for call in message.tool_calls or [] -%}
        {{- "\nTool call: " ~ call.function.name ~ " " ~ (call.function.arguments | tojson) -}}
    {%- endfor -%}
{%- endfor -%}
{%- if add_generation_prompt %}{{ ns.sep ~ "Assistant:" }}{% endif -%}
"#;

/// A compiled chat template with the model's special tokens; render it as often as needed, from any thread.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

impl fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatTemplate").field("bos_token", &self.bos_token).field("eos_token", &self.eos_token).finish_non_exhaustive()
    }
}

impl ChatTemplate {
    /// Compiles a model's template (`chat_template` in `tokenizer_config.json`, or GGUF's
    /// `tokenizer.chat_template`) with the tokens its tokenizer calls `bos_token` and `eos_token`
    /// (`""` where it has none).
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self, ChatError> {
        let mut env = environment();
        env.add_template_owned(NAME, source.to_owned()).map_err(|e| ChatError::Compile(one_line(&e)))?;
        Ok(ChatTemplate { env, bos_token: bos_token.to_owned(), eos_token: eos_token.to_owned() })
    }

    /// The model's own template with its BOS and EOS spelled by its tokenizer; `None` when it has
    /// none.
    pub fn of_model(tokenizer: &hearth_model::Tokenizer, info: &hearth_model::ModelInfo) -> Option<Result<Self, ChatError>> {
        let token = |id: Option<u32>| id.and_then(|i| tokenizer.token(i)).unwrap_or_default();
        let source = info.chat_template.as_deref()?;
        Some(ChatTemplate::new(source, &token(info.bos_id), &token(info.eos_ids.first().copied())))
    }

    /// The plain format for a model without a template (see `PLAIN_TEMPLATE`): `System: …\n\nUser: …\n\n
    /// Assistant:`.
    pub fn plain() -> Self {
        ChatTemplate::new(PLAIN_TEMPLATE, "", "").expect("the plain chat template compiles")
    }

    /// The prompt for `conversation`.
    pub fn render(&self, conversation: &Conversation, options: &RenderOptions) -> Result<String, ChatError> {
        let now = options.now.unwrap_or_else(|| chrono::Local::now().naive_local());
        let tools = if conversation.tools.is_empty() {
            Value::from(())
        } else {
            conversation.tools.iter().map(tool_value).collect::<Result<Value, _>>()?
        };
        let mut context: Vec<(String, Value)> = vec![
            ("messages".into(), conversation.messages.iter().map(message_value).collect::<Result<Value, _>>()?),
            ("tools".into(), tools),
            ("documents".into(), Value::from(())),
            ("add_generation_prompt".into(), Value::from(options.add_generation_prompt)),
            ("bos_token".into(), Value::from(self.bos_token.as_str())),
            ("eos_token".into(), Value::from(self.eos_token.as_str())),
            ("strftime_now".into(), Value::from_function(move |format: &str| python::strftime(now, format))),
        ];
        context.extend(options.extra.iter().map(|(k, v)| (k.clone(), Value::from_serialize(v))));
        let template = self.env.get_template(NAME).map_err(|e| ChatError::Render(one_line(&e)))?;
        template.render(context.into_iter().collect::<Value>()).map_err(render_error)
    }

    /// Like [`render`](Self::render); a template that refuses a system turn (Gemma's raises) gets the
    /// system text at the head of the first user turn. Returns the rendering and the conversation it
    /// rendered.
    pub fn render_folding_system(&self, conversation: &Conversation, options: &RenderOptions) -> Result<(String, Conversation), ChatError> {
        match self.render(conversation, options) {
            Err(ChatError::Raised(_)) if conversation.messages.first().is_some_and(|m| m.role == "system") => {
                let mut merged = conversation.clone();
                let system = merged.messages.remove(0);
                if let Some(user) = merged.messages.iter_mut().find(|m| m.role == "user") {
                    let text = format!("{}\n\n{}", system.content.unwrap_or_default(), user.content.as_deref().unwrap_or(""));
                    user.content = Some(text);
                }
                Ok((self.render(&merged, options)?, merged))
            }
            other => Ok((other?, conversation.clone())),
        }
    }
}

/// What `raise_exception` fails with, found again in the error's sources to tell a template's own
/// rejection from other failures.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Raised(String);

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(false);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.set_formatter(|out, _state, value| {
        let mut text = String::new();
        python::write_str(&mut text, value);
        out.write_str(&text).map_err(Error::from)
    });
    env.add_filter("tojson", python::tojson);
    env.add_filter("string", python::string_filter);
    env.add_test("iterable", python::is_iterable);
    env.add_test("sequence", python::is_sequence);
    env.add_test("number", python::is_number);
    env.add_function("raise_exception", |message: Value| -> Result<Value, Error> {
        let message = python::string_filter(&message).as_str().unwrap_or_default().to_owned();
        Err(Error::new(ErrorKind::InvalidOperation, message.clone()).with_source(Raised(message)))
    });
    env
}

fn message_value(message: &Message) -> Result<Value, ChatError> {
    let mut entries =
        vec![("role", Value::from(message.role.as_str())), ("content", Value::from(message.content.as_deref().unwrap_or("")))];
    if let Some(reasoning) = &message.reasoning_content {
        entries.push(("reasoning_content", Value::from(reasoning.as_str())));
        entries.push(("thinking", Value::from(reasoning.as_str())));
    }
    if !message.tool_calls.is_empty() {
        let calls = message.tool_calls.iter().map(|call| {
            let mut entries = Vec::new();
            if let Some(id) = &call.id {
                entries.push(("id", Value::from(id.as_str())));
            }
            entries.push(("type", Value::from("function")));
            let function = [
                ("name", Value::from(call.function.name.as_str())),
                ("arguments", json_value(&call.function.arguments, "tool call arguments")?),
            ];
            entries.push(("function", function.into_iter().collect()));
            Ok::<Value, ChatError>(entries.into_iter().collect())
        });
        entries.push(("tool_calls", calls.collect::<Result<Value, _>>()?));
    }
    if let Some(id) = &message.tool_call_id {
        entries.push(("tool_call_id", Value::from(id.as_str())));
    }
    if let Some(name) = &message.name {
        entries.push(("name", Value::from(name.as_str())));
    }
    Ok(entries.into_iter().collect())
}

fn tool_value(tool: &ToolSpec) -> Result<Value, ChatError> {
    let function = [
        ("name", Value::from(tool.name.as_str())),
        ("description", Value::from(tool.description.as_str())),
        ("parameters", json_value(&tool.parameters, "tool parameters")?),
    ];
    Ok([("type", Value::from("function")), ("function", function.into_iter().collect())].into_iter().collect())
}

/// JSON text as a template value, object keys in the text's order (minijinja's maps keep insertion order).
fn json_value(json: &RawValue, what: &str) -> Result<Value, ChatError> {
    serde_json::from_str(json.get()).map_err(|e| ChatError::Render(format!("{what} are not JSON: {e}")))
}

fn render_error(err: Error) -> ChatError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(e) = source {
        if let Some(Raised(message)) = e.downcast_ref::<Raised>() {
            return ChatError::Raised(message.clone());
        }
        source = e.source();
    }
    ChatError::Render(one_line(&err))
}

/// A minijinja error and its causes on one line (`kind: detail (in chat_template:LINE): cause`).
fn one_line(err: &Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text.replace('\n', " ")
}

/// Token ids of a rendered chat prompt: the template's own text with its special tokens as ids
/// (`<|im_start|>`), and each of `content` (what the user or a file supplied) as plain text, so that
/// code which spells a special token cannot open a turn. A content string the rendering does not
/// hold verbatim (a template that rewrote it) is matched by its trimmed text; failing that, the
/// rendering is encoded as a whole.
pub fn encode_rendered(tokenizer: &hearth_model::Tokenizer, rendered: &str, content: &[&str]) -> Vec<u32> {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut from = 0;
    for c in content {
        let found =
            [*c, c.trim()].into_iter().filter(|s| !s.is_empty()).find_map(|s| rendered[from..].find(s).map(|at| (from + at, s.len())));
        match found {
            Some((at, len)) => {
                spans.push((at, at + len));
                from = at + len;
            }
            None => tracing::debug!("a chat template changed a message's text; encoding its rendering whole"),
        }
    }
    let mut ids = Vec::new();
    let mut at = 0;
    for (start, end) in spans {
        ids.extend(tokenizer.encode_special(&rendered[at..start]));
        ids.extend(tokenizer.encode(&rendered[start..end]));
        at = end;
    }
    ids.extend(tokenizer.encode_special(&rendered[at..]));
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap()
    }

    fn opts(add_generation_prompt: bool) -> RenderOptions {
        RenderOptions { add_generation_prompt, ..RenderOptions::default() }
    }

    #[test]
    fn chat_template_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<ChatTemplate>();
    }

    #[test]
    fn plain_format() {
        let plain = ChatTemplate::plain();
        let conversation = Conversation {
            messages: vec![
                Message::new("system", "Be brief."),
                Message::new("user", "Read a.py"),
                Message {
                    role: "assistant".into(),
                    tool_calls: vec![ToolCall {
                        id: Some("c1".into()),
                        function: FunctionCall { name: "read_file".into(), arguments: raw(r#"{"path": "a.py", "line": 1}"#) },
                    }],
                    ..Message::default()
                },
                Message::tool_result("c1", "read_file", "print(1)"),
            ],
            tools: vec![ToolSpec {
                name: "read_file".into(),
                description: "Read a file.".into(),
                parameters: raw(r#"{"type":"object","properties":{"path":{"type":"string"}}}"#),
            }],
        };
        let expected = concat!(
            r#"Tools:"#,
            "\n",
            r#"{"type": "function", "function": {"name": "read_file", "description": "Read a file.", "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}}"#,
            "\n\nSystem: Be brief.\n\nUser: Read a.py\n\nAssistant:\n",
            r#"Tool call: read_file {"path": "a.py", "line": 1}"#,
            "\n\nTool result (read_file): print(1)\n\nAssistant:"
        );
        assert_eq!(plain.render(&conversation, &opts(true)).unwrap(), expected);
        let short = Conversation { messages: vec![Message::new("user", "hi")], tools: vec![] };
        assert_eq!(plain.render(&short, &opts(false)).unwrap(), "User: hi");
        assert_eq!(plain.render(&Conversation::default(), &opts(true)).unwrap(), "Assistant:");
    }

    #[test]
    fn python_printing_and_errors() {
        let t = ChatTemplate::new(
            "{{ none }} {{ true }} {{ [1.0, 'x', none] }} {{ false | string }} {{ bos_token }}{{ eos_token }} \
             {{ strftime_now('%d %b %Y') }} {{ tools is iterable }} {{ flag }}",
            "<s>",
            "</s>",
        )
        .unwrap();
        let options = RenderOptions {
            now: chrono::NaiveDate::from_ymd_opt(2024, 7, 26).unwrap().and_hms_opt(0, 0, 0),
            extra: vec![("flag".into(), serde_json::json!(true))],
            ..opts(false)
        };
        assert_eq!(
            t.render(&Conversation::default(), &options).unwrap(),
            "None True [1.0, 'x', None] False <s></s> 26 Jul 2024 False True"
        );

        let raising = ChatTemplate::new("{{ raise_exception('No ' ~ messages[0].role ~ ' here') }}", "", "").unwrap();
        let conversation = Conversation { messages: vec![Message::new("user", "x")], tools: vec![] };
        match raising.render(&conversation, &opts(false)) {
            Err(ChatError::Raised(message)) => assert_eq!(message, "No user here"),
            other => panic!("expected Raised, got {other:?}"),
        }
        let failing = ChatTemplate::new("{{ messages[0].content.nope() }}", "", "").unwrap();
        assert!(matches!(failing.render(&conversation, &opts(false)), Err(ChatError::Render(_))));
        match ChatTemplate::new("{% if %}\n{% endfor %}", "", "") {
            Err(ChatError::Compile(message)) => {
                assert!(!message.contains('\n') && message.contains("syntax error"), "{message}")
            }
            other => panic!("expected Compile, got {other:?}"),
        }
    }

    #[test]
    fn messages_keep_the_hugging_face_shape() {
        let t = ChatTemplate::new("{{ messages | tojson }}", "", "").unwrap();
        let conversation = Conversation {
            messages: vec![Message {
                role: "assistant".into(),
                content: None,
                reasoning_content: Some("hm".into()),
                tool_calls: vec![ToolCall {
                    id: None,
                    function: FunctionCall { name: "f".into(), arguments: raw(r#"{"z": 1, "a": [true]}"#) },
                }],
                ..Message::default()
            }],
            tools: vec![],
        };
        assert_eq!(
            t.render(&conversation, &opts(false)).unwrap(),
            r#"[{"role": "assistant", "content": "", "reasoning_content": "hm", "thinking": "hm", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"z": 1, "a": [true]}}}]}]"#
        );
    }
}
