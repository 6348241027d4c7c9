//! An interrupted apply leaves every file either old or new, never half-written: cancelled while
//! staging, failing while replacing, and killed (SIGKILL) at random moments in a child process.

mod edit_support;

use std::process::Command;
use std::time::Duration;

use edit_support::Repo;
use hearth_assist::edit::{apply, apply_with, ApplyOptions, ApplyStep, EditError, FileChange, Workspace};
use hearth_base::CancelToken;

const FILES: usize = 6;

fn old_text(i: usize) -> String {
    format!("# file {i}\n").repeat(50 + i)
}

fn new_text(i: usize) -> String {
    format!("# file {i}, edited\n").repeat(70 + i)
}

fn repo() -> Repo {
    let files: Vec<(String, String)> = (0..FILES).map(|i| (format!("src/m{i}.py"), old_text(i))).collect();
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    Repo::new(&refs)
}

fn changes(repo: &Repo) -> Vec<FileChange> {
    (0..FILES)
        .map(|i| FileChange {
            path: format!("src/m{i}.py"),
            abs_path: repo.path(&format!("src/m{i}.py")),
            old: old_text(i),
            new: new_text(i),
        })
        .collect()
}

/// Each file is entirely old or entirely new; returns how many are new.
fn assert_each_old_or_new(repo: &Repo, old: &dyn Fn(usize) -> String, new: &dyn Fn(usize) -> String) -> usize {
    let mut fresh = 0;
    for i in 0..FILES {
        let text = repo.read(&format!("src/m{i}.py"));
        if text == new(i) {
            fresh += 1;
        } else {
            assert_eq!(text, old(i), "src/m{i}.py is neither the old nor the new text");
        }
    }
    fresh
}

#[test]
fn cancel_while_staging_changes_nothing() {
    let repo = repo();
    let workspace = Workspace::new(&repo.root).unwrap();
    for stop_after in 1..=FILES {
        let cancel = CancelToken::new();
        let mut staged = 0;
        let err = apply_with(&workspace, &changes(&repo), &ApplyOptions::default(), &cancel, &mut |step| {
            if let ApplyStep::Staged(_) = step {
                staged += 1;
                if staged == stop_after {
                    cancel.cancel();
                }
            }
        })
        .unwrap_err();
        assert!(matches!(err, EditError::Cancelled), "{err}");
        assert_eq!(assert_each_old_or_new(&repo, &old_text, &new_text), 0);
        assert!(repo.temp_files().is_empty(), "temporary files left: {:?}", repo.temp_files());
    }
}

#[test]
fn a_failure_while_replacing_leaves_each_file_old_or_new() {
    let repo = repo();
    let workspace = Workspace::new(&repo.root).unwrap();
    let changes = changes(&repo);
    let victim = repo.path("src/m3.py");
    let err = apply_with(&workspace, &changes, &ApplyOptions::default(), &CancelToken::new(), &mut |step| {
        // Once everything is staged, m3.py turns into a non-empty directory: its rename must fail.
        if step == ApplyStep::Staged("src/m5.py") {
            std::fs::remove_file(&victim).unwrap();
            std::fs::create_dir_all(victim.join("x")).unwrap();
        }
    })
    .unwrap_err();
    let EditError::PartialApply { applied, total, .. } = &err else { panic!("{err}") };
    assert_eq!((applied.as_slice(), *total), (&["src/m0.py".to_string(), "src/m1.py".into(), "src/m2.py".into()][..], FILES));
    assert!(err.to_string().contains("either old or new"), "{err}");
    for i in [0, 1, 2] {
        assert_eq!(repo.read(&format!("src/m{i}.py")), new_text(i));
    }
    for i in [4, 5] {
        assert_eq!(repo.read(&format!("src/m{i}.py")), old_text(i));
    }
    assert!(repo.temp_files().is_empty(), "temporary files left: {:?}", repo.temp_files());
}

/// Child half of `killed_applies_never_leave_a_half_written_file`: flips the files between two
/// versions forever.
#[test]
fn child_apply_loop() {
    let Some(root) = std::env::var_os("HEARTH_EDIT_APPLY_CHILD") else { return };
    let workspace = Workspace::new(root.as_ref()).unwrap();
    let big_old = |i: usize| old_text(i).repeat(200);
    let big_new = |i: usize| new_text(i).repeat(200);
    let mut forward = true;
    loop {
        let changes: Vec<FileChange> = (0..FILES)
            .map(|i| {
                let (old, new) = if forward { (big_old(i), big_new(i)) } else { (big_new(i), big_old(i)) };
                FileChange { path: format!("src/m{i}.py"), abs_path: workspace.root().join(format!("src/m{i}.py")), old, new }
            })
            .collect();
        apply(&workspace, &changes, &ApplyOptions { force: true }, &CancelToken::new()).unwrap();
        forward = !forward;
    }
}

#[test]
fn killed_applies_never_leave_a_half_written_file() {
    let repo = repo();
    let big_old = |i: usize| old_text(i).repeat(200);
    let big_new = |i: usize| new_text(i).repeat(200);
    for i in 0..FILES {
        repo.write(&format!("src/m{i}.py"), &big_old(i));
    }
    let exe = std::env::current_exe().unwrap();
    let mut mixed = 0;
    for round in 0..8u64 {
        let mut child = Command::new(&exe)
            .args(["child_apply_loop", "--exact", "--test-threads=1", "--nocapture"])
            .env("HEARTH_EDIT_APPLY_CHILD", &repo.root)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(60 + round * 37));
        child.kill().unwrap();
        child.wait().unwrap();
        let fresh = assert_each_old_or_new(&repo, &big_old, &big_new);
        mixed += usize::from(fresh != 0 && fresh != FILES);
        // Leftover temporary files are the only trace a kill may leave; clean them as a user would.
        for t in repo.temp_files() {
            std::fs::remove_file(t).unwrap();
        }
        // The next child starts from whatever version each file is in: bring all back to old.
        for i in 0..FILES {
            repo.write(&format!("src/m{i}.py"), &big_old(i));
        }
    }
    eprintln!("{mixed} of 8 kills landed between two files' renames");
}
