//! Retrieval behind a small trait, so completion works without an index and uses one when present;
//! the repository index is the one real source.

use std::path::Path;

use hearth_base::CancelToken;
use hearth_index::{approximate_tokens, Index, RetrieveRequest};

/// A fragment of another file that may help the model, and why it was chosen.
pub use hearth_index::{Reason, Snippet};

/// Where the cursor is, for retrieval.
#[derive(Clone, Copy, Debug)]
pub struct ContextQuery<'a> {
    /// Path of the document, relative to the workspace root when it is inside it.
    pub path: Option<&'a str>,
    pub text: &'a str,
    pub offset: usize,
    pub language: Option<&'a str>,
}

/// Finds snippets for a cursor within about `budget_tokens` tokens, best first.
pub trait ContextSource: Send + Sync {
    fn retrieve(&self, query: &ContextQuery, budget_tokens: usize, cancel: &CancelToken) -> Vec<Snippet>;
}

/// The repository index: the cursor's file as the editor has it, snippets from the rest. A failed
/// retrieval is logged and gives no context; the completion goes on without it.
impl ContextSource for Index {
    fn retrieve(&self, query: &ContextQuery, budget_tokens: usize, cancel: &CancelToken) -> Vec<Snippet> {
        let Some(path) = query.path else { return Vec::new() };
        if cancel.is_cancelled() {
            return Vec::new();
        }
        let request = RetrieveRequest {
            path: Path::new(path),
            text: Some(query.text),
            offset: query.offset,
            budget_tokens,
            count_tokens: &approximate_tokens,
        };
        Index::retrieve(self, &request).unwrap_or_else(|e| {
            tracing::warn!("retrieval failed: {e}");
            Vec::new()
        })
    }
}
