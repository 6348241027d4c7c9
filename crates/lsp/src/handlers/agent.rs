//! `hearth/agent`: protocol glue over `hearth_assist::agent`. `{task, files?, maxSteps?, maxTokens?}`
//! in; the session runs on a blocking thread, each transcript event goes out as a
//! `hearth/agentTranscript` notification and a `$/progress` report, a `run` tool call asks the user
//! through `window/showMessageRequest`, and the result is `{edit: WorkspaceEdit, answer, stop, ...}`.
//! Nothing is written: the client applies the edit after its review. `$/cancelRequest` cancels.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use hearth_assist::agent::{self, AgentError, AgentEvent, AgentModel, AgentRequest, Approval, Confirm, ScriptedModel};
use hearth_assist::edit::Workspace;
use hearth_base::CancelToken;
use hearth_index::Index;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tower_lsp::jsonrpc::{Error, ErrorCode};
use tower_lsp::lsp_types::notification::Notification;
use tower_lsp::lsp_types::{MessageActionItem, MessageType, Url, WorkDoneProgressParams};

use crate::errors::{invalid_params, request_failed};
use crate::handlers::edit::{relative, RunningEdit};
use crate::state::{lock, Backend, EditModel, ModelState};
use crate::status::ProgressReporter;
use crate::to_proto;

pub const METHOD: &str = "hearth/agent";

/// `hearth/agent` params.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentParams {
    pub task: String,
    /// Files the task is about: they head the repository map and are shown to the model.
    #[serde(default)]
    pub files: Vec<Url>,
    pub max_steps: Option<usize>,
    pub max_tokens: Option<usize>,
    #[serde(flatten)]
    pub work_done: WorkDoneProgressParams,
}

/// `hearth/agentTranscript`: one transcript event of a running `hearth/agent`.
pub enum AgentTranscript {}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AgentTranscriptParams {
    /// The session, as `hearth/agent`'s result names it.
    pub session: u64,
    pub event: Value,
}

impl Notification for AgentTranscript {
    type Params = AgentTranscriptParams;
    const METHOD: &'static str = "hearth/agentTranscript";
}

/// What the blocking session sends to the request's task.
enum Msg {
    Event(AgentEvent),
    Confirm(String, std::sync::mpsc::Sender<Approval>),
}

/// Asks through the request's task, which asks the client.
struct AskClient(tokio::sync::mpsc::UnboundedSender<Msg>);

impl Confirm for AskClient {
    fn confirm(&mut self, command: &str) -> Approval {
        let (tx, rx) = std::sync::mpsc::channel();
        if self.0.send(Msg::Confirm(command.to_string(), tx)).is_err() {
            return Approval::Deny;
        }
        rx.recv().unwrap_or(Approval::Deny)
    }
}

/// The model for a session: the script the server was started with, else the loaded model.
fn session_model(script: Option<&PathBuf>, model: Result<Arc<EditModel>, String>) -> Result<Box<dyn AgentModel>, Error> {
    if let Some(path) = script {
        let text =
            std::fs::read_to_string(path).map_err(|e| request_failed(format!("hearth/agent: the agent script {}: {e}", path.display())))?;
        return ScriptedModel::from_json(&text)
            .map(|m| Box::new(m) as Box<dyn AgentModel>)
            .map_err(|e| request_failed(format!("hearth/agent: {e}")));
    }
    let model = model.map_err(|why| request_failed(format!("hearth/agent needs the model, but {why}")))?;
    model.agent_model().map_err(agent_error)
}

fn agent_error(e: AgentError) -> Error {
    match e {
        AgentError::Cancelled => Error::request_cancelled(),
        AgentError::EmptyTask => invalid_params(format!("hearth/agent: {e}")),
        other => request_failed(format!("hearth/agent: {other}")),
    }
}

impl Backend {
    /// `hearth/agent`: runs a session on a blocking thread, forwarding its transcript and questions.
    pub(crate) async fn agent(&self, params: AgentParams) -> tower_lsp::jsonrpc::Result<Value> {
        if params.task.trim().is_empty() {
            return Err(invalid_params("hearth/agent: the task is empty"));
        }
        let root = lock(&self.root)
            .clone()
            .ok_or_else(|| invalid_params("hearth/agent needs a workspace folder (initialize with rootUri or workspaceFolders)"))?;
        let workspace = Workspace::new(&root).map_err(|e| request_failed(format!("hearth/agent: {e}")))?;
        let model = match self.model.borrow().clone() {
            ModelState::Ready(_, m) => m,
            ModelState::Loading => Err("the model is still loading (try again when Hearth is ready)".to_string()),
            ModelState::Failed(why) => Err(format!("the model failed to load: {why}")),
            ModelState::Missing => Err("no model is configured".to_string()),
        };
        let mut model = session_model(self.options.agent_script.as_ref(), model)?;
        let settings = self.effective().agent;
        let mut budget = settings.budget();
        if let Some(n) = params.max_steps {
            budget.max_steps = n.clamp(1, 200);
        }
        if let Some(n) = params.max_tokens {
            budget.max_tokens = n.max(16);
        }
        let mut open_documents = HashMap::new();
        for (uri, text) in lock(&self.docs).texts() {
            if let Some(rel) = relative(workspace.root(), &uri) {
                open_documents.insert(rel, text.to_string());
            }
        }
        let mut files = Vec::new();
        for uri in &params.files {
            files.push(
                relative(workspace.root(), uri)
                    .ok_or_else(|| invalid_params(format!("hearth/agent: {uri} is not a file in the workspace")))?,
            );
        }
        tracing::debug!(target: "hearth_prompts", "hearth/agent {:?}", params.task);
        let request = AgentRequest {
            task: params.task.trim().to_string(),
            files,
            budget,
            open_documents,
            commands: settings.commands.unwrap_or_default(),
        };
        let index: Option<Arc<Index>> = lock(&self.live).as_ref().map(|live| live.index().clone());

        let id = self.progress_ids.fetch_add(1, Ordering::Relaxed);
        let token = CancelToken::new();
        lock(&self.edits).insert(id, token.clone());
        let mut running = RunningEdit::new(token.clone(), id, self.edits.clone());
        let supported = self.progress_supported.load(Ordering::Relaxed);
        running.progress = Some(
            ProgressReporter::begin_with(
                &self.client,
                params.work_done.work_done_token,
                supported,
                &format!("hearth/agent/{id}"),
                "Hearth: agent",
            )
            .await,
        );

        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let max_steps = budget.max_steps;
        let job = tokio::task::spawn_blocking(move || {
            let events = tx.clone();
            let mut confirm = AskClient(tx);
            agent::run(&request, model.as_mut(), &workspace, index.as_deref(), &mut confirm, &token, &mut |e| {
                drop(events.send(Msg::Event(e.clone())))
            })
        });
        while let Some(msg) = rx.recv().await {
            match msg {
                Msg::Event(event) => {
                    if let (Some(p), Some(message)) = (&running.progress, progress_message(&event)) {
                        let percent = match &event {
                            AgentEvent::Step { step, .. } => Some((100 * step / max_steps.max(1)).min(99) as u32),
                            _ => None,
                        };
                        p.report(message, percent).await;
                    }
                    let event = serde_json::to_value(&event).unwrap_or(Value::Null);
                    self.client.send_notification::<AgentTranscript>(AgentTranscriptParams { session: id, event }).await;
                }
                Msg::Confirm(command, answer) => {
                    let client = self.client.clone();
                    let text = format!("Hearth's agent wants to run `{command}` (on a copy of the repository, without network). Allow it?");
                    let actions = vec![
                        MessageActionItem { title: "Run".into(), properties: HashMap::new() },
                        MessageActionItem { title: "Always run it".into(), properties: HashMap::new() },
                        MessageActionItem { title: "Deny".into(), properties: HashMap::new() },
                    ];
                    // In its own task: a `$/cancelRequest` must not drop the wait for the client's answer.
                    let reply =
                        crate::detached(async move { client.show_message_request(MessageType::WARNING, text, Some(actions)).await });
                    let approval = match reply.await {
                        Ok(Ok(Some(item))) if item.title == "Run" => Approval::Once,
                        Ok(Ok(Some(item))) if item.title == "Always run it" => Approval::Always,
                        _ => Approval::Deny,
                    };
                    let _ = answer.send(approval);
                }
            }
        }
        let outcome = job.await.unwrap_or_else(|_| Err(AgentError::Model("the agent crashed (an internal error)".into())));
        let progress = running.progress.take().expect("set above");
        let outcome = match outcome {
            Ok(done) => done,
            Err(e) => {
                let e = agent_error(e);
                progress.end(if e.code == ErrorCode::RequestCancelled { "cancelled".into() } else { e.message.to_string() }).await;
                return Err(e);
            }
        };
        let edit = to_proto::workspace_edit(&outcome.files);
        let files: Vec<Value> = outcome
            .files
            .iter()
            .map(|f| json!({"uri": Url::from_file_path(&f.abs_path).ok(), "path": f.path, "diff": f.unified_diff()}))
            .collect();
        progress.end(format!("{} file(s) changed, {} step(s)", outcome.files.len(), outcome.steps)).await;
        Ok(json!({
            "session": id,
            "edit": edit,
            "files": files,
            "answer": outcome.answer,
            "stop": outcome.stop,
            "steps": outcome.steps,
            "generatedTokens": outcome.generated_tokens,
            "calls": outcome.calls,
            "malformedCalls": outcome.malformed_calls,
            "transcript": outcome.transcript,
        }))
    }
}

/// The `$/progress` line for an event, if it deserves one.
fn progress_message(event: &AgentEvent) -> Option<String> {
    match event {
        AgentEvent::Step { step, max_steps, .. } => Some(format!("step {step} of at most {max_steps}")),
        AgentEvent::ToolCall { name, .. } => Some(format!("calling {name}")),
        AgentEvent::Note { text } => Some(text.clone()),
        _ => None,
    }
}
