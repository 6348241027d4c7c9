//! The one root an edit may touch: path checks (inside the root after resolving symlinks and `..`,
//! never `.git/`, never ignored files), reading text, and git's view of uncommitted changes.

use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use git2::{Repository, Status};
use hearth_base::ReadError;

use super::EditError;

/// Files larger than this are never edited.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// The repository holding a root and its canonical work tree; the outer `Option` is "not looked up yet",
/// the inner one "not in a repository".
type RepositorySlot = Option<Option<(Repository, PathBuf)>>;

/// A workspace root, canonical (symlinks resolved), and the git repository holding it (opened once).
#[derive(Clone)]
pub struct Workspace {
    root: PathBuf,
    repo: Arc<Mutex<RepositorySlot>>,
}

impl std::fmt::Debug for Workspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workspace").field("root", &self.root).finish()
    }
}

/// A path that passed [`Workspace::resolve`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkspacePath {
    /// Canonical absolute path.
    pub abs: PathBuf,
    /// Root-relative, `/`-separated (empty for the root itself).
    pub rel: String,
}

impl Workspace {
    pub fn new(root: &Path) -> Result<Self, EditError> {
        let root = root.canonicalize().map_err(|source| EditError::Io { path: root.to_path_buf(), source })?;
        Ok(Workspace { root, repo: Arc::default() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Checks a user-given path (absolute, or relative to the root): its directory must exist (the
    /// file itself may be an editor buffer never saved), it must lie inside the root once symlinks
    /// and `..` are resolved, not be in `.git/`, and not be ignored by git.
    pub fn resolve(&self, path: &Path) -> Result<WorkspacePath, EditError> {
        let joined = if path.is_absolute() { path.to_path_buf() } else { self.root.join(path) };
        if !lexically_inside(&joined, &self.root) && !joined.canonicalize().is_ok_and(|c| c.starts_with(&self.root)) {
            return Err(EditError::OutsideRoot { path: path.to_path_buf(), root: self.root.clone() });
        }
        let abs = canonical(&joined).map_err(|source| EditError::Io { path: path.to_path_buf(), source })?;
        let Ok(rel_path) = abs.strip_prefix(&self.root) else {
            return Err(EditError::OutsideRoot { path: path.to_path_buf(), root: self.root.clone() });
        };
        if rel_path.components().any(|c| c == Component::Normal(".git".as_ref())) {
            return Err(EditError::GitDir(path.to_path_buf()));
        }
        let rel = rel_path.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
        if !rel.is_empty() && self.is_ignored(&abs) {
            return Err(EditError::Ignored(path.to_path_buf()));
        }
        Ok(WorkspacePath { abs, rel })
    }

    /// The file's text; refuses huge, non-UTF-8 and special files (a FIFO is refused at once).
    pub fn read(&self, path: &WorkspacePath) -> Result<String, EditError> {
        let abs = || path.abs.clone();
        let bytes = hearth_base::read_regular(&path.abs, MAX_FILE_BYTES).map_err(|e| match e {
            ReadError::Io(source) => EditError::Io { path: abs(), source },
            ReadError::NotRegular(kind) => EditError::NotRegular { path: abs(), kind },
            ReadError::TooLarge { size, limit } => EditError::TooLarge { path: abs(), size, limit },
        })?;
        String::from_utf8(bytes).map_err(|_| EditError::NotUtf8(abs()))
    }

    /// Whether git ignores `abs` (false outside a repository).
    pub fn is_ignored(&self, abs: &Path) -> bool {
        self.with_repository(|repo| {
            let Some((repo, workdir)) = repo else { return false };
            let Ok(rel) = abs.strip_prefix(workdir) else { return false };
            repo.is_path_ignored(rel).unwrap_or(false)
        })
    }

    /// Of `paths` (root-relative), those whose working-tree text differs from the last commit, or
    /// that git does not track. Errors when the root is not in a git repository.
    pub fn uncommitted(&self, paths: &[&str]) -> Result<Vec<String>, EditError> {
        self.with_repository(|repo| {
            let Some((repo, workdir)) = repo else {
                return Err(EditError::NoRepository(self.root.display().to_string()));
            };
            let mut dirty = Vec::new();
            for rel in paths {
                let abs = self.root.join(rel);
                let in_repo = abs.strip_prefix(workdir).unwrap_or(Path::new(rel));
                let status = repo.status_file(in_repo).unwrap_or(Status::WT_NEW);
                if !status.is_empty() && status != Status::IGNORED {
                    dirty.push(rel.to_string());
                }
            }
            Ok(dirty)
        })
    }

    /// Runs `f` with the repository holding the root and its canonical work tree (discovered once).
    fn with_repository<T>(&self, f: impl FnOnce(Option<&(Repository, PathBuf)>) -> T) -> T {
        let mut slot = self.repo.lock().unwrap_or_else(|e| e.into_inner());
        let repo = slot.get_or_insert_with(|| {
            let repo = Repository::discover(&self.root).ok()?;
            let workdir = repo.workdir()?.canonicalize().ok()?;
            Some((repo, workdir))
        });
        f(repo.as_ref())
    }
}

/// `path` with symlinks resolved; for a file that does not exist (yet), its directory's.
fn canonical(path: &Path) -> std::io::Result<PathBuf> {
    match path.canonicalize() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else { return Err(e) };
            Ok(dir.canonicalize()?.join(name))
        }
        other => other,
    }
}

/// Whether `path`, with `.` and `..` folded away (no symlinks resolved), lies under `root`.
fn lexically_inside(path: &Path, root: &Path) -> bool {
    let mut folded = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                if !folded.pop() {
                    return false;
                }
            }
            Component::CurDir => {}
            other => folded.push(other),
        }
    }
    folded.starts_with(root)
}
