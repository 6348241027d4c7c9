//! Retrieval behind a small trait, so completion works without an index and uses one when present.

use hearth_base::CancelToken;

/// A fragment of another file that may help the model.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snippet {
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
    pub text: String,
    pub reason: String,
    pub score: f32,
}

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
