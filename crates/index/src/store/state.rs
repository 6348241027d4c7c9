//! The in-memory tables retrieval reads without touching Tantivy: files by path and id, directories,
//! file names and tails for import resolution, symbols, overlays, recent edits and git state.

use super::*;

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
    /// The root folder's own name: a package import may name the root itself (a checkout of the
    /// package `image` is a folder `image/`, whose files are the root's).
    pub root_name: String,
}

impl State {
    pub fn with_root_name(root_name: String) -> State {
        State { root_name, ..State::default() }
    }

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
    /// The root itself when no folder below it matches and `suffix` ends with the root's name.
    pub fn dir_ending_with(&self, suffix: &str) -> Option<&[u32]> {
        let below = self
            .dirs
            .iter()
            .filter(|(dir, _)| !dir.is_empty() && dir.strip_suffix(suffix).is_some_and(|head| head.is_empty() || head.ends_with('/')))
            .min_by_key(|(dir, _)| (dir.len(), dir.as_str()))
            .map(|(_, ids)| ids.as_slice());
        let names_root = !self.root_name.is_empty()
            && suffix.strip_suffix(self.root_name.as_str()).is_some_and(|head| head.is_empty() || head.ends_with('/'));
        below.or_else(|| names_root.then(|| self.files_in_dir("")).filter(|ids| !ids.is_empty()))
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

    pub(super) fn remove_file(&mut self, rel: &str) -> bool {
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
    pub(super) fn insert_file(&mut self, rel: &str, mut entry: FileEntry, symbols: Vec<(String, SymbolEntry)>) {
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
    pub(super) fn open(&mut self, root: &Path, rel: &str) -> Option<&std::fs::File> {
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

#[cfg(test)]
mod tests {
    use super::{tail_of, FileEntry, State};

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
    fn a_package_import_may_name_the_root_itself() {
        let mut state = State::with_root_name("image".into());
        for rel in ["image.go", "geom.go", "color/color.go", "png/image/x.go"] {
            let entry = FileEntry { id: 0, lang: hearth_syntax::Language::Go, hash: 0, size: 0, mtime_ns: 0, defined: Box::new([]) };
            state.insert_file(rel, entry, Vec::new());
        }
        let paths = |state: &State, suffix: &str| -> Vec<String> {
            let mut found: Vec<String> =
                state.dir_ending_with(suffix).unwrap_or_default().iter().map(|&id| state.path(id).to_string()).collect();
            found.sort();
            found
        };
        assert_eq!(paths(&state, "color"), ["color/color.go"]);
        assert_eq!(paths(&state, "image"), ["png/image/x.go"], "a folder below the root wins");
        state.remove_file("png/image/x.go");
        assert_eq!(paths(&state, "image"), ["geom.go", "image.go"], "else the root, by its folder's name");
        assert_eq!(paths(&state, "x/image"), ["geom.go", "image.go"]);
        assert!(paths(&state, "fmt").is_empty() && paths(&state, "ximage").is_empty());
    }
}
