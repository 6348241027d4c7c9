//! The index on real git repositories built with git2 in temp dirs, with a real Tantivy index on disk.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use hearth_index::{approximate_tokens, Debounce, Index, IndexOptions, LiveEvent, LiveIndex, Reason, RetrieveRequest, SkipReason, Update};

struct TestRepo {
    root: tempfile::TempDir,
    index_dir: tempfile::TempDir,
    repo: git2::Repository,
}

impl TestRepo {
    fn new() -> TestRepo {
        let root = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(root.path()).unwrap();
        let mut config = repo.config().unwrap();
        config.set_str("user.name", "Hearth Test").unwrap();
        config.set_str("user.email", "test@hearth.invalid").unwrap();
        TestRepo { root, index_dir: tempfile::tempdir().unwrap(), repo }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    fn write(&self, rel: &str, text: impl AsRef<[u8]>) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn remove(&self, rel: &str) {
        std::fs::remove_file(self.path(rel)).unwrap();
    }

    /// Stage everything (deletions too) and commit on the current branch.
    fn commit(&self, message: &str) -> git2::Oid {
        let mut index = self.repo.index().unwrap();
        index.add_all(["*"], git2::IndexAddOption::DEFAULT, None).unwrap();
        index.update_all(["*"], None).unwrap();
        index.write().unwrap();
        let tree = self.repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = self.repo.signature().unwrap();
        let parent = self.repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        self.repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents).unwrap()
    }

    fn checkout(&self, branch: &str) {
        let reference = format!("refs/heads/{branch}");
        let object = self.repo.revparse_single(&reference).unwrap();
        let mut options = git2::build::CheckoutBuilder::new();
        options.force().remove_untracked(false);
        self.repo.checkout_tree(&object, Some(&mut options)).unwrap();
        self.repo.set_head(&reference).unwrap();
    }

    fn open(&self) -> Index {
        self.open_with(IndexOptions::default())
    }

    /// Opens the index with `options`, in this repo's index directory.
    fn open_with(&self, options: IndexOptions) -> Index {
        let options = IndexOptions { index_dir: Some(self.index_dir.path().join("idx")), ..options };
        Index::open(self.root.path(), options).unwrap()
    }
}

fn synced(repo: &TestRepo) -> Index {
    let index = repo.open();
    index.sync(&mut |_| {}).unwrap();
    index
}

fn def_paths(index: &Index, name: &str) -> Vec<String> {
    index.symbols(name).iter().map(|d| d.path.to_string()).collect()
}

/// Logs written while `f` runs on this thread.
fn capture_logs<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer(Arc::new(Mutex::new(Vec::new())));
    let writer = buffer.clone();
    let subscriber =
        tracing_subscriber::fmt().with_max_level(tracing::Level::INFO).with_ansi(false).with_writer(move || writer.clone()).finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    (out, logs)
}

#[test]
fn ignore_rules_and_vendored_trees_are_honoured() {
    let repo = TestRepo::new();
    repo.write(".gitignore", "generated/\n*.tmp.rs\n");
    repo.write(".ignore", "scratch.py\n");
    repo.write(".git/info/exclude", "local_only.rs\n");
    repo.write("src/lib.rs", "pub fn kept() {}\n");
    repo.write("generated/out.rs", "pub fn from_generated_dir() {}\n");
    repo.write("src/cache.tmp.rs", "pub fn from_tmp_file() {}\n");
    repo.write("scratch.py", "def from_scratch():\n    pass\n");
    repo.write("local_only.rs", "fn from_info_exclude() {}\n");
    repo.write("node_modules/pkg/index.js", "function fromNodeModules() {}\n");
    repo.write("README.md", "# not code\n");
    let index = synced(&repo);
    assert_eq!(def_paths(&index, "kept"), ["src/lib.rs"]);
    for hidden in ["from_generated_dir", "from_tmp_file", "from_scratch", "from_info_exclude", "fromNodeModules"] {
        assert!(index.symbols(hidden).is_empty(), "{hidden} should be ignored");
    }
    assert_eq!(index.stats().unwrap().files, 1);

    // Batches (the watcher's path) apply the same rules, including to files deep in ignored trees.
    repo.write("generated/deeper/new.rs", "pub fn new_in_generated() {}\n");
    repo.write("node_modules/pkg/lib/new.js", "function newInNodeModules() {}\n");
    repo.write("src/also_kept.rs", "pub fn also_kept() {}\n");
    index
        .update_paths(&[
            repo.path("generated/deeper/new.rs"),
            repo.path("node_modules/pkg/lib/new.js"),
            repo.path("src/also_kept.rs"),
            PathBuf::from("./scratch.py"),
        ])
        .unwrap();
    assert!(index.symbols("new_in_generated").is_empty());
    assert!(index.symbols("newInNodeModules").is_empty());
    assert!(index.symbols("from_scratch").is_empty());
    assert_eq!(def_paths(&index, "also_kept"), ["src/also_kept.rs"]);
}

#[test]
fn git_tracked_files_are_indexed_even_where_an_ignore_rule_matches() {
    let repo = TestRepo::new();
    repo.write("src/lib.rs", "pub fn kept() {}\n");
    repo.write("gen/schema.rs", "pub fn tracked_then_ignored() {}\n");
    repo.write(".github/check.py", "def tracked_hidden():\n    pass\n");
    repo.write("vendor/dep/dep.go", "package dep\nfunc TrackedVendored() {}\n");
    repo.commit("initial");
    repo.write(".gitignore", "gen/\n*.local.rs\n");
    repo.write("gen/untracked.rs", "pub fn untracked_in_ignored_dir() {}\n");
    repo.write("cfg.local.rs", "pub fn untracked_ignored_file() {}\n");
    repo.write("src/new.rs", "pub fn untracked_kept() {}\n");
    repo.write(".hidden/new.py", "def untracked_hidden():\n    pass\n");
    let index = synced(&repo);
    // As git sees it: tracked files (ignored or hidden ones too) plus untracked files no rule ignores.
    assert_eq!(def_paths(&index, "tracked_then_ignored"), ["gen/schema.rs"]);
    assert_eq!(def_paths(&index, "tracked_hidden"), [".github/check.py"]);
    assert_eq!(def_paths(&index, "untracked_kept"), ["src/new.rs"]);
    for left_out in ["untracked_in_ignored_dir", "untracked_ignored_file", "untracked_hidden", "TrackedVendored"] {
        assert!(index.symbols(left_out).is_empty(), "{left_out} is indexed");
    }
    assert_eq!(index.stats().unwrap().files, 4);

    // The watcher's batches keep the tracked file and still leave the untracked one out.
    repo.write("gen/schema.rs", "pub fn tracked_edited() {}\n");
    repo.write("gen/untracked.rs", "pub fn untracked_edited() {}\n");
    index.update_paths(&[repo.path("gen/schema.rs"), repo.path("gen/untracked.rs")]).unwrap();
    assert_eq!(def_paths(&index, "tracked_edited"), ["gen/schema.rs"]);
    assert!(index.symbols("tracked_then_ignored").is_empty());
    assert!(index.symbols("untracked_edited").is_empty());
    index.update_paths(&[repo.path("gen")]).unwrap();
    assert_eq!(def_paths(&index, "tracked_edited"), ["gen/schema.rs"]);

    // Once git stops tracking it (`git rm --cached`), the ignore rule applies again.
    let mut git_index = repo.repo.index().unwrap();
    git_index.remove_path(Path::new("gen/schema.rs")).unwrap();
    git_index.write().unwrap();
    index.sync(&mut |_| {}).unwrap();
    assert!(index.symbols("tracked_edited").is_empty());
    assert_eq!(def_paths(&index, "kept"), ["src/lib.rs"]);
}

#[test]
fn second_sync_reads_nothing_and_one_edit_reparses_one_file() {
    let repo = TestRepo::new();
    for i in 0..5 {
        repo.write(&format!("m{i}.py"), format!("def f{i}():\n    return {i}\n"));
    }
    let index = repo.open();
    let first = index.sync(&mut |_| {}).unwrap();
    assert_eq!(first.files_indexed, 5);
    let again = index.sync(&mut |_| {}).unwrap();
    assert_eq!((again.files_indexed, again.files_unchanged, again.files_removed), (0, 0, 0));
    std::thread::sleep(Duration::from_millis(20));
    repo.write("m3.py", "def f3_renamed():\n    return 3\n");
    let third = index.sync(&mut |_| {}).unwrap();
    assert_eq!(third.files_indexed, 1);
    assert!(index.symbols("f3").is_empty());
    assert_eq!(def_paths(&index, "f3_renamed"), ["m3.py"]);
    drop(index);
    // Reopened: the state comes back from disk, and nothing needs re-reading.
    let reopened = repo.open();
    assert_eq!(def_paths(&reopened, "f1"), ["m1.py"]);
    let f1 = &reopened.symbols("f1")[0];
    assert_eq!((f1.signature.as_str(), f1.start_line, f1.end_line, f1.name_line, f1.name_col), ("def f1():", 0, 1, 0, 4));
    assert_eq!(reopened.sync(&mut |_| {}).unwrap().files_indexed, 0);
}

#[test]
fn unsaved_overlay_wins_over_the_disk() {
    let repo = TestRepo::new();
    repo.write("app.py", "def on_disk():\n    pass\n");
    let index = synced(&repo);
    assert_eq!(def_paths(&index, "on_disk"), ["app.py"]);

    index.set_overlay(&repo.path("app.py"), "def in_editor():\n    pass\n").unwrap();
    assert!(index.symbols("on_disk").is_empty());
    assert_eq!(def_paths(&index, "in_editor"), ["app.py"]);

    // The disk changes under the open document: the overlay still wins, by watcher batch or full sync.
    repo.write("app.py", "def disk_again():\n    pass\n");
    index.update_paths(&[repo.path("app.py")]).unwrap();
    index.sync(&mut |_| {}).unwrap();
    assert!(index.symbols("disk_again").is_empty());
    assert_eq!(def_paths(&index, "in_editor"), ["app.py"]);
    assert_eq!(index.references("in_editor").unwrap().len(), 1);

    index.clear_overlay(&repo.path("app.py")).unwrap();
    assert!(index.symbols("in_editor").is_empty());
    assert_eq!(def_paths(&index, "disk_again"), ["app.py"]);
}

#[test]
fn rename_delete_and_readd_are_reflected() {
    let repo = TestRepo::new();
    repo.write("src/alpha.rs", "pub fn alpha() -> u32 { 1 }\n");
    repo.write("src/main.rs", "fn main() { alpha(); }\n");
    repo.commit("init");
    let index = synced(&repo);
    assert_eq!(def_paths(&index, "alpha"), ["src/alpha.rs"]);

    std::fs::rename(repo.path("src/alpha.rs"), repo.path("src/beta.rs")).unwrap();
    index.update_paths(&[repo.path("src/alpha.rs"), repo.path("src/beta.rs")]).unwrap();
    assert_eq!(def_paths(&index, "alpha"), ["src/beta.rs"]);

    repo.remove("src/beta.rs");
    let stats = index.sync(&mut |_| {}).unwrap();
    assert_eq!(stats.files_removed, 1);
    assert!(index.symbols("alpha").is_empty());
    let refs: Vec<String> = index.references("alpha").unwrap().iter().map(|l| l.path.clone()).collect();
    assert_eq!(refs, ["src/main.rs"]);

    repo.write("src/alpha.rs", "pub fn alpha() -> u32 { 2 }\n");
    index.update_paths(&[PathBuf::from("src/alpha.rs")]).unwrap();
    assert_eq!(def_paths(&index, "alpha"), ["src/alpha.rs"]);

    // A deleted directory takes its files along.
    std::fs::remove_dir_all(repo.path("src")).unwrap();
    index.update_paths(&[repo.path("src")]).unwrap();
    assert_eq!(index.stats().unwrap().files, 0);
}

#[test]
fn checkout_of_another_branch_removes_stale_symbols_through_the_watcher() {
    let repo = TestRepo::new();
    repo.write("core.rs", "pub fn on_both() {}\n");
    repo.commit("main work");
    let main = repo.repo.head().unwrap().peel_to_commit().unwrap();
    repo.repo.branch("feature", &main, false).unwrap();
    let main_branch = repo.repo.head().unwrap().shorthand().unwrap().to_string();
    repo.checkout("feature");
    repo.write("feature.rs", "pub fn only_on_feature() {}\n");
    repo.write("core.rs", "pub fn on_both() {}\npub fn core_on_feature() {}\n");
    repo.commit("feature work");

    let index = Arc::new(synced(&repo));
    assert_eq!(def_paths(&index, "only_on_feature"), ["feature.rs"]);
    assert_eq!(def_paths(&index, "core_on_feature"), ["core.rs"]);

    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let live = LiveIndex::start(index.clone(), Debounce::EDITS, move |event| tx.lock().unwrap().send(event).unwrap()).unwrap();
    live.watch().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    repo.checkout(&main_branch);

    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !index.symbols("only_on_feature").is_empty() || !index.symbols("core_on_feature").is_empty() {
        let remaining = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(remaining) {
            Ok(LiveEvent::Failed(e)) => panic!("watch batch failed: {e}"),
            Ok(_) => {}
            Err(_) => panic!("the watcher did not drop the feature branch's symbols within 20 s"),
        }
    }
    assert_eq!(def_paths(&index, "on_both"), ["core.rs"]);
    assert_eq!(index.git_head(), Some(main.id().to_string()));
}

#[test]
fn watcher_reindexes_a_saved_file() {
    let repo = TestRepo::new();
    repo.write("lib.rs", "fn before_save() {}\n");
    let index = Arc::new(synced(&repo));
    let live = LiveIndex::start(index.clone(), Debounce::EDITS, |_| {}).unwrap();
    live.watch().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    repo.write("lib.rs", "fn after_save() {}\n");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while index.symbols("after_save").is_empty() {
        assert!(std::time::Instant::now() < deadline, "the watcher did not pick up the save within 20 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(index.symbols("before_save").is_empty());
}

#[test]
fn truncated_index_is_rebuilt_with_a_reason() {
    let repo = TestRepo::new();
    repo.write("a.go", "package a\n\nfunc Alpha() int { return 1 }\n");
    drop(synced(&repo));

    let idx = repo.index_dir.path().join("idx");
    let largest = std::fs::read_dir(&idx)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e != "json" && e != "lock"))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let len = std::fs::metadata(&largest).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&largest).unwrap();
    file.set_len(len / 2).unwrap();
    drop(file);

    let (index, logs) = capture_logs(|| repo.open());
    let reason = index.rebuild_reason().expect("a truncated index must be rebuilt").to_string();
    assert!(reason.contains("corrupt") || reason.contains("cannot"), "{reason}");
    assert!(logs.contains("rebuilding it from scratch"), "{logs}");
    assert!(index.symbols("Alpha").is_empty());
    index.sync(&mut |_| {}).unwrap();
    assert_eq!(def_paths(&index, "Alpha"), ["a.go"]);
}

#[test]
fn older_schema_version_is_rebuilt() {
    let repo = TestRepo::new();
    repo.write("a.rb", "class Greeter\n  def hello\n  end\nend\n");
    drop(synced(&repo));
    let meta = repo.index_dir.path().join("idx/hearth.json");
    let text = std::fs::read_to_string(&meta).unwrap();
    let older = text.replace(&format!("\"schema_version\": {}", hearth_index::SCHEMA_VERSION), "\"schema_version\": 0");
    assert_ne!(text, older);
    std::fs::write(&meta, older).unwrap();
    let index = repo.open();
    assert_eq!(index.rebuild_reason(), Some(format!("has schema version 0, this build uses {}", hearth_index::SCHEMA_VERSION).as_str()));
    index.sync(&mut |_| {}).unwrap();
    assert_eq!(def_paths(&index, "hello"), ["a.rb"]);
}

#[test]
fn invalid_utf8_and_a_50_mb_file_are_skipped_with_a_logged_reason() {
    let repo = TestRepo::new();
    repo.write("good.rs", "fn good() {}\n");
    let mut bad = b"fn bad() {}\n// caf".to_vec();
    bad.extend_from_slice(&[0xe9, b'\n']);
    repo.write("bad.rs", bad);
    repo.write("huge.rs", "// filler line\n".repeat(50 * 1024 * 1024 / 15 + 1));
    repo.write("blob.c", b"int x;\0\0\0binary");

    let index = repo.open();
    let (stats, logs) = capture_logs(|| index.sync(&mut |_| {}).unwrap());
    let reason = |path: &str| stats.skipped.iter().find(|s| s.path == path).map(|s| s.reason.clone());
    assert_eq!(reason("bad.rs"), Some(SkipReason::InvalidUtf8 { offset: 18 }));
    assert!(matches!(reason("huge.rs"), Some(SkipReason::TooLarge { size, .. }) if size >= 50 * 1024 * 1024));
    assert_eq!(reason("blob.c"), Some(SkipReason::Binary));
    assert!(logs.contains("skipping bad.rs: not valid UTF-8"), "{logs}");
    assert!(logs.contains("skipping huge.rs: 5242"), "{logs}");
    assert_eq!(def_paths(&index, "good"), ["good.rs"]);
    assert!(index.symbols("bad").is_empty());
    assert_eq!(stats.files_indexed, 1);
}

#[test]
fn retrieve_brings_definitions_similar_code_and_recent_edits_within_budget() {
    let repo = TestRepo::new();
    repo.write(
        "src/config.rs",
        "pub struct Config {\n    pub port: u16,\n}\n\npub fn parse_config(text: &str) -> Config {\n    let port = text.trim().parse().unwrap_or(8080);\n    Config { port }\n}\n",
    );
    repo.write(
        "src/server.rs",
        "pub fn start_listener(port: u16) {\n    let address = format!(\"0.0.0.0:{port}\");\n    bind_socket(&address);\n}\n\nfn bind_socket(address: &str) {\n    println!(\"{address}\");\n}\n",
    );
    repo.write("src/unrelated.rs", "pub fn compute_checksum(bytes: &[u8]) -> u32 {\n    bytes.iter().map(|b| *b as u32).sum()\n}\n");
    let main = "use crate::config::parse_config;\n\nfn main() {\n    let config: Config = parse_config(\"80\");\n    let address = format!(\"0.0.0.0:{}\", config.port);\n    \n}\n";
    repo.write("src/main.rs", main);
    repo.commit("init");
    let index = synced(&repo);
    index
        .set_overlay(
            &repo.path("src/unrelated.rs"),
            "pub fn compute_checksum(bytes: &[u8]) -> u32 {\n    bytes.iter().map(|b| *b as u32).sum::<u32>() + 1\n}\n",
        )
        .unwrap();

    let cursor = main.find("    \n}").unwrap() + 4;
    let request = |budget| RetrieveRequest {
        path: Path::new("src/main.rs"),
        text: Some(main),
        offset: cursor,
        budget_tokens: budget,
        count_tokens: &approximate_tokens,
    };
    let snippets = index.retrieve(&request(2000)).unwrap();
    let summary: Vec<String> = snippets.iter().map(|s| format!("{}:{} {}", s.path, s.start_line, s.reason)).collect();
    // The names used next to the cursor come first: the imported one as its signature, the other
    // as its definition (the imported one's whole definition follows).
    let mut top: Vec<(&str, String)> = snippets[..2]
        .iter()
        .map(|s| match &s.reason {
            Reason::Definition { name, .. } => (s.path.as_str(), name.clone()),
            Reason::Imports { names } => (s.path.as_str(), format!("imports {}", names.join(","))),
            other => panic!("expected definitions first, got {other}: {summary:#?}"),
        })
        .collect();
    top.sort();
    assert_eq!(top, [("src/config.rs", "Config".to_string()), ("src/config.rs", "imports parse_config".to_string())]);
    assert!(snippets.iter().any(|s| s.text.starts_with("pub fn parse_config(text: &str) -> Config {")), "{summary:#?}");
    assert!(snippets.iter().any(|s| s.path == "src/server.rs" && matches!(s.reason, Reason::Similar { .. })), "{summary:#?}");
    assert!(snippets.iter().any(|s| s.path == "src/unrelated.rs" && matches!(s.reason, Reason::RecentEdit { .. })), "{summary:#?}");
    assert!(snippets.iter().all(|s| s.path != "src/main.rs"), "the cursor's own window is never retrieved: {summary:#?}");
    for w in snippets.windows(2) {
        assert!(w[0].score >= w[1].score);
    }

    let cost = |s: &hearth_index::Snippet| approximate_tokens(&s.header()) + approximate_tokens(&s.text);
    let small = index.retrieve(&request(60)).unwrap();
    assert!(!small.is_empty() && small.len() < snippets.len());
    assert!(small.iter().map(cost).sum::<usize>() <= 60);
    assert!(index.retrieve(&request(0)).unwrap().is_empty());
}

#[test]
fn references_skip_strings_and_comments_and_search_splits_identifiers() {
    let repo = TestRepo::new();
    repo.write("a.ts", "export function loadUser(id: string) { return id; }\n// loadUser is cached\nconst s = \"loadUser\";\n");
    repo.write("b.ts", "import { loadUser } from './a';\nloadUser('1');\nconst loadUserLater = 1;\n");
    let index = synced(&repo);
    let refs: Vec<(String, u32)> = index.references("loadUser").unwrap().into_iter().map(|l| (l.path, l.line)).collect();
    assert_eq!(refs, [("a.ts".to_string(), 0), ("b.ts".to_string(), 0), ("b.ts".to_string(), 1)]);
    // snake_case finds camelCase: both files' chunks, and nothing for a name no file uses.
    let mut hits: Vec<String> = index.search("load_user", 5).unwrap().into_iter().map(|h| h.path).collect();
    hits.sort();
    hits.dedup();
    assert_eq!(hits, ["a.ts", "b.ts"]);
    assert!(index.search("save_user", 5).unwrap().iter().all(|h| h.score < 1.0 || h.path == "a.ts" || h.path == "b.ts"));
    assert!(index.search("nonexistent_thing", 5).unwrap().is_empty());
}

/// `references(name)` against a parse of every file: the index finds its candidates through chunk
/// tokens, so a name used only deep in a long class, a one-letter name, `$el`, `empty?`, names that only
/// differ in case or split the same way, and names only in comments are the cases that could go wrong.
#[test]
fn references_equal_a_parse_of_every_file() {
    let repo = TestRepo::new();
    let attrs: String = (0..120)
        .map(|i| match i {
            100 => "    deep_attr = helper(q)\n".to_string(),
            _ => format!("    attr_{i} = {i}\n"),
        })
        .collect();
    let files = [
        ("models.py", format!("class Model:\n{attrs}\n    def get(self, q):\n        return self.get_value(q)\n")),
        ("util.py", "def helper(q):\n    # deep_attr is documented here only\n    return Get(q) if q else get_value(q)\n".to_string()),
        ("view.js", "const $el = document.body;\nfunction getValue(x) { return $el.get(x); }\nlet q = getValue(1);\n".to_string()),
        ("list.rb", "class List\n  def empty?\n    size == 0\n  end\n  def get(q)\n    empty? ? nil : q\n  end\nend\n".to_string()),
        ("lib.rs", "pub fn get_value(q: u32) -> u32 { q }\n/// GetValue in a comment\npub struct Get;\n".to_string()),
    ];
    for (rel, text) in &files {
        repo.write(rel, text);
    }
    repo.commit("init");
    let index = synced(&repo);
    let names = ["deep_attr", "q", "$el", "empty?", "get", "Get", "get_value", "getValue", "GetValue", "helper", "attr_7", "x", "absent"];
    let mut found_any = 0;
    for name in names {
        let mut expected: Vec<(String, u32, u32)> = Vec::new();
        let mut sorted = files.clone();
        sorted.sort();
        for (rel, text) in &sorted {
            let lang = hearth_syntax::Language::from_path(Path::new(rel)).unwrap();
            let lines = hearth_base::LineIndex::new(text);
            for range in hearth_syntax::identifier_occurrences(lang, text, name).unwrap() {
                let col = range.start_byte - lines.line_start(range.start_line).unwrap();
                expected.push((rel.to_string(), range.start_line, col as u32));
            }
        }
        let got: Vec<(String, u32, u32)> = index.references(name).unwrap().into_iter().map(|l| (l.path, l.line, l.col)).collect();
        assert_eq!(got, expected, "references({name:?})");
        found_any += usize::from(!got.is_empty());
    }
    // The comparison is not vacuous: most of these names are used somewhere.
    assert!(found_any >= 10, "{found_any}");
    assert_eq!(index.references("deep_attr").unwrap().len(), 1);
}

#[test]
fn index_size_cap_skips_files_past_it_and_a_raised_cap_takes_them() {
    let repo = TestRepo::new();
    for name in ["alpha", "beta", "gamma"] {
        repo.write(&format!("{name}.rs"), format!("fn {name}() {{}}\n// {}\n", "x".repeat(80)));
    }
    let size = std::fs::metadata(repo.path("alpha.rs")).unwrap().len();
    let open = |cap: u64| repo.open_with(IndexOptions { max_index_bytes: cap, ..IndexOptions::default() });

    let index = open(2 * size + 1);
    let (stats, logs) = capture_logs(|| index.sync(&mut |_| {}).unwrap());
    let capped: Vec<&str> =
        stats.skipped.iter().filter(|s| matches!(s.reason, SkipReason::OverIndexCap { .. })).map(|s| s.path.as_str()).collect();
    assert_eq!(stats.files_indexed, 2, "{:?}", stats.skipped);
    assert_eq!(capped.len(), 1, "{:?}", stats.skipped);
    assert!(logs.contains("at its cap of"), "{logs}");
    let left_out = capped[0].trim_end_matches(".rs").to_string();
    assert!(index.symbols(&left_out).is_empty());
    // Another sync keeps the index at the cap instead of growing it.
    assert_eq!(index.sync(&mut |_| {}).unwrap().files_indexed, 0);
    drop(index);

    let index = open(3 * size);
    let stats = index.sync(&mut |_| {}).unwrap();
    assert_eq!(stats.files_indexed, 1);
    assert_eq!(def_paths(&index, &left_out), [format!("{left_out}.rs")]);
}

#[test]
fn live_index_applies_overlays_in_order_and_commits_for_search() {
    let repo = TestRepo::new();
    repo.write("app.py", "def on_disk():\n    pass\n");
    let index = Arc::new(synced(&repo));
    let live = LiveIndex::start(index.clone(), Debounce::EDITS, |_| {}).unwrap();

    // A quick open, edit, close: the disk is the truth again, whatever the timing.
    let overlay = |text: &str| Update::Overlay { path: repo.path("app.py"), text: Arc::from(text) };
    live.send(overlay("def typing_one():\n    pass\n"));
    live.send(overlay("def typing_two():\n    pass\n"));
    live.send(Update::ClearOverlay(repo.path("app.py")));
    live.flush();
    assert_eq!(def_paths(&index, "on_disk"), ["app.py"]);
    assert!(index.symbols("typing_two").is_empty());

    // Reopened and edited: the last text wins and BM25 sees it after the flush's commit.
    live.send(overlay("def reopened():\n    return 'overlay text'\n"));
    live.flush();
    assert_eq!(def_paths(&index, "reopened"), ["app.py"]);
    assert!(index.symbols("on_disk").is_empty());
    let hits = index.search("reopened", 5).unwrap();
    assert_eq!(hits.first().map(|h| h.path.as_str()), Some("app.py"));

    // A file created on disk and sent as a path, then deleted.
    repo.write("newmod.py", "def brand_new_function_xyz(a, b):\n    return a + b\n");
    live.send(Update::Paths(vec![repo.path("newmod.py")]));
    live.flush();
    assert_eq!(def_paths(&index, "brand_new_function_xyz"), ["newmod.py"]);
    repo.remove("newmod.py");
    live.send(Update::Paths(vec![repo.path("newmod.py")]));
    live.flush();
    assert!(index.symbols("brand_new_function_xyz").is_empty());
}

#[test]
fn live_index_commits_on_its_own_cadence() {
    let repo = TestRepo::new();
    repo.write("app.py", "def on_disk():\n    pass\n");
    let index = Arc::new(synced(&repo));
    let live = LiveIndex::start(index.clone(), Debounce::EDITS, |_| {}).unwrap();
    live.send(Update::Overlay { path: repo.path("app.py"), text: Arc::from("def cadence_marker():\n    pass\n") });
    // No flush: the queue itself applies and commits.
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    loop {
        std::thread::sleep(Duration::from_millis(50));
        if index.symbols("cadence_marker").len() == 1 && !index.has_uncommitted() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the overlay was not applied and committed within 1 s");
    }
    drop(live);
}

/// `(path, first line)` of each snippet with its reason, for the qualifier tests.
fn retrieved(index: &Index, path: &str, text: &str, cursor: &str, budget: usize) -> Vec<(String, String, String)> {
    let request = RetrieveRequest {
        path: Path::new(path),
        text: Some(text),
        offset: text.find(cursor).expect("cursor marker") + cursor.len(),
        budget_tokens: budget,
        count_tokens: &approximate_tokens,
    };
    index.retrieve(&request).unwrap().into_iter().map(|s| (s.path.clone(), s.text.clone(), s.reason.to_string())).collect()
}

#[test]
fn the_qualifier_before_the_cursor_brings_the_members_it_names() {
    let repo = TestRepo::new();
    let mut base = String::from("import logging\n\nLOGGER = logging.getLogger(__name__)\n\n");
    for i in 0..30 {
        base.push_str(&format!("def helper_{i}(x):\n    return x + {i}\n\n"));
    }
    base.push_str("class Error(Exception):\n    pass\n\nclass BrokenExecutor(RuntimeError):\n    pass\n\n");
    base.push_str("class Executor(object):\n    \"\"\"Abstract base.\"\"\"\n\n    def submit(self, fn, /, *args, **kwargs):\n        raise NotImplementedError()\n\n    def map(self, fn, *iterables, timeout=None):\n        return iter([])\n\n    def shutdown(self, wait=True, *, cancel_futures=False):\n        pass\n");
    repo.write("futures/_base.py", &base);
    repo.write("futures/__init__.py", "from ._base import Executor\n");
    repo.write(
        "futures/process.py",
        "from . import _base\n\nclass ProcessPoolExecutor(_base.Executor):\n    def submit(self, fn):\n        return None\n",
    );
    repo.write(
        "src/store/mod.rs",
        "pub struct Index {\n    root: String,\n}\n\nimpl Index {\n    pub fn open(root: &str) -> Index {\n        Index { root: root.into() }\n    }\n\n    pub fn retrieve(&self, budget: usize) -> Vec<String> {\n        vec![self.root.clone(); budget]\n    }\n}\n",
    );
    repo.write(
        "web/base.ts",
        "export class Component {\n  render(): string {\n    return '';\n  }\n\n  mount(node: HTMLElement): void {\n    node.textContent = this.render();\n  }\n}\n",
    );
    repo.commit("init");
    let index = synced(&repo);

    let thread = "from . import _base\n\nclass ThreadPoolExecutor(_base.\n";
    let got = retrieved(&index, "futures/thread.py", thread, "(_base.", 358);
    let members = got.iter().find(|(_, _, reason)| reason.contains("members of `_base`")).unwrap_or_else(|| panic!("{got:#?}"));
    assert_eq!(members.0, "futures/_base.py");
    assert!(members.1.lines().any(|l| l == "class Executor(object):"), "{}", members.1);

    let method = "from . import _base\n\nclass ThreadPoolExecutor(_base.Executor):\n    def submit(self, fn):\n        self.\n";
    let got = retrieved(&index, "futures/thread.py", method, "self.", 358);
    let bases = got.iter().find(|(_, _, reason)| reason.contains("members of `_base.Executor`")).unwrap_or_else(|| panic!("{got:#?}"));
    assert!(
        bases.1.contains("class Executor(object):") && bases.1.contains("    def shutdown(self, wait=True, *, cancel_futures=False):"),
        "{}",
        bases.1
    );
    assert!(!bases.1.contains("raise NotImplementedError"), "an outline shows signatures, not bodies: {}", bases.1);

    let dotted = "import futures._base\n\nclass Pool(futures._base.\n";
    let got = retrieved(&index, "app.py", dotted, "futures._base.", 358);
    let members = got.iter().find(|(_, _, reason)| reason.contains("members of `futures._base`")).unwrap_or_else(|| panic!("{got:#?}"));
    assert_eq!(members.0, "futures/_base.py");

    let main = "use crate::store::Index;\n\nfn main() {\n    let index = Index::\n}\n";
    let got = retrieved(&index, "src/main.rs", main, "Index::", 358);
    let members = got.iter().find(|(_, _, reason)| reason.contains("members of `Index`")).unwrap_or_else(|| panic!("{got:#?}"));
    assert_eq!(members.0, "src/store/mod.rs");
    assert!(
        members.1.contains("pub fn open(root: &str) -> Index {")
            && members.1.contains("pub fn retrieve(&self, budget: usize) -> Vec<String> {"),
        "{}",
        members.1
    );

    let path = "fn main() {\n    let index = crate::store::\n}\n";
    let got = retrieved(&index, "src/main.rs", path, "crate::store::", 358);
    let members = got.iter().find(|(_, _, reason)| reason.contains("members of `crate::store`")).unwrap_or_else(|| panic!("{got:#?}"));
    assert!(members.1.contains("pub struct Index {"), "{}", members.1);

    let app = "import { Component } from './base';\n\nexport class App extends Component {\n  start(): void {\n    this.\n  }\n}\n";
    let got = retrieved(&index, "web/app.ts", app, "this.", 358);
    let members = got.iter().find(|(_, _, reason)| reason.contains("members of `Component`")).unwrap_or_else(|| panic!("{got:#?}"));
    assert_eq!(members.0, "web/base.ts");
    assert!(members.1.contains("mount(node: HTMLElement): void {"), "{}", members.1);

    // Imported but unused near the cursor: signatures, not bodies.
    let user = "from ._base import Executor, helper_7\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\nx = 1\n";
    let got = retrieved(&index, "futures/user.py", user, "x = ", 358);
    let imported = got.iter().find(|(_, _, reason)| reason.contains("signatures of")).unwrap_or_else(|| panic!("{got:#?}"));
    assert_eq!(imported.1, "def helper_7(x):\nclass Executor(object):");
}

#[test]
fn a_go_package_is_its_directory_without_its_tests() {
    let repo = TestRepo::new();
    // `token`: many files, a test file first by name, the member the file mentions far down.
    let mut token = String::from("package token\n\n");
    for i in 0..60 {
        token.push_str(&format!("func Helper{i}() int {{ return {i} }}\n\n"));
    }
    token.push_str("type Pos int\n\nfunc (p Pos) IsValid() bool { return p > 0 }\n");
    repo.write("token/a_test.go", "package token\n\nfunc TestAnything(t *testing.T) {}\n");
    repo.write("token/position.go", &token);
    repo.write("token/testdata/bad.go", "package bad\n\nfunc NoPos() {}\n");
    repo.write(
        "parser/scan.go",
        "package parser\n\nfunc scanIdent(src string) string {\n\treturn src\n}\n\nfunc readFull(r string) string {\n\treturn r\n}\n",
    );
    repo.write("parser/scan_test.go", "package parser\n\nfunc scanIdent2() {}\n");
    // More files than a qualified package's ranked members take.
    for i in 0..70 {
        repo.write(&format!("parser/a{i:02}.go"), format!("package parser\n\nfunc helper{i}() int {{ return {i} }}\n"));
    }
    repo.commit("init");
    let index = synced(&repo);

    let text = "package parser\n\nimport \"x/token\"\n\nfunc parse(src string) token.Pos {\n\tvar p token.\n\treturn 0\n}\n";
    let got = retrieved(&index, "parser/parser.go", text, "var p token.", 358);
    let members = got.iter().find(|(_, _, reason)| reason.contains("members of `token`")).unwrap_or_else(|| panic!("{got:#?}"));
    assert_eq!(members.0, "token/position.go", "{got:#?}");
    assert!(members.1.contains("type Pos int"), "the member the file mentions comes first: {}", members.1);
    let outlined = got.iter().filter(|(_, _, reason)| reason.contains("members of"));
    assert!(outlined.into_iter().all(|(path, _, _)| !path.ends_with("_test.go") && !path.contains("testdata")), "{got:#?}");

    // No import names a sibling file's functions: the package's own scope does.
    let text = "package parser\n\nfunc parse(file string) string {\n\tname := scanIdent(file)\n\treturn name\n}\n";
    let got = retrieved(&index, "parser/parser.go", text, "name := ", 358);
    let own = got.iter().find(|(_, _, reason)| reason.contains("of the file's own package")).unwrap_or_else(|| panic!("{got:#?}"));
    assert_eq!(own.0, "parser/scan.go");
    assert_eq!(own.1, "func scanIdent(src string) string {\nfunc readFull(r string) string {");
    assert_eq!(own.2, "signatures of `scanIdent`, `readFull`, of the file's own package", "and the function declared beside it");

    // A file added after the first 70 is still in the package's scope.
    repo.write("parser/late.go", "package parser\n\nfunc lateHelper(x int) int {\n\treturn x\n}\n");
    index.update_paths(&[PathBuf::from("parser/late.go")]).unwrap();
    let text = "package parser\n\nfunc parse(n int) int {\n\tm := lateHelper(n)\n\treturn m\n}\n";
    let got = retrieved(&index, "parser/parser.go", text, "m := ", 358);
    assert!(got.iter().any(|(path, text, _)| path == "parser/late.go" && text == "func lateHelper(x int) int {"), "{got:#?}");
}

#[test]
fn go_retrieval_offers_what_the_cursor_can_use() {
    let repo = TestRepo::new();
    // `color`: exported API (types, functions, a var block) among unexported helpers.
    let mut color = String::from("package color\n\n");
    for i in 0..40 {
        color.push_str(&format!("func helper{i}(x uint32) uint32 {{ return x + {i} }}\n\n"));
    }
    for i in 0..30 {
        color.push_str(&format!("func Convert{i}(c Color) Color {{ return c }}\n\n"));
    }
    color.push_str("type Color interface {\n\tRGBA() (r, g, b, a uint32)\n}\n\ntype Gray16 struct {\n\tY uint16\n}\n\n");
    color.push_str("// Standard colors.\nvar (\n\tBlack       = Gray16{0} // the darkest\n\tWhite       = Gray16{0xffff}\n\tTransparent = Gray16{0}\n)\n");
    repo.write("color/color.go", &color);
    // `des`: the function declared beside the one the file uses.
    repo.write(
        "des/block.go",
        "package des\n\nfunc encryptBlock(subkeys []uint64, dst, src []byte) {\n\tcryptBlock(subkeys, dst, src, false)\n}\n\n\
         func decryptBlock(subkeys []uint64, dst, src []byte) {\n\tcryptBlock(subkeys, dst, src, true)\n}\n\n\
         func cryptBlock(subkeys []uint64, dst, src []byte, decrypt bool) {}\n",
    );
    let mut many = String::from("package des\n\n");
    for i in 0..40 {
        many.push_str(&format!("func unrelated{i}(n int) int {{ return n * {i} }}\n\n"));
    }
    repo.write("des/const.go", &many);
    repo.write("des/state.go", "package des\n\nfunc newState() int { return 0 }\n\ntype desCipher struct {\n\tsubkeys [16]uint64\n}\n\ntype cipherState struct {\n\tround int\n}\n");
    // A generated file: its definitions are API, its bodies are not retrieved.
    repo.write(
        "des/tables.go",
        "// Code generated by gen.go. DO NOT EDIT.\n\npackage des\n\nvar permutedChoice1 = [56]uint8{56, 48, 40, 32, 24, 16, 8, 0}\n\ntype Feistel struct {\n\tsbox [8][64]uint32\n}\n",
    );
    repo.commit("init");
    let index = synced(&repo);

    let names = "package image\n\nimport \"x/color\"\n\nvar (\n\tLight = NewUniform(color.White)\n\tDark  = NewUniform(color.\n)\n";
    let got = retrieved(&index, "names.go", names, "Dark  = NewUniform(color.", 120);
    let members = got.iter().find(|(_, _, reason)| reason.contains("members of `color`")).unwrap_or_else(|| panic!("{got:#?}"));
    assert!(members.1.contains("\tBlack       = Gray16{0}\n"), "declared beside the mentioned `White`, its comment cut: {}", members.1);
    assert!(!members.1.contains("helper"), "another package's unexported names are out of reach: {}", members.1);

    let field = "package image\n\nimport \"x/color\"\n\ntype Uniform struct {\n\tC *color.\n}\n";
    let got = retrieved(&index, "uniform.go", field, "\tC *color.", 40);
    let members = got.iter().find(|(_, _, reason)| reason.contains("members of `color`")).unwrap_or_else(|| panic!("{got:#?}"));
    assert!(members.1.starts_with("type Color interface {"), "a type is wanted: types first: {}", members.1);

    let decrypt = "package des\n\nfunc (c *desCipher) Encrypt(dst, src []byte) {\n\tencryptBlock(c.subkeys[:], dst, src)\n}\n\n\
                   func (c *desCipher) Decrypt(dst, src []byte) {\n\t\n}\n";
    let got = retrieved(&index, "des/cipher.go", decrypt, "Decrypt(dst, src []byte) {\n\t", 200);
    let own = got.iter().find(|(path, _, _)| path == "des/block.go").unwrap_or_else(|| panic!("{got:#?}"));
    assert!(own.1.contains("func decryptBlock(subkeys []uint64, dst, src []byte) {"), "{}", own.1);
    assert!(own.2.contains("`decryptBlock`") && own.2.ends_with("of the file's own package"), "{}", own.2);

    let typed = "package des\n\ntype tripleDES struct {\n\tcipher1, cipher2 desCipher\n\tstate \n}\n";
    let got = retrieved(&index, "des/triple.go", typed, "\tstate ", 200);
    let own = got.iter().find(|(path, _, _)| path == "des/state.go").unwrap_or_else(|| panic!("{got:#?}"));
    assert!(own.1.contains("type cipherState struct {"), "the package's types where a type is wanted: {}", own.1);

    let table = "package des\n\nfunc init() {\n\tvar f \n}\n";
    let got = retrieved(&index, "des/init.go", table, "\tvar f ", 200);
    assert!(got.iter().any(|(path, text, _)| path == "des/tables.go" && text.contains("type Feistel struct {")), "{got:#?}");
    let bodies = index.search("permutedChoice1", 5).unwrap();
    assert!(bodies.is_empty(), "a generated file's chunks are not indexed: {:?}", bodies.iter().map(|h| &h.path).collect::<Vec<_>>());
    assert_eq!(index.symbols("permutedChoice1").len(), 1, "its definitions are");
    let skipped: Vec<String> = index.skipped_files().into_iter().map(|s| format!("{}: {}", s.path, s.reason)).collect();
    assert_eq!(skipped, ["des/tables.go: generated (says \"do not edit\"): only its definitions are indexed"]);
    assert_eq!(index.symbols("Feistel").len(), 1);
    drop(index);
    let reopened = repo.open();
    let skipped: Vec<String> = reopened.skipped_files().into_iter().map(|s| s.path).collect();
    assert_eq!(skipped, ["des/tables.go"], "the mark survives a restart");
}

#[test]
fn skipped_files_are_listed_until_they_are_indexed_or_gone() {
    let repo = TestRepo::new();
    repo.write("ok.py", "def ok():\n    return 1\n");
    repo.write("binary.py", b"\0\0\0\0 not text\n");
    repo.write("latin1.py", b"# caf\xe9\nx = 1\n");
    repo.write("big.py", "x = 1\n".repeat(300_000));
    repo.commit("init");
    let index = synced(&repo);
    let listed =
        |index: &Index| -> Vec<String> { index.skipped_files().into_iter().map(|s| format!("{}: {}", s.path, s.reason)).collect() };
    let skipped = listed(&index);
    assert_eq!(skipped.len(), 3, "{skipped:?}");
    assert!(skipped[0].starts_with("big.py: 1800000 bytes is over"), "{skipped:?}");
    assert!(skipped[1].starts_with("binary.py: binary"), "{skipped:?}");
    assert!(skipped[2].starts_with("latin1.py: not valid UTF-8"), "{skipped:?}");

    // Fixed through the watcher's path: indexed, no longer listed.
    repo.write("latin1.py", "# café\nx = 1\n");
    index.update_paths(&[PathBuf::from("latin1.py")]).unwrap();
    // Gone from disk, and a full sync: no longer listed either.
    repo.remove("binary.py");
    index.sync(&mut |_| {}).unwrap();
    assert_eq!(listed(&index).len(), 1, "{:?}", listed(&index));
    assert!(listed(&index)[0].starts_with("big.py"));
    // A fresh process finds the same after its first sync.
    drop(index);
    let reopened = synced(&repo);
    assert_eq!(listed(&reopened).len(), 1, "{:?}", listed(&reopened));
}

#[test]
fn a_cancelled_sync_stops_and_the_next_one_finishes() {
    let repo = TestRepo::new();
    for i in 0..200 {
        repo.write(&format!("m{i}.py"), format!("def f{i}():\n    return {i}\n"));
    }
    repo.commit("init");
    let index = repo.open();
    let cancel = hearth_base::CancelToken::new();
    let mut seen = 0;
    let result = index.sync_until(&cancel, &mut |p| {
        seen = p.files_done;
        if p.files_done == 10 {
            cancel.cancel();
        }
    });
    assert!(matches!(result, Err(hearth_index::IndexError::Cancelled)), "{result:?}");
    assert!(seen < 200, "the sync stopped early ({seen} files)");
    let stats = index.sync(&mut |_| {}).unwrap();
    assert_eq!(index.stats().unwrap().files, 200);
    assert!(stats.files_indexed + stats.files_unchanged <= 200 && stats.files_indexed > 0, "{stats:?}");
}
