//! The file watcher: notify events, debounced into batches on a thread of its own, sent to the live
//! index's queue. A batch that touches git's HEAD or refs (a checkout, a pull) becomes one full sync;
//! other batches re-index just their paths.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher as _};

use crate::{Index, IndexError, Update};

/// Quiet time that ends a batch.
const DEBOUNCE: Duration = Duration::from_millis(150);
/// A batch is cut after this long even if events keep coming.
const MAX_BATCH_DELAY: Duration = Duration::from_secs(2);

/// A running watcher; dropping it stops the thread.
pub(crate) struct WatchHandle {
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

/// Watch `index`'s root until the handle is dropped, sending each batch to `send`.
pub(crate) fn start(index: &Arc<Index>, send: impl Fn(Update) + Send + 'static) -> Result<WatchHandle, IndexError> {
    let (tx, rx) = mpsc::channel::<notify::Result<notify::Event>>();
    let mut watcher = notify::recommended_watcher(tx)?;
    watcher.watch(index.root(), RecursiveMode::Recursive)?;
    let stop = Arc::new(AtomicBool::new(false));
    let thread_stop = Arc::clone(&stop);
    let git_dir = index.root().join(".git");
    let index_dir = index.dir().to_path_buf();
    let thread = std::thread::Builder::new()
        .name("hearth-index-watch".into())
        .spawn(move || run(&git_dir, &index_dir, &rx, &thread_stop, &send))
        .map_err(|e| IndexError::io(index.root(), e))?;
    Ok(WatchHandle { stop, thread: Some(thread), _watcher: watcher })
}

fn run(git_dir: &Path, index_dir: &Path, rx: &mpsc::Receiver<notify::Result<notify::Event>>, stop: &AtomicBool, send: &dyn Fn(Update)) {
    while !stop.load(Ordering::Acquire) {
        let first = match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(event) => event,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
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
                    if path.starts_with(index_dir) {
                        continue;
                    }
                    if let Ok(inside) = path.strip_prefix(git_dir) {
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
        if git_changed {
            send(Update::Sync);
        } else if !paths.is_empty() {
            send(Update::Paths(paths));
        }
    }
}
