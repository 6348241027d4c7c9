//! Hostile and careless input through the real binary and `hearth serve`: a FIFO where a source
//! file should be, renames with tens of thousands of occurrences, files the index left out, a
//! client that hangs up mid-build, frames that lie about their length, and the smaller ones
//! (params on `shutdown`, unsaved buffers, out-of-range columns, bad model files and names).
//! Each test prints what it measured; `scripts/robustness.sh` collects the lines for BENCHMARKS.md.

mod support;

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{hearth_bin, python_repo, rss_mib, shared, spawn_server, tiny_model, Rpc, PYTHON_SOURCE};

/// `hearth ARGS` in `dir`, with no config file and the index under `cache`.
fn hearth(dir: &Path, cache: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(hearth_bin());
    command
        .args(args)
        .current_dir(dir)
        .env("XDG_CACHE_HOME", cache)
        .env("HEARTH_CONFIG", "/nonexistent/hearth.toml")
        .env_remove("HEARTH_MODEL")
        .env_remove("RUST_LOG");
    command
}

/// Runs `command` to the end, or kills it after `limit` (then `None`), and says how long it took.
fn run_within(mut command: Command, limit: Duration) -> (Option<Output>, Duration) {
    let started = Instant::now();
    let mut child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("hearth runs");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let readers = (
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = out.read_to_end(&mut v);
            v
        }),
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = err.read_to_end(&mut v);
            v
        }),
    );
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    let (stdout, stderr) = (readers.0.join().unwrap(), readers.1.join().unwrap());
    (status.map(|status| Output { status, stdout, stderr }), elapsed)
}

/// `hearth serve` on stdio with the tiny model, its index under `cache`.
fn serve(dir: &Path, cache: &Path, extra: &[&str]) -> (Child, Rpc) {
    let model = tiny_model();
    let mut args = vec!["serve", "--model", model.as_str()];
    args.extend_from_slice(extra);
    spawn_server(hearth(dir, cache, &args))
}

fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

fn edit_request(rpc: &mut Rpc, instruction: &str, scope: &str, file: Option<&Path>) -> i64 {
    let mut args = json!({"instruction": instruction, "scope": scope});
    if let Some(file) = file {
        args["uri"] = json!(uri(file));
    }
    rpc.request("workspace/executeCommand", json!({"command": "hearth.edit", "arguments": [args]}))
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo is installed");
    assert!(status.success());
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Adds `files` to the repository at `root` and commits them.
fn commit(root: &Path, files: &[(&str, &[u8])]) {
    for (name, bytes) in files {
        std::fs::write(root.join(name), bytes).unwrap();
    }
    let repo = git2::Repository::open(root).unwrap();
    let mut index = repo.index().unwrap();
    index.add_all(["*"], git2::IndexAddOption::DEFAULT, None).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::now("t", "t@example.com").unwrap();
    let parent = repo.head().unwrap().peel_to_commit().unwrap();
    repo.commit(Some("HEAD"), &sig, &sig, "add files", &tree, &[&parent]).unwrap();
}

#[test]
fn a_fifo_is_refused_at_once_by_edits_and_the_server() {
    let repo = python_repo(PYTHON_SOURCE);
    let cache = tempfile::tempdir().unwrap();
    let fifo = repo.path().join("fifo.py");
    mkfifo(&fifo);
    let rename = "rename parse_cfg to parse_config";

    let (out, took) =
        run_within(hearth(repo.path(), cache.path(), &["edit", rename, "--scope", "file", "--path", "fifo.py"]), Duration::from_secs(60));
    let out = out.expect("`hearth edit` on a FIFO must return, not wait for a writer");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("not a regular file (a FIFO)"), "{}", text(&out.stderr));
    println!("hostile: FIFO edit (CLI) refused in {:.2} s", took.as_secs_f64());

    // Every command that reads a file named on its command line refuses it the same way.
    let model = tiny_model();
    for args in [
        vec!["complete", "fifo.py:1:1", "--model", model.as_str()],
        vec!["context", "fifo.py:1:1"],
        vec!["edit", rename, "--path", "fifo.py", "--lines", "1:1"],
    ] {
        let (out, _) = run_within(hearth(repo.path(), cache.path(), &args), Duration::from_secs(60));
        let out = out.unwrap_or_else(|| panic!("`hearth {args:?}` on a FIFO must return"));
        assert!(!out.status.success() && text(&out.stderr).contains("not a regular file (a FIFO)"), "{args:?}: {}", text(&out.stderr));
    }

    // Repository-wide, the FIFO is passed over and the real file is renamed.
    let (out, _) = run_within(hearth(repo.path(), cache.path(), &["edit", rename]), Duration::from_secs(120));
    let out = out.expect("a repository-wide rename beside a FIFO returns");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("+def parse_config(path):"), "{}", text(&out.stdout));

    let (mut child, mut rpc) = serve(repo.path(), cache.path(), &[]);
    rpc.start(repo.path(), json!({}));
    let started = Instant::now();
    let ids: Vec<i64> = (0..4).map(|_| edit_request(&mut rpc, rename, "file", Some(&fifo))).collect();
    for id in ids {
        let answer = rpc.response(id, Duration::from_secs(30));
        let message = answer["error"]["message"].as_str().unwrap_or_default().to_string();
        assert!(message.contains("not a regular file (a FIFO)"), "{answer}");
    }
    println!("hostile: 4 FIFO edits through the server refused in {:.2} s", started.elapsed().as_secs_f64());
    // The server still works.
    let id = edit_request(&mut rpc, rename, "file", Some(&repo.path().join("main.py")));
    let answer = rpc.response(id, Duration::from_secs(60));
    assert!(answer["result"]["edit"]["changes"].as_object().is_some_and(|c| !c.is_empty()), "{answer}");
    rpc.shutdown();
    let _ = child.wait();
}

/// `lines` lines of `y{i} = foo(foo({i}))`: two occurrences each, after `def foo`.
fn many_occurrences(occurrences: usize) -> String {
    let mut text = String::from("def foo(x):\n    return x\n\n");
    for i in 0..occurrences / 2 {
        text.push_str(&format!("y{i} = foo(foo({i}))\n"));
    }
    text
}

#[test]
fn renames_take_time_linear_in_their_occurrences() {
    let one_line = format!("x = [{}]\n", "foo, ".repeat(199_990));
    assert!(one_line.len() < 1 << 20, "within the edit size limit");
    let cases: [(&str, usize, String); 4] = [
        ("many10k.py", 10_000, many_occurrences(10_000)),
        ("many20k.py", 20_000, many_occurrences(20_000)),
        ("many40k.py", 40_000, many_occurrences(40_000)),
        ("oneline.py", 199_990, one_line),
    ];
    let repo = python_repo("print(1)\n");
    let files: Vec<(&str, &[u8])> = cases.iter().map(|(name, _, text)| (*name, text.as_bytes())).collect();
    commit(repo.path(), &files);
    let cache = tempfile::tempdir().unwrap();
    let (mut child, mut rpc) = serve(repo.path(), cache.path(), &[]);
    rpc.start(repo.path(), json!({}));
    let mut seconds = Vec::new();
    for (name, occurrences, text) in &cases {
        let started = Instant::now();
        let id = edit_request(&mut rpc, "rename foo to bar", "file", Some(&repo.path().join(name)));
        let answer = rpc.response(id, Duration::from_secs(300));
        let took = started.elapsed().as_secs_f64();
        let plan = answer["result"]["plan"].as_array().map_or(0, Vec::len);
        let expected = text.matches("foo").count();
        assert_eq!(plan, expected, "{name}: every occurrence is planned; {}", answer["error"]);
        let edits = &answer["result"]["edit"]["changes"][uri(&repo.path().join(name))];
        let renamed: usize = edits.as_array().unwrap().iter().map(|e| e["newText"].as_str().unwrap().matches("bar").count()).sum();
        assert_eq!(renamed, expected, "{name}");
        println!(
            "hostile: rename of {occurrences} occurrences in {name} through the server: {took:.2} s ({:.1} µs each)",
            took * 1e6 / *occurrences as f64
        );
        seconds.push(took);
    }
    // Quadratic time would make 4x the occurrences cost 16x; linear costs 4x, plus noise.
    let ratio = seconds[2] / seconds[0];
    println!("hostile: 40k / 10k occurrences: {ratio:.1}x the time");
    assert!(ratio < 8.0, "40k occurrences took {ratio:.1}x the time of 10k: not linear ({seconds:?})");
    rpc.shutdown();
    let _ = child.wait();
}

#[test]
fn a_repository_rename_lists_every_file_it_did_not_edit() {
    let repo = python_repo("def foo():\n    return 1\n");
    let minified = format!("{}\n", (0..400).map(|i| format!("z{i} = foo()")).collect::<Vec<_>>().join("; "));
    let mut too_large = String::from("from main import foo\n");
    while too_large.len() <= 1 << 20 {
        too_large.push_str("print(foo())  # padding padding padding padding padding padding padding\n");
    }
    let mut binary = b"\0\0\0binary".to_vec();
    binary.extend_from_slice(b"\nfoo()\n");
    commit(
        repo.path(),
        &[
            ("uses.py", b"from main import foo\nprint(foo())\n"),
            ("minified.py", minified.as_bytes()),
            ("large.py", too_large.as_bytes()),
            ("latin1.py", b"# caf\xe9\nfrom main import foo\nfoo()\n"),
            ("binary.py", &binary),
            ("unrelated.py", b"\0\0\0 no mention here\n"),
        ],
    );
    let cache = tempfile::tempdir().unwrap();

    let (out, _) = run_within(hearth(repo.path(), cache.path(), &["edit", "rename foo to bar"]), Duration::from_secs(120));
    let out = out.expect("the rename returns");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stderr);
    for (file, why) in [("large.py", "over the"), ("latin1.py", "UTF-8"), ("binary.py", "binary")] {
        let line = report
            .lines()
            .find(|l| l.contains("not edited:") && l.contains(file))
            .unwrap_or_else(|| panic!("{file} is not listed:\n{report}"));
        assert!(line.contains(why), "{line}");
    }
    assert!(report.contains("WARNING: 3 file(s) mention it but were NOT edited"), "{report}");
    assert!(!report.contains("unrelated.py"), "{report}");
    let diff = text(&out.stdout);
    assert!(diff.contains("+++ b/minified.py"), "a minified file the index left out is still renamed:\n{diff}");
    assert!(diff.contains("+++ b/uses.py") && diff.contains("+++ b/main.py"), "{diff}");

    let (mut child, mut rpc) = serve(repo.path(), cache.path(), &[]);
    rpc.start(repo.path(), json!({}));
    let id = edit_request(&mut rpc, "rename foo to bar", "repository", None);
    let answer = rpc.response(id, Duration::from_secs(120));
    let skipped: Vec<String> =
        answer["result"]["skippedFiles"].as_array().unwrap().iter().map(|s| s["path"].as_str().unwrap().to_string()).collect();
    assert_eq!(skipped, ["binary.py", "large.py", "latin1.py"], "{answer}");
    assert!(answer["result"]["report"].as_str().unwrap().contains("NOT edited"), "{answer}");
    let changed = answer["result"]["edit"]["changes"].as_object().unwrap().len();
    assert_eq!(changed, 3, "main.py, uses.py and minified.py: {answer}");
    println!("hostile: repository rename listed {} unedited files ({skipped:?}) and renamed {changed}", skipped.len());
    rpc.shutdown();
    let _ = child.wait();
}

#[test]
fn end_of_input_during_the_first_index_build_ends_the_server() {
    let repo = python_repo("print(1)\n");
    let files: Vec<(String, String)> = (0..4000)
        .map(|i| (format!("m{i}.py"), format!("def f{i}(x):\n    \"\"\"Adds {i}.\"\"\"\n    return x + {i}\n\n\nclass C{i}:\n    pass\n")))
        .collect();
    let borrowed: Vec<(&str, &[u8])> = files.iter().map(|(n, t)| (n.as_str(), t.as_bytes())).collect();
    commit(repo.path(), &borrowed);
    let mut worst = Duration::ZERO;
    for round in 0..3 {
        let cache = tempfile::tempdir().unwrap();
        let (mut child, mut rpc) = serve(repo.path(), cache.path(), &[]);
        rpc.call("initialize", json!({"processId": null, "rootUri": uri(repo.path()), "capabilities": {}}));
        rpc.notify("initialized", json!({}));
        let status =
            rpc.wait_for("indexing", Duration::from_secs(60), |m| m["method"] == "hearth/status" && m["params"]["state"] == "indexing");
        rpc.close();
        let closed = Instant::now();
        let exited = loop {
            if child.try_wait().unwrap().is_some() {
                break true;
            }
            if closed.elapsed() > Duration::from_secs(10) {
                break false;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        if !exited {
            let _ = child.kill();
        }
        assert!(exited, "round {round}: the server outlived its client by 10 s (closed at {status})");
        worst = worst.max(closed.elapsed());
    }
    println!("hostile: end of input during the first index build: exited within {:.2} s (worst of 3)", worst.as_secs_f64());
    assert!(worst < Duration::from_secs(3), "took {worst:?}");
}

#[test]
fn after_every_bad_frame_the_server_answers_the_next_request() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let (mut child, mut rpc) = serve(dir.path(), cache.path(), &["--no-index"]);
    rpc.start(dir.path(), json!({}));
    let body = r#"{"jsonrpc":"2.0","id":999,"method":"workspace/executeCommand","params":{"command":"hearth.status","arguments":[]}}"#;
    let bad: Vec<(&str, String)> = vec![
        ("negative length, with a body", format!("Content-Length: -5\r\n\r\n{body}")),
        ("negative length, no body", "Content-Length: -5\r\n\r\n".into()),
        ("no header, `abc`", "abc\r\n\r\n".into()),
        ("missing length", format!("Content-Type: application/json\r\n\r\n{body}")),
        ("length 2^64-1", format!("Content-Length: 18446744073709551615\r\n\r\n{body}")),
        ("length 2^64", format!("Content-Length: 18446744073709551616\r\n\r\n{body}")),
        ("length too short", format!("Content-Length: 7\r\n\r\n{body}")),
        ("100 KB of junk", "j".repeat(100_000)),
    ];
    for (what, frame) in &bad {
        rpc.write_raw(frame.as_bytes());
        let id = rpc.request("workspace/executeCommand", json!({"command": "hearth.status", "arguments": []}));
        let answer = rpc.response(id, Duration::from_secs(20));
        assert!(answer.get("result").is_some(), "after {what}: {answer}");
        assert!(child.try_wait().unwrap().is_none(), "after {what}: the server exited");
    }
    // An answer to bad bytes is sent once the next header is found, so it may come after the
    // response to that next request: collect them for a moment.
    let is_error_answer = |m: &Value| m.get("method").is_none() && m["id"].is_null() && m.get("error").is_some();
    let mut messages: Vec<Value> = rpc.seen.drain(..).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while messages.iter().filter(|m| is_error_answer(m)).count() < bad.len() && Instant::now() < deadline {
        messages.extend(rpc.next(Duration::from_millis(200)));
    }
    let errors = messages.iter().filter(|m| is_error_answer(m)).count();
    assert_eq!(errors, bad.len(), "one error answer per bad frame");
    println!("hostile: {} kinds of bad frame, each followed by an answered request", bad.len());
    rpc.shutdown();
    let _ = child.wait();
}

#[test]
fn shutdown_accepts_null_and_empty_params() {
    for params in [Value::Null, json!({})] {
        let dir = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let (mut child, mut rpc) = serve(dir.path(), cache.path(), &["--no-index"]);
        rpc.start(dir.path(), json!({}));
        rpc.write(&json!({"jsonrpc": "2.0", "id": 77, "method": "shutdown", "params": params}));
        let answer = rpc.response(77, Duration::from_secs(20));
        assert!(answer.get("error").is_none() && answer.get("result").is_some(), "params {params}: {answer}");
        rpc.write(&json!({"jsonrpc": "2.0", "method": "exit", "params": params}));
        let (status, _) = (child.wait().unwrap(), ());
        assert!(status.success(), "exit after shutdown is code 0, params {params}");
    }
}

#[test]
fn an_edit_of_an_unsaved_buffer_uses_its_text() {
    let repo = python_repo(PYTHON_SOURCE);
    let cache = tempfile::tempdir().unwrap();
    let (mut child, mut rpc) = serve(repo.path(), cache.path(), &[]);
    rpc.start(repo.path(), json!({}));
    let unsaved = repo.path().join("never_saved.py");
    rpc.open(&uri(&unsaved), "python", "def load(x):\n    return load(x - 1)\n");
    let id = edit_request(&mut rpc, "rename load to fetch", "file", Some(&unsaved));
    let answer = rpc.response(id, Duration::from_secs(60));
    let edits = answer["result"]["edit"]["changes"][uri(&unsaved)].as_array().cloned().unwrap_or_else(|| panic!("{answer}"));
    let new: String = edits.iter().map(|e| e["newText"].as_str().unwrap()).collect();
    assert_eq!(new.matches("fetch").count(), 2, "{answer}");
    assert!(!unsaved.exists(), "nothing was written");
    rpc.shutdown();
    let _ = child.wait();
}

#[test]
fn completion_ranges_are_clamped_to_the_text() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let (mut child, mut rpc) = serve(dir.path(), cache.path(), &["--no-index"]);
    rpc.start(dir.path(), json!({"debounceMs": 0}));
    let doc = uri(&dir.path().join("a.py"));
    // Line 1 is `s = "😀` (the emoji is two UTF-16 units, at columns 5 and 6).
    rpc.open(&doc, "python", "def add(a, b):\ns = \"\u{1F600}\n    return a +\n");
    let mut checked = Vec::new();
    for (line, character, expected) in [(2, 999, 14), (1, 6, 5), (1, 500, 7)] {
        let result = rpc.inline_completion(&doc, line, character);
        let Some(item) = result["items"].as_array().and_then(|i| i.first()) else { continue };
        let range = &item["range"];
        assert_eq!(range["start"], json!({"line": line, "character": expected}), "column {character} on line {line}: {result}");
        assert_eq!(range["start"], range["end"]);
        checked.push((line, character));
    }
    // The model completes after `return a +` at least; the other cursors may get nothing.
    assert!(checked.contains(&(2, 999)), "no completion past the end of `    return a +`: checked {checked:?}");
    rpc.shutdown();
    let _ = child.wait();
}

#[test]
fn a_bad_model_is_one_clear_line_quickly_even_with_backtraces_on() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.gguf");
    std::fs::write(&bad, "this is no model").unwrap();
    std::fs::write(dir.path().join("a.py"), "x = 1\n").unwrap();
    let bad_arg = bad.display().to_string();
    let mut times = Vec::new();
    for backtrace in ["0", "1"] {
        let mut command = hearth(dir.path(), cache.path(), &["complete", "a.py:1:1", "--model", &bad_arg]);
        command.env("RUST_BACKTRACE", backtrace);
        let (out, took) = run_within(command, Duration::from_secs(60));
        let out = out.unwrap();
        let stderr = text(&out.stderr);
        assert!(!out.status.success());
        assert_eq!(stderr.matches("not a readable GGUF file").count(), 1, "said once, RUST_BACKTRACE={backtrace}:\n{stderr}");
        assert!(!stderr.contains("backtrace"), "{stderr}");
        times.push(took.as_secs_f64());
    }
    println!("hostile: unreadable model: {:.2} s, {:.2} s with RUST_BACKTRACE=1", times[0], times[1]);

    // The server keeps serving after a bad model switch, without holding on to memory for it.
    // The model comes from the client's settings: a --model flag would win over them.
    let mut command = hearth(dir.path(), cache.path(), &["serve", "--no-index"]);
    command.env("RUST_BACKTRACE", "1");
    let (mut child, mut rpc) = spawn_server(command);
    rpc.start(dir.path(), json!({"model": tiny_model()}));
    let before = rss_mib(child.id());
    for i in 0..3 {
        // A new file each time: the same spec twice is not loaded again.
        let bad = dir.path().join(format!("bad{i}.gguf"));
        std::fs::write(&bad, "this is no model either").unwrap();
        rpc.notify("workspace/didChangeConfiguration", json!({"settings": {"hearth": {"model": bad.display().to_string()}}}));
        rpc.wait_for("the load error", Duration::from_secs(60), |m| m["method"] == "hearth/status" && m["params"]["state"] == "error");
    }
    let after = rss_mib(child.id());
    println!("hostile: 3 bad model switches under RUST_BACKTRACE=1: RSS {before:.0} -> {after:.0} MiB");
    assert!(after - before < 100.0, "RSS grew from {before:.0} to {after:.0} MiB");
    let id = rpc.request("workspace/executeCommand", json!({"command": "hearth.status", "arguments": []}));
    assert!(rpc.response(id, Duration::from_secs(20)).get("result").is_some());
    rpc.shutdown();
    let _ = child.wait();
}

#[test]
fn non_finite_weights_are_reported_not_silently_empty() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(shared().join("models/gguf/tiny-coder-f32.gguf")).unwrap();
    // NaN over the last quarter of the tensor data (f32, 4-byte aligned from the end).
    let n = bytes.len();
    for at in (n - n / 4..n - 8).step_by(4) {
        bytes[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    }
    let nan = dir.path().join("nan.gguf");
    std::fs::write(&nan, bytes).unwrap();
    std::fs::write(dir.path().join("a.py"), "def add(a, b):\n    return a\n").unwrap();
    let (out, _) = run_within(
        hearth(dir.path(), cache.path(), &["complete", "a.py:2:13", "--model", &nan.display().to_string()]),
        Duration::from_secs(60),
    );
    let out = out.unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("non-finite logits"), "{}", text(&out.stderr));
}

#[test]
fn ollama_and_hub_names_cannot_leave_their_stores() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.py"), "x = 1\n").unwrap();
    for (spec, says) in [
        ("ollama:../../../etc/passwd", "not a valid Ollama name"),
        ("ollama:llama3:../../x", "not a valid Ollama name"),
        ("acme/coder:../../../../etc/passwd", "not in the local Hugging Face cache"),
    ] {
        let mut command = hearth(dir.path(), cache.path(), &["complete", "a.py:1:1", "--model", spec]);
        command.env("OLLAMA_MODELS", dir.path()).env("HF_HUB_CACHE", dir.path());
        let (out, _) = run_within(command, Duration::from_secs(30));
        let stderr = text(&out.unwrap().stderr);
        assert!(stderr.contains(says), "{spec}: {stderr}");
    }
}

#[test]
fn a_rename_after_a_checkout_finds_the_new_branch_files() {
    let repo = python_repo(PYTHON_SOURCE);
    let cache = tempfile::tempdir().unwrap();
    let (mut child, mut rpc) = serve(repo.path(), cache.path(), &[]);
    rpc.start(repo.path(), json!({}));
    // A branch the server never indexed: its files appear on disk as a checkout writes them.
    let git = git2::Repository::open(repo.path()).unwrap();
    let head = git.head().unwrap().peel_to_commit().unwrap();
    git.branch("feature", &head, false).unwrap();
    git.set_head("refs/heads/feature").unwrap();
    commit(
        repo.path(),
        &[
            ("feature.py", b"def branch_only_fn(x):\n    return x * 2\n"),
            ("caller.py", b"from feature import branch_only_fn\n\nprint(branch_only_fn(21))\n"),
        ],
    );
    let started = Instant::now();
    let changed = loop {
        let id = edit_request(&mut rpc, "rename branch_only_fn to doubled", "repository", None);
        let answer = rpc.response(id, Duration::from_secs(60));
        let changes = answer["result"]["edit"]["changes"].as_object().map_or(0, |c| c.len());
        if changes == 2 || started.elapsed() > Duration::from_secs(30) {
            break changes;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(changed, 2, "feature.py and caller.py, after the watcher saw the checkout");
    println!("hostile: a rename found a new branch's files {:.1} s after the checkout", started.elapsed().as_secs_f64());
    rpc.shutdown();
    let _ = child.wait();
}
