//! The assist engine: what Hearth does with a model and an index, independent of any editor protocol.
//!
//! [`completion`] turns a document and a cursor into a ghost-text completion: prompt templates, the token
//! budget, retrieval, decoding with prefix reuse and speculation, post-processing, latest-wins scheduling.
//! [`agent`] runs a model that calls tools until it answers, collecting its edits for review.
//! [`edit`] turns an instruction into reviewable repo-wide changes: planning, renames, model rewrites, safe apply.

pub mod agent;
pub mod chat;
pub mod completion;
pub mod edit;
pub mod nextedit;

pub use completion::{Completer, Completion, CompletionError, CompletionOptions, CompletionRequest, ContextSource, Snippet};
