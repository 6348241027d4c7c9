//! `hearth eval context`: whether the context a prompt carries holds the definition a cross-file case
//! needs, per language and prompt budget, with the tokens it takes and retrieval latency.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use hearth_assist::completion::CompletionRequest;
use hearth_base::stats::percentile;
use serde::Deserialize;

use super::eval::{carries, gold_line, read_cases, Gold, RepoIndexes};
use crate::args::ModelArgs;

#[derive(Args)]
pub struct EvalContextArgs {
    /// JSONL cross-file cases: `repo`, `path`, `language`, `prefix`, `middle`, `suffix`, `name`,
    /// `defined_in` and `defined_line` (1-based), as `crates/assist/eval/crossfile_cases.py` writes.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The model whose tokenizer and prompt template cut the context (the bundled demo model's
    /// 384-position window cannot hold these budgets; use a real one).
    #[command(flatten)]
    pub model: ModelArgs,
    /// Prompt budgets (the `contextBudget` setting): the server gives retrieval 35% of each, so 1024
    /// (the default) leaves 358 tokens of context and 2944 about 1024.
    #[arg(long, value_delimiter = ',', default_values_t = [1024, 2944])]
    pub prompt_budget: Vec<usize>,
    /// Evaluate only the first N cases of each file.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Print one line per missed case (what came instead).
    #[arg(long)]
    pub misses: bool,
    /// Print the snippets the prompt carries for the case of this id (`go/ast/import.go:17`), to
    /// stderr; repeatable.
    #[arg(long)]
    pub show: Vec<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Deserialize)]
struct Case {
    id: String,
    repo: PathBuf,
    path: String,
    language: String,
    prefix: String,
    suffix: String,
    #[serde(flatten)]
    gold: Gold,
}

/// One language at one budget.
#[derive(Default)]
struct Tally {
    cases: usize,
    hits: usize,
    tokens: usize,
    caps: usize,
    latencies: Vec<f64>,
}

pub fn eval_context(args: EvalContextArgs) -> anyhow::Result<()> {
    let mut cases: Vec<Case> = Vec::new();
    for file in &args.files {
        cases.extend(read_cases(file, args.limit, |_: &mut Case| true)?);
    }
    let (completer, mut options) = args.model.load_completer()?;
    options.retrieval = true;
    options.multiline = false;
    let mut indexes = RepoIndexes::default();
    let mut tallies: BTreeMap<(String, usize), Tally> = BTreeMap::new();
    let mut misses = Vec::new();
    for case in &cases {
        completer.set_context_source(Some(indexes.get(&case.repo).with_context(|| format!("case {}", case.id))?));
        let gold = gold_line(&case.id, &case.repo, &case.gold)?;
        // The line being typed is not there yet: its name must not leak into retrieval.
        let text = format!("{}{}", case.prefix, case.suffix);
        let request = CompletionRequest {
            text: &text,
            offset: case.prefix.len(),
            path: Some(&case.path),
            language: Some(&case.language),
            repo_name: None,
        };
        for &budget in &args.prompt_budget {
            options.context_budget = budget;
            let context = completer.prompt_context(&request, &options).with_context(|| format!("case {}", case.id))?;
            let hit = context.snippets.iter().any(|s| carries(s, &case.gold.defined_in, &gold));
            if args.show.contains(&case.id) {
                eprintln!(
                    "== {} at {budget}: `{}` in {}:{} ({})",
                    case.id,
                    case.gold.name,
                    case.gold.defined_in,
                    case.gold.defined_line,
                    if hit { "hit" } else { "miss" }
                );
                for s in &context.snippets {
                    eprintln!("{}-- {}\n{}", s.header(), s.reason, s.text);
                }
            }
            let tally = tallies.entry((case.language.clone(), budget)).or_default();
            tally.cases += 1;
            tally.hits += usize::from(hit);
            tally.tokens += context.tokens;
            tally.caps += context.cap;
            tally.latencies.push(context.retrieve_ms);
            if !hit && args.misses {
                let got: Vec<String> = context.snippets.iter().map(|s| format!("{}:{} ({})", s.path, s.start_line + 1, s.reason)).collect();
                misses.push(format!(
                    "{budget}  {}  `{}` in {}:{}  got: {}",
                    case.id,
                    case.gold.name,
                    case.gold.defined_in,
                    case.gold.defined_line,
                    got.join("; ")
                ));
            }
        }
    }
    let rows: Vec<serde_json::Value> = tallies
        .iter_mut()
        .map(|((language, budget), t)| {
            t.latencies.sort_by(f64::total_cmp);
            let n = t.cases.max(1) as f64;
            serde_json::json!({
                "language": language, "promptBudget": budget, "contextCap": t.caps as f64 / n, "cases": t.cases,
                "recall": t.hits as f64 / n, "meanContextTokens": t.tokens as f64 / n,
                "retrieveP50Ms": percentile(&t.latencies, 50.0), "retrieveP99Ms": percentile(&t.latencies, 99.0),
            })
        })
        .collect();
    if args.json {
        let report = serde_json::json!({ "model": completer.describe(), "rows": rows, "misses": misses });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    for miss in &misses {
        println!("miss {miss}");
    }
    println!("model {}", completer.describe());
    println!(
        "{:<12} {:>7} {:>8} {:>6} {:>8} {:>12} {:>9} {:>9}",
        "language", "prompt", "context", "cases", "recall", "mean tokens", "p50 ms", "p99 ms"
    );
    for row in &rows {
        let f = |k: &str| row[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "{:<12} {:>7} {:>8.0} {:>6} {:>7.1}% {:>12.0} {:>9.2} {:>9.2}",
            row["language"].as_str().unwrap_or(""),
            row["promptBudget"],
            f("contextCap"),
            row["cases"],
            100.0 * f("recall"),
            f("meanContextTokens"),
            f("retrieveP50Ms"),
            f("retrieveP99Ms")
        );
    }
    Ok(())
}
