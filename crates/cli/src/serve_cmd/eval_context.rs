//! `hearth eval context`: whether the context a prompt carries holds the definition a cross-file case
//! needs, per language and prompt budget, with the tokens it takes and retrieval latency.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use hearth_assist::completion::{CompletionRequest, Snippet};
use hearth_base::stats::percentile;
use hearth_syntax::Language;
use serde::Deserialize;

use super::eval::{read_cases, RepoIndexes};
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
    name: String,
    defined_in: String,
    defined_line: usize,
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
        let gold = gold_line(case)?;
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
            let hit = context.snippets.iter().any(|s| carries(s, &case.defined_in, &gold));
            if args.show.contains(&case.id) {
                eprintln!(
                    "== {} at {budget}: `{}` in {}:{} ({})",
                    case.id,
                    case.name,
                    case.defined_in,
                    case.defined_line,
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
                    case.name,
                    case.defined_in,
                    case.defined_line,
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

/// The first line of the case's definition, read from the defining file, trimmed.
fn gold_line(case: &Case) -> anyhow::Result<String> {
    let path = case.repo.join(&case.defined_in);
    let text = std::fs::read_to_string(&path).with_context(|| format!("case {}: reading {}", case.id, path.display()))?;
    let line = text
        .lines()
        .nth(case.defined_line.saturating_sub(1))
        .with_context(|| format!("case {}: {} has no line {}", case.id, case.defined_in, case.defined_line))?;
    anyhow::ensure!(
        line.contains(&case.name),
        "case {}: line {} of {} does not name `{}`",
        case.id,
        case.defined_line,
        case.defined_in,
        case.name
    );
    Ok(line.trim().to_string())
}

/// Whether a snippet of `defined_in` shows the definition's first line (an outline may cut a long
/// line, ending it in ` …`, and leaves out a comment at its end).
fn carries(snippet: &Snippet, defined_in: &str, gold: &str) -> bool {
    let code = Language::from_path(Path::new(defined_in)).map_or(gold, |lang| lang.without_trailing_comment(gold));
    snippet.path == defined_in
        && snippet.text.lines().any(|line| {
            let line = line.trim();
            match line.strip_suffix(" …") {
                Some(cut) => !cut.is_empty() && gold.starts_with(cut),
                None => line == gold || line == code,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_assist::completion::Reason;

    fn snippet(path: &str, text: &str) -> Snippet {
        Snippet { path: path.into(), start_line: 0, end_line: 0, text: text.into(), reason: Reason::Similar { bm25: 1.0 }, score: 1.0 }
    }

    #[test]
    fn a_snippet_carries_the_definition_line_of_the_right_file() {
        let gold = "class Executor(object):";
        assert!(carries(&snippet("_base.py", "LOGGER = 1\n    class Executor(object):\n"), "_base.py", gold));
        assert!(carries(&snippet("_base.py", "class Executor(ob …"), "_base.py", gold));
        assert!(!carries(&snippet("process.py", "class Executor(object):"), "_base.py", gold));
        assert!(!carries(&snippet("_base.py", "class BrokenExecutor(RuntimeError):"), "_base.py", gold));
        assert!(!carries(&snippet("_base.py", "x = Executor()"), "_base.py", gold));
    }
}
