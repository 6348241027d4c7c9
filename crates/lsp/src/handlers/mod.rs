//! The request handlers, one file per feature, over the state in `state.rs`; `server.rs`
//! dispatches the protocol's methods to them.

pub(crate) mod agent;
pub(crate) mod completion;
pub(crate) mod context;
pub(crate) mod edit;
pub(crate) mod next_edit;
pub(crate) mod status;
