//! One daemon, many editors: sessions on the Unix socket of `hearth serve --listen unix` share one
//! loaded model (the weights are paid once) while each keeps its own documents.

mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use support::{hearth_bin, python_repo, rss_mib, tiny_model, Rpc, PYTHON_SOURCE};

fn session(path: &str, root: &Path, uri: &str) -> Rpc {
    let stream = UnixStream::connect(path).unwrap_or_else(|e| panic!("connecting to {path}: {e}"));
    let mut rpc = Rpc::new(stream.try_clone().unwrap(), stream);
    // No prefetch: it decodes in the background after each suggestion, and its scratch would count
    // as the next session's growth, which this test reads as a second copy of the weights.
    rpc.start(root, json!({"debounceMs": 0, "prefetch": false}));
    rpc.open(uri, "python", PYTHON_SOURCE);
    rpc.inline_completion(uri, 7, 4);
    rpc
}

#[test]
fn two_socket_sessions_share_one_model_and_keep_their_documents() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::set_permissions(&run, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let log = tmp.path().join("stderr.log");
    let mut server = Command::new(hearth_bin())
        .args(["serve", "--listen", "unix", "--no-index", "--model", &tiny_model()])
        .env("XDG_RUNTIME_DIR", &run)
        .env("HOME", &run)
        .env("HEARTH_CONFIG", run.join("none.toml"))
        .env("RUST_LOG", "info")
        .env_remove("HEARTH_MODEL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let announced: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("no announcement ({e}): {line:?}"));
    let path = announced["path"].as_str().unwrap().to_string();
    let pid = server.id();

    let repo = python_repo(PYTHON_SOURCE);
    let (uri_a, uri_b) = (format!("file://{}/a.py", repo.path().display()), format!("file://{}/b.py", repo.path().display()));
    let before = rss_mib(pid);
    let mut a = session(&path, repo.path(), &uri_a);
    let with_one = rss_mib(pid);
    let mut b = session(&path, repo.path(), &uri_b);
    let with_two = rss_mib(pid);
    let weights = std::fs::metadata(Path::new(&tiny_model()).join("model.safetensors")).unwrap().len() as f64 / (1 << 20) as f64;
    println!(
        "RSS MiB: {before:.1} with no session, {with_one:.1} with one ({:+.1}), {with_two:.1} with two ({:+.1}); the weights file is {weights:.1} MiB",
        with_one - before,
        with_two - with_one
    );
    assert!(
        with_two - with_one < weights / 2.0,
        "the second session grew RSS by {:.1} MiB (weights: {weights:.1} MiB)",
        with_two - with_one
    );

    // The documents stay apart: B does not know A's.
    let id = b.request(
        "textDocument/inlineCompletion",
        json!({"textDocument": {"uri": uri_a}, "position": {"line": 7, "character": 4}, "context": {"triggerKind": 1}}),
    );
    let response = b.response(id, Duration::from_secs(60));
    assert!(response["error"]["message"].as_str().unwrap_or("").contains("unknown document"), "{response}");
    a.shutdown();
    b.shutdown();
    server.kill().unwrap();
    server.wait().unwrap();
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("sharing the loaded model"), "{log}");
}
