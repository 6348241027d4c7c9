//! Base types every Hearth crate shares: cancellation tokens, text positions, reading the user's
//! files safely, and the one percentile definition.

pub mod cancel;
pub mod file;
pub mod stats;
pub mod text;

pub use cancel::{CancelToken, Cancellable, Cancelled};
pub use file::{read_regular, ReadError};
pub use text::{LineCol, LineIndex, PositionError, WideEncoding};
