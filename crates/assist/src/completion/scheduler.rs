//! Latest-wins scheduling: a new request for a document cancels the one still running for it, and
//! the debounce policy that spaces their starts.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hearth_base::CancelToken;

/// Tracks the running request per key (a document); starting one cancels its predecessor.
#[derive(Debug)]
pub struct LatestWins<K> {
    running: Mutex<HashMap<K, Running>>,
    last_start: Mutex<HashMap<K, Instant>>,
    next_id: AtomicU64,
}

#[derive(Debug)]
struct Running {
    id: u64,
    token: CancelToken,
}

/// The right to run one request; it leaves the table when dropped.
#[derive(Debug)]
pub struct Ticket<K: Eq + Hash + Clone> {
    owner: Arc<LatestWins<K>>,
    key: K,
    id: u64,
    /// Cancelled when a newer request for the same key starts (or by whoever else holds a clone).
    pub token: CancelToken,
    /// Time since the previous request for this key started, if any.
    pub since_previous: Option<Duration>,
}

impl<K: Eq + Hash + Clone> Default for LatestWins<K> {
    fn default() -> Self {
        LatestWins { running: Mutex::default(), last_start: Mutex::default(), next_id: AtomicU64::new(0) }
    }
}

impl<K: Eq + Hash + Clone> LatestWins<K> {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Starts a request for `key`, cancelling the one running for it.
    pub fn begin(self: &Arc<Self>, key: K) -> Ticket<K> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let token = CancelToken::new();
        let previous = lock(&self.running).insert(key.clone(), Running { id, token: token.clone() });
        if let Some(previous) = previous {
            previous.token.cancel();
        }
        let now = Instant::now();
        let since_previous = lock(&self.last_start).insert(key.clone(), now).map(|t| now - t);
        Ticket { owner: self.clone(), key, id, token, since_previous }
    }

    /// Requests running now.
    pub fn running(&self) -> usize {
        lock(&self.running).len()
    }

    /// Cancels whatever runs for `key` (the document closed).
    pub fn cancel(&self, key: &K) {
        if let Some(running) = lock(&self.running).remove(key) {
            running.token.cancel();
        }
        lock(&self.last_start).remove(key);
    }
}

impl<K: Eq + Hash + Clone> Drop for Ticket<K> {
    fn drop(&mut self) {
        let mut running = lock(&self.owner.running);
        if running.get(&self.key).is_some_and(|r| r.id == self.id) {
            running.remove(&self.key);
        }
    }
}

/// At most one decode start per document per `interval`: a request that comes sooner after the
/// previous one waits out the rest (and is dropped if a newer one arrives meanwhile).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompletionDebounce {
    pub interval: Duration,
}

impl CompletionDebounce {
    pub fn new(interval: Duration) -> Self {
        CompletionDebounce { interval }
    }

    /// How long a request should wait before it starts, given the time since the previous request
    /// for the same document started (`None`: it is the first); `None` when it may start at once.
    pub fn wait(&self, since_previous: Option<Duration>) -> Option<Duration> {
        let wait = self.interval.checked_sub(since_previous?)?;
        (!wait.is_zero()).then_some(wait)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_request_cancels_only_the_previous_one_for_the_same_key() {
        let sched = LatestWins::new();
        let a1 = sched.begin("a.py");
        let b1 = sched.begin("b.py");
        assert!(a1.since_previous.is_none());
        let a2 = sched.begin("a.py");
        assert!(a1.token.is_cancelled());
        assert!(!b1.token.is_cancelled());
        assert!(!a2.token.is_cancelled());
        assert!(a2.since_previous.is_some());
        assert_eq!(sched.running(), 2);
        drop(a1); // finishing a superseded request leaves the newer one in place
        assert_eq!(sched.running(), 2);
        drop(a2);
        assert_eq!(sched.running(), 1);
        sched.cancel(&"b.py");
        assert!(b1.token.is_cancelled());
    }

    #[test]
    fn debounce_waits_out_only_the_rest_of_the_interval() {
        let ms = Duration::from_millis;
        let debounce = CompletionDebounce::new(ms(30));
        assert_eq!(debounce.wait(None), None, "the first request starts at once");
        assert_eq!(debounce.wait(Some(ms(10))), Some(ms(20)));
        assert_eq!(debounce.wait(Some(ms(30))), None);
        assert_eq!(debounce.wait(Some(ms(500))), None);
        assert_eq!(CompletionDebounce::new(Duration::ZERO).wait(Some(Duration::ZERO)), None, "0 turns it off");
    }
}
