//! `hearth/nextEdit`: protocol glue over `hearth_assist::nextedit`. `{textDocument: {uri, version?},
//! position}` in; the session's edit history, the document and retrieved context make the prompt, the
//! model rewrites the window on a blocking thread, and the edits come back as LSP ranges, or `null`
//! when the model predicts no change. Latest wins per document, a change or `$/cancelRequest`
//! cancels, and a document that changed meanwhile is answered with `ContentModified`. The last
//! suggestion is kept for `textDocument/inlineCompletion` to offer when it touches the cursor's line.

use hearth_assist::completion::ContextQuery;
use hearth_assist::nextedit::{ContextFile, NextEdit, NextEditError, NextEditFormat, NextEditInput, NextEditOptions, Outcome};
use hearth_base::CancelToken;
use hearth_index::Snippet;
use serde::{Deserialize, Serialize};
use tower_lsp::jsonrpc::{ErrorCode, Result};
use tower_lsp::lsp_types::{Position, Range, TextEdit, Url};

use crate::errors::{cancelled, content_modified, invalid_params, model_unavailable, request_failed};
use crate::state::{lock, Backend, ModelState, Suggestion};
use crate::{from_proto, to_proto};

pub const METHOD: &str = "hearth/nextEdit";

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NextEditParams {
    pub text_document: DocumentAt,
    pub position: Position,
    /// Also return the prompt, the model's answer and the window's rewrite (for tests and debugging);
    /// the result then comes even when there is no edit.
    #[serde(default)]
    pub include_prompt: bool,
    /// A format for this request instead of the setting's (`sweep`, `zeta` or `chat`).
    pub format: Option<String>,
}

/// The document, and the version the client predicts on (a newer one on the server is an error).
#[derive(Clone, Debug, Deserialize)]
pub struct DocumentAt {
    pub uri: Url,
    pub version: Option<i32>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NextEditResult {
    pub edits: Vec<TextEdit>,
    /// Why, in a sentence a user can read.
    pub reason: String,
    /// The document version the edits are for.
    pub version: i32,
    pub format: NextEditFormat,
    pub outcome: Outcome,
    /// The lines the model rewrote.
    pub window: Range,
    pub stats: Stats,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewritten: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub prompt_tokens: usize,
    pub context_files: usize,
    /// Edits of the session's history in the prompt (the oldest are left out when it does not fit).
    pub history_edits: usize,
    pub generated_tokens: usize,
    /// Target-model steps: fewer than tokens when speculation was accepted.
    pub steps: usize,
    pub ms: f64,
}

impl Backend {
    pub async fn next_edit(&self, params: NextEditParams) -> Result<Option<NextEditResult>> {
        let uri = params.text_document.uri.clone();
        let ticket = self.next_edits.begin(uri.clone());
        // tower-lsp drops this future on `$/cancelRequest`; the guard turns that into a cancelled token.
        let guard = ticket.token.drop_guard();
        let result = self.predict_next_edit(&params, &ticket.token).await;
        guard.disarm();
        let current = lock(&self.docs).get(&uri).map(|d| d.version);
        match result {
            Ok(Some((result, _))) if Some(result.version) != current => Err(content_modified(result.version, current)),
            Ok(Some((result, suggestion))) => {
                lock(&self.suggestions).insert(uri, suggestion);
                Ok((!result.edits.is_empty() || params.include_prompt).then_some(result))
            }
            Ok(None) => Ok(None),
            // Cancelled by a change of the document: the client's version is stale.
            Err(e) if e.code == ErrorCode::RequestCancelled => match params.text_document.version {
                Some(asked) if Some(asked) != current => Err(content_modified(asked, current)),
                _ => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    async fn predict_next_edit(&self, params: &NextEditParams, cancel: &CancelToken) -> Result<Option<(NextEditResult, Suggestion)>> {
        let uri = &params.text_document.uri;
        let doc = lock(&self.docs).get(uri).cloned().ok_or_else(|| invalid_params(format!("unknown document {uri}")))?;
        if let Some(asked) = params.text_document.version.filter(|&v| v != doc.version) {
            return Err(content_modified(asked, Some(doc.version)));
        }
        let effective = self.effective();
        let config = effective.next_edit.resolve().map_err(|e| invalid_params(format!("nextEdit.format: {e}")))?;
        if !config.enabled || !effective.language_enabled(&doc.language) || doc.text.len() > effective.max_document_bytes {
            return Ok(None);
        }
        let offset = from_proto::offset(&doc.text, &doc.index, params.position).map_err(|e| invalid_params(e.to_string()))?;
        let format = match &params.format {
            Some(name) => Some(name.parse::<NextEditFormat>().map_err(invalid_params)?),
            None => config.format,
        };
        let mut rx = self.model.subscribe();
        let state = rx.wait_for(|s| !matches!(s, ModelState::Loading)).await.map_err(|_| cancelled())?.clone();
        let model = match state {
            ModelState::Ready(_, Ok(model)) => model,
            ModelState::Ready(_, Err(why)) => return Err(model_unavailable(format!("no next-edit suggestions: {why}"))),
            ModelState::Failed(why) => return Err(model_unavailable(why)),
            ModelState::Missing => return Err(model_unavailable("no model configured")),
            ModelState::Loading => unreachable!(),
        };
        cancel.check().map_err(|_| cancelled())?;
        let path = self.relative_path(uri);
        let events = lock(&self.history).events();
        let source = self.context_source();
        let (cancel, speculate, budget) = (cancel.clone(), config.speculation, config.context_tokens);
        let include_prompt = params.include_prompt;
        let text = doc.text.clone();
        let language = doc.language.clone();
        let run = tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let query = ContextQuery { path: Some(&path), text: &text, offset, language: Some(&language) };
            let context = match (&source, budget) {
                (Some(source), 1..) => {
                    let snippets = source.retrieve(&query, budget, &cancel);
                    tracing::debug!("next edit for {path}: {} snippets retrieved", snippets.len());
                    context_files(snippets, &path)
                }
                _ => Vec::new(),
            };
            let predictor = model.next_edit()?;
            let mut predictor = lock(&predictor);
            let format = format.unwrap_or_else(|| predictor.default_format());
            let input = NextEditInput { path: &path, text: &text, cursor: offset, events: &events, context: &context };
            let edit = predictor.predict(format, &input, &NextEditOptions { speculate }, &cancel)?;
            tracing::debug!("next edit: {} of {} context files fit {} positions", edit.context_files, context.len(), predictor.capacity());
            tracing::debug!(target: "hearth_prompts", "next edit for {path}: {:?}", edit.answer);
            Ok::<_, NextEditError>((edit, started.elapsed().as_secs_f64() * 1000.0, events))
        });
        let (edit, ms, events) = match run.await {
            Ok(Ok(done)) => done,
            Ok(Err(NextEditError::Cancelled)) => return Err(cancelled()),
            Ok(Err(NextEditError::Unavailable(why))) => {
                self.note_backend(Some(&why)).await;
                return Err(request_failed(why));
            }
            Ok(Err(e @ (NextEditError::Format(_) | NextEditError::TooLong { .. }))) => return Err(invalid_params(e.to_string())),
            Ok(Err(e)) => return Err(request_failed(e.to_string())),
            Err(join) => return Err(request_failed(format!("next-edit prediction crashed: {join}"))),
        };
        let range = |r: &std::ops::Range<usize>| {
            Range::new(to_proto::position(&doc.text, &doc.index, r.start), to_proto::position(&doc.text, &doc.index, r.end))
        };
        let edits: Vec<TextEdit> = edit.edits.iter().map(|e| TextEdit { range: range(&e.range), new_text: e.new_text.clone() }).collect();
        tracing::info!(
            "next edit in {ms:.0} ms ({}): {:?}, {} edits, {} tokens in {} steps",
            edit.format,
            edit.outcome,
            edits.len(),
            edit.stats.generated_tokens,
            edit.stats.steps
        );
        let suggestion = Suggestion { version: doc.version, edits: edits.clone() };
        let result = NextEditResult {
            reason: reason(&edit, &edits, events.iter().rev().find(|e| e.path == self.relative_path(uri)).map(|e| e.hunk.start_line)),
            version: doc.version,
            format: edit.format,
            outcome: edit.outcome,
            window: range(&edit.window),
            stats: Stats {
                prompt_tokens: edit.prompt_tokens,
                context_files: edit.context_files,
                history_edits: edit.history_edits,
                generated_tokens: edit.stats.generated_tokens,
                steps: edit.stats.steps,
                ms,
            },
            prompt: include_prompt.then(|| edit.prompt.clone()),
            answer: include_prompt.then(|| edit.answer.clone()),
            rewritten: include_prompt.then(|| edit.rewritten.clone()),
            edits,
        };
        Ok(Some((result, suggestion)))
    }

    /// The kept next-edit suggestion for `uri` at `version`, as one inline completion that replaces
    /// the span of its edits, when that span starts on the cursor's line.
    pub(crate) fn suggestion_at(&self, uri: &Url, position: Position) -> Option<to_proto::InlineCompletionList> {
        let doc = lock(&self.docs).get(uri).cloned()?;
        let suggestion = lock(&self.suggestions).get(uri).cloned().filter(|s| s.version == doc.version)?;
        let on_line: Vec<&TextEdit> = suggestion.edits.iter().filter(|e| e.range.start.line == position.line).collect();
        let (first, last) = (on_line.first()?, on_line.last()?);
        let span = from_proto::span(&doc.text, &doc.index, Range::new(first.range.start, last.range.end)).ok()?;
        let mut new_text = String::new();
        let mut at = span.start;
        for e in &on_line {
            let r = from_proto::span(&doc.text, &doc.index, e.range).ok()?;
            new_text.push_str(&doc.text[at..r.start]);
            new_text.push_str(&e.new_text);
            at = r.end;
        }
        new_text.push_str(&doc.text[at..span.end]);
        Some(to_proto::inline_replacement(new_text, Range::new(first.range.start, last.range.end)))
    }
}

/// Retrieved snippets as context files, best first: none of the document itself (its window is in
/// the prompt), and none whose lines another snippet of the same file holds (an outline of a body
/// that came whole).
fn context_files(snippets: Vec<Snippet>, path: &str) -> Vec<ContextFile> {
    let inside = |a: &Snippet, b: &Snippet| a.path == b.path && b.start_line <= a.start_line && a.end_line <= b.end_line;
    snippets
        .iter()
        .enumerate()
        .filter(|(i, s)| s.path != path && !snippets.iter().enumerate().any(|(j, o)| j != *i && inside(s, o) && (!inside(o, s) || j < *i)))
        .map(|(_, s)| ContextFile { path: s.path.clone(), text: s.text.clone() })
        .collect()
}

/// The reason shown with a suggestion.
fn reason(edit: &NextEdit, edits: &[TextEdit], edited_line: Option<usize>) -> String {
    let after = match edited_line {
        Some(line) => format!("after your edit at line {}", line + 1),
        None => "from your recent edits".into(),
    };
    match edit.outcome {
        Outcome::Edit => {
            let (first, last) = (edits[0].range.start.line + 1, edits[edits.len() - 1].range.end.line + 1);
            let lines = if first == last { format!("line {first}") } else { format!("lines {first}–{last}") };
            let count = if edits.len() == 1 { "1 change".to_string() } else { format!("{} changes", edits.len()) };
            format!("{count} in {lines}, {after}")
        }
        Outcome::NoChange => "the model predicts no further change".into(),
        Outcome::Reverts => "the model would take back your latest edit; not suggested".into(),
        Outcome::Unfinished => "the model's rewrite did not finish within its budget; not suggested".into(),
        Outcome::Unreadable => "the model's answer held no rewrite in the format; not suggested".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_files_skip_the_document_and_snippets_another_holds() {
        let snippet = |path: &str, start_line, end_line, text: &str| Snippet {
            path: path.into(),
            start_line,
            end_line,
            text: text.into(),
            reason: hearth_index::Reason::Similar { bm25: 1.0 },
            score: 1.0,
        };
        let files = context_files(
            vec![
                snippet("fmt.py", 0, 0, "def line(label, value):"),
                snippet("stats.py", 0, 3, "import sys"),
                snippet("fmt.py", 0, 1, "def line(label, value):\n    return label"),
                snippet("util.py", 4, 5, "def a():\n    pass"),
                snippet("util.py", 4, 5, "def a():\n    pass"),
            ],
            "stats.py",
        );
        let paths: Vec<(&str, &str)> = files.iter().map(|f| (f.path.as_str(), f.text.as_str())).collect();
        assert_eq!(paths, [("fmt.py", "def line(label, value):\n    return label"), ("util.py", "def a():\n    pass")]);
    }

    #[test]
    fn params_need_a_document_and_a_position() {
        let ok: NextEditParams = serde_json::from_value(
            serde_json::json!({"textDocument": {"uri": "file:///a.py", "version": 3}, "position": {"line": 1, "character": 2}}),
        )
        .unwrap();
        assert_eq!((ok.text_document.version, ok.include_prompt, ok.format), (Some(3), false, None));
        assert!(serde_json::from_value::<NextEditParams>(serde_json::json!({"textDocument": {"uri": "file:///a.py"}})).is_err());
    }
}
