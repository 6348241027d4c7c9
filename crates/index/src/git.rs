//! Git state read with git2: HEAD, the tracked files, files changed in the working tree, and recently
//! committed files. The walk takes git's file list; retrieval ranks recently touched files higher.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

/// Commits walked back from HEAD for recency.
const RECENT_COMMITS: usize = 30;
/// Stop collecting recent paths past this many (huge merges say little).
const MAX_RECENT_PATHS: usize = 2000;

/// What the index knows of the repository's history. Empty outside a git repository.
#[derive(Clone, Debug, Default)]
pub struct GitState {
    /// HEAD's commit id, hex.
    pub head: Option<String>,
    /// Root-relative path to a recency in (0, 1]: 1 for files changed in the working tree, then
    /// decreasing with the age of the last commit that touched them.
    pub recency: HashMap<String, f32>,
    /// Root-relative paths of the files in git's index (tracked) under the root. The walk indexes
    /// these even where an ignore rule matches them, as git does.
    pub tracked: Arc<HashSet<String>>,
}

impl GitState {
    /// Read the state of the repository containing `root` (paths made relative to `root`). Errors are
    /// logged and give an empty state: git is a ranking signal, never a requirement.
    pub fn read(root: &Path) -> GitState {
        match Self::try_read(root) {
            Ok(state) => state,
            Err(e) => {
                tracing::debug!("no git state for {}: {}", root.display(), e.message());
                GitState::default()
            }
        }
    }

    fn try_read(root: &Path) -> Result<GitState, git2::Error> {
        let repo = git2::Repository::discover(root)?;
        let Some(workdir) = repo.workdir() else {
            return Ok(GitState::default());
        };
        let workdir = workdir.canonicalize().unwrap_or_else(|_| workdir.to_path_buf());
        let prefix = root.strip_prefix(&workdir).ok().map(|p| p.to_string_lossy().replace('\\', "/"));
        let Some(prefix) = prefix else {
            return Ok(GitState::default());
        };
        let to_rel = |repo_path: &str| -> Option<String> {
            if prefix.is_empty() {
                Some(repo_path.to_string())
            } else {
                repo_path.strip_prefix(&prefix)?.strip_prefix('/').map(str::to_string)
            }
        };
        let mut state = GitState::default();

        let mut tracked = HashSet::new();
        for entry in repo.index()?.iter() {
            const GITLINK: u32 = 0o160000;
            if entry.mode == GITLINK {
                continue;
            }
            if let Some(rel) = std::str::from_utf8(&entry.path).ok().and_then(to_rel) {
                tracked.insert(rel);
            }
        }
        state.tracked = Arc::new(tracked);

        let mut options = git2::StatusOptions::new();
        options.include_untracked(true).recurse_untracked_dirs(true).include_ignored(false);
        for entry in repo.statuses(Some(&mut options))?.iter() {
            if let Some(rel) = entry.path().ok().and_then(to_rel) {
                state.recency.insert(rel, 1.0);
            }
        }

        let head = match repo.head().ok().and_then(|h| h.peel_to_commit().ok()) {
            Some(commit) => commit,
            None => return Ok(state),
        };
        state.head = Some(head.id().to_string());
        let mut walk = repo.revwalk()?;
        walk.push(head.id())?;
        walk.set_sorting(git2::Sort::TIME)?;
        for (age, oid) in walk.take(RECENT_COMMITS).enumerate() {
            let commit = repo.find_commit(oid?)?;
            let tree = commit.tree()?;
            let parent_tree = commit.parents().next().map(|p| p.tree()).transpose()?;
            let diff = repo.diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), None)?;
            let score = 0.9 / (1.0 + age as f32 * 0.25);
            for delta in diff.deltas() {
                if let Some(rel) = delta.new_file().path().and_then(|p| p.to_str()).and_then(to_rel) {
                    state.recency.entry(rel).or_insert(score);
                }
            }
            if state.recency.len() > MAX_RECENT_PATHS {
                break;
            }
        }
        Ok(state)
    }

    pub fn recency(&self, rel: &str) -> f32 {
        self.recency.get(rel).copied().unwrap_or(0.0)
    }
}
