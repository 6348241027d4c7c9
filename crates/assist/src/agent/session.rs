//! One agent session: the task and the repository map to the model, its tool calls run and
//! answered, until it answers without a call or a budget the user set runs out.

use std::collections::HashMap;

use hearth_base::CancelToken;
use hearth_index::Index;
use serde::Serialize;

use super::command::{CommandPolicy, Confirm};
use super::format::ParsedCall;
use super::grammar::CallGrammar;
use super::model::AgentModel;
use super::prompt::{repository_map, SYSTEM};
use super::tools::{schemas, tool_specs, Toolbox};
use super::AgentError;
use crate::chat::{Conversation, FunctionCall, Message, RawValue, ToolCall};
use crate::edit::{FileChange, Workspace};

/// What the agent may spend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Budget {
    /// Model turns.
    pub max_steps: usize,
    /// Tokens generated over the whole session.
    pub max_tokens: usize,
    /// Tokens one turn may generate.
    pub turn_tokens: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget { max_steps: 16, max_tokens: 16_384, turn_tokens: 1_024 }
    }
}

/// One agent task.
#[derive(Clone, Debug, Default)]
pub struct AgentRequest {
    pub task: String,
    /// Root-relative files the task is about: they head the repository map and their text is in the first turn.
    pub files: Vec<String>,
    pub budget: Budget,
    /// Root-relative path → unsaved editor text.
    pub open_documents: HashMap<String, String>,
    /// Exact command lines the `run` tool may run.
    pub commands: Vec<String>,
}

/// What happened, for the transcript (CLI lines, LSP notifications).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AgentEvent {
    /// A model turn begins.
    Step {
        step: usize,
        max_steps: usize,
        prompt_tokens: usize,
        context_tokens: usize,
    },
    /// The prose of a turn (before its call, or the answer).
    Text {
        text: String,
    },
    ToolCall {
        id: String,
        name: String,
        arguments: serde_json::Value,
        /// The server's chat endpoint parsed the call (not Hearth's parser).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        server_parsed: bool,
    },
    ToolResult {
        id: String,
        name: String,
        ok: bool,
        text: String,
    },
    /// The turn's call did not parse; the message went back to the model.
    FormatError {
        message: String,
    },
    /// Something the user should see: old output dropped to fit the context, a budget reached.
    Note {
        text: String,
    },
}

/// Why the session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStop {
    /// The model answered without a tool call.
    Answered,
    StepBudget,
    TokenBudget,
    /// Even with every old tool output dropped the conversation does not fit.
    ContextFull,
}

/// A session's result. Nothing is on disk: `files` are the proposed changes.
#[derive(Clone, Debug, Serialize)]
pub struct AgentOutcome {
    pub answer: Option<String>,
    pub stop: AgentStop,
    pub steps: usize,
    pub generated_tokens: usize,
    pub files: Vec<FileChange>,
    pub transcript: Vec<AgentEvent>,
    /// Calls that did not parse (zero under the call grammar), of all turns with a call.
    pub malformed_calls: usize,
    pub calls: usize,
}

/// The marker an old tool result is replaced with to fit the context.
fn dropped_marker(name: &str, tokens: usize) -> String {
    format!("[output of this `{name}` call dropped to fit the context ({tokens} tokens); call it again if you need it]")
}

/// Runs `request` with `model` over `workspace` (and `index`, the agent's eyes).
pub fn run(
    request: &AgentRequest,
    model: &mut dyn AgentModel,
    workspace: &Workspace,
    index: Option<&Index>,
    confirm: &mut dyn Confirm,
    cancel: &CancelToken,
    on_event: &mut dyn FnMut(&AgentEvent),
) -> Result<AgentOutcome, AgentError> {
    if request.task.trim().is_empty() {
        return Err(AgentError::EmptyTask);
    }
    let mut toolbox = Toolbox::new(workspace, index, &request.open_documents, CommandPolicy::new(request.commands.clone()));
    let tools = tool_specs(index.is_some(), &request.commands);
    let grammar = CallGrammar::new(model.format(), schemas(&tools));
    let context = model.context_tokens();
    let reserve = request.budget.turn_tokens.min(context / 2);

    let mut system = SYSTEM.to_string();
    if let Some(index) = index {
        let budget = (context / 8).min(1_024);
        let map = repository_map(index, &request.files, budget, &|s| hearth_index::approximate_tokens(s));
        system.push_str("\n\nThe repository (files and their top-level definitions):\n");
        system.push_str(&map);
    }
    let mut user = request.task.clone();
    for file in &request.files {
        match toolbox.text(file) {
            Ok((rel, text)) => {
                let lines: Vec<&str> = text.lines().collect();
                let shown = lines.len().min(super::tools::READ_LINES);
                user.push_str(&format!("\n\nFile `{rel}` ({} lines):\n```\n{}\n```", lines.len(), lines[..shown].join("\n")));
                if shown < lines.len() {
                    user.push_str(&format!("\n[lines {}-{} not shown: call read_file]", shown + 1, lines.len()));
                }
            }
            Err(e) => user.push_str(&format!("\n\n(`{file}` cannot be read: {e})")),
        }
    }
    let mut conversation = Conversation { messages: vec![Message::new("system", system), Message::new("user", user)], tools };

    let mut transcript = Vec::new();
    let mut emit = |event: AgentEvent, transcript: &mut Vec<AgentEvent>| {
        on_event(&event);
        transcript.push(event);
    };
    let (mut steps, mut generated, mut calls, mut malformed) = (0, 0, 0, 0);
    let mut answer = None;
    let stop = loop {
        cancel.check()?;
        if steps >= request.budget.max_steps {
            emit(AgentEvent::Note { text: format!("stopped: the step budget ({}) is spent", request.budget.max_steps) }, &mut transcript);
            break AgentStop::StepBudget;
        }
        if generated >= request.budget.max_tokens {
            emit(AgentEvent::Note { text: format!("stopped: the token budget ({}) is spent", request.budget.max_tokens) }, &mut transcript);
            break AgentStop::TokenBudget;
        }
        let prompt_tokens = match fit(&mut conversation, model, context.saturating_sub(reserve), &mut |text| {
            emit(AgentEvent::Note { text }, &mut transcript)
        })? {
            Ok(n) => n,
            Err(n) => {
                let text = format!(
                    "stopped: the prompt needs {n} tokens and {reserve} more for the reply, but the model's context holds {context} (even without old tool output); use a model with a longer context"
                );
                emit(AgentEvent::Note { text }, &mut transcript);
                break AgentStop::ContextFull;
            }
        };
        steps += 1;
        emit(
            AgentEvent::Step { step: steps, max_steps: request.budget.max_steps, prompt_tokens, context_tokens: context },
            &mut transcript,
        );
        let max_tokens = request.budget.turn_tokens.min(request.budget.max_tokens - generated);
        let response = match model.respond(&conversation, &grammar, max_tokens, cancel, &mut |_| {}) {
            Err(AgentError::ContextFull { needed, capacity }) => {
                let text = format!(
                    "stopped: the next turn needs {needed} tokens with room for a tool call, but the model's context holds {capacity}"
                );
                emit(AgentEvent::Note { text }, &mut transcript);
                break AgentStop::ContextFull;
            }
            other => other?,
        };
        generated += response.tokens;
        if !response.complete {
            emit(AgentEvent::Note { text: format!("the model's turn was cut at the {max_tokens}-token limit") }, &mut transcript);
        }
        let turn = match model.format().parse(&response.text, &conversation.tools) {
            Ok(turn) => turn,
            Err(e) => {
                calls += 1;
                malformed += 1;
                emit(AgentEvent::FormatError { message: e.message.clone() }, &mut transcript);
                conversation.messages.push(Message::new("assistant", response.text));
                conversation.messages.push(Message::new("user", format!("Your tool call could not be used: {}", e.message)));
                continue;
            }
        };
        if !turn.content.trim().is_empty() {
            emit(AgentEvent::Text { text: turn.content.trim().to_string() }, &mut transcript);
        }
        if turn.calls.is_empty() {
            answer = Some(turn.content.trim().to_string());
            break AgentStop::Answered;
        }
        calls += 1;
        // One call per assistant message, each followed by its result: Llama 3's templates refuse
        // several calls in one message.
        for (n, call) in turn.calls.iter().enumerate() {
            let id = format!("call{:05}", calls * 10 + n);
            let mut message = Message::new("assistant", if n == 0 { turn.content.trim().to_string() } else { String::new() });
            message.tool_calls.push(tool_call(&id, call, &conversation));
            emit(
                AgentEvent::ToolCall {
                    id: id.clone(),
                    name: call.name.clone(),
                    arguments: serde_json::Value::Object(call.arguments.clone()),
                    server_parsed: response.server_parsed,
                },
                &mut transcript,
            );
            let result = toolbox.call(&call.name, &call.arguments, confirm, cancel);
            cancel.check()?;
            emit(
                AgentEvent::ToolResult { id: id.clone(), name: call.name.clone(), ok: result.ok, text: result.text.clone() },
                &mut transcript,
            );
            conversation.messages.push(message);
            conversation.messages.push(Message::tool_result(&id, &call.name, result.text));
        }
    };
    Ok(AgentOutcome {
        answer,
        stop,
        steps,
        generated_tokens: generated,
        files: toolbox.changes.file_changes(workspace.root()),
        transcript,
        malformed_calls: malformed,
        calls,
    })
}

/// The call as the chat template sees it: arguments in the order of the tool's schema.
fn tool_call(id: &str, call: &ParsedCall, conversation: &Conversation) -> ToolCall {
    let tool = conversation.tools.iter().find(|t| t.name == call.name);
    let json = call.arguments_json(tool);
    let arguments = RawValue::from_string(json).unwrap_or_else(|_| RawValue::from_string("{}".into()).expect("valid JSON"));
    ToolCall { id: Some(id.to_string()), function: FunctionCall { name: call.name.clone(), arguments } }
}

/// Makes the prompt fit in `limit` tokens by replacing the oldest tool outputs (never the latest)
/// with a marker, each change told through `note`. The prompt's tokens, or `Err` with them if it cannot fit.
fn fit(
    conversation: &mut Conversation,
    model: &dyn AgentModel,
    limit: usize,
    note: &mut dyn FnMut(String),
) -> Result<Result<usize, usize>, AgentError> {
    loop {
        let tokens = model.prompt_tokens(conversation)?;
        if tokens <= limit {
            return Ok(Ok(tokens));
        }
        let last_tool = conversation.messages.iter().rposition(|m| m.role == "tool");
        let victim = conversation.messages.iter().enumerate().position(|(i, m)| {
            m.role == "tool" && Some(i) != last_tool && !m.content.as_deref().unwrap_or("").starts_with("[output of this")
        });
        let Some(i) = victim else { return Ok(Err(tokens)) };
        let m = &mut conversation.messages[i];
        let name = m.name.clone().unwrap_or_default();
        let size = hearth_index::approximate_tokens(m.content.as_deref().unwrap_or(""));
        m.content = Some(dropped_marker(&name, size));
        note(format!(
            "dropped the output of an earlier `{name}` call (~{size} tokens) to fit the model's context ({tokens} > {limit} tokens)"
        ));
    }
}
