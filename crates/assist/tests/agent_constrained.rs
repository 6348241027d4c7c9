//! Constrained decoding on real models: made to call each of the agent's tools, in each call
//! format, tiny-coder (a Python FIM model that never saw a tool call) and Gemma 3 270M (a base model)
//! write a call that parses and that the tool's schema accepts, every time. Without the grammar
//! the same prompts give calls that do not parse.

use std::sync::Arc;

use hearth_assist::agent::format::ToolFormat;
use hearth_assist::agent::grammar::CallGrammar;
use hearth_assist::agent::{schemas, tool_specs, AgentError, AgentModel, ChatModel};
use hearth_assist::chat::{Conversation, Message};
use hearth_base::CancelToken;
use hearth_model::{DeviceChoice, LoadedModel};

fn chat_model(model: &LoadedModel, format: ToolFormat) -> ChatModel {
    let engine = hearth_decode::Engine::new(model, None).unwrap();
    let capacity = engine.capacity();
    ChatModel::new(model.tokenizer.clone(), &model.info, Box::new(engine), capacity).unwrap().with_format(format)
}

/// For every tool: (parsed with the grammar, parsed without it).
fn calls(model: &LoadedModel, format: ToolFormat, max_tokens: usize) -> Vec<Outcome> {
    let specs = tool_specs(true, &["pytest -q".to_string()]);
    let mut chat = chat_model(model, format);
    chat.set_force_call(true);
    let mut out = Vec::new();
    for spec in &specs {
        let one = vec![spec.clone()];
        let grammar = CallGrammar::new(format, schemas(&one));
        let conversation = Conversation {
            messages: vec![
                Message::new("system", "You are a coding agent."),
                Message::new("user", format!("Call the `{}` tool for the file src/app.py.", spec.name)),
            ],
            tools: one.clone(),
        };
        eprintln!("{}: prompt {} tokens", spec.name, chat.prompt_tokens(&conversation).unwrap());
        let mut attempt = |constrained: bool| {
            chat.set_constrained(constrained);
            let started = std::time::Instant::now();
            let response = match chat.respond(&conversation, &grammar, max_tokens, &CancelToken::new(), &mut |_| {}) {
                Err(AgentError::ContextFull { needed, capacity }) => return Err(format!("no room: {needed} > {capacity}")),
                other => other.unwrap(),
            };
            assert!(response.tokens <= max_tokens);
            if constrained {
                eprintln!("  {}: {} tokens in {:.2} s with the grammar", spec.name, response.tokens, started.elapsed().as_secs_f64());
            }
            match format.parse(&response.text, &one) {
                Ok(turn) if turn.calls.len() == 1 && turn.calls[0].name == spec.name => Ok(response.text),
                Ok(turn) => Err(format!("{} call(s) in {:?}", turn.calls.len(), response.text)),
                Err(e) => Err(format!("{e}: {:?}", response.text)),
            }
        };
        let with = attempt(true);
        let without = attempt(false);
        out.push((spec.name.clone(), with, without));
    }
    out
}

/// A tool's name, and its call with the grammar and without it (the text, or why it did not parse).
type Outcome = (String, Result<String, String>, Result<String, String>);

/// Every constrained call parses, except those refused up front for want of room (`no_room`).
fn check(label: &str, results: &[Outcome], no_room: &[&str]) {
    for (tool, with, _) in results {
        if no_room.contains(&tool.as_str()) {
            assert!(with.as_ref().is_err_and(|e| e.starts_with("no room")), "{label}: {tool}: {with:?}");
            continue;
        }
        assert!(with.is_ok(), "{label}: the constrained call to {tool} did not parse: {}", with.as_ref().unwrap_err());
    }
    let unconstrained_ok = results.iter().filter(|(_, _, without)| without.is_ok()).count();
    let constrained_ok = results.iter().filter(|(_, with, _)| with.is_ok()).count();
    eprintln!("{label}: {constrained_ok} of {} calls parse with the grammar, {unconstrained_ok} without it", results.len());
    assert!(unconstrained_ok < results.len(), "{label}: the model writes every call right without the grammar; the test shows nothing");
}

/// tiny-coder's 384-token context holds most of the Hermes format's prompts with room for a call;
/// where it does not, the model refuses up front (the loop then stops and says so).
#[test]
fn tiny_coder_writes_a_parsable_call_for_every_tool() {
    let model = hearth_model::load(&hearth_model::testing::model_path("tiny-coder"), DeviceChoice::Cpu).unwrap();
    assert_eq!(ToolFormat::detect(model.info.chat_template.as_deref().unwrap_or("")), ToolFormat::Hermes);
    // `edit` has three required strings: its prompt and shortest call do not fit in 384 tokens.
    check("tiny-coder, hermes", &calls(&model, ToolFormat::Hermes, 160), &["edit"]);
}

#[test]
fn gemma3_writes_a_parsable_call_for_every_tool_in_every_format() {
    let path = hearth_model::testing::gemma3_path();
    let model = hearth_model::load(path.to_str().unwrap(), DeviceChoice::Cpu).unwrap();
    for format in [ToolFormat::Hermes, ToolFormat::QwenXml, ToolFormat::Llama3Json] {
        check(&format!("gemma 3 270m, {}", format.name()), &calls(&model, format, 160), &[]);
    }
}

#[test]
fn a_real_model_gets_the_tools_in_its_prompt_and_the_prompt_grows_by_appending() {
    let model = hearth_model::load(&hearth_model::testing::model_path("tiny-coder"), DeviceChoice::Cpu).unwrap();
    let chat = chat_model(&model, ToolFormat::Hermes);
    let tools = tool_specs(true, &[]);
    let mut conversation =
        Conversation { messages: vec![Message::new("system", "sys"), Message::new("user", "Rename a to b.")], tools: tools.clone() };
    let first = chat.prompt_ids(&conversation).unwrap();
    let text = model.tokenizer.decode(&first);
    for t in &tools {
        assert!(text.contains(&format!("\"name\": \"{}\"", t.name)), "{} is not in the prompt:\n{text}", t.name);
    }
    assert!(text.contains("<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"src/main.py\"}}\n</tool_call>"), "{text}");
    conversation.messages.push(Message::new("assistant", "Looking."));
    conversation.messages.push(Message::new("user", "Go on."));
    let second = chat.prompt_ids(&conversation).unwrap();
    let shared = hearth_decode::common_prefix(&first, &second);
    assert!(shared + 8 >= first.len(), "the next turn's prompt reuses the cache: {shared} of {} tokens shared", first.len());
    let _: Arc<_> = model.tokenizer.clone();
    assert!(chat.prompt_tokens(&conversation).unwrap() == second.len());
}
