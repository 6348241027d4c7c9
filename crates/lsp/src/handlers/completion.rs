//! Completions: `textDocument/inlineCompletion` and `textDocument/completion` share one path
//! (latest-wins per document, debounce, a decoding slot, decoding on a blocking thread that a cancel
//! token stops), counted for `hearth.stats`. A keystroke that types through a suggestion already
//! made gets its rest without the model, and after each suggestion the next one is prefetched as if
//! it were accepted, until any request comes.

use std::sync::Arc;
use std::time::Duration;

use hearth_assist::completion::{shown, Completer, CompletionDebounce, CompletionError, CompletionOptions, CompletionRequest};
use hearth_base::CancelToken;
use tower_lsp::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp::lsp_types::*;

use crate::config::Effective;
use crate::errors::{cancelled, invalid_params, model_unavailable, request_failed};
use crate::limits::Shed;
use crate::state::{lock, Backend, ModelState};
use crate::{from_proto, to_proto};

/// What a kept suggestion depends on besides the text: the model, the backend and the options.
fn made_with(effective: &Effective, options: &CompletionOptions) -> u64 {
    shown::fingerprint(&[options, &effective.load, &effective.backend])
}

/// How long after a suggestion its successor is prefetched, if no request came meanwhile.
const PREFETCH_AFTER: Duration = Duration::from_millis(100);

pub(crate) enum CompleteError {
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
    /// A kept next-edit suggestion that touches the cursor's line comes first, without decoding.
    pub async fn inline_completion(&self, params: to_proto::InlineCompletionParams) -> Result<Option<to_proto::InlineCompletionList>> {
        if let Some(suggestion) = self.suggestion_at(&params.text_document.uri, params.position) {
            return Ok(Some(suggestion));
        }
        let found = self.complete_at(params.text_document.uri, params.position).await?;
        Ok(found.map(|(text, at)| to_proto::inline_completion(text, at)))
    }

    /// `textDocument/completion`: the same completion as one item.
    pub(crate) async fn completion_request(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        let pos = params.text_document_position;
        let found = self.complete_at(pos.text_document.uri, pos.position).await?;
        Ok(found.map(|(text, at)| {
            CompletionResponse::List(CompletionList { is_incomplete: true, items: vec![to_proto::completion_item(text, at)] })
        }))
    }

    /// Waits for the model; errors when there is none.
    async fn completer(&self) -> Result<Arc<Completer>> {
        let mut rx = self.model.subscribe();
        let state = rx.wait_for(|s| !matches!(s, ModelState::Loading)).await.map_err(|_| Error::internal_error())?.clone();
        match state {
            ModelState::Ready(c, _) => Ok(c),
            ModelState::Failed(message) => Err(model_unavailable(message)),
            ModelState::Missing => Err(model_unavailable("no model configured")),
            ModelState::Loading => unreachable!(),
        }
    }

    /// The shared path of `textDocument/inlineCompletion` and `textDocument/completion`: latest-wins per
    /// document, debounce, then decoding on a blocking thread that a cancel token can stop.
    async fn complete_at(&self, uri: Url, position: Position) -> Result<Option<(String, Position)>> {
        self.stats.request();
        if let Some(kept) = self.kept_suggestion(&uri, position) {
            return Ok(Some(kept));
        }
        if let Some(prefetch) = lock(&self.prefetch).take() {
            prefetch.cancel();
        }
        let ticket = self.scheduler.begin(uri.clone());
        // tower-lsp drops this future on `$/cancelRequest`; the guard turns that into a cancelled token.
        let guard = ticket.token.drop_guard();
        let result = self.complete_ticket(&uri, position, &ticket.token, ticket.since_previous).await;
        guard.disarm();
        match result {
            Err(CompleteError::Cancelled) => Err(cancelled()),
            Err(CompleteError::Lsp(e)) => Err(e),
            Ok(None) => {
                self.stats.empty();
                Ok(None)
            }
            Ok(some) => Ok(some),
        }
    }

    /// The rest of a suggestion already made for this text: the keystroke typed through it, or it
    /// was prefetched. An older request still running for the document is cancelled; the prefetch
    /// of what follows the suggestion goes on, or starts if none runs.
    fn kept_suggestion(&self, uri: &Url, position: Position) -> Option<(String, Position)> {
        let doc = lock(&self.docs).get(uri).cloned()?;
        let offset = from_proto::offset(&doc.text, &doc.index, position).ok()?;
        let effective = self.effective();
        if !effective.language_enabled(&doc.language) || doc.text.len() > effective.max_document_bytes {
            return None;
        }
        let options = self.completion_options(&effective);
        let reused = lock(&self.shown).lookup(uri.as_str(), made_with(&effective, &options), &doc.text, offset)?;
        drop(self.scheduler.begin(uri.clone()));
        self.stats.reused(reused.typed);
        tracing::debug!("completion from a kept suggestion ({} characters typed through it)", reused.typed);
        let running = lock(&self.prefetch).as_ref().is_some_and(|t| !t.is_cancelled());
        if effective.prefetch && !running {
            if let ModelState::Ready(completer, _) = self.model.borrow().clone() {
                let (path, repo_name) = (self.relative_path(uri), self.repo_name());
                let request = CompletionRequest {
                    text: &doc.text,
                    offset,
                    path: Some(&path),
                    language: Some(&doc.language),
                    repo_name: repo_name.as_deref(),
                };
                self.start_prefetch(&effective, completer, uri, &request, &reused.text, options);
            }
        }
        Some((reused.text, to_proto::position(&doc.text, &doc.index, offset)))
    }

    /// Computes, on a blocking thread, the suggestion that follows `suggestion` once it is accepted,
    /// and keeps it; the next completion request of any document cancels it.
    fn start_prefetch(
        &self,
        effective: &Effective,
        completer: Arc<Completer>,
        uri: &Url,
        request: &CompletionRequest<'_>,
        suggestion: &str,
        options: CompletionOptions,
    ) {
        let token = CancelToken::new();
        if let Some(old) = lock(&self.prefetch).replace(token.clone()) {
            old.cancel();
        }
        let (text, cursor) = shown::accepted(request.text, request.offset, suggestion);
        let (path, language, repo_name) =
            (request.path.map(String::from), request.language.map(String::from), request.repo_name.map(String::from));
        let (shown, stats, limiter, caps, document, made_with) =
            (self.shown.clone(), self.stats.clone(), self.limiter.clone(), effective.caps, uri.to_string(), made_with(effective, &options));
        tokio::spawn(async move {
            // Only once the user pauses: a key typed meanwhile cancels it before it costs anything.
            tokio::time::sleep(PREFETCH_AFTER).await;
            if token.is_cancelled() {
                return;
            }
            let Ok(slot) = limiter.acquire(caps, &token).await else { return };
            let _ = tokio::task::spawn_blocking(move || {
                let _slot = slot;
                let request = CompletionRequest {
                    text: &text,
                    offset: cursor,
                    path: path.as_deref(),
                    language: language.as_deref(),
                    repo_name: repo_name.as_deref(),
                };
                if let Ok(Some(next)) = completer.complete(&request, &options, &token).map(|c| c.text) {
                    stats.prefetched();
                    lock(&shown).remember(&document, made_with, &text, cursor, &next);
                }
            })
            .await;
        });
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
        if doc.text.len() > effective.max_document_bytes {
            tracing::info!("no completion in {uri}: {} bytes, over maxDocumentBytes = {}", doc.text.len(), effective.max_document_bytes);
            return Ok(None);
        }
        // A newer request for the document cancels this one while it waits (checked below).
        if let Some(wait) = CompletionDebounce::new(Duration::from_millis(effective.debounce_ms)).wait(since_previous) {
            tokio::time::sleep(wait).await;
        }
        token.check().map_err(|_| CompleteError::Cancelled)?;
        let completer = self.completer().await?;
        let slot = match self.limiter.acquire(effective.caps, token).await {
            Ok(slot) => slot,
            Err(Shed::Cancelled) => return Err(CompleteError::Cancelled),
            Err(Shed::QueueFull { queued }) => {
                tracing::warn!("completion refused: the queue is full (maxQueuedRequests = {queued})");
                let message = format!("Hearth is busy: the completion queue is full (maxQueuedRequests = {queued}); request refused");
                return Err(request_failed(message).into());
            }
        };
        token.check().map_err(|_| CompleteError::Cancelled)?;
        let path = self.relative_path(uri);
        let repo_name = self.repo_name();
        let token = token.clone();
        let options = self.completion_options(&effective);
        let request_options = options.clone();
        let text = doc.text.clone();
        let language = doc.language.clone();
        let stats = self.stats.clone();
        let (run_completer, run_path, run_language, run_repo) = (completer.clone(), path.clone(), language.clone(), repo_name.clone());
        let run = tokio::task::spawn_blocking(move || {
            let _slot = slot; // held until decoding stops, even when the request's future is dropped
            let request = CompletionRequest {
                text: &text,
                offset,
                path: Some(&run_path),
                language: Some(&run_language),
                repo_name: run_repo.as_deref(),
            };
            let result = run_completer.complete(&request, &options, &token);
            // Counted here, where the decoding loop returns, so that a request whose future was
            // dropped on `$/cancelRequest` still shows whether its decoding stopped.
            match &result {
                Ok(c) => stats.record(c),
                Err(CompletionError::Cancelled) => {
                    stats.cancelled();
                }
                Err(_) => {}
            }
            result
        });
        let completion = match run.await {
            Ok(Ok(c)) => c,
            Ok(Err(CompletionError::Cancelled)) => return Err(CompleteError::Cancelled),
            Ok(Err(CompletionError::Unavailable(why))) => {
                self.note_backend(Some(&why)).await;
                return Ok(None);
            }
            Ok(Err(e)) => return Err(request_failed(e.to_string()).into()),
            Err(join) => return Err(Error { code: ErrorCode::InternalError, message: join.to_string().into(), data: None }.into()),
        };
        self.observe_prompt(&effective, completion.prompt_tokens - completion.reused_prompt_tokens, completion.timings.prefill_ms / 1000.0)
            .await;
        let health = lock(&self.backend_health).as_ref().map(|(health, _)| health.problem());
        if let Some(problem) = health {
            self.note_backend(problem.as_deref()).await;
        }
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
        if let Some(suggestion) = &completion.text {
            lock(&self.shown).remember(uri.as_str(), made_with(&effective, &request_options), &doc.text, offset, suggestion);
            if effective.prefetch {
                let request = CompletionRequest {
                    text: &doc.text,
                    offset,
                    path: Some(&path),
                    language: Some(&language),
                    repo_name: repo_name.as_deref(),
                };
                self.start_prefetch(&effective, completer, uri, &request, suggestion, request_options);
            }
        }
        // At the position the offset came from: a column past the line's end or inside a surrogate
        // pair is clamped, never echoed back.
        Ok(completion.text.map(|t| (t, to_proto::position(&doc.text, &doc.index, offset))))
    }
}
