//! Next-edit suggestions: from the user's recent edits ([`history`]) and the code around the cursor,
//! the model rewrites a window of the file in the format it was trained on ([`format`]), and the
//! difference between the window and its rewrite is the suggested edit. The rewrite mostly copies
//! the window, so decoding proposes the window itself ([`hearth_decode::CopySource`]) in long runs
//! and verifies them, which leaves the output exactly that of plain decoding; a rewrite that
//! changes nothing is verified in a few steps.

pub mod format;
pub mod history;

use std::ops::{ControlFlow, Range};
use std::sync::Arc;

use hearth_base::CancelToken;
use hearth_decode::{DecodeError, Engine, GenerateParams, Generator, Sampling, Speculation, StopConditions, StopReason, MAX_WINDOW};
use hearth_model::{LoadedModel, ModelInfo, Tokenizer};
use serde::Serialize;

pub use format::{ContextFile, NextEditFormat, NextEditInput, NextEditPrompt, Segment, FILE_SEP};
pub use history::{EditEvent, EditHistory, Hunk};

use crate::chat::ChatTemplate;
use crate::edit::{minimal_edits, RewriteStats, TextEdit};

#[derive(Debug, thiserror::Error)]
pub enum NextEditError {
    #[error("cancelled")]
    Cancelled,
    #[error("{0}")]
    Model(String),
    /// The format cannot be used with this model.
    #[error("{0}")]
    Format(String),
    #[error("the next-edit prompt needs {needed} positions but the model's context holds {capacity}")]
    TooLong { needed: usize, capacity: usize },
    /// The model's server cannot be reached.
    #[error("{0}")]
    Unavailable(String),
}

impl From<DecodeError> for NextEditError {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::Cancelled => NextEditError::Cancelled,
            DecodeError::Unavailable(why) => NextEditError::Unavailable(why),
            other => NextEditError::Model(other.to_string()),
        }
    }
}

/// How a prediction is made.
#[derive(Clone, Debug)]
pub struct NextEditOptions {
    /// Propose the window (and the draft model's guesses) for verification; the output is the same.
    pub speculate: bool,
}

impl Default for NextEditOptions {
    fn default() -> Self {
        NextEditOptions { speculate: true }
    }
}

/// What the model predicted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// An edit: `edits` is not empty.
    Edit,
    /// The model rewrote the window as it is.
    NoChange,
    /// The rewrite would take back the user's latest edit of the file; not suggested.
    Reverts,
    /// Decoding stopped before the format's end (length or context); not suggested.
    Unfinished,
    /// The answer did not hold a rewritten window.
    Unreadable,
}

/// A next-edit prediction.
#[derive(Clone, Debug, Serialize)]
pub struct NextEdit {
    pub format: NextEditFormat,
    pub outcome: Outcome,
    /// Edits of the document (byte ranges of the text the prediction was made on), in order.
    pub edits: Vec<TextEdit>,
    /// The window the model rewrote (bytes of the document), and its rewrite.
    pub window: Range<usize>,
    pub rewritten: String,
    /// The model's answer as it came.
    pub answer: String,
    /// The prompt's text (special tokens spelled).
    pub prompt: String,
    pub prompt_tokens: usize,
    /// Context files in the prompt: the first this many of the input's (the rest did not fit).
    pub context_files: usize,
    /// Edits of the history in the prompt (the oldest go first when it does not fit).
    pub history_edits: usize,
    pub stats: RewriteStats,
}

/// A model for next-edit predictions: its own decoding session (the KV cache keeps the prompt's
/// shared head between predictions), in process or on the team's server.
pub struct NextEditPredictor {
    engine: Box<dyn Generator>,
    tokenizer: Arc<Tokenizer>,
    info: ModelInfo,
    /// The model's chat template, or a plain one for a model without.
    chat: ChatTemplate,
    capacity: usize,
    bos: Option<u32>,
}

impl NextEditPredictor {
    pub fn new(target: &LoadedModel, draft: Option<&LoadedModel>) -> Result<Self, NextEditError> {
        let engine = Engine::new(target, draft)?;
        let capacity = engine.capacity();
        Ok(Self::with_generator(target.tokenizer.clone(), &target.info, Box::new(engine), capacity))
    }

    /// A predictor whose tokens come from `generator` (e.g. a server), with the model's own
    /// tokenizer and facts for the prompt.
    pub fn with_generator(tokenizer: Arc<Tokenizer>, info: &ModelInfo, generator: Box<dyn Generator>, capacity: usize) -> Self {
        let chat = match ChatTemplate::of_model(&tokenizer, info) {
            Some(Ok(t)) => t,
            Some(Err(e)) => {
                tracing::warn!("{}: its chat template does not compile ({e}); the chat next-edit format uses a plain one", info.name);
                ChatTemplate::plain()
            }
            None => ChatTemplate::plain(),
        };
        NextEditPredictor { engine: generator, bos: info.bos_id.filter(|_| info.add_bos), tokenizer, info: info.clone(), chat, capacity }
    }

    /// The format this model was trained on (see [`NextEditFormat::for_model`]).
    pub fn default_format(&self) -> NextEditFormat {
        let file_sep = self.tokenizer.token_id(FILE_SEP).is_some_and(|id| self.tokenizer.is_special(id));
        NextEditFormat::for_model(&self.info.name, self.info.chat_template.is_some(), file_sep)
    }

    /// Positions the model's context holds (prompt and answer).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn set_prefix_reuse(&mut self, on: bool) {
        self.engine.set_prefix_reuse(on);
    }

    /// The prompt for `input` in `format`, and its token ids.
    pub fn prompt(&self, format: NextEditFormat, input: &NextEditInput<'_>) -> Result<(NextEditPrompt, Vec<u32>), NextEditError> {
        let prompt = format::build(format, input, Some(&self.chat)).map_err(NextEditError::Format)?;
        let ids = prompt.ids(&self.tokenizer, self.bos).map_err(|e| NextEditError::Format(format!("{e} ({})", self.info.name)))?;
        Ok((prompt, ids))
    }

    /// Predicts the next edit for `input`.
    pub fn predict(
        &mut self,
        format: NextEditFormat,
        input: &NextEditInput<'_>,
        options: &NextEditOptions,
        cancel: &CancelToken,
    ) -> Result<NextEdit, NextEditError> {
        // Context files go, last (least relevant) first, then the oldest edits (never this file's
        // latest), until the prompt and its answer fit.
        let mut kept = if format.shows_context() { input.context.len() } else { 0 };
        let latest_here = input.events.iter().rposition(|e| e.path == input.path);
        let droppable: Vec<usize> = (0..input.events.len()).filter(|&i| Some(i) != latest_here).collect();
        let mut dropped = 0;
        let (prompt, ids, copy, events) = loop {
            let events: Vec<EditEvent> =
                input.events.iter().enumerate().filter(|(i, _)| !droppable[..dropped].contains(i)).map(|(_, e)| e.clone()).collect();
            let fitted = NextEditInput { context: &input.context[..kept], events: &events, ..*input };
            let (prompt, ids) = self.prompt(format, &fitted)?;
            let copy = prompt.unchanged_ids(&self.tokenizer).map_err(NextEditError::Format)?;
            let needed = ids.len() + copy.len() + 8;
            if needed <= self.capacity {
                break (prompt, ids, copy, events);
            }
            if kept > 0 {
                kept -= 1;
            } else if dropped < droppable.len() {
                dropped += 1;
            } else {
                return Err(NextEditError::TooLong { needed, capacity: self.capacity });
            }
        };
        let input = &NextEditInput { context: &input.context[..kept], events: &events, ..*input };
        let window_text = &input.text[prompt.window.clone()];
        // Room for the window again, some growth, and the format's closing text.
        let budget = copy.len() + copy.len() / 2 + 32;
        let params = GenerateParams {
            max_tokens: budget.min(self.capacity - ids.len() - 1),
            sampling: Sampling::Greedy,
            stop: StopConditions { token_ids: Vec::new(), strings: prompt.stop_strings.clone(), special_tokens: true },
            speculation: Speculation { draft: options.speculate, lookup: options.speculate, max_window: MAX_WINDOW },
            copy_source: if options.speculate { copy } else { Vec::new() },
            lookup_sources: Vec::new(),
            forced_prefix: String::new(),
        };
        let mut answer = String::new();
        let generation = self.engine.generate(&ids, &params, cancel, &mut |delta| {
            answer.push_str(delta);
            if cancel.is_cancelled() || prompt.restart_at(&answer).is_some() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        cancel.check().map_err(|_| NextEditError::Cancelled)?;
        let s = &generation.stats;
        let stats = RewriteStats {
            generated_tokens: generation.tokens.len(),
            steps: s.steps,
            proposed: s.proposed,
            accepted: s.accepted,
            prompt_secs: s.prompt_secs,
            decode_secs: s.decode_secs,
        };
        let restart = prompt.restart_at(&generation.text);
        let answer = restart.map_or(&generation.text[..], |at| &generation.text[..at]);
        let finished = restart.is_some() || matches!(generation.stop_reason, StopReason::StopString | StopReason::StopToken);
        let rewritten = prompt.parse(answer);
        let outcome = match &rewritten {
            _ if !finished => Outcome::Unfinished,
            None => Outcome::Unreadable,
            Some(new) if new == window_text => Outcome::NoChange,
            Some(new) if reverts(input, &prompt.window, new) => Outcome::Reverts,
            Some(_) => Outcome::Edit,
        };
        let rewritten = rewritten.unwrap_or_default();
        let edits = if outcome == Outcome::Edit {
            minimal_edits(window_text, &rewritten)
                .into_iter()
                .map(|e| TextEdit { range: e.range.start + prompt.window.start..e.range.end + prompt.window.start, new_text: e.new_text })
                .collect()
        } else {
            Vec::new()
        };
        Ok(NextEdit {
            format,
            outcome,
            edits,
            window: prompt.window.clone(),
            rewritten,
            answer: generation.text,
            prompt_tokens: ids.len(),
            context_files: kept,
            history_edits: events.len(),
            prompt: prompt.text(),
            stats,
        })
    }
}

/// Whether `rewritten` (the window's new text) takes back the file's latest edit: the edit's new
/// lines become its old ones again.
fn reverts(input: &NextEditInput<'_>, window: &Range<usize>, rewritten: &str) -> bool {
    let Some(event) = input.events.iter().rev().find(|e| e.path == input.path) else { return false };
    let (old, new) = (event.hunk.old.trim_end(), event.hunk.new.trim_end());
    let current = &input.text[window.clone()];
    !new.is_empty() && current.contains(new) && !rewritten.contains(new) && rewritten.contains(old) && !old.is_empty()
}

#[cfg(test)]
mod tests;
