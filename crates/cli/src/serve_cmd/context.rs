//! Retrieval for completions from the repository index: hearth-index behind assist's `ContextSource`
//! (the server's edits use the same index).

use std::path::Path;
use std::sync::Arc;

use hearth_assist::completion::{ContextQuery, ContextSource, Snippet};
use hearth_base::CancelToken;
use hearth_index::{approximate_tokens, Index, IndexOptions, RetrieveRequest};
use hearth_lsp::RepoContext;

pub struct IndexContext {
    index: Arc<Index>,
}

impl IndexContext {
    /// Opens (and builds or refreshes) the index of `root`, reporting progress as `(message, percent)`,
    /// until `cancel`.
    pub fn open(
        root: &Path,
        options: IndexOptions,
        cancel: &CancelToken,
        progress: &mut dyn FnMut(String, Option<u32>),
    ) -> anyhow::Result<IndexContext> {
        let index = Index::open(root, options)?;
        let stats = index.sync_until(cancel, &mut |p| {
            let percent = (p.files_total > 0).then(|| (100 * p.files_done / p.files_total) as u32);
            progress(format!("{}/{} files", p.files_done, p.files_total), percent);
        })?;
        tracing::info!("index of {}: {} files indexed, {} unchanged", root.display(), stats.files_indexed, stats.files_unchanged);
        Ok(IndexContext { index: Arc::new(index) })
    }

    pub fn shared(self) -> Arc<dyn ContextSource> {
        Arc::new(self)
    }

    /// For the server: retrieval for completions, and the same index for `hearth.edit`.
    pub fn into_repo(self) -> RepoContext {
        let index = self.index.clone();
        RepoContext { source: self.shared(), index: Some(index) }
    }
}

impl ContextSource for IndexContext {
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
        match self.index.retrieve(&request) {
            Ok(snippets) => snippets
                .into_iter()
                .map(|s| Snippet {
                    path: s.path,
                    start_line: s.start_line,
                    end_line: s.end_line,
                    text: s.text,
                    reason: s.reason.to_string(),
                    score: s.score,
                })
                .collect(),
            Err(e) => {
                tracing::warn!("retrieval failed: {e}");
                Vec::new()
            }
        }
    }
}
