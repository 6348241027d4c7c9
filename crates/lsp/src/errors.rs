//! The JSON-RPC errors the server answers with: one constructor per kind, each code written once.

use tower_lsp::jsonrpc::{Error, ErrorCode};

/// LSP's `RequestFailed`: a valid request that could not be carried out (a cap was reached, the
/// model failed, a file could not be edited).
pub const REQUEST_FAILED: i64 = -32803;

/// Hearth's own server error: no model to complete with (none configured, or it failed to load).
/// The message says which; `hearth/status` says it too.
pub const MODEL_UNAVAILABLE: i64 = -32001;

/// `InvalidParams` (-32602): what the caller asked is wrong.
pub fn invalid_params(message: impl Into<String>) -> Error {
    Error { code: ErrorCode::InvalidParams, message: message.into().into(), data: None }
}

/// [`REQUEST_FAILED`], with what went wrong.
pub fn request_failed(message: impl Into<String>) -> Error {
    Error { code: ErrorCode::ServerError(REQUEST_FAILED), message: message.into().into(), data: None }
}

/// [`MODEL_UNAVAILABLE`], with why.
pub fn model_unavailable(message: impl Into<String>) -> Error {
    Error { code: ErrorCode::ServerError(MODEL_UNAVAILABLE), message: message.into().into(), data: None }
}

/// `RequestCancelled` (-32800): superseded by a newer request, or cancelled by the client.
pub fn cancelled() -> Error {
    Error::request_cancelled()
}

/// `ContentModified` (-32801): the document changed since the version the request was for.
pub fn content_modified(asked: i32, current: Option<i32>) -> Error {
    let now = current.map_or("closed".to_string(), |v| format!("at version {v}"));
    Error {
        code: ErrorCode::ContentModified,
        message: format!("the document changed: the request was for version {asked}, it is {now}").into(),
        data: None,
    }
}
