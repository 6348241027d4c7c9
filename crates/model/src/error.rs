//! The one error type of hearth-model: every variant names the file or the model it is about.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {message}")]
    BadFile { path: PathBuf, message: String },
    #[error("{path}: unknown architecture `{arch}` (supported: qwen2, qwen3, qwen3moe, llama, starcoder2, gemma3)")]
    UnknownArchitecture { path: PathBuf, arch: String },
    #[error("{path}: tokenizer has {tokenizer} tokens but the model expects at most {model} ({hint})")]
    VocabMismatch { path: PathBuf, tokenizer: usize, model: usize, hint: &'static str },
    #[error("model `{spec}` not found: {message}")]
    NotFound { spec: String, message: String },
    #[error("the context is full: {needed} positions needed, the cache holds {capacity}")]
    ContextFull { needed: usize, capacity: usize },
    /// The model does not fit in the free memory of the GPU the user asked for.
    #[error("{0}")]
    DoesNotFit(String),
    #[error("empty input: at least one token is needed")]
    EmptyInput,
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

pub type Result<T, E = ModelError> = std::result::Result<T, E>;

impl ModelError {
    pub(crate) fn bad_file(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        ModelError::BadFile { path: path.into(), message: message.to_string() }
    }
}

/// Attaches a file to a candle error raised while reading it.
pub(crate) trait InFile<T> {
    fn in_file(self, path: &std::path::Path) -> Result<T>;
}

impl<T, E: std::fmt::Display> InFile<T> for std::result::Result<T, E> {
    fn in_file(self, path: &std::path::Path) -> Result<T> {
        self.map_err(|e| ModelError::bad_file(path, first_line(&e.to_string())))
    }
}

/// candle errors may carry a backtrace after the first line; users get one line.
fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_string()
}
