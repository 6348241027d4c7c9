//! Kill test: SIGKILL the real `hearth` binary at random moments during `hearth index`, during
//! `hearth serve` starting up (model load and background indexing), and during
//! `hearth edit "rename ..." --apply` on a git repository of a few hundred files. After each kill the
//! index opens (or is rebuilt) and answers `symbols`/`search` correctly, and every source file is
//! byte-identical to its old or its new version.
//!
//! The default run kills 12 times each; the full run (50 each, a few minutes on 2 cores):
//! `HEARTH_KILLS=50 cargo test -p hearth-cli --test crash -- --nocapture`. `HEARTH_KILL_SEED` picks the
//! seed (printed either way).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use support::{hearth_bin, tiny_model, Rpc};

const MODULES: usize = 300;
const OLD_NAME: &str = "parse_cfg";
const NEW_NAME: &str = "parse_config";
const TEMP_PREFIX: &str = ".hearth-edit-";

fn kills() -> usize {
    std::env::var("HEARTH_KILLS").ok().and_then(|s| s.parse().ok()).unwrap_or(12)
}

fn seed() -> u64 {
    std::env::var("HEARTH_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64)
}

/// Module `i`: several functions, each calling `parse_cfg` (the rename touches every module).
fn module_text(i: usize) -> String {
    let mut text = format!("\"\"\"Handlers of group {i}.\"\"\"\n\n");
    for f in 0..6 {
        text.push_str(&format!(
            "\ndef handler_{i}_{f}(path, scale={f}):\n    rows = {OLD_NAME}(path)\n    total = 0\n    for row in rows:\n        if row.startswith(\"#\"):\n            continue\n        total += len(row) * scale + {i}\n    return total\n\n"
        ));
    }
    text
}

const CORE: &str = "\
def parse_cfg(path):
    with open(path) as f:
        return [line.strip() for line in f]
";

/// The repository's files (relative path, text before the rename).
fn old_files() -> Vec<(String, String)> {
    let mut files = vec![("pkg/core.py".to_string(), CORE.to_string())];
    files.extend((0..MODULES).map(|i| (format!("pkg/m{i:03}.py"), module_text(i))));
    files
}

/// A git repository (git2) holding `files`, committed.
fn make_repo(files: &[(String, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), files);
    let repo = git2::Repository::init(dir.path()).unwrap();
    let mut index = repo.index().unwrap();
    index.add_all(["*"], git2::IndexAddOption::DEFAULT, None).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let who = git2::Signature::now("t", "t@example.com").unwrap();
    repo.commit(Some("HEAD"), &who, &who, "init", &tree, &[]).unwrap();
    dir
}

fn write_files(root: &Path, files: &[(String, String)]) {
    for (rel, text) in files {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

fn temp_files(root: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(root.join("pkg"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(TEMP_PREFIX))
        .collect()
}

/// Where the commands keep the index.
#[derive(Clone, Copy)]
enum IndexAt<'a> {
    /// `HEARTH_INDEX_DIR` (what `hearth index` and `hearth edit` take).
    Dir(&'a Path),
    /// The default place under this cache home (`XDG_CACHE_HOME`), where `hearth serve` keeps it.
    CacheHome(&'a Path),
}

fn hearth(args: &[&str], index: IndexAt) -> Command {
    let mut command = Command::new(hearth_bin());
    match index {
        IndexAt::Dir(dir) => command.env("HEARTH_INDEX_DIR", dir),
        IndexAt::CacheHome(home) => command.env_remove("HEARTH_INDEX_DIR").env("XDG_CACHE_HOME", home),
    };
    command.args(args).env("HEARTH_CONFIG", "/nonexistent/hearth.toml").env_remove("HEARTH_MODEL").stdin(Stdio::null());
    command
}

fn run_ok(mut command: Command) -> Output {
    let out = command.output().unwrap();
    assert!(out.status.success(), "{command:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// Starts `command`, sleeps `delay` (or until `until` holds, then `delay`), SIGKILLs it; whether the
/// kill landed while it still ran.
fn kill_after(mut command: Command, delay: Duration, until: Option<&dyn Fn() -> bool>) -> bool {
    let mut child: Child = command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    if let Some(until) = until {
        let give_up = Instant::now() + Duration::from_secs(60);
        while !until() && Instant::now() < give_up && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_micros(500));
        }
    }
    std::thread::sleep(delay);
    let running = child.try_wait().unwrap().is_none();
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    running
}

/// The index answers correctly: it opens (syncing or rebuilding as it must), holds every file, and
/// `symbols`/`search` find what the repository defines. Returns the note saying it was rebuilt, if any.
fn check_index(root: &Path, index_dir: IndexAt, name: &str, module: usize) -> Option<String> {
    let root_s = root.to_str().unwrap();
    let out = run_ok(hearth(&["index", root_s, "--json"], index_dir));
    let rebuilt = String::from_utf8_lossy(&out.stderr).lines().find(|l| l.contains("rebuilt")).map(str::to_string);
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["totals"]["files"], MODULES + 1, "{summary}");

    let out = run_ok(hearth(&["symbols", name, "--root", root_s, "--json"], index_dir));
    let defs: Value = serde_json::from_slice(&out.stdout).unwrap();
    let paths: Vec<&str> = defs.as_array().unwrap().iter().map(|d| d["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["pkg/core.py"], "definitions of {name}");

    let handler = format!("handler_{module}_3");
    let out = run_ok(hearth(&["search", &handler, "--root", root_s, "--limit", "3", "--json"], index_dir));
    let hits: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(hits[0]["path"], format!("pkg/m{module:03}.py"), "search {handler}: {hits}");
    rebuilt
}

#[test]
fn sigkill_during_index_and_edit_apply_leaves_a_usable_index_and_whole_files() {
    let seed = seed();
    let kills = kills();
    println!("crash test seed {seed} (HEARTH_KILL_SEED={seed} repeats it), {kills} kills each");
    let mut rng = StdRng::seed_from_u64(seed);
    let old = old_files();
    let new: Vec<(String, String)> = old.iter().map(|(p, t)| (p.clone(), t.replace(OLD_NAME, NEW_NAME))).collect();
    let repo = make_repo(&old);
    let root = repo.path().canonicalize().unwrap();
    let root_s = root.to_str().unwrap().to_string();
    let indexes = tempfile::tempdir().unwrap();

    // Indexing: time a full build and an incremental sync uninterrupted, then kill at random points.
    let index_dir = indexes.path().join("index");
    let started = Instant::now();
    run_ok(hearth(&["index", &root_s], IndexAt::Dir(&index_dir)));
    let full = started.elapsed();
    let touched: Vec<(String, String)> = old.iter().step_by(3).map(|(p, t)| (p.clone(), format!("{t}# touched\n"))).collect();
    write_files(&root, &touched);
    let started = Instant::now();
    run_ok(hearth(&["index", &root_s], IndexAt::Dir(&index_dir)));
    let incremental = started.elapsed();
    println!(
        "index: full build {:.0} ms, incremental sync of {} files {:.0} ms",
        full.as_secs_f64() * 1e3,
        touched.len(),
        incremental.as_secs_f64() * 1e3
    );

    let mut landed = 0;
    let mut rebuilt = Vec::new();
    for k in 0..kills {
        // Even kills hit a build from nothing, odd ones an incremental sync of an existing index.
        let window = if k % 2 == 0 {
            let _ = std::fs::remove_dir_all(&index_dir);
            full
        } else {
            let revision: Vec<(String, String)> =
                old.iter().skip(k % 3).step_by(3).map(|(p, t)| (p.clone(), format!("{t}# revision {k}\n"))).collect();
            write_files(&root, &revision);
            incremental
        };
        let delay = window.mul_f64(rng.random_range(0.0..1.1));
        landed += kill_after(hearth(&["index", &root_s], IndexAt::Dir(&index_dir)), delay, None) as usize;
        rebuilt.extend(check_index(&root, IndexAt::Dir(&index_dir), OLD_NAME, rng.random_range(0..MODULES)));
    }
    println!("index: {kills} SIGKILLs, {landed} while indexing ran; afterwards the index opened and answered every time ({} rebuilt it: {rebuilt:?})", rebuilt.len());
    assert!(landed > 0, "no kill landed while indexing ran");

    // The daemon: `hearth serve` loads the model and builds the index in the background after
    // `initialize`; killed at random points of that, then the index is checked the same way.
    let cache_home = indexes.path().join("cache");
    let at = IndexAt::CacheHome(&cache_home);
    let serve = || {
        let mut command = hearth(&["serve", "--model", &tiny_model()], at);
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null());
        command.spawn().unwrap()
    };
    let started = Instant::now();
    let mut child = serve();
    let mut rpc = Rpc::new(child.stdout.take().unwrap(), child.stdin.take().unwrap());
    rpc.start(&root, json!({}));
    let startup = started.elapsed();
    rpc.shutdown();
    child.wait().unwrap();
    println!("serve: ready (model loaded, index built) {:.0} ms after start", startup.as_secs_f64() * 1e3);
    let (mut landed, mut rebuilt) = (0, Vec::new());
    for k in 0..kills {
        if k % 2 == 0 {
            let _ = std::fs::remove_dir_all(&cache_home);
        } else {
            let revision: Vec<(String, String)> =
                old.iter().skip(k % 3).step_by(3).map(|(p, t)| (p.clone(), format!("{t}# serve {k}\n"))).collect();
            write_files(&root, &revision);
        }
        let mut child = serve();
        let mut rpc = Rpc::new(child.stdout.take().unwrap(), child.stdin.take().unwrap());
        rpc.request("initialize", json!({"processId": null, "rootUri": format!("file://{root_s}"), "capabilities": {}}));
        rpc.notify("initialized", json!({}));
        let delay = startup.mul_f64(rng.random_range(0.0..1.1));
        std::thread::sleep(delay);
        landed += (delay < startup) as usize;
        child.kill().unwrap();
        child.wait().unwrap();
        rebuilt.extend(check_index(&root, at, OLD_NAME, rng.random_range(0..MODULES)));
    }
    println!("serve: {kills} SIGKILLs, {landed} sooner than an uninterrupted start got ready; afterwards the index opened and answered every time ({} rebuilt it: {rebuilt:?})", rebuilt.len());

    // Edit: restore the old texts (committed, so the apply is allowed), time one uninterrupted apply.
    write_files(&root, &old);
    let edit = |dir: &Path| {
        let mut command = hearth(&["edit", &format!("rename {OLD_NAME} to {NEW_NAME}"), "--root", &root_s, "--apply"], IndexAt::Dir(dir));
        command.current_dir(&root);
        command
    };
    let started = Instant::now();
    // stderr to a file: the plan it prints would fill a pipe nobody reads yet.
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut child = edit(&index_dir).stdout(Stdio::null()).stderr(log.reopen().unwrap()).spawn().unwrap();
    let give_up = Instant::now() + Duration::from_secs(120);
    while temp_files(&root).is_empty() && child.try_wait().unwrap().is_none() && Instant::now() < give_up {
        std::thread::sleep(Duration::from_micros(500));
    }
    let apply_started = started.elapsed();
    let status = child.wait().unwrap();
    let whole = started.elapsed();
    assert!(status.success(), "hearth edit failed: {}", std::fs::read_to_string(log.path()).unwrap());
    for (rel, text) in &new {
        assert_eq!(&std::fs::read_to_string(root.join(rel)).unwrap(), text, "{rel} after an uninterrupted rename");
    }
    let apply_window = whole.saturating_sub(apply_started);
    println!(
        "edit: {} files renamed in {:.0} ms, the apply (first staged file to exit) {:.0} ms of it",
        new.len(),
        whole.as_secs_f64() * 1e3,
        apply_window.as_secs_f64() * 1e3
    );

    let (mut before, mut staged, mut renaming, mut after) = (0, 0, 0, 0);
    for k in 0..kills {
        write_files(&root, &old);
        for temp in temp_files(&root) {
            std::fs::remove_file(temp).unwrap();
        }
        // Half the kills at any point of the command; half inside the apply itself, once a random
        // number of the temporary files are staged (every fourth once all are, a few ms later, to
        // catch the renames).
        if k % 2 == 0 {
            kill_after(edit(&index_dir), whole.mul_f64(rng.random_range(0.0..1.1)), None);
        } else {
            let (wanted, delay) = match k % 4 {
                3 => (new.len(), Duration::from_micros(rng.random_range(0..5000))),
                _ => (rng.random_range(1..=new.len()), Duration::ZERO),
            };
            kill_after(edit(&index_dir), delay, Some(&|| temp_files(&root).len() >= wanted));
        }
        let mut renamed = 0;
        for ((rel, old_text), (_, new_text)) in old.iter().zip(&new) {
            let text = std::fs::read(root.join(rel)).unwrap();
            if text == new_text.as_bytes() {
                renamed += 1;
            } else {
                assert!(text == old_text.as_bytes(), "kill {k}: {rel} is neither its old nor its new version");
            }
        }
        let leftovers = temp_files(&root).len();
        match renamed {
            0 if leftovers == 0 => before += 1,
            0 => staged += 1,
            n if n == new.len() => after += 1,
            _ => renaming += 1,
        }
    }
    println!(
        "edit: {kills} SIGKILLs: {before} before the apply staged anything, {} mid-apply ({staged} while staging, {renaming} while renaming), {after} after every file was renamed; every file old or new each time",
        staged + renaming
    );
    assert!(staged + renaming > 0, "no kill landed mid-apply");
    // The index is still usable after all that (the edit command syncs it first).
    write_files(&root, &old);
    check_index(&root, IndexAt::Dir(&index_dir), OLD_NAME, 7);
}
