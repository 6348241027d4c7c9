//! Load test of `hearth serve` (ignored by default; prints figures for BENCHMARKS.md): completion
//! requests for minutes, most cancelled mid-flight, didChange storms across 20 documents, malformed
//! messages mixed in; RSS sampled over time; the last answer must equal a fresh server's.
//!
//! `HEARTH_LOAD_SECS=300 cargo test -p hearth-cli --test load -- --ignored --nocapture`

mod support;

use std::collections::HashMap;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{hearth_bin, rss_mib, spawn_server, tiny_model, Rpc, PYTHON_SOURCE};

const DOCS: usize = 20;
const MAX_IN_FLIGHT: usize = 8;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn server() -> (Child, Rpc) {
    let mut command = Command::new(hearth_bin());
    command
        .args(["serve", "--no-index", "--model", &tiny_model()])
        .env_remove("HEARTH_MODEL")
        .env("HEARTH_CONFIG", "/nonexistent/hearth.toml");
    spawn_server(command)
}

/// The answer to a malformed message: a parse error (not JSON) or an invalid request (JSON, not JSON-RPC).
fn is_malformed_answer(m: &Value) -> bool {
    m.get("method").is_none() && matches!(m["error"]["code"].as_i64(), Some(-32700 | -32600))
}

fn completion_params(uri: &str, line: u32, character: u32) -> Value {
    json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}, "context": {"triggerKind": 1}})
}

#[test]
#[ignore]
fn load() {
    let seconds: u64 = std::env::var("HEARTH_LOAD_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(180);
    let workspace = tempfile::tempdir().unwrap();
    let (mut child, mut rpc) = server();
    let pid = child.id();
    rpc.start(workspace.path(), json!({"debounceMs": 0}));
    let uris: Vec<String> = (0..DOCS).map(|i| format!("file://{}/doc{i}.py", workspace.path().display())).collect();
    let mut lines = [PYTHON_SOURCE.lines().count() as u32; DOCS];
    for uri in &uris {
        rpc.open(uri, "python", PYTHON_SOURCE);
    }
    let mut versions = [1; DOCS];
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let (mut sent, mut cancels, mut malformed, mut changes) = (0u64, 0u64, 0u64, 0u64);
    let (mut served, mut cancelled, mut errors, mut parse_errors) = (0u64, 0u64, 0u64, 0u64);
    let mut error_samples: Vec<String> = Vec::new();
    let mut latencies: Vec<f64> = Vec::new();
    let mut in_flight: HashMap<i64, Instant> = HashMap::new();
    let mut rss = vec![(0u64, rss_mib(pid))];
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut handle = |m: Value, in_flight: &mut HashMap<i64, Instant>| {
        if m.get("method").is_some() {
            return;
        }
        if m["id"].is_null() {
            if is_malformed_answer(&m) {
                parse_errors += 1;
            }
            return;
        }
        let Some(sent_at) = m["id"].as_i64().and_then(|id| in_flight.remove(&id)) else { return };
        match m["error"]["code"].as_i64() {
            None => {
                served += 1;
                latencies.push(sent_at.elapsed().as_secs_f64() * 1000.0);
            }
            Some(-32800) => cancelled += 1,
            Some(_) => {
                errors += 1;
                if error_samples.len() < 5 {
                    error_samples.push(m["error"].to_string());
                }
            }
        }
    };
    while Instant::now() < deadline {
        let doc = rng.below(DOCS as u64) as usize;
        // A didChange storm: 1 to 10 edits typed into one document.
        for _ in 0..=rng.below(10) {
            let line = rng.below(lines[doc] as u64) as u32;
            let text = if rng.below(4) == 0 {
                "\n".to_string()
            } else {
                ["x", "y = 1", "(", ")", "é", "🙂", " "][rng.below(7) as usize].to_string()
            };
            lines[doc] += text.matches('\n').count() as u32;
            versions[doc] += 1;
            rpc.notify(
                "textDocument/didChange",
                json!({"textDocument": {"uri": uris[doc], "version": versions[doc]}, "contentChanges": [{
                    "range": {"start": {"line": line, "character": 0}, "end": {"line": line, "character": 0}}, "text": text}]}),
            );
            changes += 1;
        }
        if rng.below(25) == 0 {
            let junk: &[&[u8]] = &[
                b"Content-Length: 7\r\n\r\n{\"a\":1}",
                b"Content-Length: 4\r\n\r\n\xff\xfe{}",
                b"Content-Length: x\r\n\r\n",
                b"Content-Length: 5\r\n\r\n[1,2]",
            ];
            rpc.write_raw(junk[rng.below(junk.len() as u64) as usize]);
            malformed += 1;
        }
        let line = rng.below(lines[doc] as u64) as u32;
        let id = rpc.request("textDocument/inlineCompletion", completion_params(&uris[doc], line, rng.below(12) as u32));
        in_flight.insert(id, Instant::now());
        sent += 1;
        if rng.below(5) < 4 {
            std::thread::sleep(Duration::from_millis(rng.below(30)));
            rpc.notify("$/cancelRequest", json!({"id": id}));
            cancels += 1;
        }
        while let Some(m) = rpc.next(if in_flight.len() >= MAX_IN_FLIGHT { Duration::from_secs(30) } else { Duration::ZERO }) {
            handle(m, &mut in_flight);
            if in_flight.len() < MAX_IN_FLIGHT {
                break;
            }
        }
        let t = started.elapsed().as_secs();
        if t >= rss.last().unwrap().0 + 15 {
            rss.push((t, rss_mib(pid)));
        }
    }
    while !in_flight.is_empty() {
        match rpc.next(Duration::from_secs(60)) {
            Some(m) => handle(m, &mut in_flight),
            None => panic!("{} requests never answered", in_flight.len()),
        }
    }
    rss.push((started.elapsed().as_secs(), rss_mib(pid)));

    // The final request, on a known text, against a fresh server's answer to the same.
    let final_uri = format!("file://{}/final.py", workspace.path().display());
    rpc.open(&final_uri, "python", PYTHON_SOURCE);
    let under_load = rpc.inline_completion(&final_uri, 7, 4);
    rpc.shutdown();
    assert!(child.wait().unwrap().success());
    let (mut fresh_child, mut fresh) = server();
    fresh.start(workspace.path(), json!({"debounceMs": 0}));
    fresh.open(&final_uri, "python", PYTHON_SOURCE);
    let reference = fresh.inline_completion(&final_uri, 7, 4);
    fresh.shutdown();
    fresh_child.wait().unwrap();

    // Parse errors that came after the last completion answer.
    parse_errors += rpc.seen.iter().filter(|m| m["id"].is_null() && is_malformed_answer(m)).count() as u64;
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |p: f64| latencies.get(((latencies.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(f64::NAN);
    println!("load: {seconds} s, {DOCS} documents, {sent} completion requests ({cancels} cancelled by the client), {changes} didChange, {malformed} malformed messages");
    println!("answers: {served} served, {cancelled} cancelled, {errors} errors {error_samples:?}, {parse_errors} error answers for {malformed} malformed");
    println!("served latency ms: p50 {:.1}, p90 {:.1}, p99 {:.1}, max {:.1}", pct(0.5), pct(0.9), pct(0.99), pct(1.0));
    println!("RSS MiB over time (s, MiB): {}", rss.iter().map(|(t, m)| format!("({t}, {m:.0})")).collect::<Vec<_>>().join(" "));
    println!("final request under load: {under_load}; fresh server: {reference}; equal: {}", under_load == reference);
    assert_eq!(under_load, reference, "the loaded server's final answer differs from a fresh server's");
    assert_eq!(errors, 0, "{error_samples:?}");
    assert_eq!(parse_errors, malformed, "every malformed message gets its own error answer");
    assert!(served > 0);
}

/// A burst of malformed messages while completions are in flight: each gets its own error answer
/// (they used to share tower-lsp's pending slot for the null id), and the server answers on.
#[test]
fn every_malformed_message_in_a_burst_is_answered() {
    const BURST: usize = 200;
    let workspace = tempfile::tempdir().unwrap();
    let (mut child, mut rpc) = server();
    rpc.start(workspace.path(), json!({"debounceMs": 0}));
    let uri = format!("file://{}/a.py", workspace.path().display());
    rpc.open(&uri, "python", PYTHON_SOURCE);
    let busy: Vec<i64> = (0..4).map(|i| rpc.request("textDocument/inlineCompletion", completion_params(&uri, 7 + i, 4))).collect();
    let junk: &[&[u8]] = &[
        b"Content-Length: 7\r\n\r\n{\"a\":1}",
        b"Content-Length: 4\r\n\r\n\xff\xfe{}",
        b"Content-Length: 5\r\n\r\n[1,2]",
        b"Content-Length: 5\r\n\r\n{bad}",
    ];
    for i in 0..BURST {
        rpc.write_raw(junk[i % junk.len()]);
    }
    // A malformed request whose id can be read is answered under that id.
    rpc.write_raw(b"Content-Length: 40\r\n\r\n{\"jsonrpc\":\"1.0\",\"id\":9999,\"method\":\"x\"}");
    let answered = rpc.response(9999, Duration::from_secs(60));
    assert_eq!(answered["error"]["code"], -32600, "{answered}");
    for id in busy {
        rpc.response(id, Duration::from_secs(120));
    }
    let last = rpc.inline_completion(&uri, 7, 4);
    assert!(last.is_object() || last.is_null(), "{last}");
    // Each answer says what was wrong with its message (a collision in tower-lsp's table of pending
    // requests answered a bare "Invalid request" instead).
    let answers: Vec<&Value> = rpc.seen.iter().filter(|m| m["id"].is_null() && is_malformed_answer(m)).collect();
    let explained = answers
        .iter()
        .filter(|m| {
            ["invalid JSON", "not UTF-8", "not a JSON-RPC message"].iter().any(|r| m["error"]["message"].as_str().unwrap_or("").contains(r))
        })
        .count();
    assert_eq!(
        (answers.len(), explained),
        (BURST, BURST),
        "error answers for {BURST} malformed messages: {:?}",
        answers.iter().take(3).collect::<Vec<_>>()
    );
    rpc.shutdown();
    assert!(child.wait().unwrap().success());
}

/// Caps: with one decoding slot and no queue, requests that arrive while one decodes are refused with
/// an error naming the cap; a 50 MB document is held but gets no completion; the server answers on.
#[test]
fn a_full_queue_refuses_and_a_huge_document_gets_no_completion() {
    let workspace = tempfile::tempdir().unwrap();
    let (mut child, mut rpc) = server();
    rpc.start(workspace.path(), json!({"debounceMs": 0, "maxConcurrentRequests": 1, "maxQueuedRequests": 0, "maxTokens": 64}));
    let uris: Vec<String> = (0..6).map(|i| format!("file://{}/q{i}.py", workspace.path().display())).collect();
    for uri in &uris {
        rpc.open(uri, "python", PYTHON_SOURCE);
    }
    // One request per document (so latest-wins cancels none), sent together.
    let ids: Vec<i64> = uris.iter().map(|uri| rpc.request("textDocument/inlineCompletion", completion_params(uri, 7, 4))).collect();
    let answers: Vec<Value> = ids.iter().map(|&id| rpc.response(id, Duration::from_secs(120))).collect();
    let refused: Vec<&Value> = answers.iter().filter(|a| a["error"]["code"] == -32803).collect();
    println!("{} of {} requests refused: {:?}", refused.len(), ids.len(), refused.first().map(|a| &a["error"]["message"]));
    assert!(!refused.is_empty(), "no request was refused: {answers:?}");
    assert!(refused.iter().all(|a| a["error"]["message"].as_str().unwrap().contains("maxQueuedRequests")));
    assert!(answers.iter().any(|a| a.get("error").is_none()), "none was served: {answers:?}");

    let huge_uri = format!("file://{}/huge.py", workspace.path().display());
    let huge = "value = compute(1, 2)\n".repeat((50 << 20) / 22 + 1);
    assert!(huge.len() >= 50 << 20, "{}", huge.len());
    rpc.open(&huge_uri, "python", &huge);
    assert_eq!(rpc.inline_completion(&huge_uri, 1000, 4), Value::Null, "a document over maxDocumentBytes gets no completion");
    // The next request on a normal document is answered (`inline_completion` fails on an error).
    let next = rpc.inline_completion(&uris[0], 7, 4);
    println!("next answer: {next}");
    rpc.shutdown();
    assert!(child.wait().unwrap().success());
}
