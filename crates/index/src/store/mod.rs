//! The [`Index`]: a Tantivy index on disk plus the in-memory tables retrieval reads (`state`), kept
//! fresh by full syncs, path batches and editor overlays (`write`), read by `query`. This file holds
//! the public types and opening: an existing index is loaded, a stale or corrupt one rebuilt.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use hearth_base::CancelToken;
use hearth_syntax::{analyze, Language, SymbolKind};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use tantivy::collector::{Count, DocSetCollector, TopDocs};
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::tokenizer::{TextAnalyzer, TokenStream, Tokenizer};
use tantivy::{IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::git::GitState;
use crate::schema::{self, Fields, SegmentColumns, StoredSymbol, DOC_CHUNK, DOC_FILE, SCHEMA_VERSION};
use crate::tokenizer::{self, CodeTokenizer, CODE_TOKENIZER};
use crate::walk::{self, Candidate, SkipReason, Skipped};
use crate::IndexError;

/// Recent edits remembered for retrieval.
const MAX_RECENT_EDITS: usize = 16;
/// Name of the file beside the Tantivy files that records the schema version and the root.
const META_FILE: &str = "hearth.json";

/// How to open an index. `Default` suits a daemon.
#[derive(Clone, Debug)]
pub struct IndexOptions {
    /// Where the index lives; default [`Index::default_dir`].
    pub index_dir: Option<PathBuf>,
    /// Files larger than this are skipped unread (default 1 MiB).
    pub max_file_size: u64,
    /// Total source bytes the index holds at most (default 4 GiB); files past it are skipped unread.
    pub max_index_bytes: u64,
    /// Parser threads for syncs (default: available cores).
    pub threads: usize,
    /// Tantivy writer heap (default 64 MiB; Tantivy needs at least 15 MiB).
    pub writer_memory: usize,
}

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions {
            index_dir: None,
            max_file_size: 1 << 20,
            max_index_bytes: 4 << 30,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            writer_memory: 64 << 20,
        }
    }
}

/// A definition, as `symbols(name)` returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SymbolDef {
    /// Root-relative, `/`-separated.
    pub path: Arc<str>,
    pub name: String,
    pub kind: SymbolKind,
    pub scope: Option<String>,
    pub signature: String,
    /// Zero-based lines of the whole definition, end inclusive.
    pub start_line: u32,
    pub end_line: u32,
    /// Zero-based line and byte column of the name.
    pub name_line: u32,
    pub name_col: u32,
}

/// One occurrence of a name, as `references(name)` returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Location {
    pub path: String,
    /// Zero-based line and byte column.
    pub line: u32,
    pub col: u32,
    pub start_byte: usize,
    pub end_byte: usize,
}

/// A chunk that matched `search`.
#[derive(Clone, Debug, Serialize)]
pub struct SearchHit {
    pub path: String,
    pub kind: String,
    pub name: String,
    pub start_line: u32,
    pub end_line: u32,
    pub score: f32,
}

/// Where a sync stands, for progress bars.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub files_done: usize,
    pub files_total: usize,
    pub bytes_done: u64,
}

/// What a sync or update did.
#[derive(Clone, Debug, Default)]
pub struct SyncStats {
    /// Files the walk (or the batch) considered.
    pub files_seen: usize,
    /// Files parsed and written.
    pub files_indexed: usize,
    /// Files whose size or mtime changed but whose content did not.
    pub files_unchanged: usize,
    pub files_removed: usize,
    pub bytes_indexed: u64,
    pub symbols: usize,
    pub chunks: usize,
    pub skipped: Vec<Skipped>,
    pub elapsed: Duration,
}

/// Totals of the whole index.
#[derive(Clone, Debug, Serialize)]
pub struct IndexStats {
    pub files: usize,
    pub source_bytes: u64,
    pub symbols: usize,
    pub chunks: u64,
    pub index_bytes: u64,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    schema_version: u32,
    root: PathBuf,
}

mod query;
mod state;
mod write;

pub(crate) use state::{dir_of, file_name, FastMap, FileEntry, OpenFiles, RecentEdit, State, SymbolEntry};

/// The index of one repository root. Share it with `Arc`: every method takes `&self`; writes are
/// serialized inside, reads never wait for Tantivy writes.
pub struct Index {
    root: PathBuf,
    dir: PathBuf,
    options: IndexOptions,
    tantivy: tantivy::Index,
    pub(crate) fields: Fields,
    pub(crate) reader: IndexReader,
    /// None when another process holds the writer lock: the index is then read-only.
    writer: Mutex<Option<IndexWriter>>,
    pub(crate) state: RwLock<State>,
    /// When the last uncommitted write happened (None: Tantivy is up to date with `state`).
    pending_since: Mutex<Option<Instant>>,
    rebuild_reason: Option<String>,
    /// How many chunks use each name, as retrieval ranks members by it, for one searcher generation.
    pub(crate) popularity: Mutex<NameCounts>,
}

/// Document frequencies of names, counted in the searcher generation `generation`.
#[derive(Default)]
pub(crate) struct NameCounts {
    pub generation: u64,
    pub counts: HashMap<Arc<str>, u64>,
}

impl Drop for Index {
    fn drop(&mut self) {
        if let Err(e) = self.commit() {
            tracing::warn!("index at {}: last commit failed: {e}", self.dir.display());
        }
    }
}

/// Threads for `items` work items when `threads` are asked for: 1 to 16, and no more than the items.
pub(crate) fn worker_count(threads: usize, items: usize) -> usize {
    threads.clamp(1, 16).min(items.max(1))
}

/// `f` over every item on [`worker_count`] threads, each taking the next item as it finishes one;
/// the results in item order.
pub(crate) fn map_on_threads<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..worker_count(threads, items.len()))
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else {
                            return done;
                        };
                        done.push((i, f(item)));
                    }
                })
            })
            .collect();
        workers.into_iter().flat_map(|worker| worker.join().expect("a worker thread panicked")).collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Index {
    /// The default index directory for a root: `<cache dir>/hearth/index/<hash of the root path>`.
    pub fn default_dir(root: &Path) -> Option<PathBuf> {
        let key = xxhash_rust::xxh3::xxh3_64(root.to_string_lossy().as_bytes());
        Some(dirs::cache_dir()?.join("hearth").join("index").join(format!("{key:016x}")))
    }

    /// Open (or create) the index of `root`. An index with another schema version, or one Tantivy cannot
    /// read, is deleted and recreated empty, with a warning saying why ([`Index::rebuild_reason`]). Call
    /// [`Index::sync`] next to bring it up to date: it only re-reads files whose size or mtime changed.
    pub fn open(root: &Path, options: IndexOptions) -> Result<Index, IndexError> {
        let root = root.canonicalize().map_err(|e| IndexError::Root { root: root.to_path_buf(), source: e })?;
        if !root.is_dir() {
            return Err(IndexError::Root { root, source: std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory") });
        }
        let dir = match &options.index_dir {
            Some(dir) => dir.clone(),
            None => Self::default_dir(&root).ok_or(IndexError::NoCacheDir)?,
        };
        match Self::open_existing(&root, &dir, &options) {
            Ok(Some(index)) => Ok(index),
            Ok(None) => Self::create(root, dir, options, None),
            Err(reason) => {
                tracing::warn!("index at {} {reason}: rebuilding it from scratch", dir.display());
                std::fs::remove_dir_all(&dir).map_err(|e| IndexError::io(&dir, e))?;
                Self::create(root, dir, options, Some(reason))
            }
        }
    }

    /// Ok(None): nothing there yet. Err(reason): something there that must be rebuilt.
    fn open_existing(root: &Path, dir: &Path, options: &IndexOptions) -> Result<Option<Index>, String> {
        let meta_path = dir.join(META_FILE);
        let meta = match std::fs::read(&meta_path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let empty = std::fs::read_dir(dir).map(|mut d| d.next().is_none()).unwrap_or(true);
                return if empty { Ok(None) } else { Err(format!("has no {META_FILE}")) };
            }
            Err(e) => return Err(format!("has an unreadable {META_FILE} ({e})")),
        };
        let meta: Meta = serde_json::from_slice(&meta).map_err(|e| format!("has a corrupt {META_FILE} ({e})"))?;
        if meta.schema_version != SCHEMA_VERSION {
            return Err(format!("has schema version {}, this build uses {SCHEMA_VERSION}", meta.schema_version));
        }
        let tantivy = tantivy::Index::open_in_dir(dir).map_err(|e| format!("cannot be opened ({e})"))?;
        let corrupt = tantivy.validate_checksum().map_err(|e| format!("cannot be checked ({e})"))?;
        if !corrupt.is_empty() {
            let mut names: Vec<String> = corrupt.iter().map(|p| p.display().to_string()).collect();
            names.sort();
            return Err(format!("is corrupt (bad checksum in {})", names.join(", ")));
        }
        let index = Self::assemble(root.to_path_buf(), dir.to_path_buf(), options.clone(), tantivy, None)
            .map_err(|e| format!("cannot be opened ({e})"))?;
        index.load_state().map_err(|e| format!("cannot be read ({e})"))?;
        Ok(Some(index))
    }

    fn create(root: PathBuf, dir: PathBuf, options: IndexOptions, reason: Option<String>) -> Result<Index, IndexError> {
        std::fs::create_dir_all(&dir).map_err(|e| IndexError::io(&dir, e))?;
        let (schema, _) = schema::build();
        let settings = tantivy::IndexSettings {
            docstore_compression: tantivy::store::Compressor::Zstd(tantivy::store::ZstdCompressor::default()),
            ..tantivy::IndexSettings::default()
        };
        let tantivy = tantivy::Index::builder().schema(schema).settings(settings).create_in_dir(&dir)?;
        let meta = Meta { schema_version: SCHEMA_VERSION, root: root.clone() };
        let meta_path = dir.join(META_FILE);
        std::fs::write(&meta_path, serde_json::to_vec_pretty(&meta).expect("meta serializes"))
            .map_err(|e| IndexError::io(&meta_path, e))?;
        Self::assemble(root, dir, options, tantivy, reason)
    }

    fn assemble(
        root: PathBuf,
        dir: PathBuf,
        options: IndexOptions,
        tantivy: tantivy::Index,
        rebuild_reason: Option<String>,
    ) -> Result<Index, IndexError> {
        tantivy.tokenizers().register(CODE_TOKENIZER, TextAnalyzer::from(CodeTokenizer::default()));
        let (_, fields) = schema::build();
        let reader = tantivy.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let writer = match tantivy.writer_with_num_threads(1, options.writer_memory.max(15 << 20)) {
            Ok(writer) => {
                // A process killed mid-commit leaves files (`<segment>.<opstamp>.del`) the next commit would collide with.
                if let Err(e) = writer.garbage_collect_files().wait() {
                    tracing::warn!("cleaning up the index at {}: {e}", dir.display());
                }
                Some(writer)
            }
            Err(tantivy::TantivyError::LockFailure(..)) => {
                tracing::warn!("index at {} is being written by another process: opening it read-only", dir.display());
                None
            }
            Err(e) => return Err(e.into()),
        };
        let root_name = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(Index {
            root,
            dir,
            options,
            tantivy,
            fields,
            reader,
            writer: Mutex::new(writer),
            state: RwLock::new(State::with_root_name(root_name)),
            pending_since: Mutex::new(None),
            rebuild_reason,
            popularity: Mutex::default(),
        })
    }

    /// Fill the in-memory tables from the file documents.
    fn load_state(&self) -> tantivy::Result<()> {
        let searcher = self.reader.searcher();
        let query = TermQuery::new(Term::from_field_text(self.fields.doc_type, DOC_FILE), IndexRecordOption::Basic);
        let mut addresses: Vec<_> = searcher.search(&query, &DocSetCollector)?.into_iter().collect();
        addresses.sort();
        let mut columns = SegmentColumns::new(&searcher);
        let mut state = self.write_state();
        for address in addresses {
            let doc: TantivyDocument = searcher.doc(address)?;
            let text = |f| schema::doc_str(&doc, f).to_string();
            let num = |f| schema::doc_u64(&doc, f);
            let rel = columns.path(address)?;
            let Some(lang) = Language::from_name(&text(self.fields.lang)) else {
                continue;
            };
            let stored: Vec<StoredSymbol> = serde_json::from_str(&text(self.fields.symbols))
                .map_err(|e| tantivy::TantivyError::InvalidArgument(format!("symbols of {rel}: {e}")))?;
            let mut scopes = Interner::default();
            let symbols: Vec<(String, SymbolEntry)> = stored
                .into_iter()
                .filter_map(|s| {
                    let entry = SymbolEntry {
                        file: 0,
                        kind: SymbolKind::parse(&s.k)?,
                        start_byte: s.b,
                        end_byte: s.d,
                        scope: s.p.as_deref().map(|p| scopes.get(p)),
                        start_line: s.s,
                        end_line: s.e,
                        name_line: s.l,
                        name_col: s.c,
                    };
                    Some((s.n, entry))
                })
                .collect();
            let entry = FileEntry {
                id: 0,
                lang,
                hash: num(self.fields.hash),
                size: num(self.fields.size),
                mtime_ns: num(self.fields.mtime),
                defined: Box::default(),
            };
            state.insert_file(&rel, entry, symbols);
            let generated = (num(self.fields.generated) as usize).checked_sub(1).and_then(|at| walk::GENERATED_MARKERS.get(at));
            if let Some(&marker) = generated {
                state.skipped.insert(rel, SkipReason::Generated { marker });
            }
        }
        Ok(())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Why the index was rebuilt on open, if it was.
    pub fn rebuild_reason(&self) -> Option<&str> {
        self.rebuild_reason.as_deref()
    }

    /// Whether another process holds the writer (updates then fail with [`IndexError::ReadOnly`]).
    pub fn is_read_only(&self) -> bool {
        lock(&self.writer).is_none()
    }

    pub(crate) fn read_state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Root-relative path of `path` (absolute, or already relative to the root).
    pub fn relative_path(&self, path: &Path) -> Option<String> {
        if path.is_relative() {
            return walk::relative(Path::new(""), path).or_else(|| walk::relative(&self.root, &self.root.join(path)));
        }
        walk::relative(&self.root, path).or_else(|| {
            let canonical = path.canonicalize().ok().or_else(|| {
                let parent = path.parent()?.canonicalize().ok()?;
                Some(parent.join(path.file_name()?))
            })?;
            walk::relative(&self.root, &canonical)
        })
    }
}

/// Shares equal strings (scopes repeat for every member of a type).
#[derive(Default)]
struct Interner(HashMap<String, Arc<str>>);

impl Interner {
    fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(shared) = self.0.get(s) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(s);
        self.0.insert(s.to_string(), shared.clone());
        shared
    }
}
