//! The request handlers, one file per feature; `server.rs` holds the state they share and
//! dispatches the protocol's methods to them.

pub(crate) mod completion;
pub(crate) mod context;
pub(crate) mod edit;
pub(crate) mod status;
