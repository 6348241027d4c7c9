//! The coding agent: a model that calls tools (the index, file reads, gated edits, renames, allowed
//! commands) until it answers, with every edit collected for review.
//!
//! ```text
//! session::run(&AgentRequest, &mut dyn AgentModel, &Workspace, Option<&Index>, &mut dyn Confirm, cancel, on_event)
//!   -> AgentOutcome { answer, stop, files: Vec<FileChange>, transcript, .. }   // nothing written
//! ```
//!
//! Each turn renders the conversation with the model's own chat template ([`model::ChatModel`]),
//! decodes under the call grammar ([`grammar`]) so that a call the model opens always parses in its
//! format ([`format`]), runs the call ([`tools`]) and sends back its result. Old tool output is
//! dropped with a visible marker when the context would overflow; nothing is cut silently.

mod command;
pub mod format;
pub mod grammar;
mod model;
mod prompt;
pub mod schema;
mod session;
mod tools;

pub use command::{AlwaysAnswer, Approval, CommandPolicy, Confirm, RunOutput};
pub use model::{AgentModel, ChatModel, Response, ScriptedModel};
pub use prompt::{repository_map, SYSTEM};
pub use session::{run, AgentEvent, AgentOutcome, AgentRequest, AgentStop, Budget};
pub use tools::{schemas, tool_specs, ToolResult, Toolbox};

/// What stops an agent session (a tool's failure is not one: it goes back to the model).
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("the task is empty")]
    EmptyTask,
    #[error("cancelled")]
    Cancelled,
    #[error("the model: {0}")]
    Model(String),
    #[error("the prompt needs {needed} tokens but the model's context holds {capacity}")]
    ContextFull { needed: usize, capacity: usize },
    #[error(transparent)]
    Chat(#[from] crate::chat::ChatError),
    #[error("decoding: {0}")]
    Decode(hearth_decode::DecodeError),
    #[error(transparent)]
    Edit(#[from] crate::edit::EditError),
}

impl From<hearth_base::Cancelled> for AgentError {
    fn from(_: hearth_base::Cancelled) -> Self {
        AgentError::Cancelled
    }
}

impl From<hearth_decode::DecodeError> for AgentError {
    fn from(e: hearth_decode::DecodeError) -> Self {
        match e {
            hearth_decode::DecodeError::Cancelled => AgentError::Cancelled,
            e => AgentError::Decode(e),
        }
    }
}
