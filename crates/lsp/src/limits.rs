//! Resource caps for completion requests: at most `concurrent` run at once, at most `queued` wait for a
//! slot, and past that a request is refused at once (load shedding) with an error naming the cap.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hearth_base::CancelToken;
use tokio::sync::Notify;

/// The caps in force for one request (read from the settings each time, so a change applies at once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caps {
    /// Requests decoding at once.
    pub concurrent: usize,
    /// Requests waiting for a slot; one more is refused.
    pub queued: usize,
}

/// Why a request got no slot.
#[derive(Debug, PartialEq, Eq)]
pub enum Shed {
    /// The queue was full: refused without waiting.
    QueueFull { queued: usize },
    /// Cancelled while it waited.
    Cancelled,
}

#[derive(Default)]
struct Counts {
    running: usize,
    waiting: usize,
}

/// Counts running and waiting requests; shared by every request of a session.
#[derive(Default)]
pub struct Limiter {
    counts: Mutex<Counts>,
    freed: Notify,
}

/// A running slot; dropping it frees the slot.
pub struct Slot {
    limiter: Arc<Limiter>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.limiter.counts().running -= 1;
        self.limiter.freed.notify_waiters();
    }
}

/// Leaves the queue when a waiting request is dropped (its future cancelled) or gets a slot.
struct Waiting<'a>(&'a Limiter);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.counts().waiting -= 1;
    }
}

impl Limiter {
    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// (running, waiting) now.
    pub fn load(&self) -> (usize, usize) {
        let c = self.counts();
        (c.running, c.waiting)
    }

    /// A slot when one is free; else waits in the queue (leaving it when `token` is cancelled), or is
    /// refused when the queue already holds `caps.queued` requests.
    pub async fn acquire(self: &Arc<Self>, caps: Caps, token: &CancelToken) -> Result<Slot, Shed> {
        let concurrent = caps.concurrent.max(1);
        {
            let mut c = self.counts();
            if c.running < concurrent {
                c.running += 1;
                return Ok(Slot { limiter: self.clone() });
            }
            if c.waiting >= caps.queued {
                return Err(Shed::QueueFull { queued: caps.queued });
            }
            c.waiting += 1;
        }
        let _waiting = Waiting(self);
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable(); // registered before the check, so a slot freed in between wakes it
            {
                let mut c = self.counts();
                if c.running < concurrent {
                    c.running += 1;
                    return Ok(Slot { limiter: self.clone() });
                }
            }
            if token.is_cancelled() {
                return Err(Shed::Cancelled);
            }
            // The token has no waker: look at it again now and then.
            let _ = tokio::time::timeout(Duration::from_millis(20), freed).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn past_the_queue_a_request_is_refused_and_freed_slots_go_to_the_queue() {
        let limiter = Arc::new(Limiter::default());
        let caps = Caps { concurrent: 1, queued: 2 };
        let token = CancelToken::new();
        let first = limiter.acquire(caps, &token).await.unwrap();
        let a = tokio::spawn({
            let (limiter, token) = (limiter.clone(), token.clone());
            async move { limiter.acquire(caps, &token).await.map(drop) }
        });
        let cancelled = CancelToken::new();
        let b = tokio::spawn({
            let (limiter, token) = (limiter.clone(), cancelled.clone());
            async move { limiter.acquire(caps, &token).await.map(drop) }
        });
        while limiter.load() != (1, 2) {
            tokio::task::yield_now().await;
        }
        assert_eq!(limiter.acquire(caps, &token).await.err(), Some(Shed::QueueFull { queued: 2 }));
        cancelled.cancel();
        assert_eq!(b.await.unwrap(), Err(Shed::Cancelled));
        drop(first);
        assert_eq!(a.await.unwrap(), Ok(()));
        assert_eq!(limiter.load(), (0, 0));
    }
}
