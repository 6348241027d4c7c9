//! `hearth bench next-edit`: time to a next-edit suggestion on rename-a-parameter scenarios built from
//! real Python files (the window around the renamed signature plus up to 2,000 tokens of other files),
//! with and without speculation side by side, and the same scenario typed through the real server.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use hearth_assist::nextedit::{
    ContextFile, EditEvent, EditHistory, NextEdit, NextEditError, NextEditFormat, NextEditInput, NextEditOptions, NextEditPredictor,
    Outcome,
};
use hearth_base::stats::percentile;
use hearth_base::CancelToken;
use serde_json::{json, Value};

use crate::args::ModelArgs;
use crate::serve_cmd::client::LspClient;
use crate::serve_cmd::{default_cases, Case};

#[derive(Args)]
pub struct BenchNextEditArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Python files to build scenarios from: JSONL with `path`, `prefix`, `middle`, `suffix` (the
    /// FIM eval's format; each case's three parts make the whole file).
    #[arg(long)]
    cases: Option<PathBuf>,
    /// Rename scenarios to run.
    #[arg(long, default_value_t = 8)]
    scenarios: usize,
    /// Two short files instead of the cases (a rename, a new constructor parameter): for models whose
    /// context cannot hold a 21-line window of real code, such as tiny-coder (384 positions).
    #[arg(long)]
    small: bool,
    /// Tokens of other files offered as context (as many as fit the model's context go in).
    #[arg(long, default_value_t = 2000)]
    context_tokens: usize,
    /// The prompt format (default: the model's own).
    #[arg(long)]
    format: Option<NextEditFormat>,
    /// Also type each rename through `hearth serve` and time `hearth/nextEdit` after the pause.
    #[arg(long)]
    replay: bool,
    /// Milliseconds between keystrokes in the replay.
    #[arg(long, default_value_t = 120)]
    interval_ms: u64,
    /// Times each scenario is typed in the replay (the file reopened as it was).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// The client's pause after the last keystroke before it asks.
    #[arg(long, default_value_t = 400)]
    pause_ms: u64,
    #[arg(long)]
    json: bool,
}

/// A parameter renamed in a signature: the file before, the rename typed a key at a time, and the
/// uses of the old name below it left for the model.
struct Scenario {
    path: String,
    before: String,
    /// Byte offset of the old name in the signature.
    at: usize,
    old: String,
    new: String,
}

impl Scenario {
    fn after(&self) -> String {
        format!("{}{}{}", &self.before[..self.at], self.new, &self.before[self.at + self.old.len()..])
    }

    fn cursor(&self) -> usize {
        self.at + self.new.len()
    }

    /// The edit history a user leaves: delete the old name, type the new one.
    fn events(&self) -> Vec<EditEvent> {
        let mut history = EditHistory::new();
        history.opened(&self.path, &Arc::from(self.before.as_str()));
        let t0 = Instant::now();
        let mut text = self.before.clone();
        let mut previous: Arc<str> = Arc::from(text.as_str());
        text.replace_range(self.at..self.at + self.old.len(), "");
        for (i, c) in self.new.chars().enumerate() {
            let now: Arc<str> = Arc::from(text.as_str());
            history.changed(&self.path, &previous, &now, t0 + Duration::from_millis(100 * i as u64));
            previous = now;
            text.insert(self.at + i, c);
        }
        history.changed(&self.path, &previous, &Arc::from(text.as_str()), t0 + Duration::from_millis(100 * self.new.len() as u64));
        history.events()
    }
}

/// The end-to-end tests' two files: a parameter renamed, and one added to a constructor.
fn small_scenarios() -> Vec<Scenario> {
    let stats = "import sys\n\nfrom fmt import line\n\n\ndef report(values, out):\n    total = sum(values)\n    out.write(line(\"count\", len(values)))\n    out.write(line(\"total\", total))\n    for v in values:\n        out.write(f\"  {v}\\n\")\n    return total\n\n\nreport([1, 2, 3], sys.stdout)\n";
    let config = "class Config:\n    def __init__(self, host, port):\n        self.host = host\n        self.port = port\n\n    def url(self):\n        return f\"http://{self.host}:{self.port}\"\n";
    vec![
        Scenario {
            path: "stats.py".into(),
            before: stats.into(),
            at: stats.find("values,").unwrap_or(0),
            old: "values".into(),
            new: "numbers".into(),
        },
        Scenario {
            path: "config.py".into(),
            before: config.into(),
            at: config.find("):").unwrap_or(0),
            old: String::new(),
            new: ", path".into(),
        },
    ]
}

/// Whole files from the cases, one per path, in file order.
fn read_files(path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut files: Vec<(String, String)> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let case: Case = serde_json::from_str(line).with_context(|| format!("{}: not a case", path.display()))?;
        if !files.iter().any(|(p, _)| *p == case.path) {
            files.push((case.path, format!("{}{}{}", case.prefix, case.middle, case.suffix)));
        }
    }
    Ok(files)
}

/// A `def` with a parameter of 3+ letters used at least twice in the 10 lines after it.
fn find_rename(path: &str, text: &str) -> Option<Scenario> {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let mut offset = 0;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        let start = offset;
        offset += line.len();
        let Some(rest) = line.trim_start().strip_prefix("def ") else { continue };
        let (Some(open), Some(close)) = (rest.find('('), rest.find(')')) else { continue };
        let body: String = lines.iter().skip(i + 1).take(10).copied().collect();
        for param in rest[open + 1..close.max(open + 1)].split(',') {
            let name = param.split([':', '=']).next().unwrap_or("").trim();
            if name.len() < 3 || name == "self" || name == "cls" || !name.chars().all(word) {
                continue;
            }
            let uses = body.match_indices(name).filter(|(j, _)| {
                let before = body[..*j].chars().next_back().is_none_or(|c| !word(c));
                let after = body[j + name.len()..].chars().next().is_none_or(|c| !word(c));
                before && after
            });
            if uses.count() >= 2 {
                let paren = line.find('(')?;
                let in_line = paren + line[paren..].find(name)?;
                return Some(Scenario {
                    path: path.to_string(),
                    before: text.to_string(),
                    at: start + in_line,
                    old: name.to_string(),
                    new: format!("{name}_in"),
                });
            }
        }
    }
    None
}

/// Other files as context, whole or cut at a line, until `budget` tokens.
fn context_for(files: &[(String, String)], skip: &str, budget: usize, count: &dyn Fn(&str) -> usize) -> Vec<ContextFile> {
    let mut out = Vec::new();
    let mut left = budget;
    for (path, text) in files.iter().filter(|(p, _)| p != skip) {
        if left < 64 {
            break;
        }
        let mut taken = String::new();
        for line in text.split_inclusive('\n') {
            let cost = count(line);
            if cost > left {
                break;
            }
            left -= cost;
            taken.push_str(line);
        }
        if !taken.is_empty() {
            out.push(ContextFile { path: path.clone(), text: taken });
        }
    }
    out
}

struct Pair {
    plain: NextEdit,
    fast: NextEdit,
    plain_secs: f64,
    fast_secs: f64,
}

pub fn bench(args: BenchNextEditArgs) -> anyhow::Result<()> {
    let (files, scenarios) = if args.small {
        (Vec::new(), small_scenarios())
    } else {
        let cases =
            args.cases.clone().or_else(default_cases).context("no cases: pass --cases FILE.jsonl (e.g. ../shared/eval/fim-dev.jsonl)")?;
        let files = read_files(&cases)?;
        let scenarios: Vec<Scenario> = files.iter().filter_map(|(p, t)| find_rename(p, t)).take(args.scenarios).collect();
        anyhow::ensure!(!scenarios.is_empty(), "no function with a parameter used twice in {}", cases.display());
        (files, scenarios)
    };
    let (target, draft, _) = args.model.load_models()?;
    let mut predictor = NextEditPredictor::new(&target, draft.as_ref())?;
    // Every prediction pays for its whole prompt, as a first suggestion in a file does.
    predictor.set_prefix_reuse(false);
    let format = args.format.unwrap_or_else(|| predictor.default_format());
    let tokenizer = target.tokenizer.clone();
    let count = |s: &str| tokenizer.encode(s).len();
    let progress = indicatif::ProgressBar::new(scenarios.len() as u64);
    let mut pairs = Vec::new();
    let mut too_long = 0;
    for scenario in &scenarios {
        let text = scenario.after();
        let events = scenario.events();
        let context = context_for(&files, &scenario.path, args.context_tokens, &count);
        let input = NextEditInput { path: &scenario.path, text: &text, cursor: scenario.cursor(), events: &events, context: &context };
        let cancel = CancelToken::new();
        let timed = |predictor: &mut NextEditPredictor, speculate: bool| {
            let started = Instant::now();
            let edit = predictor.predict(format, &input, &NextEditOptions { speculate }, &cancel);
            edit.map(|e| (e, started.elapsed().as_secs_f64()))
        };
        progress.inc(1);
        let (fast, fast_secs) = match timed(&mut predictor, true) {
            Err(NextEditError::TooLong { .. }) => {
                too_long += 1;
                continue;
            }
            other => other?,
        };
        let (plain, plain_secs) = timed(&mut predictor, false)?;
        pairs.push(Pair { plain, fast, plain_secs, fast_secs });
    }
    progress.finish_and_clear();
    anyhow::ensure!(
        !pairs.is_empty(),
        "none of the {} scenarios fits {}'s context of {} positions (try --small)",
        scenarios.len(),
        target.info.name,
        predictor.capacity()
    );
    let mut report = json!({
        "model": target.info.name,
        "device": target.info.device,
        "draft": draft.as_ref().map(|d| d.info.name.clone()),
        "format": format,
        "scenarios": pairs.len(),
        "too_long": too_long,
        "all": summarize(&pairs.iter().collect::<Vec<_>>()),
        // Rewrites that finished (edit, no change, revert): the window copied with a change.
        "copy_heavy": summarize(&pairs.iter().filter(|p| p.plain.outcome != Outcome::Unfinished && p.plain.outcome != Outcome::Unreadable).collect::<Vec<_>>()),
        "outcomes": pairs.iter().map(|p| p.plain.outcome).collect::<Vec<_>>(),
        // Where a speculative answer first differs from the plain one (characters), per scenario.
        "differ_at": pairs.iter().map(|p| differ_at(&p.plain.answer, &p.fast.answer)).collect::<Vec<_>>(),
    });
    if args.replay {
        let model = args.model.choice.model.clone().context("--replay needs --model")?;
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        report["replay"] = runtime.block_on(replay(&args, &model, &scenarios, format))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

fn differ_at(a: &str, b: &str) -> Option<usize> {
    (a != b).then(|| a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count())
}

fn summarize(pairs: &[&Pair]) -> Value {
    if pairs.is_empty() {
        return Value::Null;
    }
    let ms = |f: &dyn Fn(&Pair) -> f64| {
        let mut v: Vec<f64> = pairs.iter().map(|p| f(p) * 1000.0).collect();
        v.sort_by(f64::total_cmp);
        percentile(&v, 50.0)
    };
    let sum = |f: &dyn Fn(&Pair) -> usize| pairs.iter().map(|p| f(p)).sum::<usize>() as f64;
    let tokens = sum(&|p| p.fast.stats.generated_tokens);
    let plain_decode: f64 = pairs.iter().map(|p| p.plain.stats.decode_secs).sum();
    let fast_decode: f64 = pairs.iter().map(|p| p.fast.stats.decode_secs).sum();
    let plain_total: f64 = pairs.iter().map(|p| p.plain_secs).sum();
    let fast_total: f64 = pairs.iter().map(|p| p.fast_secs).sum();
    json!({
        "cases": pairs.len(),
        "prompt_tokens": sum(&|p| p.fast.prompt_tokens) / pairs.len() as f64,
        "context_files": sum(&|p| p.fast.context_files) / pairs.len() as f64,
        "generated_tokens": tokens / pairs.len() as f64,
        "plain_ms_p50": ms(&|p| p.plain_secs),
        "speculative_ms_p50": ms(&|p| p.fast_secs),
        "tokens_per_step": tokens / sum(&|p| p.fast.stats.steps).max(1.0),
        "decode_speedup": plain_decode / fast_decode.max(1e-9),
        "total_speedup": plain_total / fast_total.max(1e-9),
        "identical": pairs.iter().all(|p| p.plain.answer == p.fast.answer),
    })
}

fn print_table(report: &Value) {
    println!(
        "next edit: {} ({}), format {}, draft {}, {} rename scenarios ({} did not fit the model's context)",
        report["model"].as_str().unwrap_or("?"),
        report["device"].as_str().unwrap_or("?"),
        report["format"].as_str().unwrap_or("?"),
        report["draft"].as_str().unwrap_or("none"),
        report["scenarios"],
        report["too_long"]
    );
    println!("| set | cases | prompt tok | context files | answer tok | plain p50 ms | speculative p50 ms | tokens/step | decode speedup | total speedup | identical |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for set in ["all", "copy_heavy"] {
        let s = &report[set];
        if s.is_null() {
            println!("| {set} | 0 | | | | | | | | | |");
            continue;
        }
        let f = |k: &str| s[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "| {set} | {} | {:.0} | {:.1} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2}x | {:.2}x | {} |",
            s["cases"],
            f("prompt_tokens"),
            f("context_files"),
            f("generated_tokens"),
            f("plain_ms_p50"),
            f("speculative_ms_p50"),
            f("tokens_per_step"),
            f("decode_speedup"),
            f("total_speedup"),
            s["identical"]
        );
    }
    println!("outcomes: {}", report["outcomes"]);
    println!("speculative answer differs from plain at character: {}", report["differ_at"]);
    if let Some(r) = report.get("replay") {
        println!(
            "typing replay through hearth serve: {} suggestions asked {} ms after the last key: latency p50 {:.0} ms, p99 {:.0} ms; {} edits, {} errors",
            r["requests"], r["pause_ms"], r["p50_ms"].as_f64().unwrap_or(f64::NAN), r["p99_ms"].as_f64().unwrap_or(f64::NAN), r["with_edits"], r["errors"]
        );
    }
}

/// Types each rename through `hearth serve`, a key every `interval_ms`, and asks for the next edit
/// `pause_ms` after the last key, as the clients do.
async fn replay(args: &BenchNextEditArgs, model: &str, scenarios: &[Scenario], format: NextEditFormat) -> anyhow::Result<Value> {
    let root = std::env::temp_dir().join(format!("hearth-bench-next-edit-{}", std::process::id()));
    let _cleanup = RemoveOnDrop(root.clone());
    for s in scenarios {
        let file = root.join(&s.path);
        std::fs::create_dir_all(file.parent().unwrap_or(&root))?;
        std::fs::write(&file, &s.before)?;
    }
    let exe = std::env::current_exe()?;
    let client = LspClient::spawn(&exe, &["serve", "--model", model, "--no-watch"], &[])?;
    let root_uri = file_uri(&root);
    client
        .call(
            "initialize",
            json!({"processId": null, "rootUri": root_uri, "capabilities": {},
                   "initializationOptions": {"nextEdit": {"format": format.to_string(), "contextTokens": args.context_tokens}}}),
        )
        .await?;
    client.notify("initialized", json!({})).await?;
    // Ready (model loaded, files indexed) before the first keystroke.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let status = client.call("workspace/executeCommand", json!({"command": "hearth.status"})).await?;
        match status["state"].as_str() {
            Some("ready") => break,
            Some("error") => anyhow::bail!("the server did not start: {status}"),
            _ => anyhow::ensure!(Instant::now() < deadline, "the server is not ready after 600 s: {status}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut latencies = Vec::new();
    let (mut errors, mut with_edits) = (0, 0);
    for s in (0..args.rounds.max(1)).flat_map(|_| scenarios) {
        let uri = file_uri(&root.join(&s.path));
        let index = hearth_base::LineIndex::new(&s.before);
        let lc = index.line_col(&s.before, s.at, hearth_base::WideEncoding::Utf16).context("position")?;
        let mut version = 1;
        client
            .notify(
                "textDocument/didOpen",
                json!({"textDocument": {"uri": uri, "languageId": "python", "version": version, "text": s.before}}),
            )
            .await?;
        let pos = |col: u32| json!({"line": lc.line, "character": col});
        let change = |version: i32, from: u32, to: u32, text: String| json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"range": {"start": pos(from), "end": pos(to)}, "text": text}]});
        version += 1;
        client
            .notify("textDocument/didChange", change(version, lc.col, lc.col + s.old.encode_utf16().count() as u32, String::new()))
            .await?;
        for (i, c) in s.new.chars().enumerate() {
            tokio::time::sleep(Duration::from_millis(args.interval_ms)).await;
            version += 1;
            client.notify("textDocument/didChange", change(version, lc.col + i as u32, lc.col + i as u32, c.to_string())).await?;
        }
        tokio::time::sleep(Duration::from_millis(args.pause_ms)).await;
        let started = Instant::now();
        let params =
            json!({"textDocument": {"uri": uri, "version": version}, "position": pos(lc.col + s.new.encode_utf16().count() as u32)});
        let (_, rx) = client.request("hearth/nextEdit", params).await?;
        let response = tokio::time::timeout(Duration::from_secs(300), rx).await??;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        if response.get("error").is_some() {
            errors += 1;
            tracing::warn!("hearth/nextEdit failed: {}", response["error"]);
        } else if response["result"]["edits"].as_array().is_some_and(|e| !e.is_empty()) {
            with_edits += 1;
        }
        client.notify("textDocument/didClose", json!({"textDocument": {"uri": uri}})).await?;
    }
    client.shutdown().await?;
    let mut sorted = latencies.clone();
    sorted.sort_by(f64::total_cmp);
    Ok(json!({
        "requests": latencies.len(),
        "pause_ms": args.pause_ms,
        "p50_ms": percentile(&sorted, 50.0),
        "p99_ms": percentile(&sorted, 99.0),
        "with_edits": with_edits,
        "errors": errors,
    }))
}

fn file_uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// Removes the replay's scratch folder, however the replay ends.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
