//! The file watcher: notify events, debounced into batches on a thread of its own. A batch that touches
//! git's HEAD or refs (a checkout, a pull) becomes one full sync; other batches re-index just their paths.
//! The thread also commits pending writes (its own batches, overlays) once they have been idle a moment.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher as _};

use crate::{Index, IndexError, SyncStats};

/// Quiet time that ends a batch.
const DEBOUNCE: Duration = Duration::from_millis(150);
/// A batch is cut after this long even if events keep coming.
const MAX_BATCH_DELAY: Duration = Duration::from_secs(2);
/// More paths than this in a batch: a full sync is cheaper than path by path.
const MAX_BATCH_PATHS: usize = 256;
/// Uncommitted writes (batches, overlays) are committed once none came for this long.
const COMMIT_IDLE: Duration = Duration::from_millis(500);

/// What a batch did, for the caller's logs or status line.
#[derive(Debug)]
pub enum WatchEvent {
    Updated {
        paths: usize,
        stats: SyncStats,
    },
    /// Git state changed (checkout, commit, pull) or the batch was large: the whole tree was synced.
    Synced {
        stats: SyncStats,
    },
    Failed(IndexError),
}

/// A running watcher; dropping it stops the thread.
pub struct WatchHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    _watcher: notify::RecommendedWatcher,
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Index {
    /// Watch the root and keep the index fresh until the handle is dropped. `on_batch` runs on the
    /// watcher thread after each batch.
    pub fn watch(
        self: &Arc<Self>,
        on_batch: impl Fn(WatchEvent) + Send + 'static,
    ) -> Result<WatchHandle, IndexError> {
        let (tx, rx) = mpsc::channel::<notify::Result<notify::Event>>();
        let mut watcher = notify::recommended_watcher(tx)?;
        watcher.watch(self.root(), RecursiveMode::Recursive)?;
        let stop = Arc::new(AtomicBool::new(false));
        let index = Arc::clone(self);
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("hearth-index-watch".into())
            .spawn(move || run(&index, &rx, &thread_stop, &on_batch))
            .map_err(|e| IndexError::io(self.root(), e))?;
        Ok(WatchHandle {
            stop,
            thread: Some(thread),
            _watcher: watcher,
        })
    }
}

fn run(
    index: &Index,
    rx: &mpsc::Receiver<notify::Result<notify::Event>>,
    stop: &AtomicBool,
    on_batch: &dyn Fn(WatchEvent),
) {
    let git_dir = index.root().join(".git");
    let index_dir = index.dir().to_path_buf();
    while !stop.load(Ordering::Acquire) {
        let first = match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(event) => event,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Err(e) = index.commit_if_idle(COMMIT_IDLE) {
                    on_batch(WatchEvent::Failed(e));
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        let started = Instant::now();
        let mut paths: Vec<PathBuf> = Vec::new();
        let mut git_changed = false;
        let mut take = |event: notify::Result<notify::Event>| match event {
            Ok(event) => {
                if matches!(event.kind, notify::EventKind::Access(_)) {
                    return;
                }
                for path in event.paths {
                    if path.starts_with(&index_dir) {
                        continue;
                    }
                    if let Ok(inside) = path.strip_prefix(&git_dir) {
                        let name = inside.to_string_lossy();
                        if name == "HEAD" || name.starts_with("refs") || name == "packed-refs" {
                            git_changed = true;
                        }
                        continue;
                    }
                    paths.push(path);
                }
            }
            Err(e) => tracing::debug!("watch: {e}"),
        };
        take(first);
        while started.elapsed() < MAX_BATCH_DELAY {
            match rx.recv_timeout(DEBOUNCE) {
                Ok(event) => take(event),
                Err(_) => break,
            }
        }
        paths.sort();
        paths.dedup();
        if git_changed || paths.len() > MAX_BATCH_PATHS {
            match index.sync(&mut |_| {}) {
                Ok(stats) => on_batch(WatchEvent::Synced { stats }),
                Err(e) => on_batch(WatchEvent::Failed(e)),
            }
        } else if !paths.is_empty() {
            match index.update_paths(&paths) {
                Ok(stats) => on_batch(WatchEvent::Updated {
                    paths: paths.len(),
                    stats,
                }),
                Err(e) => on_batch(WatchEvent::Failed(e)),
            }
        }
    }
}
