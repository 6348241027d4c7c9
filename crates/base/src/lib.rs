//! Base types every Hearth crate shares: cancellation tokens, text positions, and reading the user's
//! files safely.

pub mod cancel;
pub mod file;
pub mod text;

pub use cancel::{Cancellable, Cancelled, CancelToken};
pub use file::{read_regular, ReadError};
pub use text::{LineCol, LineIndex, PositionError, WideEncoding};
