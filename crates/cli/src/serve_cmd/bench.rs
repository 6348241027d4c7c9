//! `hearth bench typing`: replays a typing session through the real server (`hearth serve` as a child
//! process, spoken to over stdio) and reports latency, cancellations, CPU time and prompt work, with
//! KV prefix reuse on and off side by side.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use hearth_base::stats::percentile;
use serde::Deserialize;
use serde_json::{json, Value};

use super::client::LspClient;

#[derive(Args)]
pub struct BenchTypingArgs {
    /// FIM cases (JSONL with prefix, middle, suffix, path) whose files are opened and whose middles are typed.
    #[arg(long)]
    pub cases: Option<PathBuf>,
    /// Model for the server (else the server's own choice: HEARTH_MODEL, config file, bundled).
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long, default_value_t = 320)]
    pub keystrokes: usize,
    #[arg(long, default_value_t = 40)]
    pub interval_ms: u64,
    /// Different files to switch between.
    #[arg(long, default_value_t = 4)]
    pub files: usize,
    /// Characters typed per visit to a file, at most.
    #[arg(long, default_value_t = 30)]
    pub burst: usize,
    /// Server-side debounce (`debounceMs`) for the replay.
    #[arg(long, default_value_t = 30)]
    pub debounce_ms: u64,
    /// Don't send `$/cancelRequest` for a request still running when the next key is typed
    /// (only the server's latest-wins cancels then).
    #[arg(long)]
    pub no_client_cancel: bool,
    /// Run only with prefix reuse on.
    #[arg(long)]
    pub reuse_only: bool,
    /// The server's `maxTokens` for each suggestion (default: the server's). A model with random
    /// weights never stops at a line's end as a trained one does; this bounds its suggestions.
    #[arg(long)]
    pub max_tokens: Option<usize>,
    #[arg(long)]
    pub json: bool,
}

/// A FIM case as the eval's JSONL holds it; its three parts make the whole file.
#[derive(Deserialize, Clone)]
pub(crate) struct Case {
    pub(crate) path: String,
    pub(crate) prefix: String,
    pub(crate) middle: String,
    pub(crate) suffix: String,
}

/// One keystroke's edit and the request that follows it.
struct Keystroke {
    uri: String,
    line: u32,
    col: u32,
    ch: char,
}

/// How one request ended.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Outcome {
    Items,
    Empty,
    Cancelled,
    Error,
}

/// `../shared/eval/fim-dev.jsonl` beside the current directory or the repository.
pub(crate) fn default_cases() -> Option<PathBuf> {
    let rel = Path::new("../shared/eval/fim-dev.jsonl");
    let mut roots: Vec<PathBuf> = std::env::current_dir().ok().into_iter().collect();
    roots.push(PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")));
    roots.into_iter().map(|r| r.join(rel)).find(|p| p.is_file())
}

/// A file to type into: the document as opened (the typed text cut out at the cursor) and what to type.
struct Typing {
    case: Case,
    typed: String,
}

/// Picks one case from each of `files` different files, in file order, and the text to type there:
/// the case's middle and the lines after it, up to `chars` characters, ending at a line end.
fn pick_cases(path: &Path, files: usize, chars: usize) -> anyhow::Result<Vec<Typing>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut by_file: BTreeMap<String, Typing> = BTreeMap::new();
    for line in std::io::BufReader::new(file).lines() {
        let mut case: Case = serde_json::from_str(&line?)?;
        if by_file.contains_key(&case.path) || by_file.len() >= files || case.prefix.len() < 2000 {
            continue;
        }
        let rest = format!("{}{}", case.middle, case.suffix);
        let mut end = chars.min(rest.len());
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let end = rest[..end].rfind('\n').map_or(end, |i| i + 1);
        if end < chars / 2 {
            continue;
        }
        case.suffix = rest[end..].to_string();
        case.middle = String::new();
        by_file.insert(case.path.clone(), Typing { typed: rest[..end].to_string(), case });
    }
    anyhow::ensure!(!by_file.is_empty(), "no usable cases in {}", path.display());
    Ok(by_file.into_values().collect())
}

/// The session: visit each file in turn and type the next `burst` characters there.
fn script(files: &[Typing], keystrokes: usize, burst: usize) -> Vec<Keystroke> {
    struct Cursor {
        uri: String,
        line: u32,
        col: u32,
        typed: usize,
        chars: Vec<char>,
    }
    let mut cursors: Vec<Cursor> = files
        .iter()
        .map(|t| {
            let p = &t.case.prefix;
            let line = p.matches('\n').count() as u32;
            let col = p[p.rfind('\n').map_or(0, |i| i + 1)..].encode_utf16().count() as u32;
            Cursor { uri: uri_for(&t.case.path), line, col, typed: 0, chars: t.typed.chars().collect() }
        })
        .collect();
    let mut out = Vec::with_capacity(keystrokes);
    'outer: loop {
        let mut progressed = false;
        for cur in &mut cursors {
            for _ in 0..burst {
                if out.len() >= keystrokes {
                    break 'outer;
                }
                let Some(&ch) = cur.chars.get(cur.typed) else { break };
                out.push(Keystroke { uri: cur.uri.clone(), line: cur.line, col: cur.col, ch });
                cur.typed += 1;
                progressed = true;
                if ch == '\n' {
                    cur.line += 1;
                    cur.col = 0;
                } else {
                    cur.col += ch.len_utf16() as u32;
                }
            }
        }
        if !progressed {
            break;
        }
    }
    out
}

fn uri_for(path: &str) -> String {
    format!("file:///bench/{}", path.trim_start_matches('/'))
}

/// CPU seconds (user + system) a process has used so far, from /proc.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

struct RunResult {
    latencies: Vec<f64>,
    outcomes: Vec<Outcome>,
    cpu_secs: Option<f64>,
    wall_secs: f64,
    stats: Value,
}

async fn run_session(args: &BenchTypingArgs, files: &[Typing], keys: &[Keystroke], reuse: bool) -> anyhow::Result<RunResult> {
    let exe = std::env::current_exe()?;
    let mut serve_args = vec!["serve"];
    if let Some(m) = &args.model {
        serve_args.extend(["--model", m.as_str()]);
    }
    let client = Arc::new(LspClient::spawn(&exe, &serve_args, &[])?);
    client
        .call(
            "initialize",
            json!({
                "processId": std::process::id(),
                "rootUri": null,
                "capabilities": {},
                "initializationOptions": initialization_options(args, reuse),
            }),
        )
        .await?;
    client.notify("initialized", json!({})).await?;
    for Typing { case, .. } in files {
        let text = format!("{}{}", case.prefix, case.suffix);
        let doc = json!({"uri": uri_for(&case.path), "languageId": "python", "version": 1, "text": text});
        client.notify("textDocument/didOpen", json!({ "textDocument": doc })).await?;
    }
    // Warm up: the first request waits for the model to load.
    let first = &keys[0];
    let warm = json!({"textDocument": {"uri": first.uri}, "position": {"line": first.line, "character": first.col}});
    client.call("textDocument/inlineCompletion", warm).await.context("warm-up completion")?;
    let pid = client.pid().context("server exited")?;
    let cpu_before = cpu_seconds(pid);
    let stats_before = client.call("workspace/executeCommand", json!({"command": "hearth.stats"})).await?;

    let results: Arc<Mutex<Vec<(usize, f64, Outcome)>>> = Arc::default();
    let mut pending: BTreeMap<String, (i64, tokio::task::JoinHandle<()>)> = BTreeMap::new();
    let mut versions: BTreeMap<String, i64> = BTreeMap::new();
    let mut tasks = Vec::new();
    let start = Instant::now();
    for (k, key) in keys.iter().enumerate() {
        let due = start + Duration::from_millis(args.interval_ms * k as u64);
        tokio::time::sleep_until(due.into()).await;
        let version = versions.entry(key.uri.clone()).or_insert(1);
        *version += 1;
        let at = json!({"line": key.line, "character": key.col});
        let change = json!({
            "textDocument": {"uri": key.uri, "version": *version},
            "contentChanges": [{"range": {"start": at, "end": at}, "text": key.ch.to_string()}],
        });
        client.notify("textDocument/didChange", change).await?;
        if let Some((id, handle)) = pending.remove(&key.uri) {
            if !args.no_client_cancel && !handle.is_finished() {
                client.notify("$/cancelRequest", json!({ "id": id })).await?;
            }
        }
        let (line, col) = if key.ch == '\n' { (key.line + 1, 0) } else { (key.line, key.col + key.ch.len_utf16() as u32) };
        let params = json!({
            "textDocument": {"uri": key.uri},
            "position": {"line": line, "character": col},
            "context": {"triggerKind": 2},
        });
        let sent = Instant::now();
        let (id, rx) = client.request("textDocument/inlineCompletion", params).await?;
        let results = results.clone();
        let handle = tokio::spawn(async move {
            let outcome = match rx.await {
                Ok(r) if r.get("error").and_then(|e| e["code"].as_i64()) == Some(-32800) => Outcome::Cancelled,
                Ok(r) if r.get("error").is_some() => Outcome::Error,
                Ok(r) if r["result"]["items"].as_array().is_some_and(|i| !i.is_empty()) => Outcome::Items,
                Ok(_) => Outcome::Empty,
                Err(_) => Outcome::Error,
            };
            results.lock().unwrap().push((k, sent.elapsed().as_secs_f64() * 1000.0, outcome));
        });
        pending.insert(key.uri.clone(), (id, handle));
    }
    for (_, (_, handle)) in pending {
        tasks.push(handle);
    }
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(30), t).await;
    }
    // Every request has an answer by now (the last one per file was awaited; earlier ones were cancelled
    // or answered), but give stragglers a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    while results.lock().unwrap().len() < keys.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wall_secs = start.elapsed().as_secs_f64();
    let cpu_after = cpu_seconds(pid);
    let stats_after = client.call("workspace/executeCommand", json!({"command": "hearth.stats"})).await?;
    let client = Arc::try_unwrap(client).map_err(|_| anyhow::anyhow!("client still shared"))?;
    client.shutdown().await?;

    let mut stats = json!({});
    for key in [
        "requests",
        "completed",
        "cancelled",
        "empty",
        "promptTokens",
        "reusedPromptTokens",
        "generatedTokens",
        "proposed",
        "accepted",
        "prefillMs",
        "decodeMs",
        "typedThrough",
        "prefetchHits",
        "prefetched",
    ] {
        let d = stats_after[key].as_f64().unwrap_or(0.0) - stats_before[key].as_f64().unwrap_or(0.0);
        stats[key] = json!(d);
    }
    let results = results.lock().unwrap().clone();
    let latencies = results.iter().filter(|r| r.2 != Outcome::Cancelled).map(|r| r.1).collect();
    let outcomes = results.iter().map(|r| r.2).collect();
    Ok(RunResult { latencies, outcomes, cpu_secs: cpu_before.zip(cpu_after).map(|(a, b)| b - a), wall_secs, stats })
}

fn summarize(name: &str, keys: usize, r: &mut RunResult) -> Value {
    r.latencies.sort_by(f64::total_cmp);
    let count = |o: Outcome| r.outcomes.iter().filter(|&&x| x == o).count();
    let prompt = r.stats["promptTokens"].as_f64().unwrap_or(0.0);
    let reused = r.stats["reusedPromptTokens"].as_f64().unwrap_or(0.0);
    json!({
        "run": name,
        "keystrokes": keys,
        "answered": r.outcomes.len(),
        "withItems": count(Outcome::Items),
        "empty": count(Outcome::Empty),
        "cancelled": count(Outcome::Cancelled),
        "errors": count(Outcome::Error),
        "cancelledShare": count(Outcome::Cancelled) as f64 / r.outcomes.len().max(1) as f64,
        "p50Ms": percentile(&r.latencies, 50.0),
        "p90Ms": percentile(&r.latencies, 90.0),
        "p99Ms": percentile(&r.latencies, 99.0),
        "cpuSecs": r.cpu_secs,
        "wallSecs": r.wall_secs,
        "promptTokensComputed": prompt - reused,
        "promptTokens": prompt,
        "promptTokensComputedPerCompletion": (prompt - reused) / r.stats["completed"].as_f64().unwrap_or(0.0).max(1.0),
        "server": r.stats,
    })
}

pub fn bench_typing(args: BenchTypingArgs) -> anyhow::Result<()> {
    let cases_path =
        args.cases.clone().or_else(default_cases).context("pass --cases FILE.jsonl (../shared/eval/fim-dev.jsonl not found)")?;
    let cases = pick_cases(&cases_path, args.files, args.keystrokes.div_ceil(args.files.max(1)) + 80)?;
    let keys = script(&cases, args.keystrokes, args.burst);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut runs = vec![("reuse on", true)];
    if !args.reuse_only {
        runs.push(("reuse off", false));
    }
    let mut summaries = Vec::new();
    for (name, reuse) in runs {
        let mut result = runtime.block_on(run_session(&args, &cases, &keys, reuse))?;
        summaries.push(summarize(name, keys.len(), &mut result));
    }
    let ratio = match (summaries.first(), summaries.get(1)) {
        (Some(on), Some(off)) => {
            let per = |s: &Value| s["promptTokensComputedPerCompletion"].as_f64().unwrap_or(f64::NAN);
            per(off) / per(on)
        }
        _ => f64::NAN,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json!({"runs": summaries, "promptWorkRatio": ratio}))?);
        return Ok(());
    }
    println!(
        "typing replay: {} keystrokes at {} ms across {} files, debounce {} ms, client cancels: {}",
        keys.len(),
        args.interval_ms,
        cases.len(),
        args.debounce_ms,
        !args.no_client_cancel
    );
    println!(
        "{:<10} {:>8} {:>8} {:>8} {:>10} {:>9} {:>10} {:>14} {:>6} {:>6}",
        "run", "p50 ms", "p90 ms", "p99 ms", "cancelled", "CPU s", "completed", "prompt tok/req", "items", "kept"
    );
    for s in &summaries {
        println!(
            "{:<10} {:>8.1} {:>8.1} {:>8.1} {:>9.1}% {:>9.2} {:>10} {:>14.1} {:>6} {:>6}",
            s["run"].as_str().unwrap_or(""),
            s["p50Ms"].as_f64().unwrap_or(f64::NAN),
            s["p90Ms"].as_f64().unwrap_or(f64::NAN),
            s["p99Ms"].as_f64().unwrap_or(f64::NAN),
            100.0 * s["cancelledShare"].as_f64().unwrap_or(0.0),
            s["cpuSecs"].as_f64().unwrap_or(f64::NAN),
            s["server"]["completed"].as_f64().unwrap_or(0.0),
            s["promptTokensComputedPerCompletion"].as_f64().unwrap_or(f64::NAN),
            s["withItems"].as_u64().unwrap_or(0),
            s["server"]["typedThrough"].as_f64().unwrap_or(0.0) + s["server"]["prefetchHits"].as_f64().unwrap_or(0.0),
        );
    }
    println!("kept: keystrokes answered from a suggestion already made (typed through it, or prefetched), without decoding");
    if ratio.is_finite() {
        println!("prefix reuse cuts prompt work {ratio:.1}x (prompt tokens computed per completed request, off / on)");
    }
    Ok(())
}

/// The replay's settings: prefix reuse on or off, the debounce, no retrieval, and `maxTokens` when given.
fn initialization_options(args: &BenchTypingArgs, reuse: bool) -> serde_json::Value {
    let mut options = json!({ "prefixReuse": reuse, "debounceMs": args.debounce_ms, "retrieval": false });
    if let Some(max) = args.max_tokens {
        options["maxTokens"] = json!(max);
    }
    options
}
