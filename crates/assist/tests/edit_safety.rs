//! Safety of edits on real git repositories: dirty files refused, paths that escape the root
//! (`../`, symlinks) refused, `.git/` and ignored files never touched, stale changes refused.

mod edit_support;

use std::path::PathBuf;

use edit_support::Repo;
use hearth_assist::edit::{apply, ApplyOptions, EditEngine, EditError, EditOutcome, EditRequest, FileChange, Scope, Workspace};
use hearth_base::CancelToken;

const A_PY: &str = "def load(x):\n    return x\n\nprint(load(1))\n";

fn rename(repo: &Repo, scope: Scope, paths: Vec<PathBuf>) -> Result<EditOutcome, EditError> {
    let workspace = Workspace::new(&repo.root).unwrap();
    let index = repo.index();
    let mut request = EditRequest::new("rename load to fetch", scope);
    request.paths = paths;
    EditEngine::new(&workspace, Some(&index)).run(&request, &mut [], &CancelToken::new(), &mut |_| {})
}

fn apply_to(repo: &Repo, files: &[FileChange], force: bool) -> Result<Vec<String>, EditError> {
    let workspace = Workspace::new(&repo.root).unwrap();
    apply(&workspace, files, &ApplyOptions { force }, &CancelToken::new()).map(|a| a.files)
}

#[test]
fn apply_is_refused_on_a_dirty_file_unless_forced() {
    let repo = Repo::new(&[("a.py", A_PY), ("b.py", "from a import load\nload(2)\n")]);
    let dirty = A_PY.replace("return x", "return x + 1");
    repo.write("a.py", &dirty);
    let outcome = rename(&repo, Scope::Repository, vec![]).unwrap();
    assert_eq!(outcome.files.len(), 2);

    let err = apply_to(&repo, &outcome.files, false).unwrap_err();
    assert!(matches!(&err, EditError::Uncommitted(files) if files == &["a.py"]), "{err}");
    assert!(err.to_string().contains("--force"), "{err}");
    assert_eq!(repo.read("a.py"), dirty, "nothing is written when one file is refused");
    assert_eq!(repo.read("b.py"), "from a import load\nload(2)\n");

    assert_eq!(apply_to(&repo, &outcome.files, true).unwrap(), ["a.py", "b.py"]);
    assert_eq!(repo.read("a.py"), dirty.replace("load", "fetch"));
}

#[test]
fn untracked_files_and_non_repositories_count_as_uncommitted() {
    let repo = Repo::new(&[("a.py", A_PY)]);
    repo.write("new.py", "load = 1\n");
    let outcome = rename(&repo, Scope::File("new.py".into()), vec![]).unwrap();
    let err = apply_to(&repo, &outcome.files, false).unwrap_err();
    assert!(matches!(&err, EditError::Uncommitted(files) if files == &["new.py"]), "{err}");

    let plain = tempfile::tempdir().unwrap();
    std::fs::write(plain.path().join("a.py"), A_PY).unwrap();
    let workspace = Workspace::new(plain.path()).unwrap();
    let request = EditRequest::new("rename load to fetch", Scope::File("a.py".into()));
    let outcome = EditEngine::new(&workspace, None).run(&request, &mut [], &CancelToken::new(), &mut |_| {}).unwrap();
    let err = apply(&workspace, &outcome.files, &ApplyOptions::default(), &CancelToken::new()).unwrap_err();
    assert!(matches!(err, EditError::NoRepository(_)), "{err}");
    apply(&workspace, &outcome.files, &ApplyOptions { force: true }, &CancelToken::new()).unwrap();
    assert!(std::fs::read_to_string(plain.path().join("a.py")).unwrap().contains("def fetch(x)"));
}

#[test]
fn paths_escaping_the_root_are_refused() {
    let repo = Repo::new(&[("a.py", A_PY)]);
    let outside = repo.dir.path().join("outside.py");
    std::fs::write(&outside, A_PY).unwrap();
    std::fs::create_dir_all(repo.dir.path().join("outside_dir")).unwrap();
    std::fs::write(repo.dir.path().join("outside_dir/c.py"), A_PY).unwrap();
    std::os::unix::fs::symlink(&outside, repo.path("link.py")).unwrap();
    std::os::unix::fs::symlink(repo.dir.path().join("outside_dir"), repo.path("linked_dir")).unwrap();

    for scope in [
        Scope::File("../outside.py".into()),
        Scope::File(outside.clone()),
        Scope::File("link.py".into()),
        Scope::File("linked_dir/c.py".into()),
        Scope::File("sub/../../outside.py".into()),
        Scope::Selection { path: "link.py".into(), range: 0..4 },
    ] {
        let err = rename(&repo, scope.clone(), vec![]).unwrap_err();
        assert!(matches!(err, EditError::OutsideRoot { .. }), "{scope:?}: {err}");
    }
    for path in ["..", "../outside.py", "linked_dir"] {
        let err = rename(&repo, Scope::Repository, vec![path.into()]).unwrap_err();
        assert!(matches!(err, EditError::OutsideRoot { .. }), "{path}: {err}");
    }

    // A repository-wide rename edits the file inside and nothing behind the symlinks.
    let outcome = rename(&repo, Scope::Repository, vec![]).unwrap();
    let paths: Vec<&str> = outcome.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["a.py"]);

    // apply re-checks every path, whatever the caller hands it.
    for abs in [outside.clone(), repo.path("link.py"), repo.path("linked_dir/c.py")] {
        let change = FileChange { path: "x.py".into(), abs_path: abs.clone(), old: A_PY.into(), new: "changed\n".into() };
        let err = apply_to(&repo, &[change], true).unwrap_err();
        assert!(matches!(err, EditError::OutsideRoot { .. }), "{}: {err}", abs.display());
    }
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), A_PY);
    assert_eq!(std::fs::read_to_string(repo.dir.path().join("outside_dir/c.py")).unwrap(), A_PY);
}

#[test]
fn git_internals_and_ignored_files_are_refused() {
    let repo = Repo::new(&[("a.py", A_PY), (".gitignore", "*.gen.py\n")]);
    repo.write("x.gen.py", A_PY);
    let err = rename(&repo, Scope::File(".git/config".into()), vec![]).unwrap_err();
    assert!(matches!(err, EditError::GitDir(_)), "{err}");
    let err = rename(&repo, Scope::File("x.gen.py".into()), vec![]).unwrap_err();
    assert!(matches!(err, EditError::Ignored(_)), "{err}");

    let config = std::fs::read_to_string(repo.path(".git/config")).unwrap();
    let change = FileChange { path: ".git/config".into(), abs_path: repo.path(".git/config"), old: config.clone(), new: String::new() };
    assert!(matches!(apply_to(&repo, &[change], true).unwrap_err(), EditError::GitDir(_)));
    let change = FileChange { path: "x.gen.py".into(), abs_path: repo.path("x.gen.py"), old: A_PY.into(), new: String::new() };
    assert!(matches!(apply_to(&repo, &[change], true).unwrap_err(), EditError::Ignored(_)));
    assert_eq!(std::fs::read_to_string(repo.path(".git/config")).unwrap(), config);
    assert_eq!(repo.read("x.gen.py"), A_PY);
}

#[test]
fn a_file_changed_since_the_edit_was_computed_is_refused() {
    let repo = Repo::new(&[("a.py", A_PY)]);
    let outcome = rename(&repo, Scope::Repository, vec![]).unwrap();
    repo.write("a.py", "load = 2\n");
    let err = apply_to(&repo, &outcome.files, true).unwrap_err();
    assert!(matches!(&err, EditError::Stale(p) if p == "a.py"), "{err}");
    assert_eq!(repo.read("a.py"), "load = 2\n");
}

#[test]
fn bad_files_give_clear_errors() {
    let repo = Repo::new(&[("a.py", A_PY)]);
    std::fs::write(repo.path("bin.py"), b"load = '\xff\xfe'\n").unwrap();
    let err = rename(&repo, Scope::File("bin.py".into()), vec![]).unwrap_err();
    assert!(matches!(err, EditError::NotUtf8(_)), "{err}");
    let err = rename(&repo, Scope::File("missing.py".into()), vec![]).unwrap_err();
    assert!(err.to_string().contains("missing.py"), "{err}");
    let request = EditRequest::new("  ", Scope::Repository);
    let workspace = Workspace::new(&repo.root).unwrap();
    let err = EditEngine::new(&workspace, None).plan(&request).unwrap_err();
    assert!(matches!(err, EditError::EmptyInstruction));
}
