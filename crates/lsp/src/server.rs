//! The `LanguageServer` methods: document sync and settings here, each request handed to its
//! handler in `handlers/`; the state they share is `state.rs`.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::Value;
use tower_lsp::jsonrpc::Result;
use tower_lsp::lsp_types::*;
use tower_lsp::LanguageServer;

use crate::config::Settings;
use crate::documents::Document;
use crate::errors::invalid_params;
use crate::handlers::edit;
use crate::state::{lock, Backend, ModelState};
use hearth_index::Update;

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
        let watched = params
            .capabilities
            .workspace
            .as_ref()
            .and_then(|w| w.did_change_watched_files.as_ref())
            .and_then(|w| w.dynamic_registration)
            .unwrap_or(false);
        self.watched_files_supported.store(watched, Ordering::Relaxed);
        let capabilities = ServerCapabilities {
            position_encoding: Some(PositionEncodingKind::UTF16),
            text_document_sync: Some(TextDocumentSyncCapability::Options(TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(TextDocumentSyncKind::INCREMENTAL),
                save: Some(TextDocumentSyncSaveOptions::Supported(true)),
                ..Default::default()
            })),
            completion_provider: Some(CompletionOptions {
                resolve_provider: Some(false),
                trigger_characters: Some(vec![".".into(), "(".into(), "[".into()]),
                ..Default::default()
            }),
            execute_command_provider: Some(ExecuteCommandOptions {
                commands: vec!["hearth.context".into(), "hearth.status".into(), "hearth.stats".into(), edit::COMMAND.into()],
                ..Default::default()
            }),
            code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
                code_action_kinds: Some(vec![CodeActionKind::REFACTOR_REWRITE]),
                resolve_provider: Some(false),
                ..Default::default()
            })),
            ..Default::default()
        };
        Ok(InitializeResult {
            capabilities,
            server_info: Some(ServerInfo { name: "hearth".into(), version: Some(env!("CARGO_PKG_VERSION").into()) }),
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        self.register_file_watching().await;
        // At the same time, so the status goes loading -> (indexing ->) ready and never back.
        tokio::join!(self.ensure_model(), self.build_context());
    }

    async fn shutdown(&self) -> Result<()> {
        for uri in lock(&self.docs).uris() {
            self.scheduler.cancel(&uri);
            self.next_edits.cancel(&uri);
        }
        for token in lock(&self.edits).values() {
            token.cancel();
        }
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let d = params.text_document;
        let doc = Document::new(d.text, d.version, d.language_id);
        let limit = self.effective().max_document_bytes;
        if doc.text.len() > limit {
            tracing::info!(
                "{}: {} bytes, over maxDocumentBytes = {limit}: kept, but no completions and not indexed",
                d.uri,
                doc.text.len()
            );
        }
        if doc.text.len() <= limit {
            lock(&self.history).opened(&self.relative_path(&d.uri), &Arc::from(doc.text.as_str()));
        }
        // The update is queued under the documents' lock, so it is in the order of the editor's messages.
        let mut docs = lock(&self.docs);
        if let Some(update) = self.overlay_update(&d.uri, &doc.text) {
            self.send_update(update);
        }
        docs.open(d.uri, doc);
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let uri = params.text_document.uri;
        let mut docs = lock(&self.docs);
        let Some(doc) = docs.get_mut(&uri) else {
            tracing::warn!("change for a document that is not open: {uri}");
            return;
        };
        let before = doc.text.clone();
        if let Err(e) = doc.apply(params.content_changes, params.text_document.version) {
            tracing::error!("{uri}: change out of range ({e}); the document may be out of sync until reopened");
        }
        // A running next-edit prediction is for the text before this change.
        self.next_edits.cancel(&uri);
        let limit = self.effective().max_document_bytes;
        if before.len() <= limit && doc.text.len() <= limit {
            let (before, after) = (Arc::<str>::from(before.as_str()), Arc::<str>::from(doc.text.as_str()));
            lock(&self.history).changed(&self.relative_path(&uri), &before, &after, std::time::Instant::now());
        }
        // The live index debounces keystrokes; each update carries the whole text, so the last one wins.
        if let Some(update) = self.overlay_update(&uri, &doc.text) {
            self.send_update(update);
        }
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        if let Ok(path) = params.text_document.uri.to_file_path() {
            self.send_update(Update::Paths(vec![path]));
        }
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        self.scheduler.cancel(&uri);
        self.next_edits.cancel(&uri);
        lock(&self.suggestions).remove(&uri);
        lock(&self.shown).forget(uri.as_str());
        let mut docs = lock(&self.docs);
        if let Ok(path) = uri.to_file_path() {
            self.send_update(Update::ClearOverlay(path));
        }
        docs.close(&uri);
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        let paths: Vec<PathBuf> = params.changes.iter().filter_map(|c| c.uri.to_file_path().ok()).collect();
        if !paths.is_empty() {
            self.send_update(Update::Paths(paths));
        }
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        match Settings::from_client(&params.settings) {
            Ok(changed) => {
                let merged = lock(&self.client_settings).overlay(&changed);
                *lock(&self.client_settings) = merged;
                if let Some(c) = match &*self.model.borrow() {
                    ModelState::Ready(c, _) => Some(c.clone()),
                    _ => None,
                } {
                    c.set_prefix_reuse(self.effective().prefix_reuse);
                }
                self.ensure_model().await;
                // The status tells the context budget, which a setting may have named.
                self.publish_status().await;
            }
            Err(e) => {
                self.client.show_message(MessageType::WARNING, format!("Hearth: ignoring settings: {e}")).await;
            }
        }
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        let (uri, range) = (params.text_document.uri, params.range);
        if range.start == range.end || !edit::kind_wanted(params.context.only.as_deref()) || uri.to_file_path().is_err() {
            return Ok(None);
        }
        if lock(&self.docs).get(&uri).is_none() {
            return Ok(None);
        }
        Ok(Some(vec![CodeActionOrCommand::CodeAction(edit::code_action(uri, range))]))
    }

    async fn completion(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        self.completion_request(params).await
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<Value>> {
        match params.command.as_str() {
            "hearth.status" => Ok(Some(self.status_command().await)),
            "hearth.stats" => Ok(Some(self.stats_command())),
            "hearth.context" => self.context_command(&params.arguments),
            edit::COMMAND => self.edit_command(params).await.map(Some),
            other => Err(invalid_params(format!("unknown command {other}"))),
        }
    }
}
