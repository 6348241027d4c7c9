//! The language server backend: documents, settings, model loading, and the completion requests.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hearth_assist::completion::{
    Completer, Completion, CompletionError, CompletionRequest, ContextSource, LatestWins, LoadSpec,
};
use hearth_base::CancelToken;
use serde_json::{json, Value};
use tokio::sync::watch;
use tower_lsp::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp::lsp_types::*;
use tower_lsp::{Client, LanguageServer};

use crate::config::{Effective, ModelSource, ServerOptions, Settings};
use crate::documents::{Document, Documents};
use crate::status::{HearthStatus, ProgressReporter, State as Phase, StatusParams};
use crate::{from_proto, to_proto};

/// Builds a context source (the repository index) for a workspace root; may take a while, and reports
/// progress as `(message, percent)`.
pub type ContextFactory = Arc<
    dyn Fn(&Path, &mut dyn FnMut(String, Option<u32>)) -> std::result::Result<Arc<dyn ContextSource>, String> + Send + Sync,
>;

/// The model as requests see it.
#[derive(Clone)]
enum ModelState {
    Loading,
    Ready(Arc<Completer>),
    Failed(String),
    /// No model configured at all (no bundled model found).
    Missing,
}

/// Counters for `hearth.stats`: what benchmarks read to compare settings.
#[derive(Debug, Default)]
struct Stats {
    requests: AtomicU64,
    completed: AtomicU64,
    /// Requests whose decoding (or the wait for it) stopped on a cancelled token.
    cancelled: AtomicU64,
    empty: AtomicU64,
    prompt_tokens: AtomicU64,
    reused_prompt_tokens: AtomicU64,
    generated_tokens: AtomicU64,
    proposed: AtomicU64,
    accepted: AtomicU64,
    prefill_us: AtomicU64,
    decode_us: AtomicU64,
}

impl Stats {
    fn record(&self, c: &Completion) {
        self.completed.fetch_add(1, Ordering::Relaxed);
        self.prompt_tokens.fetch_add(c.prompt_tokens as u64, Ordering::Relaxed);
        self.reused_prompt_tokens.fetch_add(c.reused_prompt_tokens as u64, Ordering::Relaxed);
        self.generated_tokens.fetch_add(c.generated_tokens as u64, Ordering::Relaxed);
        self.proposed.fetch_add(c.proposed as u64, Ordering::Relaxed);
        self.accepted.fetch_add(c.accepted as u64, Ordering::Relaxed);
        self.prefill_us.fetch_add((c.timings.prefill_ms * 1000.0) as u64, Ordering::Relaxed);
        self.decode_us.fetch_add((c.timings.decode_ms * 1000.0) as u64, Ordering::Relaxed);
    }

    fn to_json(&self) -> Value {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        json!({
            "requests": g(&self.requests),
            "completed": g(&self.completed),
            "cancelled": g(&self.cancelled),
            "empty": g(&self.empty),
            "promptTokens": g(&self.prompt_tokens),
            "reusedPromptTokens": g(&self.reused_prompt_tokens),
            "generatedTokens": g(&self.generated_tokens),
            "proposed": g(&self.proposed),
            "accepted": g(&self.accepted),
            "prefillMs": g(&self.prefill_us) as f64 / 1000.0,
            "decodeMs": g(&self.decode_us) as f64 / 1000.0,
        })
    }
}

pub struct Backend {
    client: Client,
    options: ServerOptions,
    context_factory: Option<ContextFactory>,
    docs: Mutex<Documents>,
    /// Settings from `initializationOptions`, overlaid by `didChangeConfiguration`.
    client_settings: Mutex<Settings>,
    model: watch::Sender<ModelState>,
    loaded: Mutex<Option<LoadSpec>>,
    context: Mutex<Option<Arc<dyn ContextSource>>>,
    scheduler: Arc<LatestWins<Url>>,
    status: Mutex<StatusParams>,
    root: Mutex<Option<PathBuf>>,
    progress_supported: AtomicBool,
    progress_ids: AtomicU64,
    stats: Arc<Stats>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn invalid_params(message: impl Into<String>) -> Error {
    Error { code: ErrorCode::InvalidParams, message: message.into().into(), data: None }
}

fn cancelled() -> Error {
    Error::request_cancelled()
}

impl Backend {
    pub fn new(client: Client, options: ServerOptions, context_factory: Option<ContextFactory>) -> Self {
        Backend {
            client,
            options,
            context_factory,
            docs: Mutex::default(),
            client_settings: Mutex::default(),
            model: watch::channel(ModelState::Loading).0,
            loaded: Mutex::default(),
            context: Mutex::default(),
            scheduler: LatestWins::new(),
            status: Mutex::default(),
            root: Mutex::default(),
            progress_supported: AtomicBool::new(false),
            progress_ids: AtomicU64::new(0),
            stats: Arc::default(),
        }
    }

    fn effective(&self) -> Effective {
        self.options.effective(&lock(&self.client_settings))
    }

    async fn set_status(&self, state: Phase, message: Option<String>) {
        let params = StatusParams { state, message, percentage: None };
        *lock(&self.status) = params.clone();
        self.client.send_notification::<HearthStatus>(params).await;
    }

    /// Loads the model the settings name, unless it is already loaded; reports progress and status.
    async fn ensure_model(&self) {
        let effective = self.effective();
        let Some(spec) = effective.load.clone() else {
            let message = "no model configured and the bundled demo model was not found: set `model` or run with --model".to_string();
            self.model.send_replace(ModelState::Missing);
            self.client.show_message(MessageType::ERROR, &message).await;
            self.set_status(Phase::Error, Some(message)).await;
            return;
        };
        if lock(&self.loaded).as_ref() == Some(&spec) {
            return;
        }
        *lock(&self.loaded) = Some(spec.clone());
        self.model.send_replace(ModelState::Loading);
        let id = format!("hearth/load/{}", self.progress_ids.fetch_add(1, Ordering::Relaxed));
        let progress = ProgressReporter::begin(&self.client, self.progress_supported.load(Ordering::Relaxed), &id, "Hearth: loading model").await;
        self.set_status(Phase::Loading, Some(format!("loading {}", spec.model))).await;
        progress.report(format!("loading {}", spec.model), Some(10)).await;
        let load_spec = spec.clone();
        let started = Instant::now();
        let loaded = tokio::task::spawn_blocking(move || Completer::load(&load_spec)).await;
        if lock(&self.loaded).as_ref() != Some(&spec) {
            return; // settings changed while loading; the newer load reports
        }
        match loaded {
            Ok(Ok(completer)) => {
                completer.set_prefix_reuse(effective.prefix_reuse);
                completer.set_context_source(lock(&self.context).clone());
                let mut message = format!("{} ready in {:.1}s", completer.describe(), started.elapsed().as_secs_f64());
                if effective.model_source == ModelSource::Bundled {
                    let demo = "using the bundled DEMO model (6.8M parameters, for trying Hearth out, not for real work); \
                                set `model` in initializationOptions or ~/.config/hearth/config.toml, \
                                HEARTH_MODEL, or `hearth serve --model PATH_OR_ID` to use a real model";
                    tracing::warn!("{demo}");
                    self.client.show_message(MessageType::WARNING, format!("Hearth: {demo}")).await;
                    message = format!("{message} (demo model)");
                }
                if let Some(w) = completer.warning() {
                    self.client.show_message(MessageType::WARNING, format!("Hearth: {w}")).await;
                }
                tracing::info!("{message}");
                self.model.send_replace(ModelState::Ready(Arc::new(completer)));
                progress.end(message.clone()).await;
                self.set_status(Phase::Ready, Some(message)).await;
            }
            Ok(Err(err)) => self.load_failed(format!("cannot load model `{}`: {err}", spec.model), progress).await,
            Err(join) => self.load_failed(format!("model loading crashed: {join}"), progress).await,
        }
    }

    async fn load_failed(&self, message: String, progress: ProgressReporter) {
        tracing::error!("{message}");
        self.model.send_replace(ModelState::Failed(message.clone()));
        progress.end(message.clone()).await;
        self.client.show_message(MessageType::ERROR, format!("Hearth: {message}")).await;
        self.set_status(Phase::Error, Some(message)).await;
    }

    /// Builds the index for the workspace root, if this server has an indexer.
    async fn build_context(&self) {
        let (Some(factory), Some(root)) = (self.context_factory.clone(), lock(&self.root).clone()) else {
            return;
        };
        let id = format!("hearth/index/{}", self.progress_ids.fetch_add(1, Ordering::Relaxed));
        let progress = ProgressReporter::begin(&self.client, self.progress_supported.load(Ordering::Relaxed), &id, "Hearth: indexing").await;
        let previous = lock(&self.status).clone();
        if previous.state == Phase::Ready {
            self.set_status(Phase::Indexing, Some(format!("indexing {}", root.display()))).await;
        }
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let build = tokio::task::spawn_blocking(move || factory(&root, &mut |message, percent| drop(tx.send((message, percent)))));
        while let Some((message, percent)) = rx.recv().await {
            progress.report(message, percent).await;
        }
        let built = build.await;
        match built {
            Ok(Ok(source)) => {
                *lock(&self.context) = Some(source.clone());
                if let ModelState::Ready(c) = &*self.model.borrow() {
                    c.set_context_source(Some(source));
                }
                progress.end("index ready".into()).await;
            }
            Ok(Err(message)) => {
                tracing::warn!("no repository context: {message}");
                progress.end(format!("no repository context: {message}")).await;
            }
            Err(join) => {
                tracing::warn!("indexing crashed: {join}");
                progress.end("indexing failed".into()).await;
            }
        }
        if lock(&self.status).state == Phase::Indexing {
            self.set_status(previous.state, previous.message).await;
        }
    }

    /// Waits for the model; errors when there is none.
    async fn completer(&self) -> Result<Arc<Completer>> {
        let mut rx = self.model.subscribe();
        let state = rx
            .wait_for(|s| !matches!(s, ModelState::Loading))
            .await
            .map_err(|_| Error::internal_error())?
            .clone();
        match state {
            ModelState::Ready(c) => Ok(c),
            ModelState::Failed(message) => Err(Error { code: ErrorCode::ServerError(-32001), message: message.into(), data: None }),
            ModelState::Missing => Err(Error { code: ErrorCode::ServerError(-32001), message: "no model configured".into(), data: None }),
            ModelState::Loading => unreachable!(),
        }
    }

    fn relative_path(&self, uri: &Url) -> String {
        let root = lock(&self.root).clone();
        match uri.to_file_path() {
            Ok(path) => match root.as_deref().and_then(|r| path.strip_prefix(r).ok()) {
                Some(rel) => rel.display().to_string(),
                None => path.display().to_string(),
            },
            Err(()) => uri.path().trim_start_matches('/').to_string(),
        }
    }

    /// The shared path of `textDocument/inlineCompletion` and `textDocument/completion`: latest-wins per
    /// document, debounce, then decoding on a blocking thread that a cancel token can stop.
    async fn complete_at(&self, uri: Url, position: Position) -> Result<Option<(String, Position)>> {
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let ticket = self.scheduler.begin(uri.clone());
        // tower-lsp drops this future on `$/cancelRequest`; the guard turns that into a cancelled token.
        let guard = ticket.token.drop_guard();
        let result = self.complete_ticket(&uri, position, &ticket.token, ticket.since_previous).await;
        guard.disarm();
        match result {
            Err(CompleteError::Cancelled) => Err(cancelled()),
            Err(CompleteError::Lsp(e)) => Err(e),
            Ok(None) => {
                self.stats.empty.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            }
            Ok(some) => Ok(some),
        }
    }

    async fn complete_ticket(
        &self,
        uri: &Url,
        position: Position,
        token: &CancelToken,
        since_previous: Option<Duration>,
    ) -> std::result::Result<Option<(String, Position)>, CompleteError> {
        let doc = lock(&self.docs).get(uri).cloned().ok_or_else(|| invalid_params(format!("unknown document {uri}")))?;
        let offset = from_proto::offset(&doc.text, &doc.index, position).map_err(|e| invalid_params(e.to_string()))?;
        let effective = self.effective();
        if !effective.language_enabled(&doc.language) {
            return Ok(None);
        }
        // Debounce: at most one decode start per document per `debounceMs`; a request that comes sooner
        // waits out the rest, and is dropped if a newer one arrives meanwhile.
        let debounce = Duration::from_millis(effective.debounce_ms);
        if let Some(wait) = since_previous.and_then(|since| debounce.checked_sub(since)) {
            tokio::time::sleep(wait).await;
        }
        token.check().map_err(|_| CompleteError::Cancelled)?;
        let completer = self.completer().await?;
        token.check().map_err(|_| CompleteError::Cancelled)?;
        let path = self.relative_path(uri);
        let repo_name = lock(&self.root).as_ref().and_then(|r| r.file_name()).map(|n| n.to_string_lossy().to_string());
        let token = token.clone();
        let options = effective.options.clone();
        let text = doc.text.clone();
        let language = doc.language.clone();
        let stats = self.stats.clone();
        let run = tokio::task::spawn_blocking(move || {
            let request = CompletionRequest {
                text: &text,
                offset,
                path: Some(&path),
                language: Some(&language),
                repo_name: repo_name.as_deref(),
            };
            let result = completer.complete(&request, &options, &token);
            // Counted here, where the decoding loop returns, so that a request whose future was
            // dropped on `$/cancelRequest` still shows whether its decoding stopped.
            match &result {
                Ok(c) => stats.record(c),
                Err(CompletionError::Cancelled) => {
                    stats.cancelled.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {}
            }
            result
        });
        let completion = match run.await {
            Ok(Ok(c)) => c,
            Ok(Err(CompletionError::Cancelled)) => return Err(CompleteError::Cancelled),

            Ok(Err(e)) => return Err(Error { code: ErrorCode::InternalError, message: e.to_string().into(), data: None }.into()),
            Err(join) => return Err(Error { code: ErrorCode::InternalError, message: join.to_string().into(), data: None }.into()),
        };
        tracing::debug!(
            "completion in {:.1} ms: prompt {} (reused {}), {} new tokens, {} chars",
            completion.timings.total_ms,
            completion.prompt_tokens,
            completion.reused_prompt_tokens,
            completion.generated_tokens,
            completion.text.as_ref().map_or(0, |t| t.chars().count())
        );
        // Code in the logs only under this target, which `hearth --log-prompts` alone turns on.
        let before: Vec<char> = doc.text.get(..offset).unwrap_or("").chars().rev().take(400).collect();
        let before: String = before.into_iter().rev().collect();
        tracing::debug!(target: "hearth_prompts", "{uri}: before the cursor {before:?}, completion {:?}", completion.text);
        Ok(completion.text.map(|t| (t, position)))
    }
}

enum CompleteError {
    Cancelled,
    Lsp(Error),
}

impl From<Error> for CompleteError {
    fn from(e: Error) -> Self {
        CompleteError::Lsp(e)
    }
}

impl Backend {
    /// `textDocument/inlineCompletion` (LSP 3.18), registered as a custom method.
    pub async fn inline_completion(
        &self,
        params: to_proto::InlineCompletionParams,
    ) -> Result<Option<to_proto::InlineCompletionList>> {
        let found = self.complete_at(params.text_document.uri, params.position).await?;
        Ok(found.map(|(text, at)| to_proto::inline_completion(text, at)))
    }

    /// Stands in for a message that could not be decoded (see `transport`): answers with a parse error.
    pub async fn malformed_message(&self, params: Value) -> Result<Value> {
        let reason = params.get("reason").and_then(|r| r.as_str()).unwrap_or("malformed message");
        Err(Error { code: ErrorCode::ParseError, message: reason.to_string().into(), data: None })
    }

    fn context_command(&self, args: &[Value]) -> Result<Option<Value>> {
        #[derive(serde::Deserialize)]
        struct Args {
            uri: Url,
            position: Position,
        }
        let args: Args = args
            .first()
            .cloned()
            .and_then(|v| serde_json::from_value(v).ok())
            .ok_or_else(|| invalid_params("hearth.context takes {uri, position}"))?;
        let doc = lock(&self.docs).get(&args.uri).cloned().ok_or_else(|| invalid_params(format!("unknown document {}", args.uri)))?;
        let offset = from_proto::offset(&doc.text, &doc.index, args.position).map_err(|e| invalid_params(e.to_string()))?;
        let ModelState::Ready(completer) = self.model.borrow().clone() else {
            return Err(invalid_params("the model is not loaded yet"));
        };
        let path = self.relative_path(&args.uri);
        let request = CompletionRequest { text: &doc.text, offset, path: Some(&path), language: Some(&doc.language), repo_name: None };
        let (prompt, snippets) = completer.preview(&request, &self.effective().options, &CancelToken::new());
        Ok(Some(json!({ "snippets": snippets, "prompt": prompt })))
    }
}

#[tower_lsp::async_trait]
impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        if let Some(options) = &params.initialization_options {
            match Settings::from_client(options) {
                Ok(s) => *lock(&self.client_settings) = s,
                Err(e) => tracing::warn!("ignoring initializationOptions: {e}"),
            }
        }
        let root = params
            .workspace_folders
            .as_ref()
            .and_then(|f| f.first())
            .and_then(|f| f.uri.to_file_path().ok())
            .or_else(|| params.root_uri.as_ref().and_then(|u| u.to_file_path().ok()));
        *lock(&self.root) = root;
        let progress = params.capabilities.window.as_ref().and_then(|w| w.work_done_progress).unwrap_or(false);
        self.progress_supported.store(progress, Ordering::Relaxed);
        let capabilities = ServerCapabilities {
            position_encoding: Some(PositionEncodingKind::UTF16),
            text_document_sync: Some(TextDocumentSyncCapability::Options(TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(TextDocumentSyncKind::INCREMENTAL),
                ..Default::default()
            })),
            completion_provider: Some(CompletionOptions {
                resolve_provider: Some(false),
                trigger_characters: Some(vec![".".into(), "(".into(), "[".into()]),
                ..Default::default()
            }),
            execute_command_provider: Some(ExecuteCommandOptions {
                commands: vec!["hearth.context".into(), "hearth.status".into(), "hearth.stats".into()],
                ..Default::default()
            }),
            ..Default::default()
        };
        Ok(InitializeResult {
            capabilities,
            server_info: Some(ServerInfo { name: "hearth".into(), version: Some(env!("CARGO_PKG_VERSION").into()) }),
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        self.ensure_model().await;
        self.build_context().await;
    }

    async fn shutdown(&self) -> Result<()> {
        for uri in lock(&self.docs).uris() {
            self.scheduler.cancel(&uri);
        }
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let d = params.text_document;
        let doc = Document::new(d.text, d.version, d.language_id);
        if let Some(source) = lock(&self.context).clone() {
            let (path, text) = (self.relative_path(&d.uri), doc.text.clone());
            tokio::task::spawn_blocking(move || source.set_overlay(&path, &text));
        }
        lock(&self.docs).open(d.uri, doc);
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let uri = params.text_document.uri;
        let mut docs = lock(&self.docs);
        let Some(doc) = docs.get_mut(&uri) else {
            tracing::warn!("change for a document that is not open: {uri}");
            return;
        };
        if let Err(e) = doc.apply(params.content_changes, params.text_document.version) {
            tracing::error!("{uri}: change out of range ({e}); the document may be out of sync until reopened");
        }
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        self.scheduler.cancel(&params.text_document.uri);
        if let Some(source) = lock(&self.context).clone() {
            let path = self.relative_path(&params.text_document.uri);
            tokio::task::spawn_blocking(move || source.clear_overlay(&path));
        }
        lock(&self.docs).close(&params.text_document.uri);
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        match Settings::from_client(&params.settings) {
            Ok(changed) => {
                let merged = lock(&self.client_settings).overlay(&changed);
                *lock(&self.client_settings) = merged;
                if let Some(c) = match &*self.model.borrow() {
                    ModelState::Ready(c) => Some(c.clone()),
                    _ => None,
                } {
                    c.set_prefix_reuse(self.effective().prefix_reuse);
                }
                self.ensure_model().await;
            }
            Err(e) => {
                self.client.show_message(MessageType::WARNING, format!("Hearth: ignoring settings: {e}")).await;
            }
        }
    }

    async fn completion(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        let pos = params.text_document_position;
        let found = self.complete_at(pos.text_document.uri, pos.position).await?;
        Ok(found.map(|(text, at)| {
            CompletionResponse::List(CompletionList { is_incomplete: true, items: vec![to_proto::completion_item(text, at)] })
        }))
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<Value>> {
        match params.command.as_str() {
            "hearth.status" => Ok(Some(serde_json::to_value(lock(&self.status).clone()).unwrap_or_default())),
            "hearth.stats" => Ok(Some(self.stats.to_json())),
            "hearth.context" => self.context_command(&params.arguments),
            other => Err(invalid_params(format!("unknown command {other}"))),
        }
    }
}
