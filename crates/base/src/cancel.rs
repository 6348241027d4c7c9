//! Cooperative cancellation: a cheap shared flag that long work checks between steps.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A shared flag. Clones observe the same state; cancelling is sticky.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

/// The work was cancelled before it finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cancelled")]
pub struct Cancelled;

/// Result of work that may be cancelled.
pub type Cancellable<T> = Result<T, Cancelled>;

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// `Err(Cancelled)` once cancelled; use with `?` between steps.
    pub fn check(&self) -> Cancellable<()> {
        if self.is_cancelled() {
            Err(Cancelled)
        } else {
            Ok(())
        }
    }

    /// A guard that cancels this token when dropped (for futures that get dropped on `$/cancelRequest`).
    pub fn drop_guard(&self) -> CancelOnDrop {
        CancelOnDrop { token: self.clone(), armed: true }
    }
}

/// Cancels its token on drop unless disarmed.
#[derive(Debug)]
pub struct CancelOnDrop {
    token: CancelToken,
    armed: bool,
}

impl CancelOnDrop {
    pub fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.armed {
            self.token.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_state_and_guard_cancels_on_drop() {
        let token = CancelToken::new();
        let clone = token.clone();
        assert!(clone.check().is_ok());
        drop(token.drop_guard());
        assert_eq!(clone.check(), Err(Cancelled));

        let other = CancelToken::new();
        other.drop_guard().disarm();
        assert!(!other.is_cancelled());
    }
}
