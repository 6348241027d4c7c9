//! Shared helpers for the integration tests that drive `hearth serve`: paths to the test assets and
//! a small blocking JSON-RPC client over any byte stream (a child's stdio, a Unix or TCP socket).
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub fn shared() -> PathBuf {
    std::env::var_os("HEARTH_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

pub fn tiny_model() -> String {
    shared().join("models/tiny-coder").display().to_string()
}

pub fn hearth_bin() -> &'static str {
    env!("CARGO_BIN_EXE_hearth")
}

/// Resident memory of a process now, from /proc (0 when it is gone).
pub fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// Starts `command` (a `hearth serve`) with piped stdio and a client on it; stderr is dropped.
pub fn spawn_server(mut command: std::process::Command) -> (std::process::Child, Rpc) {
    use std::process::Stdio;
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("hearth serve runs");
    let rpc = Rpc::new(child.stdout.take().unwrap(), child.stdin.take().unwrap());
    (child, rpc)
}

type Writer = Arc<Mutex<Box<dyn Write + Send>>>;

/// A JSON-RPC client: requests by id, notifications kept in order, server requests answered with null.
pub struct Rpc {
    writer: Writer,
    incoming: Receiver<Value>,
    /// Messages read while waiting for something else: notifications and other responses.
    pub seen: VecDeque<Value>,
    next_id: i64,
}

impl Rpc {
    pub fn new(reader: impl Read + Send + 'static, writer: impl Write + Send + 'static) -> Rpc {
        let writer: Writer = Arc::new(Mutex::new(Box::new(writer)));
        let (tx, incoming) = mpsc::channel();
        let reply = writer.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(reader);
            while let Some(message) = read_frame(&mut reader) {
                if let (Some(id), Some(_)) = (message.get("id"), message.get("method")) {
                    let _ = send(&reply, &json!({"jsonrpc": "2.0", "id": id, "result": null}));
                }
                if tx.send(message).is_err() {
                    return;
                }
            }
        });
        Rpc { writer, incoming, seen: VecDeque::new(), next_id: 1 }
    }

    /// Sends a request and returns its id without waiting.
    pub fn request(&mut self, method: &str, params: Value) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        let mut message = json!({"jsonrpc": "2.0", "id": id, "method": method});
        if !params.is_null() {
            message["params"] = params;
        }
        self.write(&message);
        id
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        let mut message = json!({"jsonrpc": "2.0", "method": method});
        if !params.is_null() {
            message["params"] = params;
        }
        self.write(&message);
    }

    pub fn write(&mut self, message: &Value) {
        send(&self.writer, message).expect("writing to the server");
    }

    /// Closes the stream to the server (its stdin sees end of input); later writes go nowhere.
    pub fn close(&mut self) {
        *self.writer.lock().unwrap() = Box::new(std::io::sink());
    }

    /// Writes raw bytes (for malformed input).
    pub fn write_raw(&mut self, bytes: &[u8]) {
        let mut w = self.writer.lock().unwrap();
        w.write_all(bytes).and_then(|_| w.flush()).expect("writing to the server");
    }

    /// Waits for the response to `id` (the whole message, result or error).
    pub fn response(&mut self, id: i64, timeout: Duration) -> Value {
        if let Some(i) = self.seen.iter().position(|m| is_response_to(m, id)) {
            return self.seen.remove(i).unwrap();
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.incoming.recv_timeout(left) {
                Ok(m) if is_response_to(&m, id) => return m,
                Ok(m) => self.seen.push_back(m),
                Err(RecvTimeoutError::Timeout) => panic!("no response to request {id} within {timeout:?}"),
                Err(RecvTimeoutError::Disconnected) => panic!("the server closed the connection before answering {id}"),
            }
        }
    }

    /// The next message from the server, if one comes within `timeout`.
    pub fn next(&mut self, timeout: Duration) -> Option<Value> {
        if let Some(m) = self.seen.pop_front() {
            return Some(m);
        }
        self.incoming.recv_timeout(timeout).ok()
    }

    /// Sends a request and waits for its result; an error response fails the test.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.request(method, params);
        let response = self.response(id, Duration::from_secs(120));
        assert!(response.get("error").is_none(), "{method} failed: {response}");
        response["result"].clone()
    }

    /// Waits until a message matching `pred` arrives (or was already seen).
    pub fn wait_for(&mut self, what: &str, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.seen.iter().position(&pred) {
            return self.seen.remove(i).unwrap();
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.incoming.recv_timeout(left) {
                Ok(m) if pred(&m) => return m,
                Ok(m) => self.seen.push_back(m),
                Err(e) => panic!("waiting for {what}: {e:?}; seen {:?}", self.seen),
            }
        }
    }

    /// `initialize` with a workspace root, `initialized`, then waits for `hearth/status` ready.
    pub fn start(&mut self, root: &std::path::Path, options: Value) -> Value {
        let root_uri = format!("file://{}", root.display());
        let init = self.call(
            "initialize",
            json!({
                "processId": null,
                "rootUri": root_uri,
                "capabilities": {},
                "initializationOptions": options,
            }),
        );
        self.notify("initialized", json!({}));
        let status = self.wait_for("hearth/status ready", Duration::from_secs(120), |m| {
            m["method"] == "hearth/status" && (m["params"]["state"] == "ready" || m["params"]["state"] == "error")
        });
        assert_eq!(status["params"]["state"], "ready", "{status}");
        init
    }

    pub fn open(&mut self, uri: &str, language: &str, text: &str) {
        self.notify("textDocument/didOpen", json!({"textDocument": {"uri": uri, "languageId": language, "version": 1, "text": text}}));
    }

    pub fn inline_completion(&mut self, uri: &str, line: u32, character: u32) -> Value {
        self.call(
            "textDocument/inlineCompletion",
            json!({
                "textDocument": {"uri": uri},
                "position": {"line": line, "character": character},
                "context": {"triggerKind": 1},
            }),
        )
    }

    pub fn shutdown(&mut self) {
        self.call("shutdown", Value::Null);
        self.notify("exit", Value::Null);
    }
}

fn is_response_to(message: &Value, id: i64) -> bool {
    message.get("method").is_none() && message.get("id").and_then(Value::as_i64) == Some(id)
}

fn send(writer: &Writer, message: &Value) -> std::io::Result<()> {
    let body = serde_json::to_vec(message).unwrap();
    let mut w = writer.lock().unwrap();
    w.write_all(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes())?;
    w.write_all(&body)?;
    w.flush()
}

fn read_frame(reader: &mut impl BufRead) -> Option<Value> {
    loop {
        let mut length = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).ok()? == 0 {
                return None;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse::<usize>().ok();
                }
            }
        }
        let mut body = vec![0; length?];
        reader.read_exact(&mut body).ok()?;
        if let Ok(message) = serde_json::from_slice(&body) {
            return Some(message);
        }
    }
}

/// A git repository in a temp dir with one Python file, committed (the edit path refuses dirty files).
pub fn python_repo(source: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.py"), source).unwrap();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(dir.path())
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .expect("git is installed");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "init"]);
    dir
}

pub const PYTHON_SOURCE: &str = "\
def parse_cfg(path):
    with open(path) as f:
        return [line.strip() for line in f]


def total(values):
    result = 0
    for v in values:
        result += v
    return result


def main():
    rows = parse_cfg(\"settings.txt\")
    print(total(len(r) for r in rows))
";
