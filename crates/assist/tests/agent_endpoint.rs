//! The agent's model through a server's chat endpoint (mechanics; the real server is in
//! `tests/lsp-node/test/remote-chat.test.js`): the conversation goes out with its tools, the calls the
//! server parsed come back as a turn in the agent's format, a call cut at the token limit is dropped,
//! and a server that takes no tools leaves the turn to the locally rendered prompt, for good.

use std::sync::{Arc, Mutex};

use hearth_assist::agent::format::ToolFormat;
use hearth_assist::agent::grammar::CallGrammar;
use hearth_assist::agent::{schemas, tool_specs, AgentModel, ChatModel};
use hearth_assist::chat::{ChatEndpoint, ChatReply, ChatRequest, Conversation, FunctionCall, Message, RawValue, ToolCall};
use hearth_base::CancelToken;
use hearth_decode::DecodeError;
use hearth_model::DeviceChoice;

/// What the endpoint was asked: the tools' names, the last message, and `require_tool`.
type Asked = Arc<Mutex<Vec<(Vec<String>, String, bool)>>>;

struct FakeServer {
    reply: Option<ChatReply>,
    asked: Asked,
}

impl ChatEndpoint for FakeServer {
    fn chat(&mut self, request: &ChatRequest<'_>, _: &CancelToken, on_text: &mut dyn FnMut(&str)) -> Result<ChatReply, DecodeError> {
        let c = request.conversation;
        let last = c.messages.last().and_then(|m| m.content.clone()).unwrap_or_default();
        self.asked.lock().unwrap().push((c.tools.iter().map(|t| t.name.clone()).collect(), last, request.require_tool));
        let reply = self.reply.clone().ok_or(DecodeError::Unsupported("tool calls"))?;
        on_text(&reply.content);
        Ok(reply)
    }
}

fn call(name: &str, arguments: &str) -> ToolCall {
    ToolCall {
        id: Some("srv-1".into()),
        function: FunctionCall { name: name.into(), arguments: RawValue::from_string(arguments.into()).unwrap() },
    }
}

fn setup(reply: Option<ChatReply>) -> (ChatModel, Asked, Conversation, CallGrammar) {
    // A real model with a chat template of its own: one without keeps the plain format, in process.
    let path = hearth_model::testing::gemma3_with_template_path();
    let model = hearth_model::load(path.to_str().unwrap(), DeviceChoice::Cpu).unwrap();
    let engine = hearth_decode::Engine::new(&model, None).unwrap();
    let capacity = engine.capacity();
    let asked = Asked::default();
    let chat = ChatModel::new(model.tokenizer.clone(), &model.info, Box::new(engine), capacity)
        .unwrap()
        .with_endpoint(Box::new(FakeServer { reply, asked: asked.clone() }));
    let tools: Vec<_> = tool_specs(true, &[]).into_iter().filter(|t| t.name == "read_file" || t.name == "search").collect();
    let grammar = CallGrammar::new(ToolFormat::Hermes, schemas(&tools));
    let conversation =
        Conversation { messages: vec![Message::new("system", "You are a coding agent."), Message::new("user", "Read a.py.")], tools };
    (chat, asked, conversation, grammar)
}

#[test]
fn the_server_s_calls_become_a_turn_and_a_call_cut_short_is_dropped() {
    let reply = ChatReply {
        content: "Let me look.".into(),
        tool_calls: vec![call("read_file", r#"{"path": "a.py"}"#), call("read_file", r#""{\"path\": \"a.""#)],
        prompt_tokens: Some(321),
        cached_prompt_tokens: Some(300),
        generated_tokens: Some(40),
        truncated: true,
    };
    let (mut chat, asked, conversation, grammar) = setup(Some(reply));
    chat.set_force_call(true);
    let mut shown = String::new();
    let response = chat.respond(&conversation, &grammar, 40, &CancelToken::new(), &mut |t| shown.push_str(t)).unwrap();
    assert_eq!(shown, "Let me look.");
    let asked = asked.lock().unwrap().clone();
    assert_eq!(asked, vec![(vec!["search".to_string(), "read_file".to_string()], "Read a.py.".to_string(), true)]);
    assert!(response.server_parsed);
    assert!(!response.complete);
    assert_eq!((response.tokens, response.prompt_tokens, response.reused_tokens), (40, 321, 300));
    let turn = ToolFormat::Hermes.parse(&response.text, &conversation.tools).unwrap();
    assert_eq!(turn.content.trim(), "Let me look.");
    assert_eq!(turn.calls.len(), 1, "{}", response.text);
    assert_eq!(turn.calls[0].name, "read_file");
    assert_eq!(turn.calls[0].arguments["path"], "a.py");
}

#[test]
fn a_server_without_tools_leaves_the_turns_to_the_local_rendering() {
    let (mut chat, asked, conversation, grammar) = setup(None);
    for _ in 0..2 {
        let response = chat.respond(&conversation, &grammar, 8, &CancelToken::new(), &mut |_| {}).unwrap();
        assert!(!response.server_parsed);
        assert!(response.tokens > 0, "the in-process engine decoded the turn");
        assert_eq!(response.prompt_tokens, chat.prompt_tokens(&conversation).unwrap());
    }
    assert_eq!(asked.lock().unwrap().len(), 1, "asked once, then no more");
}
