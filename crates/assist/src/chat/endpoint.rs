//! [`ChatEndpoint`]: a server that takes a conversation as messages and renders it with its own
//! template (OpenAI's `/v1/chat/completions`, Ollama's `/api/chat`), answering with text and with
//! tool calls it has parsed itself.

use hearth_base::CancelToken;
use hearth_decode::DecodeError;

use super::{Conversation, ToolCall};

/// One chat turn to ask for.
#[derive(Clone, Copy, Debug)]
pub struct ChatRequest<'a> {
    /// The messages and the tools offered (`tools` as the server takes them, not folded into text).
    /// A last message from the assistant is continued (the answer's opening, written for the model).
    pub conversation: &'a Conversation,
    pub max_tokens: usize,
    /// The turn must call a tool (OpenAI's `tool_choice: "required"`).
    pub require_tool: bool,
    /// Strings that end the answer (not part of it).
    pub stop: &'a [String],
}

/// The assistant's message as the server parsed it.
#[derive(Clone, Debug, Default)]
pub struct ChatReply {
    pub content: String,
    pub tool_calls: Vec<ToolCall>,
    /// What the server counted, where it says.
    pub prompt_tokens: Option<usize>,
    pub cached_prompt_tokens: Option<usize>,
    pub generated_tokens: Option<usize>,
    /// The turn stopped at `max_tokens`.
    pub truncated: bool,
}

/// A model behind a chat endpoint. A server that cannot take tools answers
/// `Err(DecodeError::Unsupported(..))`, and the caller decodes the locally rendered prompt instead.
pub trait ChatEndpoint: Send {
    /// The next assistant message; `on_text` sees its text as it comes.
    fn chat(&mut self, request: &ChatRequest<'_>, cancel: &CancelToken, on_text: &mut dyn FnMut(&str)) -> Result<ChatReply, DecodeError>;
}
