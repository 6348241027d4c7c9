//! Shared helpers for the edit tests: real git repositories made with git2 in temp dirs, and a
//! real on-disk index over them.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use hearth_index::{Index, IndexOptions};

/// A git repository in a temp dir with one commit holding `files`.
pub struct Repo {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
}

impl Repo {
    pub fn new(files: &[(&str, &str)]) -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir_all(&root).unwrap();
        let repo = git2::Repository::init(&root).unwrap();
        for (path, text) in files {
            write(&root.join(path), text);
        }
        commit_all(&repo, "initial");
        let root = root.canonicalize().unwrap();
        Repo { dir, root }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap()
    }

    pub fn write(&self, rel: &str, text: &str) {
        write(&self.path(rel), text);
    }

    /// A synced index stored beside the repository (not in the user's cache).
    pub fn index(&self) -> Index {
        let options =
            IndexOptions { index_dir: Some(self.dir.path().join("index")), threads: 1, writer_memory: 16 << 20, ..IndexOptions::default() };
        let index = Index::open(&self.root, options).unwrap();
        index.sync(&mut |_| {}).unwrap();
        index
    }

    /// Files under the root whose name starts like an apply's temporary file.
    pub fn temp_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let p = entry.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.file_name().unwrap().to_string_lossy().starts_with(hearth_assist::edit::TEMP_PREFIX) {
                    out.push(p);
                }
            }
        }
        out
    }
}

pub fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

pub fn commit_all(repo: &git2::Repository, message: &str) {
    let mut index = repo.index().unwrap();
    index.add_all(["*"], git2::IndexAddOption::DEFAULT, None).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::now("Test", "test@example.com").unwrap();
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents).unwrap();
}
