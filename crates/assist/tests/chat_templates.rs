//! Real chat templates rendered by `hearth_assist::chat` must be byte-identical to Python jinja2 as Hugging Face
//! transformers sets it up. The templates are llama.cpp's `models/templates/*.jinja` from the test assets
//! (`scripts/fetch-assets.sh`; missing assets fail the test); the expected renderings are
//! `tests/fixtures/chat_templates.json`, written by `scripts/record-template-fixtures.py`.
//!
//! A fixture case that Python rejected with the template's own `raise_exception` must be rejected the same way
//! (`ChatError::Raised`, with the template's message). A case where Python failed with a runtime error of its own
//! (a `TypeError` such as `for tool in none`) may fail or render anything: minijinja iterates none as empty.

use std::collections::HashMap;

use hearth_assist::chat::{ChatError, ChatTemplate, Conversation, FunctionCall, Message, RawValue, RenderOptions, ToolCall, ToolSpec};
use serde::Deserialize;
use sha2::{Digest, Sha256};

#[derive(Deserialize)]
struct Fixture {
    strftime_now: String,
    conversations: HashMap<String, FixtureConversation>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct FixtureConversation {
    messages: Vec<Message>,
    tools: Option<Vec<FixtureTool>>,
}

/// `{"type": "function", "function": {...}}`, as transformers takes tools.
#[derive(Deserialize)]
struct FixtureTool {
    r#type: String,
    function: ToolSpec,
}

#[derive(Deserialize)]
struct Case {
    template: String,
    template_sha256: String,
    conversation: String,
    bos_token: String,
    eos_token: String,
    add_generation_prompt: bool,
    extra_kwargs: serde_json::Map<String, serde_json::Value>,
    rendered: Option<String>,
    error: Option<String>,
    error_type: Option<String>,
}

/// The keys `Message` knows: a fixture message with another key would be silently dropped by serde.
const MESSAGE_KEYS: &[&str] = &["role", "content", "reasoning_content", "tool_calls", "tool_call_id", "name"];
const TOOL_CALL_KEYS: &[&str] = &["id", "type", "function"];

fn fixture_text() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/chat_templates.json");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn template_source(name: &str) -> (String, String) {
    let path = hearth_model::testing::llama_cpp_file(&format!("models/templates/{name}"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run scripts/fetch-assets.sh)", path.display()));
    let sha = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    (String::from_utf8(bytes).expect("templates are UTF-8"), sha)
}

/// Checks that every key of the fixture's messages reaches `Message` (tool-call `type` is always "function").
fn check_fixture_keys(text: &str) {
    let raw: serde_json::Value = serde_json::from_str(text).unwrap();
    for (name, conversation) in raw["conversations"].as_object().unwrap() {
        for message in conversation["messages"].as_array().unwrap() {
            for key in message.as_object().unwrap().keys() {
                assert!(MESSAGE_KEYS.contains(&key.as_str()), "conversation {name}: message key {key:?} is not in Message");
            }
            for call in message.get("tool_calls").and_then(|c| c.as_array()).into_iter().flatten() {
                for key in call.as_object().unwrap().keys() {
                    assert!(TOOL_CALL_KEYS.contains(&key.as_str()), "conversation {name}: tool call key {key:?}");
                }
                assert_eq!(call["type"], "function");
            }
        }
    }
}

/// Where two renderings first differ, with some context on both sides.
fn diff(expected: &str, got: &str) -> String {
    let at = expected.char_indices().zip(got.chars()).find(|((_, a), b)| a != b).map(|((i, _), _)| i);
    let at = at.unwrap_or(expected.len().min(got.len()));
    let window = |s: &str| {
        let mut start = at.saturating_sub(80);
        while !s.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (at + 80).min(s.len());
        while !s.is_char_boundary(end) {
            end += 1;
        }
        let at = at.min(s.len());
        format!("{:?} >>> {:?}", &s[start..at], &s[at..end])
    };
    format!(
        "first difference at byte {at} (expected {} bytes, got {}):\n      expected: {}\n      got:      {}",
        expected.len(),
        got.len(),
        window(expected),
        window(got)
    )
}

#[test]
fn renders_like_python_jinja2() {
    let text = fixture_text();
    check_fixture_keys(&text);
    let fixture: Fixture = serde_json::from_str(&text).expect("the fixture parses");
    assert!(!fixture.cases.is_empty(), "the fixture has no cases");
    let now = chrono::NaiveDateTime::parse_from_str(&fixture.strftime_now, "%Y-%m-%dT%H:%M:%S").expect("strftime_now");

    let conversations: HashMap<&str, Conversation> = fixture
        .conversations
        .iter()
        .map(|(name, c)| {
            let tools = c.tools.iter().flatten().inspect(|t| assert_eq!(t.r#type, "function")).map(|t| t.function.clone());
            (name.as_str(), Conversation { messages: c.messages.clone(), tools: tools.collect() })
        })
        .collect();
    let mut sources: HashMap<&str, (String, String)> = HashMap::new();

    let (mut identical, mut raised, mut loose) = (0, 0, Vec::new());
    let mut failures = Vec::new();
    for case in &fixture.cases {
        let label = format!("{} / {} {}", case.template, case.conversation, serde_json::Value::from(case.extra_kwargs.clone()));
        let (source, sha) = sources.entry(case.template.as_str()).or_insert_with(|| template_source(&case.template));
        if *sha != case.template_sha256 {
            failures.push(format!("{label}: the asset's sha256 is {sha}, the fixture recorded {}", case.template_sha256));
            continue;
        }
        let conversation = &conversations[case.conversation.as_str()];
        let options = RenderOptions {
            add_generation_prompt: case.add_generation_prompt,
            extra: case.extra_kwargs.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            now: Some(now),
        };
        let result =
            ChatTemplate::new(source, &case.bos_token, &case.eos_token).and_then(|template| template.render(conversation, &options));
        match (&case.rendered, case.error_type.as_deref(), result) {
            (Some(expected), _, Ok(got)) if *expected == got => identical += 1,
            (Some(expected), _, Ok(got)) => failures.push(format!("{label}: {}", diff(expected, &got))),
            (Some(_), _, Err(e)) => failures.push(format!("{label}: Python rendered it, Hearth failed: {e}")),
            (None, Some("raise_exception"), Err(ChatError::Raised(message))) => {
                let wanted = case.error.as_deref().unwrap_or_default();
                if message.contains(wanted) {
                    raised += 1;
                } else {
                    failures.push(format!("{label}: raised {message:?}, the template's message is {wanted:?}"));
                }
            }
            (None, Some("raise_exception"), other) => {
                failures.push(format!("{label}: the template raises {:?} in Python; Hearth gave {other:?}", case.error))
            }
            (None, Some(kind), result) => {
                let outcome = match result {
                    Ok(text) => format!("rendered {} bytes", text.len()),
                    Err(e) => format!("failed: {e}"),
                };
                loose.push(format!("{label}: Python {kind}: {:?}; Hearth {outcome}", case.error.as_deref().unwrap_or("")));
            }
            (None, None, _) => failures.push(format!("{label}: the case has neither `rendered` nor `error_type`")),
        }
    }

    let total = fixture.cases.len();
    eprintln!(
        "chat templates: {}/{total} as Python ({identical} byte-identical, {raised} raise_exception), {} accepted \
         by the looser rule for Python runtime errors:",
        identical + raised,
        loose.len()
    );
    for line in &loose {
        eprintln!("  {line}");
    }
    assert!(failures.is_empty(), "{} of {total} cases differ from Python:\n  {}", failures.len(), failures.join("\n  "));
}

/// Tool-call arguments reach Qwen3-Coder's template as a dict and print through `args_value | string` (or
/// `tojson` for lists and dicts): booleans, none and floats must print as Python's `str()` prints them
/// (`False`, `None`, `1e+16`; minijinja's own `string` gives `10000000000000000.0` for the last).
/// Expected: jinja2 3.1.6 with the environment of scripts/record-template-fixtures.py.
#[test]
fn qwen3_coder_prints_tool_arguments_as_python() {
    let (source, _) = template_source("Qwen3-Coder.jinja");
    let template = ChatTemplate::new(&source, "", "<|im_end|>").unwrap();
    let conversation: Conversation = serde_json::from_str(
        r#"{"messages": [
            {"role": "user", "content": "Find café, ignoring case."},
            {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function", "function": {
                "name": "search",
                "arguments": {"query": "café", "case_sensitive": false, "regex": true, "limit": null, "weight": 1.5,
                              "big": 1e16, "paths": ["src", "é"]}}}]},
            {"role": "tool", "tool_call_id": "c1", "name": "search", "content": "a.py:1: café"}
        ]}"#,
    )
    .unwrap();
    let options = RenderOptions { add_generation_prompt: true, ..RenderOptions::default() };
    let expected = "<|im_start|>user\nFind café, ignoring case.<|im_end|>\n<|im_start|>assistant\n<tool_call>\n\
        <function=search>\n<parameter=query>\ncafé\n</parameter>\n<parameter=case_sensitive>\nFalse\n</parameter>\n\
        <parameter=regex>\nTrue\n</parameter>\n<parameter=limit>\nNone\n</parameter>\n<parameter=weight>\n1.5\n\
        </parameter>\n<parameter=big>\n1e+16\n</parameter>\n<parameter=paths>\n[\"src\", \"é\"]\n</parameter>\n\
        </function>\n</tool_call><|im_end|>\n\
        <|im_start|>user\n<tool_response>\na.py:1: café\n</tool_response>\n<|im_end|>\n<|im_start|>assistant\n";
    let got = template.render(&conversation, &options).unwrap();
    assert_eq!(got, expected, "{}", diff(expected, &got));

    // The same arguments built in Rust: `RawValue` keeps the key order of its text.
    let arguments = RawValue::from_string(r#"{"query": "café", "case_sensitive": false}"#.to_owned()).unwrap();
    let call = ToolCall { id: Some("c1".into()), function: FunctionCall { name: "search".into(), arguments } };
    let conversation =
        Conversation { messages: vec![Message { role: "assistant".into(), tool_calls: vec![call], ..Message::default() }], tools: vec![] };
    let got = template.render(&conversation, &RenderOptions::default()).unwrap();
    assert!(got.contains("<parameter=query>\ncafé\n</parameter>\n<parameter=case_sensitive>\nFalse\n"), "{got:?}");
}

/// The fixture's `agent_tools` conversation offers exactly what the agent offers (one allowed
/// command), so its renderings pin the agent's real prompt.
#[test]
fn the_agent_conversation_holds_the_agents_own_tools() {
    let fixture: serde_json::Value = serde_json::from_str(&fixture_text()).unwrap();
    let recorded: Vec<serde_json::Value> =
        fixture["conversations"]["agent_tools"]["tools"].as_array().unwrap().iter().map(|t| t["function"].clone()).collect();
    let ours: Vec<serde_json::Value> = hearth_assist::agent::tool_specs(true, &["pytest -q".to_string()])
        .iter()
        .map(|t| serde_json::json!({"name": t.name, "description": t.description, "parameters": serde_json::from_str::<serde_json::Value>(t.parameters.get()).unwrap()}))
        .collect();
    assert_eq!(recorded, ours);
}
