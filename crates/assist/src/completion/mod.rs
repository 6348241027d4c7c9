//! Inline completion: from a document and a cursor to ghost text.
//!
//! The path of one request ([`Completer::complete`]): retrieve context ([`context`]), cut the text
//! around the cursor to the token budget ([`budget`], [`prompt`]) and fill the model family's template
//! ([`template`]), decode with prefix reuse and lookup speculation (hearth-decode), then trim the output
//! ([`postprocess`]). [`scheduler`] makes a new keystroke cancel the request still running for its document;
//! [`shown`] answers a keystroke from a suggestion already made, without the model.

pub mod budget;
pub mod codec;
pub mod context;
mod engine;
pub mod metrics;
pub mod postprocess;
pub mod prompt;
pub mod scheduler;
pub mod shown;
pub mod template;

pub use budget::{AdaptiveBudget, BudgetPolicy};
pub use context::{ContextQuery, ContextSource, Reason, Snippet};
pub use engine::{Completer, LoadSpec, PromptContext};
pub use scheduler::{CompletionDebounce, LatestWins, Ticket};
pub use shown::{Reused, ShownSuggestions};

/// How to complete; the language server fills it from the user's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct CompletionOptions {
    /// Complete a block (stopping where it ends) instead of the rest of the line.
    pub multiline: bool,
    /// New tokens at most.
    pub max_tokens: usize,
    /// Prompt tokens for context, prefix and suffix; capped by the model's window less `max_tokens`.
    pub context_budget: usize,
    pub budget: BudgetPolicy,
    /// Ask the context source (the index) for snippets.
    pub retrieval: bool,
    /// Speculate with n-gram lookup in the document and the snippets.
    pub lookup: bool,
    /// Speculate with the draft model, when one is loaded.
    pub draft: bool,
    /// Token healing at the cursor.
    pub healing: Healing,
}

/// Token healing: when the cursor sits inside a word or in indentation, the prompt's last token is
/// one the model rarely saw cut there. Healing takes it off the prompt and makes the first new
/// tokens spell its text (or extend it), so the model picks the token boundary itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Healing {
    /// On for models completing left to right; off for FIM models, which are trained on cut
    /// prompts (tiny-coder's fine-tuning) or whose FIM format fixes the boundary.
    #[default]
    Auto,
    On,
    Off,
}

impl Default for CompletionOptions {
    fn default() -> Self {
        CompletionOptions {
            multiline: false,
            max_tokens: 64,
            context_budget: 1024,
            budget: BudgetPolicy::default(),
            retrieval: true,
            lookup: true,
            draft: true,
            healing: Healing::Auto,
        }
    }
}

/// The document and cursor to complete at.
#[derive(Clone, Copy, Debug)]
pub struct CompletionRequest<'a> {
    pub text: &'a str,
    /// Byte offset of the cursor.
    pub offset: usize,
    /// Path shown to the model and to retrieval, relative to the workspace when inside it.
    pub path: Option<&'a str>,
    /// LSP language id or file extension.
    pub language: Option<&'a str>,
    /// Workspace folder name, for repository-level prompts.
    pub repo_name: Option<&'a str>,
}

/// Where the time of one completion went, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timings {
    /// Waiting for the engine (the previous request still finishing).
    pub queue_ms: f64,
    pub retrieve_ms: f64,
    pub prompt_ms: f64,
    pub prefill_ms: f64,
    pub decode_ms: f64,
    pub total_ms: f64,
}

/// One completion and what produced it.
#[derive(Clone, Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Completion {
    /// The text to insert at the cursor, or `None` when the model had nothing useful.
    pub text: Option<String>,
    /// What the model generated before post-processing.
    pub raw: String,
    pub prompt_tokens: usize,
    /// Prompt tokens whose KV cache was reused from the previous request.
    pub reused_prompt_tokens: usize,
    pub generated_tokens: usize,
    /// Speculative tokens proposed and accepted.
    pub proposed: usize,
    pub accepted: usize,
    pub stop_reason: String,
    /// Snippets that made it into the prompt.
    pub context: Vec<Snippet>,
    /// The prompt, readable (special tokens by name).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub prompt: String,
    pub timings: Timings,
}

#[derive(Debug, thiserror::Error)]
pub enum CompletionError {
    #[error("cancelled")]
    Cancelled,
    #[error("cursor offset {offset} is not inside the document ({len} bytes)")]
    BadOffset { offset: usize, len: usize },
    #[error("decoding failed: {0}")]
    Decode(String),
    #[error("model: {0}")]
    Model(#[from] hearth_model::ModelError),
    /// The model's server is down or too slow: no suggestion, and say so once.
    #[error("{0}")]
    Unavailable(String),
}

impl From<hearth_base::Cancelled> for CompletionError {
    fn from(_: hearth_base::Cancelled) -> Self {
        CompletionError::Cancelled
    }
}
