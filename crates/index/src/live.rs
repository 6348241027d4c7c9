//! The index kept current while the user works: one ordered queue of updates (editor overlays, saved
//! and watched paths, full syncs) applied on a thread of its own, debounced, and committed on a short
//! cadence so that retrieval sees a change within a second.
//!
//! Order is the invariant: an open→close→reopen of a document, sent from any thread, ends in the
//! state of the last message, never in a stale overlay.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::watch::WatchHandle;
use crate::{Index, IndexError, SyncStats};

/// One change to apply, in the order sent.
#[derive(Clone, Debug)]
pub enum Update {
    /// The editor holds `text` for `path` (absolute or root-relative); it masks the disk.
    Overlay { path: PathBuf, text: Arc<str> },
    /// The editor closed `path`: the disk is the truth again.
    ClearOverlay(PathBuf),
    /// These files or directories changed on disk (a save, `didChangeWatchedFiles`, the watcher).
    Paths(Vec<PathBuf>),
    /// Walk the whole tree again (a git checkout, a pull, a batch too large to go path by path).
    Sync,
}

/// What a batch of updates did, for the caller's log or status.
#[derive(Debug)]
pub enum LiveEvent {
    Updated {
        overlays: usize,
        paths: usize,
        stats: SyncStats,
    },
    /// The whole tree was synced.
    Synced {
        stats: SyncStats,
    },
    Failed(IndexError),
}

/// When a batch of updates is applied: once no update came for `quiet`, and at the latest `max`
/// after its first update, so that steady typing still reaches the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Debounce {
    pub quiet: Duration,
    pub max: Duration,
}

impl Debounce {
    /// Keystrokes coalesce; a change still shows within a second (the commit follows at once).
    pub const EDITS: Debounce = Debounce { quiet: Duration::from_millis(100), max: Duration::from_millis(400) };

    /// When a batch that began at `first` and last grew at `last` is due.
    pub fn due(&self, first: Instant, last: Instant) -> Instant {
        (last + self.quiet).min(first + self.max)
    }
}

/// Writes are committed once none came for this long: one Tantivy commit per burst, not per edit.
const COMMIT_IDLE: Duration = Duration::from_millis(100);
/// More paths than this in one batch: a full sync is cheaper than path by path.
const MAX_BATCH_PATHS: usize = 256;

enum Message {
    Update(Update),
    /// Apply everything sent before, commit, then answer.
    Flush(mpsc::Sender<()>),
}

/// The updates of one batch, reduced to their effect: the last overlay operation per path (in the
/// order of first mention), the changed paths, and whether to sync the whole tree.
#[derive(Default)]
struct Batch {
    overlays: Vec<(PathBuf, Option<Arc<str>>)>,
    overlay_slot: HashMap<PathBuf, usize>,
    paths: Vec<PathBuf>,
    sync: bool,
    flushes: Vec<mpsc::Sender<()>>,
}

impl Batch {
    fn push(&mut self, message: Message) {
        match message {
            Message::Update(Update::Overlay { path, text }) => self.overlay(path, Some(text)),
            Message::Update(Update::ClearOverlay(path)) => self.overlay(path, None),
            Message::Update(Update::Paths(paths)) => self.paths.extend(paths),
            Message::Update(Update::Sync) => self.sync = true,
            Message::Flush(reply) => self.flushes.push(reply),
        }
    }

    fn overlay(&mut self, path: PathBuf, text: Option<Arc<str>>) {
        match self.overlay_slot.get(&path) {
            Some(&i) => self.overlays[i].1 = text,
            None => {
                self.overlay_slot.insert(path.clone(), self.overlays.len());
                self.overlays.push((path, text));
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.overlays.is_empty() && self.paths.is_empty() && !self.sync
    }

    fn apply(mut self, index: &Index, on_event: &dyn Fn(LiveEvent)) -> Vec<mpsc::Sender<()>> {
        let mut stats = SyncStats::default();
        let overlays = self.overlays.len();
        for (path, text) in self.overlays.drain(..) {
            let done = match text {
                Some(text) => index.set_overlay(&path, &text),
                None => index.clear_overlay(&path),
            };
            match done {
                Ok(()) => stats.files_indexed += 1,
                // Outside the root (a file opened from elsewhere) is not an error worth a word.
                Err(IndexError::OutsideRoot(_)) => {}
                Err(e) => on_event(LiveEvent::Failed(e)),
            }
        }
        self.paths.sort();
        self.paths.dedup();
        if self.sync || self.paths.len() > MAX_BATCH_PATHS {
            match index.sync(&mut |_| {}) {
                Ok(stats) => on_event(LiveEvent::Synced { stats }),
                Err(e) => on_event(LiveEvent::Failed(e)),
            }
        } else if !self.paths.is_empty() {
            match index.update_paths(&self.paths) {
                Ok(paths) => {
                    stats.files_indexed += paths.files_indexed;
                    stats.files_removed += paths.files_removed;
                    stats.skipped = paths.skipped;
                    on_event(LiveEvent::Updated { overlays, paths: self.paths.len(), stats });
                }
                Err(e) => on_event(LiveEvent::Failed(e)),
            }
        } else if overlays > 0 {
            on_event(LiveEvent::Updated { overlays, paths: 0, stats });
        }
        self.flushes
    }
}

/// An [`Index`] kept current from an ordered queue, optionally fed by a file watcher. Dropping it
/// applies what is queued, commits, and stops its threads.
pub struct LiveIndex {
    index: Arc<Index>,
    tx: Mutex<Option<mpsc::Sender<Message>>>,
    worker: Option<JoinHandle<()>>,
    watch: Mutex<Option<WatchHandle>>,
}

impl LiveIndex {
    /// Starts the queue's thread. `on_event` runs there after each batch.
    pub fn start(index: Arc<Index>, debounce: Debounce, on_event: impl Fn(LiveEvent) + Send + 'static) -> Result<LiveIndex, IndexError> {
        let (tx, rx) = mpsc::channel();
        let worker_index = Arc::clone(&index);
        let worker = std::thread::Builder::new()
            .name("hearth-index-live".into())
            .spawn(move || run(&worker_index, &rx, debounce, &on_event))
            .map_err(|e| IndexError::io(index.root(), e))?;
        Ok(LiveIndex { index, tx: Mutex::new(Some(tx)), worker: Some(worker), watch: Mutex::default() })
    }

    /// Also follow changes made outside the editor (a checkout, a formatter, another tool) with a
    /// `notify` watcher on the root. A batch that touches git's HEAD or refs becomes one [`Update::Sync`].
    pub fn watch(&self) -> Result<(), IndexError> {
        let tx = self.sender().ok_or(IndexError::ReadOnly)?;
        let handle = crate::watch::start(&self.index, move |update| {
            let _ = tx.send(Message::Update(update));
        })?;
        *self.watch.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        Ok(())
    }

    pub fn index(&self) -> &Arc<Index> {
        &self.index
    }

    /// Queues `update` behind every update sent before it; never blocks.
    pub fn send(&self, update: Update) {
        if let Some(tx) = self.sender() {
            let _ = tx.send(Message::Update(update));
        }
    }

    /// Waits until every update sent before is applied and committed.
    pub fn flush(&self) {
        let (reply, done) = mpsc::channel();
        if let Some(tx) = self.sender() {
            if tx.send(Message::Flush(reply)).is_ok() {
                let _ = done.recv();
            }
        }
    }

    fn sender(&self) -> Option<mpsc::Sender<Message>> {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for LiveIndex {
    fn drop(&mut self) {
        // The watcher first: it sends into the queue.
        self.watch.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

fn run(index: &Index, rx: &mpsc::Receiver<Message>, debounce: Debounce, on_event: &dyn Fn(LiveEvent)) {
    loop {
        let first = match rx.recv_timeout(COMMIT_IDLE / 2) {
            Ok(message) => message,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Err(e) = index.commit_if_idle(COMMIT_IDLE) {
                    on_event(LiveEvent::Failed(e));
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let started = Instant::now();
        let mut last = started;
        let mut batch = Batch::default();
        batch.push(first);
        let mut disconnected = false;
        // A flush ends the wait at once; otherwise collect until the batch is due.
        while batch.flushes.is_empty() {
            let wait = debounce.due(started, last).saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(message) => {
                    batch.push(message);
                    last = Instant::now();
                }
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    disconnected = true;
                    break;
                }
            }
        }
        let flushes = if batch.is_empty() { batch.flushes } else { batch.apply(index, on_event) };
        if !flushes.is_empty() || disconnected {
            if let Err(e) = index.commit() {
                on_event(LiveEvent::Failed(e));
            }
            for reply in flushes {
                let _ = reply.send(());
            }
        }
        if disconnected {
            break;
        }
    }
    if let Err(e) = index.commit() {
        on_event(LiveEvent::Failed(e));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debounce_waits_for_quiet_but_not_past_its_maximum() {
        let d = Debounce { quiet: Duration::from_millis(100), max: Duration::from_millis(400) };
        let t0 = Instant::now();
        assert_eq!(d.due(t0, t0), t0 + Duration::from_millis(100));
        let later = t0 + Duration::from_millis(250);
        assert_eq!(d.due(t0, later), t0 + Duration::from_millis(350));
        let steady = t0 + Duration::from_millis(390);
        assert_eq!(d.due(t0, steady), t0 + Duration::from_millis(400));
    }

    #[test]
    fn a_batch_keeps_the_last_overlay_operation_per_path_in_first_mention_order() {
        let mut batch = Batch::default();
        let text = |s: &str| Arc::<str>::from(s);
        let (a, b) = (PathBuf::from("a.py"), PathBuf::from("b.py"));
        batch.push(Message::Update(Update::Overlay { path: a.clone(), text: text("1") }));
        batch.push(Message::Update(Update::Overlay { path: b.clone(), text: text("x") }));
        batch.push(Message::Update(Update::ClearOverlay(a.clone())));
        batch.push(Message::Update(Update::Overlay { path: b.clone(), text: text("y") }));
        let ops: Vec<(PathBuf, Option<&str>)> = batch.overlays.iter().map(|(p, t)| (p.clone(), t.as_deref())).collect();
        assert_eq!(ops, [(a.clone(), None), (b, Some("y"))]);
        batch.push(Message::Update(Update::Overlay { path: a.clone(), text: text("2") }));
        assert_eq!(batch.overlays[0], (a, Some(text("2"))));
    }
}
