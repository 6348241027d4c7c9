//! The logs hold no source code: a session logged at `trace` never prints a distinctive string from the
//! document, and `--log-prompts` (which warns loudly) is what makes it appear.

mod support;

use std::process::{Command, Stdio};

use serde_json::json;
use support::{hearth_bin, python_repo, tiny_model, Rpc};

const MARKER: &str = "zebra_quokka_4711";

/// Runs a session (open, completions, a change, the context command) and returns the server's stderr.
fn session_stderr(extra: &[&str]) -> String {
    let source = format!("# {MARKER} secret\ndef {MARKER}(values):\n    total = 0\n    for v in values:\n        total += v\n    return total\n\n\nprint({MARKER}([1, 2]))\n");
    let repo = python_repo(&source);
    let cache = tempfile::tempdir().unwrap();
    let model = tiny_model();
    let mut child = Command::new(hearth_bin())
        .args(["serve", "--model", &model])
        .args(extra)
        .env("RUST_LOG", "trace")
        .env("XDG_CACHE_HOME", cache.path())
        .env("HEARTH_INDEX_DIR", cache.path().join("index"))
        .env("HEARTH_CONFIG", cache.path().join("none.toml"))
        .env_remove("HEARTH_MODEL")
        .env_remove("HEARTH_LOG_PROMPTS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).unwrap();
        text
    });
    let mut rpc = Rpc::new(child.stdout.take().unwrap(), child.stdin.take().unwrap());
    rpc.start(repo.path(), json!({"debounceMs": 0}));
    let uri = format!("file://{}/main.py", repo.path().display());
    rpc.open(&uri, "python", &source);
    for (line, character) in [(2, 4), (4, 8), (5, 4), (8, 6)] {
        rpc.inline_completion(&uri, line, character);
    }
    rpc.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{
            "range": {"start": {"line": 6, "character": 0}, "end": {"line": 6, "character": 0}},
            "text": format!("x = {MARKER}([3])\n"),
        }]}),
    );
    rpc.inline_completion(&uri, 7, 0);
    rpc.call(
        "workspace/executeCommand",
        json!({"command": "hearth.context", "arguments": [{"uri": uri, "position": {"line": 5, "character": 4}}]}),
    );
    rpc.shutdown();
    assert!(child.wait().unwrap().success());
    log.join().unwrap()
}

#[test]
fn logs_at_trace_hold_no_document_text() {
    let log = session_stderr(&[]);
    assert!(log.lines().count() > 5, "suspiciously little logged at trace:\n{log}");
    assert!(log.contains("completion in"), "the completion debug line is missing:\n{log}");
    let leaks: Vec<&str> = log.lines().filter(|l| l.contains(MARKER)).collect();
    assert!(leaks.is_empty(), "source code in the logs:\n{}", leaks.join("\n"));
    assert!(!log.contains("--log-prompts is on"), "{log}");
}

#[test]
fn log_prompts_shows_the_text_and_says_so() {
    let log = session_stderr(&["--log-prompts"]);
    let first = log.lines().find(|l| l.contains("WARNING")).unwrap_or_default();
    assert!(first.contains("--log-prompts is on") && first.contains("SOURCE CODE"), "{log}");
    assert!(log.contains(MARKER), "--log-prompts did not log the document text:\n{log}");
}
