//! The language server's state, which `server.rs` and `handlers/` share: documents, settings, the
//! model (loaded once for completions and edits), indexing and the live index, and one combined status.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hearth_assist::agent::{AgentError, AgentModel, ChatModel};
use hearth_assist::completion::{AdaptiveBudget, Completer, CompletionOptions, ContextSource, LatestWins, LoadSpec, ShownSuggestions};
use hearth_assist::edit::{EditError, ModelRewriter, RewriteTask, Rewriter, Rewritten};
use hearth_assist::nextedit::{EditHistory, NextEditError, NextEditPredictor};
use hearth_base::CancelToken;
use hearth_index::{Debounce, Index, LiveEvent, LiveIndex, Update};
use hearth_model::{LoadedModel, ModelInfo};
use hearth_remote::BackendConfig;
use tokio::sync::watch;
use tower_lsp::lsp_types::*;
use tower_lsp::Client;

use crate::config::{Effective, ModelSource, ServerOptions, Settings};
use crate::documents::Documents;
use crate::limits::Limiter;
use crate::stats::Stats;
use crate::status::{combine, ContextBudgetStatus, HearthStatus, IndexPhase, ModelPhase, ProgressReporter, State, StatusParams};

/// Opens (and builds or refreshes) the index of a workspace root: retrieval for completions, the
/// file set for edits. It may take a while, reports progress as `(message, percent)`, and gives up
/// soon after the token is cancelled.
pub type ContextFactory = Arc<dyn Fn(&Path, &CancelToken, &mut dyn FnMut(String, Option<u32>)) -> Result<Arc<Index>, String> + Send + Sync>;

/// The model as requests see it: the completer, and the same weights for edits (or why there are
/// none: a remote backend serves completions only).
#[derive(Clone)]
pub(crate) enum ModelState {
    Loading,
    Ready(Arc<Completer>, Result<Arc<EditModel>, String>),
    Failed(String),
    /// No model configured at all (no bundled model found).
    Missing,
}

pub struct Backend {
    pub(crate) client: Client,
    pub(crate) options: ServerOptions,
    pub(crate) context_factory: Option<ContextFactory>,
    pub(crate) docs: Mutex<Documents>,
    /// Settings from `initializationOptions`, overlaid by `didChangeConfiguration`.
    pub(crate) client_settings: Mutex<Settings>,
    pub(crate) model: watch::Sender<ModelState>,
    pub(crate) loaded: Mutex<Option<(LoadSpec, Option<BackendConfig>)>>,
    /// The status message of the ready model, and whether its remote backend is failing now.
    pub(crate) ready_message: Mutex<String>,
    /// `HOST:PORT` of the loaded model's backend, for `hearth/status`.
    pub(crate) remote_host: Mutex<Option<String>>,
    pub(crate) backend_down: AtomicBool,
    /// The loaded backend's health, and whether the in-process model stands in while it is down.
    pub(crate) backend_health: Mutex<Option<(hearth_remote::Health, bool)>>,
    /// The index, kept current from the editor and the disk; set when indexing finishes.
    pub(crate) live: Mutex<Option<Arc<LiveIndex>>>,
    pub(crate) scheduler: Arc<LatestWins<Url>>,
    pub(crate) phases: Mutex<(ModelPhase, IndexPhase)>,
    /// The last status sent; held while sending, so notifications go out in the order of the phases.
    pub(crate) status: tokio::sync::Mutex<StatusParams>,
    pub(crate) root: Mutex<Option<PathBuf>>,
    pub(crate) progress_supported: AtomicBool,
    /// The client can register `workspace/didChangeWatchedFiles` dynamically.
    pub(crate) watched_files_supported: AtomicBool,
    pub(crate) progress_ids: AtomicU64,
    /// Running `hearth.edit`s, cancelled on shutdown.
    pub(crate) edits: Arc<Mutex<HashMap<u64, CancelToken>>>,
    pub(crate) stats: Arc<Stats>,
    /// Completion slots and queue (the caps in `Effective::caps`).
    pub(crate) limiter: Arc<Limiter>,
    /// The session's edits, originals and viewed files, for next-edit prompts (memory only).
    pub(crate) history: Mutex<EditHistory>,
    /// Running `hearth/nextEdit`s: latest wins per document, and a change cancels.
    pub(crate) next_edits: Arc<LatestWins<Url>>,
    /// The last next-edit suggestion per document, offered again by `textDocument/inlineCompletion`.
    pub(crate) suggestions: Mutex<HashMap<Url, Suggestion>>,
    /// Completions already made, answering keystrokes that type through them, and prefetched ones.
    pub(crate) shown: Arc<Mutex<ShownSuggestions>>,
    /// The context budget this machine's prompt speed allows, when the user sets none.
    pub(crate) adaptive: Mutex<AdaptiveBudget>,
    /// Cancels the running prefetch: any completion request comes first.
    pub(crate) prefetch: Mutex<Option<CancelToken>>,
}

/// A next-edit suggestion kept for `textDocument/inlineCompletion`: the edits, for the version they fit.
#[derive(Clone, Debug)]
pub struct Suggestion {
    pub version: i32,
    pub edits: Vec<TextEdit>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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
            ready_message: Mutex::default(),
            remote_host: Mutex::default(),
            backend_down: AtomicBool::new(false),
            backend_health: Mutex::default(),
            live: Mutex::default(),
            scheduler: LatestWins::new(),
            phases: Mutex::new((ModelPhase::Loading("starting".into()), IndexPhase::Absent)),
            status: tokio::sync::Mutex::default(),
            root: Mutex::default(),
            progress_supported: AtomicBool::new(false),
            watched_files_supported: AtomicBool::new(false),
            progress_ids: AtomicU64::new(0),
            edits: Arc::default(),
            stats: Arc::default(),
            limiter: Arc::default(),
            history: Mutex::default(),
            next_edits: LatestWins::new(),
            suggestions: Mutex::default(),
            shown: Arc::default(),
            prefetch: Mutex::default(),
            adaptive: Mutex::default(),
        }
    }

    pub(crate) fn effective(&self) -> Effective {
        self.options.effective(&lock(&self.client_settings))
    }

    async fn set_model_phase(&self, phase: ModelPhase) {
        lock(&self.phases).0 = phase;
        self.publish_status().await;
    }

    async fn set_index_phase(&self, phase: IndexPhase) {
        lock(&self.phases).1 = phase;
        self.publish_status().await;
    }

    /// The completion options for a request: the settings', with the adaptive context budget
    /// when the user sets none.
    pub(crate) fn completion_options(&self, effective: &Effective) -> CompletionOptions {
        let mut options = effective.options.clone();
        if effective.context_budget_auto {
            options.context_budget = lock(&self.adaptive).budget(options.context_budget);
        }
        options
    }

    /// Counts a completion's prompt speed; when the adaptive budget moved enough, the status says so.
    pub(crate) async fn observe_prompt(&self, effective: &Effective, computed_tokens: usize, secs: f64) {
        if !effective.context_budget_auto {
            return;
        }
        let announce = {
            let mut adaptive = lock(&self.adaptive);
            adaptive.observe(computed_tokens, secs);
            let budget = adaptive.budget(effective.options.context_budget);
            adaptive.tokens_per_sec().is_some() && adaptive.announce(budget)
        };
        if announce {
            self.publish_status().await;
        }
    }

    /// The budget as the status tells it: the tokens, whether they follow the prompt speed, and that speed.
    fn budget_status(&self) -> ContextBudgetStatus {
        let effective = self.effective();
        let speed = lock(&self.adaptive).tokens_per_sec().filter(|_| effective.context_budget_auto);
        ContextBudgetStatus {
            tokens: self.completion_options(&effective).context_budget,
            auto: effective.context_budget_auto,
            prompt_tokens_per_second: speed.map(|s| s.round()),
        }
    }

    /// Sends `hearth/status` when the combined status changed.
    pub(crate) async fn publish_status(&self) {
        let budget = self.budget_status();
        let mut last = self.status.lock().await;
        let params = {
            let phases = lock(&self.phases);
            let (remote, context_budget) = match phases.0 {
                ModelPhase::Ready(_) => (lock(&self.remote_host).clone(), Some(budget)),
                _ => (None, None),
            };
            let mut params = StatusParams { remote, ..combine(&phases.0, &phases.1) };
            if let (Some(b), Some(message), State::Ready) = (&context_budget, &mut params.message, params.state) {
                if let Some(speed) = b.prompt_tokens_per_second {
                    message.push_str(&format!("; context budget {} tokens (prompt speed {speed} tokens/s)", b.tokens));
                }
            }
            StatusParams { context_budget, ..params }
        };
        if *last != params {
            *last = params.clone();
            self.client.send_notification::<HearthStatus>(params).await;
        }
    }

    /// Loads the model the settings name, unless it is already loaded; reports progress and status.
    pub(crate) async fn ensure_model(&self) {
        let effective = self.effective();
        let Some(spec) = effective.load.clone() else {
            let message = "no model configured and the bundled demo model was not found: set `model` or run with --model".to_string();
            self.model.send_replace(ModelState::Missing);
            self.client.show_message(MessageType::ERROR, &message).await;
            self.set_model_phase(ModelPhase::Failed(message)).await;
            return;
        };
        let key = (spec.clone(), effective.backend.clone());
        if lock(&self.loaded).as_ref() == Some(&key) {
            return;
        }
        *lock(&self.loaded) = Some(key.clone());
        self.model.send_replace(ModelState::Loading);
        let id = format!("hearth/load/{}", self.progress_ids.fetch_add(1, Ordering::Relaxed));
        let progress =
            ProgressReporter::begin(&self.client, self.progress_supported.load(Ordering::Relaxed), &id, "Hearth: loading model").await;
        self.set_model_phase(ModelPhase::Loading(format!("loading {}", spec.model))).await;
        progress.report(format!("loading {}", spec.model), Some(10)).await;
        let (load_spec, backend) = key.clone();
        let started = Instant::now();
        let loaded = tokio::task::spawn_blocking(move || load_models(&load_spec, backend.as_ref())).await;
        if lock(&self.loaded).as_ref() != Some(&key) {
            return; // settings changed while loading; the newer load reports
        }
        match loaded {
            Ok(Ok((completer, edit_model, health))) => {
                *lock(&self.backend_health) = health;
                completer.set_prefix_reuse(effective.prefix_reuse);
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
                let completer = Arc::new(completer);
                self.model.send_replace(ModelState::Ready(completer.clone(), edit_model.map(Arc::new)));
                *lock(&self.ready_message) = message.clone();
                *lock(&self.remote_host) = completer.info().device.strip_prefix("remote: ").map(String::from);
                self.backend_down.store(false, Ordering::Relaxed);
                // After publishing: an index built meanwhile either sees the model or is seen here.
                completer.set_context_source(self.context_source());
                progress.end(message.clone()).await;
                self.set_model_phase(ModelPhase::Ready(message)).await;
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
        self.set_model_phase(ModelPhase::Failed(message)).await;
    }

    /// Builds the index for the workspace root, if this server has an indexer.
    pub(crate) async fn build_context(&self) {
        let (Some(factory), Some(root)) = (self.context_factory.clone(), lock(&self.root).clone()) else {
            return;
        };
        let id = format!("hearth/index/{}", self.progress_ids.fetch_add(1, Ordering::Relaxed));
        let progress =
            ProgressReporter::begin(&self.client, self.progress_supported.load(Ordering::Relaxed), &id, "Hearth: indexing").await;
        let building = format!("indexing {}", root.display());
        self.set_index_phase(IndexPhase::Building { message: building.clone(), percentage: None }).await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        // The build stops when this handler is dropped: the client went away mid-build.
        let cancel = CancelToken::new();
        let _stop_build = cancel.drop_guard();
        let build = tokio::task::spawn_blocking(move || factory(&root, &cancel, &mut |message, percent| drop(tx.send((message, percent)))));
        while let Some((message, percent)) = rx.recv().await {
            progress.report(message, percent).await;
            // The status carries the percentage only (per-file messages go to `$/progress`).
            self.set_index_phase(IndexPhase::Building { message: building.clone(), percentage: percent }).await;
        }
        let built = build.await;
        let phase = match built {
            Ok(Ok(index)) => {
                self.go_live(index);
                if let ModelState::Ready(c, _) = &*self.model.borrow() {
                    c.set_context_source(self.context_source());
                }
                progress.end("index ready".into()).await;
                IndexPhase::Ready
            }
            Ok(Err(message)) => {
                tracing::warn!("no repository context: {message}");
                progress.end(format!("no repository context: {message}")).await;
                IndexPhase::Failed(message)
            }
            Err(join) => {
                tracing::warn!("indexing crashed: {join}");
                progress.end("indexing failed".into()).await;
                IndexPhase::Failed("indexing crashed".into())
            }
        };
        self.set_index_phase(phase).await;
    }

    /// Keeps the built index current: the ordered update queue, the file watcher unless `--no-watch`,
    /// and the documents opened while indexing ran, replayed as overlays.
    fn go_live(&self, index: Arc<Index>) {
        let live = match LiveIndex::start(index, Debounce::EDITS, log_live_event) {
            Ok(live) => Arc::new(live),
            Err(e) => {
                tracing::warn!("the index will not follow changes: {e}");
                return;
            }
        };
        if !self.options.no_watch {
            if let Err(e) = live.watch() {
                tracing::warn!("no file watcher (changes outside the editor reach the index only on didChangeWatchedFiles): {e}");
            }
        }
        // Under the documents' lock: a document opened or closed now is either replayed or sees `live`.
        let docs = lock(&self.docs);
        for (uri, text) in docs.texts() {
            if let Some(update) = self.overlay_update(&uri, &text) {
                live.send(update);
            }
        }
        *lock(&self.live) = Some(live);
    }

    /// Retrieval for completions: the live index, once there is one.
    pub(crate) fn context_source(&self) -> Option<Arc<dyn ContextSource>> {
        lock(&self.live).as_ref().map(|live| live.index().clone() as Arc<dyn ContextSource>)
    }

    /// Queues an index update, in order with every other one; nothing before the index is live.
    pub(crate) fn send_update(&self, update: Update) {
        if let Some(live) = &*lock(&self.live) {
            live.send(update);
        }
    }

    /// The editor's text of `uri` as an overlay (or none, when it is over `maxDocumentBytes`).
    pub(crate) fn overlay_update(&self, uri: &Url, text: &str) -> Option<Update> {
        let path = uri.to_file_path().ok()?;
        if text.len() > self.effective().max_document_bytes {
            // Too large to index: the disk's version (if any) stands in.
            return Some(Update::ClearOverlay(path));
        }
        Some(Update::Overlay { path, text: Arc::from(text) })
    }

    /// Registers `workspace/didChangeWatchedFiles` for every file, when the client can.
    pub(crate) async fn register_file_watching(&self) {
        if !self.watched_files_supported.load(Ordering::Relaxed) || self.context_factory.is_none() {
            return;
        }
        let options = DidChangeWatchedFilesRegistrationOptions {
            watchers: vec![FileSystemWatcher { glob_pattern: GlobPattern::String("**/*".into()), kind: None }],
        };
        let registration = Registration {
            id: "hearth/watched-files".into(),
            method: "workspace/didChangeWatchedFiles".into(),
            register_options: serde_json::to_value(options).ok(),
        };
        if let Err(e) = self.client.register_capability(vec![registration]).await {
            tracing::info!("the client refused workspace/didChangeWatchedFiles: {}", e.message);
        }
    }

    /// The workspace root's folder name, which some FIM templates show the model.
    pub(crate) fn repo_name(&self) -> Option<String> {
        lock(&self.root).as_ref().and_then(|r| r.file_name()).map(|n| n.to_string_lossy().to_string())
    }

    pub(crate) fn relative_path(&self, uri: &Url) -> String {
        let root = lock(&self.root).clone();
        match uri.to_file_path() {
            Ok(path) => match root.as_deref().and_then(|r| path.strip_prefix(r).ok()) {
                Some(rel) => rel.display().to_string(),
                None => path.display().to_string(),
            },
            Err(()) => uri.path().trim_start_matches('/').to_string(),
        }
    }
}

/// The live index's batches, in the log (paths and counts only, never code).
fn log_live_event(event: LiveEvent) {
    match event {
        LiveEvent::Updated { overlays, paths, stats } => {
            tracing::debug!(
                "index: {overlays} overlay(s), {paths} path(s): {} indexed, {} removed",
                stats.files_indexed,
                stats.files_removed
            )
        }
        LiveEvent::Synced { stats } => tracing::info!(
            "index synced: {} indexed, {} removed, {} unchanged in {:.1}s",
            stats.files_indexed,
            stats.files_removed,
            stats.files_unchanged,
            stats.elapsed.as_secs_f64()
        ),
        LiveEvent::Failed(e) => tracing::warn!("index update failed: {e}"),
    }
}

/// Loads the model (and draft) once; the completer and edits share the weights. With a backend,
/// only the model's tokenizer and facts are read, and completions go to the server.
#[allow(clippy::type_complexity)]
fn load_models(
    spec: &LoadSpec,
    backend: Option<&BackendConfig>,
) -> Result<(Completer, Result<EditModel, String>, Option<(hearth_remote::Health, bool)>), String> {
    let device: hearth_model::DeviceChoice = spec.device.parse()?;
    if let Some(backend) = backend {
        let kind = backend.kind.as_str();
        // With a fallback the weights are loaded anyway, and their tokenizer serves both paths.
        let fallback = if backend.fallback {
            Some(hearth_model::load_shared(&spec.model, device).map_err(|e| format!("the fallback model: {e}"))?)
        } else {
            None
        };
        let (tokenizer, info) = match &fallback {
            Some(target) => (target.tokenizer.clone(), ModelInfo { format: kind.into(), ..target.info.clone() }),
            None => {
                let (tokenizer, info) = hearth_model::load_facts(&spec.model, kind, "remote").map_err(|e| e.to_string())?;
                (Arc::new(tokenizer), info)
            }
        };
        let connected = hearth_remote::connect(backend, tokenizer.clone(), &info).map_err(|e| e.to_string())?;
        // Prompts are cut to what the server holds, when it says (a server started with a short `-c`).
        let served = connected.server_model.as_ref().and_then(|m| m.context).unwrap_or(info.max_positions);
        let info =
            ModelInfo { device: format!("remote: {}", connected.generator.host()), max_positions: info.max_positions.min(served), ..info };
        if let Some(server) = &connected.server_model {
            tracing::info!(
                "{} serves {:?} (vocabulary {:?}, context {:?})",
                connected.generator.host(),
                server.name,
                server.vocab_size,
                server.context
            );
        }
        let health = connected.generator.health();
        // Rewrites run in process when the weights are here, else on the server like completions.
        let (generator, edits): (Box<dyn hearth_remote::Generator>, _) = match fallback {
            Some(target) => {
                let local = hearth_decode::Engine::new(&target, None).map_err(|e| format!("the fallback model: {e}"))?;
                (
                    Box::new(hearth_remote::WithFallback::new(Box::new(connected.generator), Box::new(local))),
                    Ok(EditModel::new(target, None)),
                )
            }
            None => {
                let edits = EditModel::remote(tokenizer.clone(), info.clone(), connected.generator.clone());
                (Box::new(connected.generator), Ok(edits))
            }
        };
        let completer = Completer::with_generator(tokenizer, info, generator, connected.warning);
        return Ok((completer, edits, Some((health, backend.fallback))));
    }
    // Weights shared with the process's other sessions (`--listen`); the completer's caches are this session's.
    let target = hearth_model::load_shared(&spec.model, device).map_err(|e| e.to_string())?;
    let draft = spec.draft.as_ref().map(|d| hearth_model::load_shared(d, device)).transpose().map_err(|e| e.to_string())?;
    let completer = Completer::new(&target, draft.as_ref()).map_err(|e| e.to_string())?;
    Ok((completer, Ok(EditModel::new(target, draft)), None))
}

impl Backend {
    /// Notes a remote backend failing (`Some(why)`) or answering again (`None`), in the status once
    /// per change, not once per request.
    pub(crate) async fn note_backend(&self, problem: Option<&str>) {
        let was_down = self.backend_down.swap(problem.is_some(), Ordering::Relaxed);
        let ready = lock(&self.ready_message).clone();
        match problem {
            Some(why) if !was_down => {
                tracing::warn!("{why}");
                let fallback = lock(&self.backend_health).as_ref().is_some_and(|(_, fallback)| *fallback);
                let meanwhile = if fallback { "completing in process until it answers" } else { "no suggestions until it answers" };
                self.set_model_phase(ModelPhase::Ready(format!("{ready}; {why}: {meanwhile}"))).await;
            }
            None if was_down => {
                tracing::info!("the backend answers again");
                self.set_model_phase(ModelPhase::Ready(ready)).await;
            }
            _ => {}
        }
    }
}

/// The model for rewrites: the weights the server loaded for completions (shared, not loaded
/// again) or the backend's server, and one rewriter, made on the first model rewrite and reused.
pub struct EditModel {
    source: EditSource,
    rewriter: Mutex<Option<Arc<Mutex<ModelRewriter>>>>,
    next_edit: Mutex<Option<Arc<Mutex<NextEditPredictor>>>>,
}

enum EditSource {
    Local {
        target: LoadedModel,
        draft: Option<LoadedModel>,
    },
    /// The prompt is built here with the model's own template and tokenizer; the server decodes it.
    Remote {
        tokenizer: Arc<hearth_model::Tokenizer>,
        info: ModelInfo,
        generator: hearth_remote::RemoteGenerator,
    },
}

impl EditModel {
    pub fn new(target: LoadedModel, draft: Option<LoadedModel>) -> Self {
        EditModel { source: EditSource::Local { target, draft }, rewriter: Mutex::default(), next_edit: Mutex::default() }
    }

    pub fn remote(tokenizer: Arc<hearth_model::Tokenizer>, info: ModelInfo, generator: hearth_remote::RemoteGenerator) -> Self {
        EditModel { source: EditSource::Remote { tokenizer, info, generator }, rewriter: Mutex::default(), next_edit: Mutex::default() }
    }

    pub(crate) fn rewriter(&self) -> Result<Box<dyn Rewriter>, EditError> {
        let mut slot = self.rewriter.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            let rewriter = match &self.source {
                EditSource::Local { target, draft } => ModelRewriter::new(target, draft.as_ref())?,
                // The chat format through the server's chat endpoint, which renders the template itself.
                EditSource::Remote { tokenizer, info, generator } => {
                    ModelRewriter::with_generator(tokenizer.clone(), info, Box::new(generator.clone()), info.max_positions)
                        .with_endpoint(Box::new(generator.clone()))
                }
            };
            *slot = Some(Arc::new(Mutex::new(rewriter)));
        }
        Ok(Box::new(SharedRewriter(slot.clone().expect("just set"))))
    }

    /// The server's one next-edit predictor (its own KV cache over the same weights, and the draft),
    /// made on the first request; requests take turns.
    pub(crate) fn next_edit(&self) -> Result<Arc<Mutex<NextEditPredictor>>, NextEditError> {
        let mut slot = lock(&self.next_edit);
        if slot.is_none() {
            let predictor = match &self.source {
                EditSource::Local { target, draft } => NextEditPredictor::new(target, draft.as_ref())?,
                EditSource::Remote { tokenizer, info, generator } => {
                    NextEditPredictor::with_generator(tokenizer.clone(), info, Box::new(generator.clone()), info.max_positions)
                }
            };
            *slot = Some(Arc::new(Mutex::new(predictor)));
        }
        Ok(slot.clone().expect("just set"))
    }

    /// A model for one agent session: the same weights with a KV cache of its own, or the backend.
    pub(crate) fn agent_model(&self) -> Result<Box<dyn AgentModel>, AgentError> {
        Ok(Box::new(match &self.source {
            EditSource::Local { target, .. } => ChatModel::local(target)?,
            // The server's chat endpoint with the tools first; the local rendering as tokens if it takes none.
            EditSource::Remote { tokenizer, info, generator } => {
                ChatModel::new(tokenizer.clone(), info, Box::new(generator.clone()), info.max_positions)?
                    .with_endpoint(Box::new(generator.clone()))
            }
        }))
    }
}

/// The server's one rewriter, taken region by region: concurrent edits take turns.
struct SharedRewriter(Arc<Mutex<ModelRewriter>>);

impl Rewriter for SharedRewriter {
    fn rewrite(&mut self, task: &RewriteTask<'_>, cancel: &CancelToken) -> Result<Rewritten, EditError> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).rewrite(task, cancel)
    }
}
