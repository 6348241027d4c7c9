//! The repository index: walking, git state, Tantivy storage, freshness and retrieval.
//!
//! One [`Index`] per repository root, on disk under the user's cache directory. Open it, [`Index::sync`]
//! it (the first sync is the full build; later ones re-read only changed files), keep it current with a
//! [`LiveIndex`] (the editor's unsaved text, saves, a file watcher, in one ordered queue), and ask it for
//! [`Index::retrieve`], [`Index::symbols`] and [`Index::references`]. See `ARCHITECTURE.md` beside
//! this crate's `Cargo.toml` for the design.

mod git;
mod live;
mod resolve;
mod retrieve;
mod schema;
mod store;
mod tokenizer;
mod walk;
mod watch;

use std::path::{Path, PathBuf};

pub use git::GitState;
pub use live::{Debounce, LiveEvent, LiveIndex, Update};
pub use retrieve::{approximate_tokens, Reason, RetrieveRequest, Snippet};
pub use schema::SCHEMA_VERSION;
pub use store::{Index, IndexOptions, IndexStats, Location, Progress, SearchHit, SymbolDef, SyncStats};
pub use tokenizer::identifier_parts;
/// Public for `examples/tokenizer_speed.rs`; the index registers it itself.
#[doc(hidden)]
pub use tokenizer::CodeTokenizer;
pub use walk::{source_files, SkipReason, Skipped};

/// Everything that can go wrong in the index.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("cannot index {}: {source}", root.display())]
    Root { root: PathBuf, source: std::io::Error },
    #[error("no cache directory on this system; pass IndexOptions::index_dir")]
    NoCacheDir,
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{} is outside the indexed root", .0.display())]
    OutsideRoot(PathBuf),
    #[error("the index is read-only: another process is writing it")]
    ReadOnly,
    #[error("tantivy: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error(transparent)]
    Syntax(#[from] hearth_syntax::SyntaxError),
    #[error("watcher: {0}")]
    Watch(#[from] notify::Error),
    #[error("cancelled")]
    Cancelled,
}

impl IndexError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        IndexError::Io { path: path.to_path_buf(), source }
    }
}
