//! What the agent talks to: [`AgentModel`]. [`ChatModel`] is a real model (in process or on a
//! server) prompted through its own chat template and decoded under the call grammar, or asked
//! through a server's chat endpoint with the tools; [`ScriptedModel`] replays fixed turns, for
//! tests of the loop's mechanics.

use std::ops::ControlFlow;
use std::sync::Arc;

use hearth_base::CancelToken;
use hearth_decode::{DecodeError, GenerateParams, Generator, Sampling, Speculation, StopConditions, StopReason};
use hearth_model::{LoadedModel, ModelInfo, Tokenizer};
use serde::Deserialize;

use super::format::ToolFormat;
use super::grammar::{CallConstraint, CallGrammar};
use super::AgentError;
use crate::chat::{encode_rendered, ChatEndpoint, ChatReply, ChatRequest, ChatTemplate, Conversation, Message, RenderOptions};

/// One assistant message as the model wrote it.
#[derive(Clone, Debug, Default)]
pub struct Response {
    pub text: String,
    /// Tokens generated.
    pub tokens: usize,
    /// Whether the call grammar held decoding once the model opened a call.
    pub constrained: bool,
    /// Whether a server's chat endpoint parsed the calls (the text shows them in the agent's format).
    pub server_parsed: bool,
    /// Prompt tokens, and those reused from the previous turn's cache.
    pub prompt_tokens: usize,
    pub reused_tokens: usize,
    /// Whether the turn ended by itself (not at the token limit).
    pub complete: bool,
}

/// A model the agent loop can drive.
pub trait AgentModel: Send {
    /// The format its tool calls are written and parsed in.
    fn format(&self) -> ToolFormat;
    /// Positions its context holds.
    fn context_tokens(&self) -> usize;
    /// Tokens the prompt for `conversation` takes.
    fn prompt_tokens(&self, conversation: &Conversation) -> Result<usize, AgentError>;
    /// The next assistant message, at most `max_tokens` long; `on_text` sees it as it comes.
    fn respond(
        &mut self,
        conversation: &Conversation,
        grammar: &CallGrammar,
        max_tokens: usize,
        cancel: &CancelToken,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Response, AgentError>;
}

/// A real model: its chat template (or the plain format), its tokenizer, and a [`Generator`].
pub struct ChatModel {
    template: ChatTemplate,
    /// Whether the template renders tools and tool turns itself; if not, the tools and the call
    /// format are described in the system text, calls are shown as the model wrote them and
    /// results come back as user turns.
    native_tools: bool,
    /// Whether the template itself teaches the call format (its markers are in the source).
    teaches_format: bool,
    format: ToolFormat,
    tokenizer: Arc<Tokenizer>,
    generator: Box<dyn Generator>,
    capacity: usize,
    stop_ids: Vec<u32>,
    stop_strings: Vec<String>,
    bos: Option<u32>,
    /// Open a call in the prompt (the model must call a tool), as OpenAI's `tool_choice: required`.
    force_call: bool,
    /// Decode under the call grammar (off only to measure what the model does without it).
    constrained: bool,
    /// A server's chat endpoint, asked with the tools before the token path; dropped when it refuses them.
    endpoint: Option<Box<dyn ChatEndpoint>>,
    /// The template is the model's own (not the plain format).
    own_template: bool,
}

impl ChatModel {
    /// The in-process model: its own engine over `target`'s weights, as much context as the engine holds.
    pub fn local(target: &LoadedModel) -> Result<Self, AgentError> {
        let engine = hearth_decode::Engine::new(target, None)?;
        let capacity = engine.capacity();
        Self::new(target.tokenizer.clone(), &target.info, Box::new(engine), capacity)
    }

    pub fn new(tokenizer: Arc<Tokenizer>, info: &ModelInfo, generator: Box<dyn Generator>, capacity: usize) -> Result<Self, AgentError> {
        let (template, source, plain) = match ChatTemplate::of_model(&tokenizer, info) {
            Some(template) => (template?, info.chat_template.as_deref().unwrap_or_default(), false),
            None => (ChatTemplate::plain(), "", true),
        };
        let format = ToolFormat::detect(source);
        let mut stop_ids = info.eos_ids.clone();
        stop_ids.extend(tokenizer.end_of_turn_ids());
        Ok(ChatModel {
            template,
            native_tools: plain || source.contains("tool"),
            teaches_format: !plain && source.contains(format.open_marker().trim()),
            format,
            capacity,
            stop_ids,
            stop_strings: if plain { vec!["\n\nUser:".into(), "\n\nSystem:".into()] } else { Vec::new() },
            bos: if plain { info.bos_id.filter(|_| info.add_bos) } else { None },
            tokenizer,
            generator,
            force_call: false,
            constrained: true,
            endpoint: None,
            own_template: !plain,
        })
    }

    /// Asks `endpoint` (the server renders the conversation and parses the calls); the local
    /// rendering still counts the prompt, and serves if the server takes no tools.
    /// A model without a chat template keeps the plain format: a server would render another one.
    pub fn with_endpoint(mut self, endpoint: Box<dyn ChatEndpoint>) -> Self {
        if self.own_template {
            self.endpoint = Some(endpoint);
        }
        self
    }

    /// Writes calls in `format` instead of the one the template teaches.
    pub fn with_format(mut self, format: ToolFormat) -> Self {
        self.teaches_format &= self.format == format;
        self.format = format;
        self
    }

    /// Every turn is a tool call: the prompt opens it.
    pub fn set_force_call(&mut self, on: bool) {
        self.force_call = on;
    }

    /// Decoding under the call grammar (on by default).
    pub fn set_constrained(&mut self, on: bool) {
        self.constrained = on;
    }

    /// What the template is given: the conversation as is, or with tools and tool turns folded
    /// into plain messages for a template that knows none.
    fn shaped(&self, conversation: &Conversation) -> Conversation {
        let mut out = conversation.clone();
        if !self.teaches_format || !self.native_tools {
            // A template that renders the tools itself needs only the call format described.
            let listed: &[crate::chat::ToolSpec] = if self.native_tools { &[] } else { &conversation.tools };
            let how = self.format.instructions(listed);
            if let Some(first) = out.messages.first_mut().filter(|m| m.role == "system") {
                let text = first.content.get_or_insert_with(String::new);
                text.push_str("\n\n");
                text.push_str(&how);
            }
        }
        if self.native_tools {
            return out;
        }
        out.tools.clear();
        let mut messages: Vec<Message> = Vec::new();
        for m in out.messages {
            let folded = match m.role.as_str() {
                "assistant" if !m.tool_calls.is_empty() => {
                    let mut text = m.content.clone().unwrap_or_default();
                    for call in &m.tool_calls {
                        text.push_str(&self.format.render_raw(&call.function.name, call.function.arguments.get()));
                    }
                    Message::new("assistant", text)
                }
                "tool" => Message::new(
                    "user",
                    format!("Result of `{}`:\n{}", m.name.as_deref().unwrap_or("tool"), m.content.as_deref().unwrap_or("")),
                ),
                _ => m,
            };
            // Templates that insist on alternating turns get consecutive user turns joined.
            match messages.last_mut() {
                Some(last) if last.role == folded.role && folded.role == "user" => {
                    let text = last.content.get_or_insert_with(String::new);
                    text.push_str("\n\n");
                    text.push_str(folded.content.as_deref().unwrap_or(""));
                }
                _ => messages.push(folded),
            }
        }
        out.messages = messages;
        out
    }

    /// The prompt's ids: the rendering, with every message's text encoded as text.
    pub fn prompt_ids(&self, conversation: &Conversation) -> Result<Vec<u32>, AgentError> {
        let shaped = self.shaped(conversation);
        let options = RenderOptions { add_generation_prompt: true, ..Default::default() };
        let (rendered, shaped) = self.template.render_folding_system(&shaped, &options)?;
        let contents: Vec<&str> = shaped.messages.iter().filter(|m| m.role != "system").filter_map(|m| m.content.as_deref()).collect();
        Ok(self.bos.into_iter().chain(encode_rendered(&self.tokenizer, &rendered, &contents)).collect())
    }
}

impl AgentModel for ChatModel {
    fn format(&self) -> ToolFormat {
        self.format
    }

    fn context_tokens(&self) -> usize {
        self.capacity
    }

    fn prompt_tokens(&self, conversation: &Conversation) -> Result<usize, AgentError> {
        Ok(self.prompt_ids(conversation)?.len())
    }

    fn respond(
        &mut self,
        conversation: &Conversation,
        grammar: &CallGrammar,
        max_tokens: usize,
        cancel: &CancelToken,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Response, AgentError> {
        let mut prompt = self.prompt_ids(conversation)?;
        // Room for at least the shortest call, so that a call the model opens can always close.
        let fits = |prompt: usize| {
            let needed = prompt + grammar.closing_reserve().min(max_tokens);
            if needed >= self.capacity {
                return Err(AgentError::ContextFull { needed, capacity: self.capacity });
            }
            Ok(max_tokens.min(self.capacity - prompt - 1))
        };
        if self.endpoint.is_some() {
            let request =
                ChatRequest { conversation, max_tokens: fits(prompt.len())?, require_tool: self.force_call, stop: &self.stop_strings };
            let endpoint = self.endpoint.as_mut().expect("checked");
            match endpoint.chat(&request, cancel, on_text) {
                Ok(reply) => return Ok(self.read_reply(reply, prompt.len())),
                Err(DecodeError::Unsupported(what)) => {
                    tracing::info!("the server's chat endpoint takes no {what}: the agent decodes the local rendering instead");
                    self.endpoint = None;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let opened = if self.force_call { self.format.open_marker() } else { "" };
        prompt.extend(self.tokenizer.encode_special(opened));
        let params = GenerateParams {
            max_tokens: fits(prompt.len())?,
            sampling: Sampling::Greedy,
            stop: StopConditions { token_ids: self.stop_ids.clone(), strings: self.stop_strings.clone(), special_tokens: false },
            speculation: Speculation { draft: false, lookup: false, ..Default::default() },
            lookup_sources: Vec::new(),
            copy_source: Vec::new(),
            forced_prefix: String::new(),
        };
        let mut constraint = CallConstraint::within(grammar.clone(), params.max_tokens).after(opened);
        let mut sink = |text: &str| {
            on_text(text);
            if cancel.is_cancelled() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        let constrained = if self.constrained {
            self.generator.generate_constrained(&prompt, &params, &mut constraint, cancel, &mut sink)
        } else {
            Err(DecodeError::Unsupported(""))
        };
        let (generation, constrained) = match constrained {
            Err(DecodeError::Unsupported(_)) => {
                if self.constrained {
                    tracing::info!("this backend cannot constrain decoding: tool calls are parsed as they come");
                }
                (self.generator.generate(&prompt, &params, cancel, &mut sink)?, false)
            }
            other => (other?, constraint.opened()),
        };
        cancel.check()?;
        let mut text = format!("{opened}{}", generation.text);
        if generation.stop_reason == StopReason::StopString {
            for s in &self.stop_strings {
                if let Some(at) = text.find(s.as_str()) {
                    text.truncate(at);
                }
            }
        }
        Ok(Response {
            text,
            tokens: generation.tokens.len(),
            constrained,
            server_parsed: false,
            prompt_tokens: generation.stats.prompt_tokens,
            reused_tokens: generation.stats.reused_prompt_tokens,
            complete: !matches!(generation.stop_reason, StopReason::MaxTokens | StopReason::ContextFull),
        })
    }
}

impl ChatModel {
    /// A server's reply as the agent reads a turn: its text, then each call written in the agent's format.
    fn read_reply(&self, mut reply: ChatReply, local_prompt_tokens: usize) -> Response {
        let complete = |call: &crate::chat::ToolCall| {
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(call.function.arguments.get()).is_ok()
        };
        // A turn cut at its token limit may end in a call cut short: the calls before it stand.
        if reply.truncated && reply.tool_calls.len() > 1 && reply.tool_calls.last().is_some_and(|c| !complete(c)) {
            reply.tool_calls.pop();
        }
        let mut text = reply.content;
        for call in &reply.tool_calls {
            let arguments = call.function.arguments.get();
            if complete(call) {
                text.push_str(&self.format.render_raw(&call.function.name, arguments));
            } else {
                // Arguments that are not a JSON object stay as the server sent them, for the parser to refuse.
                let name = serde_json::to_string(&call.function.name).unwrap_or_default();
                text.push_str(&format!("{}{{\"name\": {name}, \"arguments\": {arguments}}}", self.format.open_marker()));
            }
        }
        let tokens = reply.generated_tokens.unwrap_or_else(|| self.tokenizer.encode(&text).len());
        Response {
            tokens,
            constrained: false,
            server_parsed: !reply.tool_calls.is_empty(),
            prompt_tokens: reply.prompt_tokens.unwrap_or(local_prompt_tokens),
            reused_tokens: reply.cached_prompt_tokens.unwrap_or(0),
            complete: !reply.truncated,
            text,
        }
    }
}

/// A model that answers with fixed turns, in order, whatever it is asked: the loop's mechanics
/// without a model's judgement. Past its last turn it answers that the script is over.
#[derive(Clone, Debug)]
pub struct ScriptedModel {
    pub format: ToolFormat,
    pub turns: Vec<String>,
    /// The context it claims to have (tokens counted as 4 bytes each).
    pub context: usize,
    next: usize,
}

/// A script's JSON.
#[derive(Deserialize)]
struct Script {
    #[serde(default)]
    format: Option<String>,
    turns: Vec<String>,
    #[serde(default)]
    context: Option<usize>,
}

impl ScriptedModel {
    pub fn new(format: ToolFormat, turns: Vec<String>) -> Self {
        ScriptedModel { format, turns, context: 32_768, next: 0 }
    }

    /// A script from JSON: `{"format": "hermes" | "qwen_xml" | "llama3_json", "turns": ["...", ...], "context": 32768}`.
    pub fn from_json(text: &str) -> Result<Self, AgentError> {
        let script: Script = serde_json::from_str(text).map_err(|e| AgentError::Model(format!("the agent script is not valid: {e}")))?;
        let formats = [ToolFormat::Hermes, ToolFormat::QwenXml, ToolFormat::Llama3Json];
        let format = match script.format.as_deref() {
            None => ToolFormat::Hermes,
            Some(name) => formats
                .into_iter()
                .find(|f| f.name() == name)
                .ok_or_else(|| AgentError::Model(format!("the agent script's format {name:?} is not hermes, qwen_xml or llama3_json")))?,
        };
        let mut model = ScriptedModel::new(format, script.turns);
        if let Some(context) = script.context {
            model.context = context;
        }
        Ok(model)
    }
}

impl AgentModel for ScriptedModel {
    fn format(&self) -> ToolFormat {
        self.format
    }

    fn context_tokens(&self) -> usize {
        self.context
    }

    fn prompt_tokens(&self, conversation: &Conversation) -> Result<usize, AgentError> {
        let bytes: usize = conversation.messages.iter().map(|m| m.content.as_deref().map_or(0, str::len) + 8).sum();
        Ok(bytes.div_ceil(4))
    }

    fn respond(
        &mut self,
        _conversation: &Conversation,
        _grammar: &CallGrammar,
        _max_tokens: usize,
        cancel: &CancelToken,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Response, AgentError> {
        cancel.check()?;
        let text = self.turns.get(self.next).cloned().unwrap_or_else(|| "The script is over.".to_string());
        self.next += 1;
        on_text(&text);
        Ok(Response { tokens: text.len().div_ceil(4), text, complete: true, ..Default::default() })
    }
}
