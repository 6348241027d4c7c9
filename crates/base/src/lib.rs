//! Base types every Hearth crate shares: cancellation tokens and text positions.

pub mod cancel;
pub mod text;

pub use cancel::{Cancellable, Cancelled, CancelToken};
pub use text::{LineCol, LineIndex, PositionError, WideEncoding};
