//! The [`Index`]: a Tantivy index on disk plus the in-memory tables retrieval reads, kept fresh by full
//! syncs, path batches and editor overlays.

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
use crate::schema::{self, Fields, SegmentColumns, DOC_CHUNK, DOC_FILE, SCHEMA_VERSION};
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

/// Compact form of a symbol in a file document's stored JSON.
#[derive(Serialize, Deserialize)]
struct StoredSymbol {
    n: String,
    k: String,
    s: u32,
    e: u32,
    l: u32,
    c: u32,
    b: u32,
    d: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    p: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct FileEntry {
    /// The file's slot in `State::paths`; symbol entries name their file by it.
    pub id: u32,
    pub lang: Language,
    pub hash: u64,
    pub size: u64,
    /// 0 when the indexed text came from an overlay (the next sync re-reads the disk).
    pub mtime_ns: u64,
    /// Distinct names this file defines (shared with the keys of `State::symbols`).
    pub defined: Box<[Arc<str>]>,
}

/// A definition as the symbol table keeps it: compact, 48 bytes (the name is the table's key, the file
/// an id; the signature is read from the file when a caller asks for it).
#[derive(Clone, Debug)]
pub(crate) struct SymbolEntry {
    /// Id of the defining file: `State::path(file)`.
    pub file: u32,
    pub scope: Option<Arc<str>>,
    pub kind: SymbolKind,
    /// Bytes from the start of the definition's first line to its end, for reading just that.
    pub start_byte: u32,
    pub end_byte: u32,
    pub start_line: u32,
    pub end_line: u32,
    pub name_line: u32,
    pub name_col: u32,
}

#[derive(Clone, Debug)]
pub(crate) struct RecentEdit {
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
    pub at: Instant,
}

/// The definitions of one name. Most names have exactly one: it lives inline, with no allocation.
pub(crate) type Definitions = SmallVec<[SymbolEntry; 1]>;

/// The in-memory tables' map: foldhash, seeded per process (the std hasher was a visible share of a
/// cold build, at three lookups per symbol).
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// What retrieval reads without touching the disk index.
#[derive(Default)]
pub(crate) struct State {
    pub files: FastMap<String, FileEntry>,
    /// The path of each file id; None marks a free slot, reused by the next new file.
    paths: Vec<Option<Arc<str>>>,
    free_ids: Vec<u32>,
    /// File ids per directory ("" for the root), sorted: retrieval's same-directory test.
    dirs: FastMap<String, Vec<u32>>,
    /// File ids per file name (`mod.rs`, `_base.py`): import resolution's suffix lookup.
    names: FastMap<String, Vec<u32>>,
    /// File ids per last two path components (`futures/_base.py`): the same lookup for suffixes
    /// of a common name (`pkg/__init__.py`), without scanning every `__init__.py`.
    tails: FastMap<String, Vec<u32>>,
    pub symbols: FastMap<Arc<str>, Definitions>,
    pub overlays: HashMap<String, Arc<str>>,
    pub recent_edits: VecDeque<RecentEdit>,
    pub git: GitState,
    /// Files of a parsed language that were seen but not indexed, and why: a repository-wide
    /// rename must not pass over them in silence.
    pub skipped: BTreeMap<String, SkipReason>,
}

impl State {
    /// The path of a file id that a symbol entry holds ("" for a stale id, which the table never holds).
    pub fn path(&self, id: u32) -> &Arc<str> {
        static NONE: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| Arc::from(""));
        self.paths.get(id as usize).and_then(Option::as_ref).unwrap_or(&NONE)
    }

    /// The sorted ids of the indexed files directly in `dir` ("" for the root).
    pub fn files_in_dir(&self, dir: &str) -> &[u32] {
        self.dirs.get(dir).map_or(&[], Vec::as_slice)
    }

    /// The id of an indexed file.
    pub fn file_id(&self, rel: &str) -> Option<u32> {
        self.files.get(rel).map(|f| f.id)
    }

    /// The ids of the indexed files whose path ends in `suffix` at a `/` boundary (or is it).
    pub fn files_ending_with(&self, suffix: &str) -> Vec<u32> {
        let ids = if suffix.contains('/') { self.tails.get(tail_of(suffix)) } else { self.names.get(suffix) };
        let Some(ids) = ids else {
            return Vec::new();
        };
        ids.iter()
            .copied()
            .filter(|&id| {
                let path = self.path(id);
                path.strip_suffix(suffix).is_some_and(|head| head.is_empty() || head.ends_with('/'))
            })
            .collect()
    }

    /// The files of the directory that ends in `suffix` at a `/` boundary (or is it); of several,
    /// the one nearest the root, then the first by name.
    pub fn dir_ending_with(&self, suffix: &str) -> Option<&[u32]> {
        self.dirs
            .iter()
            .filter(|(dir, _)| dir.strip_suffix(suffix).is_some_and(|head| head.is_empty() || head.ends_with('/')))
            .min_by_key(|(dir, _)| (dir.len(), dir.as_str()))
            .map(|(_, ids)| ids.as_slice())
    }

    /// The definitions in one file, in file order.
    pub fn file_symbols(&self, id: u32) -> Vec<(Arc<str>, &SymbolEntry)> {
        let Some(entry) = self.files.get(&**self.path(id)) else {
            return Vec::new();
        };
        let mut out: Vec<(Arc<str>, &SymbolEntry)> = entry
            .defined
            .iter()
            .filter_map(|name| self.symbols.get(&**name).map(|defs| (name, defs)))
            .flat_map(|(name, defs)| defs.iter().filter(|d| d.file == id).map(move |d| (name.clone(), d)))
            .collect();
        out.sort_by_key(|(_, d)| (d.start_line, d.name_line));
        out
    }

    fn remove_file(&mut self, rel: &str) -> bool {
        let Some(entry) = self.files.remove(rel) else {
            return false;
        };
        for name in entry.defined.iter() {
            if let Some(defs) = self.symbols.get_mut(&**name) {
                defs.retain(|d| d.file != entry.id);
                if defs.is_empty() {
                    self.symbols.remove(&**name);
                }
            }
        }
        self.paths[entry.id as usize] = None;
        for (map, key) in [(&mut self.names, file_name(rel)), (&mut self.tails, tail_of(rel))] {
            if let Some(ids) = map.get_mut(key) {
                ids.retain(|&id| id != entry.id);
                if ids.is_empty() {
                    map.remove(key);
                }
            }
        }
        if let Some(ids) = self.dirs.get_mut(dir_of(rel)) {
            ids.retain(|&id| id != entry.id);
            if ids.is_empty() {
                self.dirs.remove(dir_of(rel));
            }
        }
        self.free_ids.push(entry.id);
        true
    }

    /// Replace a file's symbols; `entry.defined` is filled here, sharing the table's name keys.
    fn insert_file(&mut self, rel: &str, mut entry: FileEntry, symbols: Vec<(String, SymbolEntry)>) {
        self.remove_file(rel);
        self.skipped.remove(rel);
        let path: Arc<str> = Arc::from(rel);
        entry.id = match self.free_ids.pop() {
            Some(id) => {
                self.paths[id as usize] = Some(path);
                id
            }
            None => {
                self.paths.push(Some(path));
                (self.paths.len() - 1) as u32
            }
        };
        let ids = self.dirs.entry(dir_of(rel).to_string()).or_default();
        if let Err(at) = ids.binary_search(&entry.id) {
            ids.insert(at, entry.id);
        }
        self.names.entry(file_name(rel).to_string()).or_default().push(entry.id);
        self.tails.entry(tail_of(rel).to_string()).or_default().push(entry.id);
        let mut defined: Vec<Arc<str>> = Vec::with_capacity(symbols.len());
        for (name, mut symbol) in symbols {
            symbol.file = entry.id;
            let key = match self.symbols.get_key_value(name.as_str()) {
                Some((key, _)) => key.clone(),
                None => Arc::from(name),
            };
            self.symbols.entry(key.clone()).or_default().push(symbol);
            defined.push(key);
        }
        // Keys are shared, so equal names are the same pointer.
        defined.sort_unstable_by_key(|name| Arc::as_ptr(name).cast::<u8>());
        defined.dedup_by(|a, b| Arc::ptr_eq(a, b));
        entry.defined = defined.into_boxed_slice();
        self.files.insert(rel.to_string(), entry);
    }
}

/// The last component of a root-relative path.
pub(crate) fn file_name(rel: &str) -> &str {
    rel.rsplit_once('/').map_or(rel, |(_, name)| name)
}

/// Files opened for span reads during one retrieval: a file read at several spans is opened once.
#[derive(Default)]
pub(crate) struct OpenFiles(HashMap<String, Option<std::fs::File>>);

impl OpenFiles {
    fn open(&mut self, root: &Path, rel: &str) -> Option<&std::fs::File> {
        if !self.0.contains_key(rel) {
            let file = hearth_base::file::open_regular(&root.join(rel)).ok();
            self.0.insert(rel.to_string(), file);
        }
        self.0.get(rel)?.as_ref()
    }
}

/// The last two components of a root-relative path (the whole path if it has fewer).
fn tail_of(rel: &str) -> &str {
    match rel.rmatch_indices('/').nth(1) {
        Some((at, _)) => &rel[at + 1..],
        None => rel,
    }
}

/// The directory part of a root-relative path ("" for a file at the root).
pub(crate) fn dir_of(rel: &str) -> &str {
    rel.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// A file parsed and turned into documents, ready to write.
struct Prepared {
    rel: String,
    entry: FileEntry,
    symbols: Vec<(String, SymbolEntry)>,
    docs: Vec<TantivyDocument>,
    chunks: usize,
}

enum Outcome {
    Indexed(Box<Prepared>),
    Unchanged { rel: String, size: u64, mtime_ns: u64 },
    Skipped(Skipped),
}

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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
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
        Ok(Index {
            root,
            dir,
            options,
            tantivy,
            fields,
            reader,
            writer: Mutex::new(writer),
            state: RwLock::new(State::default()),
            pending_since: Mutex::new(None),
            rebuild_reason,
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

    /// Bring the index up to date with the working tree: walk it (honouring ignore files), re-read files
    /// whose size or mtime changed, re-parse those whose content hash changed, drop files that are gone,
    /// and commit once. Files with an overlay are left to the overlay. `progress` is called after each
    /// file. The first sync of a new index is the full build.
    pub fn sync(&self, progress: &mut dyn FnMut(Progress)) -> Result<SyncStats, IndexError> {
        self.sync_until(&CancelToken::new(), progress)
    }

    /// [`Index::sync`] that stops reading files once `cancel` is set (the server's client went away),
    /// commits the files read so far (the next sync does the rest), and returns [`IndexError::Cancelled`].
    pub fn sync_until(&self, cancel: &CancelToken, progress: &mut dyn FnMut(Progress)) -> Result<SyncStats, IndexError> {
        let started = Instant::now();
        let mut skipped = Vec::new();
        let git = GitState::read(&self.root);
        let walked = walk::walk(&self.root, &self.root, false, self.options.max_file_size, &git.tracked, &mut skipped);
        let present: HashSet<&str> = walked.iter().map(|c| c.rel.as_str()).collect();
        {
            let mut state = self.write_state();
            state.git = git;
            // Skipped files that are gone (the walk saw them neither as candidates nor as skipped).
            let walk_skipped: HashSet<&str> = skipped.iter().map(|s| s.path.as_str()).collect();
            state.skipped.retain(|rel, _| present.contains(rel.as_str()) || walk_skipped.contains(rel.as_str()));
        }
        let (to_read, removed, seen) = {
            let state = self.read_state();
            let removed: Vec<String> = state
                .files
                .keys()
                .filter(|rel| !present.contains(String::as_str(rel)) && !state.overlays.contains_key(*rel))
                .cloned()
                .collect();
            let seen = walked.len();
            let to_read: Vec<Candidate> = walked
                .into_iter()
                .filter(|c| !state.overlays.contains_key(&c.rel))
                .filter(|c| state.files.get(&c.rel).is_none_or(|f| f.size != c.size || f.mtime_ns != c.mtime_ns))
                .collect();
            let to_read = cap_total_size(&state.files, &removed, to_read, self.options.max_index_bytes, &mut skipped);
            (to_read, removed, seen)
        };
        let mut stats = self.apply(to_read, removed, skipped, cancel, progress, true)?;
        stats.files_seen = seen;
        stats.elapsed = started.elapsed();
        Ok(stats)
    }

    /// Re-index just these paths (files or directories, absolute or root-relative) in one commit: changed
    /// files are re-parsed, vanished ones dropped, ignore rules still apply. The watcher calls this.
    /// The in-memory tables change at once; the Tantivy commit is left to [`Index::commit`] (the
    /// watcher commits once writes have been idle for a moment).
    pub fn update_paths(&self, paths: &[PathBuf]) -> Result<SyncStats, IndexError> {
        let started = Instant::now();
        let mut skipped = Vec::new();
        let mut candidates: HashMap<String, Candidate> = HashMap::new();
        let mut removed = Vec::new();
        let mut dirs_walked = HashSet::new();
        let mut filter = walk::DirFilter::new(&self.root);
        let tracked = self.read_state().git.tracked.clone();
        for path in paths {
            let abs = if path.is_absolute() { path.clone() } else { self.root.join(path) };
            let Some(rel) = self.relative_path(&abs) else {
                continue;
            };
            let in_walked_dir = if abs.is_dir() { filter.is_walked(&abs) } else { abs.parent().is_some_and(|p| filter.is_walked(p)) };
            if !in_walked_dir {
                // Inside an ignored or vendored directory (or one that is gone): not ours, unless git
                // tracks it.
                let max = self.options.max_file_size;
                let kept = if abs.is_dir() {
                    walk::walk(&self.root, &abs, false, max, &tracked, &mut skipped)
                        .into_iter()
                        .filter(|c| tracked.contains(&c.rel))
                        .collect()
                } else if tracked.contains(&rel) {
                    walk::tracked_candidate(&self.root, &rel, max, &mut skipped).into_iter().collect()
                } else {
                    Vec::new()
                };
                for c in kept {
                    candidates.insert(c.rel.clone(), c);
                }
                removed.push(rel);
                continue;
            }
            if abs.is_dir() {
                for c in walk::walk(&self.root, &abs, false, self.options.max_file_size, &tracked, &mut skipped) {
                    candidates.insert(c.rel.clone(), c);
                }
                continue;
            }
            let Some(parent) = abs.parent() else { continue };
            let accepted = if dirs_walked.insert(parent.to_path_buf()) {
                walk::walk(&self.root, parent, true, self.options.max_file_size, &tracked, &mut skipped)
            } else {
                Vec::new()
            };
            for c in accepted {
                candidates.insert(c.rel.clone(), c);
            }
            if !candidates.contains_key(&rel) {
                removed.push(rel);
            }
        }
        let wanted: HashSet<String> = paths.iter().filter_map(|p| self.relative_path(&self.root.join(p))).collect();
        let (to_read, removed) = {
            let state = self.read_state();
            // A deleted directory: everything known under it goes.
            let mut gone: Vec<String> = removed
                .into_iter()
                .flat_map(|rel| {
                    let prefix = format!("{rel}/");
                    let mut under: Vec<String> = state.files.keys().filter(|k| k.starts_with(&prefix)).cloned().collect();
                    if state.files.contains_key(&rel) {
                        under.push(rel);
                    }
                    under
                })
                .filter(|rel| !state.overlays.contains_key(rel) && !candidates.contains_key(rel))
                .collect();
            gone.sort();
            gone.dedup();
            let to_read: Vec<Candidate> = candidates
                .into_values()
                .filter(|c| wanted.contains(&c.rel) || wanted.iter().any(|w| c.rel.starts_with(&format!("{w}/"))))
                .filter(|c| !state.overlays.contains_key(&c.rel))
                .collect();
            (to_read, gone)
        };
        skipped.retain(|s| wanted.contains(&s.path));
        let seen = to_read.len();
        let never = CancelToken::new();
        let mut stats = self.apply(to_read, removed, skipped, &never, &mut |_| {}, false)?;
        stats.files_seen = seen;
        stats.elapsed = started.elapsed();
        Ok(stats)
    }

    /// HEAD's commit id as of the last sync.
    pub fn git_head(&self) -> Option<String> {
        self.read_state().git.head.clone()
    }

    /// Read, parse and write `to_read`, delete `removed`, commit once (the caller fills in
    /// `files_seen`).
    fn apply(
        &self,
        to_read: Vec<Candidate>,
        removed: Vec<String>,
        mut skipped: Vec<Skipped>,
        cancel: &CancelToken,
        progress: &mut dyn FnMut(Progress),
        commit_now: bool,
    ) -> Result<SyncStats, IndexError> {
        let mut guard = lock(&self.writer);
        let writer = guard.as_mut().ok_or(IndexError::ReadOnly)?;
        let mut stats = SyncStats::default();
        for s in &skipped {
            tracing::info!("skipping {}: {}", s.path, s.reason);
        }
        let mut to_delete: Vec<String> = removed;
        to_delete.extend(skipped.iter().map(|s| s.path.clone()));
        let known_hashes: HashMap<String, u64> = {
            let state = self.read_state();
            to_read.iter().filter_map(|c| Some((c.rel.clone(), state.files.get(&c.rel)?.hash))).collect()
        };
        let total = to_read.len();
        let mut progress_state = Progress { files_done: 0, files_total: total, bytes_done: 0 };
        let next = AtomicUsize::new(0);
        let threads = worker_count(self.options.threads, total);
        std::thread::scope(|scope| -> Result<(), IndexError> {
            // Small: each outcome holds a parsed file's documents.
            let (tx, rx) = mpsc::sync_channel::<Outcome>(2 * threads);
            for _ in 0..threads {
                let tx = tx.clone();
                let (next, to_read, known_hashes, fields) = (&next, &to_read, &known_hashes, self.fields);
                let max_size = self.options.max_file_size;
                scope.spawn(move || loop {
                    if cancel.is_cancelled() {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(c) = to_read.get(i) else { break };
                    let outcome = prepare_from_disk(&fields, c, known_hashes.get(&c.rel).copied(), max_size);
                    if tx.send(outcome).is_err() {
                        break;
                    }
                });
            }
            drop(tx);
            for outcome in rx {
                match outcome {
                    Outcome::Indexed(prepared) => {
                        stats.bytes_indexed += prepared.entry.size;
                        progress_state.bytes_done += prepared.entry.size;
                        self.write_prepared(writer, *prepared, &mut stats)?;
                    }
                    Outcome::Unchanged { rel, size, mtime_ns } => {
                        stats.files_unchanged += 1;
                        if let Some(entry) = self.write_state().files.get_mut(&rel) {
                            entry.size = size;
                            entry.mtime_ns = mtime_ns;
                        }
                    }
                    Outcome::Skipped(s) => {
                        tracing::info!("skipping {}: {}", s.path, s.reason);
                        to_delete.push(s.path.clone());
                        skipped.push(s);
                    }
                }
                progress_state.files_done += 1;
                progress(progress_state);
            }
            Ok(())
        })?;
        {
            let mut state = self.write_state();
            for rel in &to_delete {
                writer.delete_term(Term::from_field_text(self.fields.path, rel));
                state.skipped.remove(rel);
                if state.remove_file(rel) {
                    stats.files_removed += 1;
                }
            }
            for s in &skipped {
                state.skipped.insert(s.path.clone(), s.reason.clone());
            }
        }
        if stats.files_indexed > 0 || !to_delete.is_empty() {
            self.mark_pending();
        }
        if commit_now {
            self.commit_locked(writer)?;
        }
        stats.skipped = skipped;
        if cancel.is_cancelled() {
            return Err(IndexError::Cancelled);
        }
        Ok(stats)
    }

    fn write_prepared(&self, writer: &IndexWriter, prepared: Prepared, stats: &mut SyncStats) -> Result<(), IndexError> {
        writer.delete_term(Term::from_field_text(self.fields.path, &prepared.rel));
        for doc in prepared.docs {
            writer.add_document(doc)?;
        }
        stats.files_indexed += 1;
        stats.symbols += prepared.symbols.len();
        stats.chunks += prepared.chunks;
        self.write_state().insert_file(&prepared.rel, prepared.entry, prepared.symbols);
        Ok(())
    }

    /// Index `text` as the content of `path` (an open document's unsaved text). The overlay wins over the
    /// disk until [`Index::clear_overlay`]; the changed lines count as a recent edit for retrieval.
    /// Costs one single-file parse; the symbol table changes at once, BM25 sees it after the next
    /// [`Index::commit`]. Callers debounce keystrokes.
    pub fn set_overlay(&self, path: &Path, text: &str) -> Result<(), IndexError> {
        let rel = self.relative_path(path).ok_or_else(|| IndexError::OutsideRoot(path.to_path_buf()))?;
        let lang = Language::from_path(Path::new(&rel));
        let previous = self.text_of(&rel);
        {
            let mut state = self.write_state();
            state.overlays.insert(rel.clone(), Arc::from(text));
            if let Some(previous) = previous {
                if let Some((start_line, end_line)) = changed_lines(&previous, text) {
                    state.recent_edits.retain(|e| !(e.path == rel && e.start_line <= end_line && start_line <= e.end_line));
                    state.recent_edits.push_front(RecentEdit { path: rel.clone(), start_line, end_line, at: Instant::now() });
                    state.recent_edits.truncate(MAX_RECENT_EDITS);
                }
            }
        }
        let Some(lang) = lang else { return Ok(()) };
        let outcome = prepare_text(&self.fields, rel.clone(), lang, text, 0);
        self.write_single(rel, outcome)
    }

    /// Drop the overlay of `path` and re-index it from the disk (or drop it if the file is gone).
    pub fn clear_overlay(&self, path: &Path) -> Result<(), IndexError> {
        let rel = self.relative_path(path).ok_or_else(|| IndexError::OutsideRoot(path.to_path_buf()))?;
        if self.write_state().overlays.remove(&rel).is_none() {
            return Ok(());
        }
        self.update_paths(&[PathBuf::from(&rel)]).map(|_| ())
    }

    fn write_single(&self, rel: String, outcome: Result<Prepared, SkipReason>) -> Result<(), IndexError> {
        let mut guard = lock(&self.writer);
        let writer = guard.as_mut().ok_or(IndexError::ReadOnly)?;
        match outcome {
            Ok(prepared) => self.write_prepared(writer, prepared, &mut SyncStats::default())?,
            Err(reason) => {
                tracing::info!("skipping {rel}: {reason}");
                writer.delete_term(Term::from_field_text(self.fields.path, &rel));
                self.write_state().remove_file(&rel);
            }
        }
        self.mark_pending();
        Ok(())
    }

    fn mark_pending(&self) {
        *lock(&self.pending_since) = Some(Instant::now());
    }

    fn commit_locked(&self, writer: &mut IndexWriter) -> Result<bool, IndexError> {
        if lock(&self.pending_since).take().is_none() {
            return Ok(false);
        }
        writer.commit()?;
        self.reader.reload()?;
        Ok(true)
    }

    /// Make every write so far durable and visible to BM25 search and `references` (one Tantivy commit,
    /// with its fsyncs). Single-file updates and path batches leave this to the caller or the watcher;
    /// `sync`, `search`, `references` and `stats` do it themselves. Returns whether there was anything.
    pub fn commit(&self) -> Result<bool, IndexError> {
        match lock(&self.writer).as_mut() {
            Some(writer) => self.commit_locked(writer),
            None => Ok(false),
        }
    }

    /// Whether some write is not yet committed (not yet seen by BM25 search).
    pub fn has_uncommitted(&self) -> bool {
        lock(&self.pending_since).is_some()
    }

    /// [`Index::commit`] if there are writes and none in the last `idle`.
    pub fn commit_if_idle(&self, idle: Duration) -> Result<bool, IndexError> {
        let due = lock(&self.pending_since).is_some_and(|since| since.elapsed() >= idle);
        if due {
            self.commit()
        } else {
            Ok(false)
        }
    }

    /// At most `max_lines` whole lines of a file from byte `start` (a line start) up to byte `end`: from
    /// the overlay, else read from the disk without reading the rest of the file.
    pub(crate) fn read_span(&self, rel: &str, start: usize, end: usize, max_lines: u32, files: &mut OpenFiles) -> Option<String> {
        const MAX_SPAN_BYTES: usize = 16 << 10;
        let end = end.min(start + MAX_SPAN_BYTES);
        let overlay = self.read_state().overlays.get(rel).cloned();
        let bytes = match overlay {
            Some(text) => text.as_bytes().get(start..end.min(text.len()))?.to_vec(),
            None => {
                use std::io::{Read, Seek, SeekFrom};
                let mut file = files.open(&self.root, rel)?;
                file.seek(SeekFrom::Start(start as u64)).ok()?;
                let mut bytes = Vec::with_capacity(end.saturating_sub(start));
                file.take(end.saturating_sub(start) as u64).read_to_end(&mut bytes).ok()?;
                bytes
            }
        };
        let valid = match std::str::from_utf8(&bytes) {
            Ok(text) => text,
            Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).ok()?,
        };
        let lines: Vec<&str> = valid.lines().take(max_lines as usize).collect();
        (!lines.is_empty()).then(|| lines.join("\n"))
    }

    /// The indexed files (root-relative paths) with their languages, in path order.
    pub fn files(&self) -> Vec<(String, Language)> {
        let mut files: Vec<(String, Language)> = self.read_state().files.iter().map(|(rel, entry)| (rel.clone(), entry.lang)).collect();
        files.sort();
        files
    }

    /// The indexed files, root-relative and sorted (files with an unsaved overlay included).
    pub fn file_paths(&self) -> Vec<String> {
        let mut files: Vec<String> = self.read_state().files.keys().cloned().collect();
        files.sort();
        files
    }

    /// Files of a parsed language that the index saw and left out (too large, binary, not UTF-8,
    /// minified, generated, over the index cap), root-relative and sorted, with the reason; files
    /// gone from disk since are left out.
    pub fn skipped_files(&self) -> Vec<Skipped> {
        let state = self.read_state();
        state
            .skipped
            .iter()
            .filter(|(rel, _)| self.root.join(rel).exists())
            .map(|(path, reason)| Skipped { path: path.clone(), reason: reason.clone() })
            .collect()
    }

    /// The current text of a root-relative path: its overlay, else the disk.
    pub fn text_of(&self, rel: &str) -> Option<Arc<str>> {
        if let Some(text) = self.read_state().overlays.get(rel) {
            return Some(text.clone());
        }
        let bytes = hearth_base::read_regular(&self.root.join(rel), self.options.max_file_size).ok()?;
        String::from_utf8(bytes).ok().map(Arc::from)
    }

    /// Definitions named exactly `name`, best first (files changed recently first, then by path).
    pub fn symbols(&self, name: &str) -> Vec<SymbolDef> {
        let entries = {
            let state = self.read_state();
            let mut entries: Vec<(Arc<str>, SymbolEntry)> =
                state.symbols.get(name).into_iter().flatten().map(|e| (state.path(e.file).clone(), e.clone())).collect();
            entries.sort_by(|(a_path, a), (b_path, b)| {
                state
                    .git
                    .recency(b_path)
                    .total_cmp(&state.git.recency(a_path))
                    .then_with(|| (a_path, a.start_line).cmp(&(b_path, b.start_line)))
            });
            entries
        };
        let mut texts = HashMap::new();
        entries.into_iter().map(|(path, e)| self.symbol_def(name, path, e, &mut texts)).collect()
    }

    /// The public form of a table entry, with its signature read from the file's current text.
    fn symbol_def(&self, name: &str, path: Arc<str>, entry: SymbolEntry, texts: &mut HashMap<Arc<str>, Option<Arc<str>>>) -> SymbolDef {
        let text = texts.entry(path.clone()).or_insert_with(|| self.text_of(&path));
        let signature = text
            .as_deref()
            .and_then(|t| t.lines().nth(entry.start_line as usize))
            .map(|line| {
                let line = line.trim();
                line[..walk::floor_char_boundary(line, hearth_syntax::MAX_SIGNATURE_BYTES)].to_string()
            })
            .unwrap_or_default();
        SymbolDef {
            path,
            name: name.to_string(),
            kind: entry.kind,
            scope: entry.scope.map(|s| s.to_string()),
            signature,
            start_line: entry.start_line,
            end_line: entry.end_line,
            name_line: entry.name_line,
            name_col: entry.name_col,
        }
    }

    /// Definitions whose name contains every part of `query` (case-insensitive), at most `limit`.
    pub fn find_symbols(&self, query: &str, limit: usize) -> Vec<SymbolDef> {
        let needle = query.to_lowercase();
        let found: Vec<(Arc<str>, Arc<str>, SymbolEntry)> = {
            let state = self.read_state();
            let mut names: Vec<&Arc<str>> = state.symbols.keys().filter(|n| n.to_lowercase().contains(&needle)).collect();
            names.sort_by_key(|n| (n.len(), n.to_string()));
            names
                .into_iter()
                .flat_map(|n| {
                    let state = &state;
                    state.symbols[n].iter().map(move |e| (n.clone(), state.path(e.file).clone(), e.clone()))
                })
                .take(limit)
                .collect()
        };
        let mut texts = HashMap::new();
        found.into_iter().map(|(name, path, e)| self.symbol_def(&name, path, e, &mut texts)).collect()
    }

    /// Every occurrence of the identifier `name` in indexed files (overlays win), definitions included,
    /// never inside strings or comments. In path order.
    ///
    /// Candidates are the files with a chunk holding `name`'s token (every line with a word in it is in
    /// some chunk), or every file when `name` has no token; those holding `name` as a word are parsed.
    pub fn references(&self, name: &str) -> Result<Vec<Location>, IndexError> {
        self.commit()?;
        // Candidate files with their languages, in path order.
        let files: Vec<(String, Language)> = match tokenizer::whole_token(name) {
            Some(token) => {
                let searcher = self.reader.searcher();
                let query = TermQuery::new(Term::from_field_text(self.fields.body, &token), IndexRecordOption::Basic);
                let mut paths = HashSet::new();
                let mut columns = SegmentColumns::new(&searcher);
                for address in searcher.search(&query, &DocSetCollector)? {
                    paths.insert(columns.path(address)?);
                }
                let state = self.read_state();
                let mut files: Vec<(String, Language)> = paths
                    .into_iter()
                    .filter_map(|p| {
                        let lang = state.files.get(&p)?.lang;
                        Some((p, lang))
                    })
                    .collect();
                files.sort();
                files
            }
            None => self.files(),
        };
        // Candidates are parsed on the sync's parser threads; results keep path order.
        let occurrences_in = |(rel, lang): &(String, Language)| -> Result<Vec<Location>, IndexError> {
            let Some(text) = self.text_of(rel) else {
                return Ok(Vec::new());
            };
            if !tokenizer::contains_word(&text, name) {
                return Ok(Vec::new());
            }
            let lines = hearth_base::LineIndex::new(&text);
            let ranges = hearth_syntax::identifier_occurrences(*lang, &text, name)?;
            Ok(ranges
                .into_iter()
                .map(|range| Location {
                    path: rel.clone(),
                    line: range.start_line,
                    col: (range.start_byte - lines.line_start(range.start_line).unwrap_or(0)) as u32,
                    start_byte: range.start_byte,
                    end_byte: range.end_byte,
                })
                .collect())
        };
        let mut out = Vec::new();
        for found in map_on_threads(&files, self.options.threads, occurrences_in) {
            out.extend(found?);
        }
        Ok(out)
    }

    /// Chunks ranked by BM25 over the identifiers of `query` (split like code: `parseUrl` finds `parse_url`).
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, IndexError> {
        self.commit()?;
        let mut tokenizer = CodeTokenizer::default();
        let mut stream = tokenizer.token_stream(query);
        let mut terms = Vec::new();
        while let Some(token) = stream.next() {
            terms.push(token.text.clone());
        }
        terms.sort();
        terms.dedup();
        let clauses: Vec<(Occur, Box<dyn Query>)> = terms
            .iter()
            .map(|t| {
                let q: Box<dyn Query> = Box::new(TermQuery::new(Term::from_field_text(self.fields.body, t), IndexRecordOption::WithFreqs));
                (Occur::Should, q)
            })
            .collect();
        self.chunk_hits(&BooleanQuery::new(clauses), limit)
    }

    pub(crate) fn chunk_hits(&self, query: &dyn Query, limit: usize) -> Result<Vec<SearchHit>, IndexError> {
        let searcher = self.reader.searcher();
        let top = searcher.search(query, &TopDocs::with_limit(limit).order_by_score())?;
        let mut hits = Vec::with_capacity(top.len());
        let mut columns = SegmentColumns::new(&searcher);
        for (score, address) in top {
            let Some(chunk) = columns.chunk(address)? else {
                continue;
            };
            hits.push(SearchHit {
                path: chunk.path,
                kind: chunk.kind,
                name: chunk.name,
                start_line: chunk.start_line,
                end_line: chunk.end_line,
                score,
            });
        }
        Ok(hits)
    }

    /// Totals, and the size of the index directory.
    pub fn stats(&self) -> Result<IndexStats, IndexError> {
        self.commit()?;
        let searcher = self.reader.searcher();
        let chunk_query = TermQuery::new(Term::from_field_text(self.fields.doc_type, DOC_CHUNK), IndexRecordOption::Basic);
        let chunks = searcher.search(&chunk_query, &Count)? as u64;
        let state = self.read_state();
        Ok(IndexStats {
            files: state.files.len(),
            source_bytes: state.files.values().map(|f| f.size).sum(),
            symbols: state.symbols.values().map(|defs| defs.len()).sum(),
            chunks,
            index_bytes: dir_size(&self.dir),
        })
    }

    /// Wait for Tantivy's background merges to finish (benchmarks measure the settled size).
    pub fn wait_merging(&self) -> Result<(), IndexError> {
        let mut guard = lock(&self.writer);
        if let Some(writer) = guard.take() {
            writer.wait_merging_threads()?;
            *guard = Some(self.tantivy.writer_with_num_threads(1, self.options.writer_memory.max(15 << 20))?);
        }
        Ok(())
    }
}

/// Keeps the index within `limit` source bytes: files already indexed (and staying) count first, then
/// the candidates in walk order; those that would pass the limit go to `skipped`, unread.
fn cap_total_size(
    files: &FastMap<String, FileEntry>,
    removed: &[String],
    candidates: Vec<Candidate>,
    limit: u64,
    skipped: &mut Vec<Skipped>,
) -> Vec<Candidate> {
    let replaced: HashSet<&str> = candidates.iter().map(|c| c.rel.as_str()).collect();
    let gone: HashSet<&str> = removed.iter().map(String::as_str).collect();
    let mut total: u64 =
        files.iter().filter(|(rel, _)| !replaced.contains(rel.as_str()) && !gone.contains(rel.as_str())).map(|(_, f)| f.size).sum();
    let mut kept = Vec::with_capacity(candidates.len());
    for c in candidates {
        if total.saturating_add(c.size) > limit {
            skipped.push(Skipped { path: c.rel, reason: SkipReason::OverIndexCap { limit } });
        } else {
            total += c.size;
            kept.push(c);
        }
    }
    kept
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(Result::ok).filter_map(|e| e.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum())
        .unwrap_or(0)
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

/// First and last changed line (in the new text) between two versions, or None if equal.
fn changed_lines(old: &str, new: &str) -> Option<(u32, u32)> {
    if old == new {
        return None;
    }
    let old_lines: Vec<&str> = old.lines().collect();
    let new_lines: Vec<&str> = new.lines().collect();
    let prefix = old_lines.iter().zip(&new_lines).take_while(|(a, b)| a == b).count();
    let suffix = old_lines[prefix..].iter().rev().zip(new_lines[prefix..].iter().rev()).take_while(|(a, b)| a == b).count();
    let last = new_lines.len().saturating_sub(suffix + 1).max(prefix);
    Some((prefix as u32, last as u32))
}

fn prepare_from_disk(fields: &Fields, c: &Candidate, known_hash: Option<u64>, max_size: u64) -> Outcome {
    let skip = |reason| Outcome::Skipped(Skipped { path: c.rel.clone(), reason });
    // The file may have changed since the walk: grown, or been replaced by a FIFO.
    let bytes = match hearth_base::read_regular(&c.abs, max_size) {
        Ok(bytes) => bytes,
        Err(hearth_base::ReadError::TooLarge { size, limit }) => return skip(SkipReason::TooLarge { size, limit }),
        Err(e) => return skip(SkipReason::Unreadable { error: e.to_string() }),
    };
    let hash = xxhash_rust::xxh3::xxh3_64(&bytes);
    if known_hash == Some(hash) {
        return Outcome::Unchanged { rel: c.rel.clone(), size: c.size, mtime_ns: c.mtime_ns };
    }
    let text = match walk::decode(bytes) {
        Ok(text) => text,
        Err(reason) => return skip(reason),
    };
    match prepare_text(fields, c.rel.clone(), c.lang, &text, c.mtime_ns) {
        Ok(prepared) => Outcome::Indexed(Box::new(prepared)),
        Err(reason) => skip(reason),
    }
}

/// Parse a file and build its documents: one file document (hash, references, definitions, symbols as
/// JSON) and one document per chunk.
fn prepare_text(fields: &Fields, rel: String, lang: Language, text: &str, mtime_ns: u64) -> Result<Prepared, SkipReason> {
    let syntax = analyze(lang, text).map_err(|e| SkipReason::Unparsable { error: e.to_string() })?;
    let lines = hearth_base::LineIndex::new(text);
    let mut scopes = Interner::default();
    let mut stored: Vec<StoredSymbol> = Vec::with_capacity(syntax.symbols.len());
    let mut symbols: Vec<(String, SymbolEntry)> = Vec::with_capacity(syntax.symbols.len());
    for s in syntax.symbols {
        let name_col = (s.name_range.start_byte - lines.line_start(s.name_range.start_line).unwrap_or(0)) as u32;
        let entry = SymbolEntry {
            file: 0,
            scope: s.scope.as_deref().map(|p| scopes.get(p)),
            kind: s.kind,
            start_byte: lines.line_start(s.range.start_line).unwrap_or(0) as u32,
            end_byte: s.range.end_byte as u32,
            start_line: s.range.start_line,
            end_line: s.range.end_line,
            name_line: s.name_range.start_line,
            name_col,
        };
        stored.push(StoredSymbol {
            n: s.name.clone(),
            k: s.kind.as_str().to_string(),
            s: entry.start_line,
            e: entry.end_line,
            l: entry.name_line,
            c: name_col,
            b: entry.start_byte,
            d: entry.end_byte,
            p: s.scope,
        });
        symbols.push((s.name, entry));
    }
    let hash = xxhash_rust::xxh3::xxh3_64(text.as_bytes());
    let mut file_doc = TantivyDocument::default();
    file_doc.add_text(fields.path, &rel);
    file_doc.add_text(fields.doc_type, DOC_FILE);
    file_doc.add_text(fields.lang, lang.name());
    file_doc.add_u64(fields.hash, hash);
    file_doc.add_u64(fields.size, text.len() as u64);
    file_doc.add_u64(fields.mtime, mtime_ns);
    file_doc.add_text(fields.symbols, serde_json::to_string(&stored).expect("symbols serialize"));
    let mut docs = vec![file_doc];
    for chunk in &syntax.chunks {
        let mut doc = TantivyDocument::default();
        doc.add_text(fields.path, &rel);
        doc.add_text(fields.doc_type, DOC_CHUNK);
        doc.add_text(fields.kind, chunk.kind.as_str());
        doc.add_text(fields.name, &chunk.name);
        doc.add_u64(fields.start_line, chunk.range.start_line as u64);
        doc.add_u64(fields.end_line, chunk.range.end_line as u64);
        doc.add_u64(fields.start_byte, chunk.range.start_byte as u64);
        doc.add_u64(fields.end_byte, chunk.range.end_byte as u64);
        let mut stored_extra = false;
        if let Some(header) = &chunk.header {
            doc.add_text(fields.header, header);
            stored_extra = true;
        }
        doc.add_text(fields.body, &chunk.text);
        if text.get(chunk.range.start_byte..chunk.range.end_byte) != Some(chunk.text.as_str()) {
            doc.add_text(fields.text, &chunk.text);
            stored_extra = true;
        }
        doc.add_u64(fields.stored_extra, stored_extra as u64);
        docs.push(doc);
    }
    let entry = FileEntry { id: 0, lang, hash, size: text.len() as u64, mtime_ns, defined: Box::default() };
    Ok(Prepared { rel, entry, symbols, docs, chunks: syntax.chunks.len() })
}

#[cfg(test)]
mod tests {
    use super::{changed_lines, tail_of, FileEntry, State};

    #[test]
    fn files_ending_with_matches_whole_components_by_name_and_by_tail() {
        let mut state = State::default();
        for rel in ["__init__.py", "a/__init__.py", "x/a/__init__.py", "xa/__init__.py", "b/c.py"] {
            let entry = FileEntry { id: 0, lang: hearth_syntax::Language::Python, hash: 0, size: 0, mtime_ns: 0, defined: Box::new([]) };
            state.insert_file(rel, entry, Vec::new());
        }
        let paths = |state: &State, suffix: &str| {
            let mut found: Vec<String> = state.files_ending_with(suffix).into_iter().map(|id| state.path(id).to_string()).collect();
            found.sort();
            found
        };
        assert_eq!(paths(&state, "a/__init__.py"), ["a/__init__.py", "x/a/__init__.py"]);
        assert_eq!(paths(&state, "x/a/__init__.py"), ["x/a/__init__.py"]);
        assert_eq!(paths(&state, "__init__.py").len(), 4);
        assert_eq!(paths(&state, "c.py"), ["b/c.py"]);
        assert!(paths(&state, "q/c.py").is_empty());
        state.remove_file("x/a/__init__.py");
        assert_eq!(paths(&state, "a/__init__.py"), ["a/__init__.py"]);
        assert_eq!((tail_of("a/b/c.py"), tail_of("b/c.py"), tail_of("c.py")), ("b/c.py", "b/c.py", "c.py"));
    }

    #[test]
    fn changed_lines_spans_the_edit_in_the_new_text() {
        assert_eq!(changed_lines("a\nb\nc\n", "a\nb\nc\n"), None);
        assert_eq!(changed_lines("a\nb\nc\n", "a\nX\nc\n"), Some((1, 1)));
        assert_eq!(changed_lines("a\nb\nc\n", "a\nb\nX\nY\nc\n"), Some((2, 3)));
        assert_eq!(changed_lines("a\nb\nc\n", "a\nc\n"), Some((1, 1)));
    }
}
