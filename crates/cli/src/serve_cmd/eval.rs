//! `hearth eval fim`: fill-in-the-middle quality and latency on a JSONL file of cases, through the same
//! completion path as the server, with the prompt protocol of `../shared/eval/README.md`.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use hearth_assist::completion::metrics::edit_similarity;
use hearth_assist::completion::{BudgetPolicy, CompletionRequest, ContextSource, Snippet};
use hearth_base::stats::percentile;
use hearth_base::CancelToken;
use hearth_syntax::Language;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::context::open_index;
use crate::args::ModelArgs;

#[derive(Args)]
pub struct EvalFimArgs {
    /// JSONL with `prefix`, `suffix`, `middle` (and `id`, `path`, `kind`) per line.
    pub file: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Prompt tokens: 303 is the reference protocol (200 prefix + 100 suffix + 3 FIM tokens).
    #[arg(long, default_value_t = 303)]
    pub context_budget: usize,
    #[arg(long, default_value_t = 48)]
    pub max_tokens: usize,
    /// Cut the prompt as the server does (short suffix, line-aligned prefix start, rebalancing) instead
    /// of the reference protocol's exact 2:1 cut.
    #[arg(long)]
    pub server_budget: bool,
    /// Evaluate only the first N cases.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Retrieve context from the index of each case's `repo` (or of --repo).
    #[arg(long)]
    pub context: bool,
    /// Repository root for cases without a `repo` field (implies --context).
    #[arg(long)]
    pub repo: Option<PathBuf>,
    /// Move each cursor into the middle of the first word of its line (cases whose expected line
    /// does not start with a word of 4+ characters are left out): the mid-word cut token healing is for.
    #[arg(long)]
    pub cut_mid_word: bool,
    /// Token healing: auto (models without FIM), on or off.
    #[arg(long, value_parser = ["auto", "on", "off"])]
    pub healing: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Deserialize)]
struct Case {
    #[serde(default)]
    id: String,
    #[serde(default)]
    path: Option<String>,
    /// Repository root the path is relative to (cross-file cases).
    #[serde(default)]
    repo: Option<PathBuf>,
    /// The cross-file name the answer uses; retrieval should bring its definition.
    #[serde(default)]
    name: Option<String>,
    /// The case's language (default Python, as in fim-dev.jsonl).
    #[serde(default)]
    language: Option<String>,
    /// Where `name` is defined, for cross-file cases (`crates/assist/eval/crossfile_cases.py`).
    #[serde(default)]
    defined_in: Option<String>,
    #[serde(default)]
    defined_line: Option<usize>,
    prefix: String,
    suffix: String,
    middle: String,
}

/// The cases of a JSONL file (blank lines skipped), without those `keep` refuses, at most `limit`.
pub(super) fn read_cases<T: DeserializeOwned>(
    file: &Path,
    limit: Option<usize>,
    mut keep: impl FnMut(&mut T) -> bool,
) -> anyhow::Result<Vec<T>> {
    let reader = std::io::BufReader::new(std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?);
    let mut cases = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let mut case: T = serde_json::from_str(&line).with_context(|| format!("{}:{}", file.display(), i + 1))?;
        if !keep(&mut case) {
            continue;
        }
        cases.push(case);
        if limit.is_some_and(|n| cases.len() >= n) {
            break;
        }
    }
    Ok(cases)
}

/// The indexes of the repositories that cases come from, each opened (and brought up to date) once.
#[derive(Default)]
pub(super) struct RepoIndexes(HashMap<PathBuf, Arc<dyn ContextSource>>);

impl RepoIndexes {
    pub(super) fn get(&mut self, repo: &Path) -> anyhow::Result<Arc<dyn ContextSource>> {
        if let Some(source) = self.0.get(repo) {
            return Ok(source.clone());
        }
        eprintln!("indexing {}", repo.display());
        let source: Arc<dyn ContextSource> = open_index(repo, Default::default(), &CancelToken::new(), &mut |_, _| {})
            .with_context(|| format!("indexing {}", repo.display()))?;
        self.0.insert(repo.to_path_buf(), source.clone());
        Ok(source)
    }
}

pub fn eval_fim(args: EvalFimArgs) -> anyhow::Result<()> {
    let cases: Vec<Case> = read_cases(&args.file, args.limit, |case| !args.cut_mid_word || cut_mid_word(case))?;
    let (completer, mut options) = args.model.load_completer()?;
    options.multiline = false;
    options.max_tokens = args.max_tokens;
    options.context_budget = args.context_budget;
    options.budget = if args.server_budget { BudgetPolicy::default() } else { BudgetPolicy::reference() };
    if let Some(h) = &args.healing {
        options.healing = serde_json::from_value(serde_json::Value::String(h.clone()))?;
    }
    let retrieval = args.context || args.repo.is_some();
    options.retrieval = retrieval;
    let cancel = CancelToken::new();
    let mut indexes = RepoIndexes::default();
    let mut current_repo: Option<PathBuf> = None;
    let (mut recall_hits, mut recall_cases) = (0usize, 0usize);
    let (mut name_hits, mut name_cases) = (0usize, 0usize);

    let (mut exact, mut exact_shown, mut similarity, mut empty, mut with_context) = (0usize, 0usize, 0.0f64, 0usize, 0usize);
    let (mut nll_sum, mut nll_tokens, mut nll_case_sum) = (0.0f64, 0usize, 0.0f64);
    let mut latencies = Vec::with_capacity(cases.len());
    let mut per_case = Vec::new();
    for case in &cases {
        if retrieval {
            let repo = case.repo.clone().or_else(|| args.repo.clone()).context("--context needs cases with `repo` or --repo")?;
            if current_repo.as_ref() != Some(&repo) {
                completer.set_context_source(Some(indexes.get(&repo)?));
                current_repo = Some(repo);
            }
        }
        let text = format!("{}{}", case.prefix, case.suffix);
        let request = CompletionRequest {
            text: &text,
            offset: case.prefix.len(),
            path: case.path.as_deref(),
            language: Some(case.language.as_deref().unwrap_or("python")),
            repo_name: None,
        };
        let completion = completer.complete(&request, &options, &cancel)?;
        latencies.push(completion.timings.total_ms);
        let expected = case.middle.split('\n').next().unwrap_or("");
        let got = completion.raw.split('\n').next().unwrap_or("").trim_end();
        let shown = completion.text.as_deref().unwrap_or("").split('\n').next().unwrap_or("").trim_end();
        exact += usize::from(got == expected.trim_end());
        exact_shown += usize::from(shown == expected.trim_end());
        similarity += edit_similarity(got, expected.trim_end());
        empty += usize::from(got.is_empty());
        with_context += usize::from(!completion.context.is_empty());
        if let Some(name) = case.name.as_deref().filter(|name| expected.starts_with(name)) {
            name_cases += 1;
            name_hits += usize::from(starts_with_name(got, name));
        }
        if let (true, Some(name)) = (options.retrieval, &case.name) {
            recall_cases += 1;
            // A cross-file case: the definition's own line in a snippet of its file, as `hearth eval
            // context` counts it; else (fim-dev) a Python definition of the name in any snippet.
            let hit = match (&case.repo, &case.defined_in, case.defined_line) {
                (Some(repo), Some(defined_in), Some(defined_line)) => {
                    let gold = Gold { name: name.clone(), defined_in: defined_in.clone(), defined_line };
                    let line = gold_line(&case.id, repo, &gold)?;
                    completion.context.iter().any(|s| carries(s, defined_in, &line))
                }
                _ => completion.context.iter().any(|s| defines(&s.text, name)),
            };
            recall_hits += usize::from(hit);
        }

        let prompt = completer.prompt_ids(&request, &options)?;
        let target = completer.tokenizer().encode(&format!("{expected}\n"));
        let logprobs = completer.score(&prompt, &target)?;
        let nll: f64 = logprobs.iter().map(|&lp| -(lp as f64)).sum();
        nll_sum += nll;
        nll_tokens += logprobs.len();
        nll_case_sum += nll / logprobs.len().max(1) as f64;
        if args.json {
            per_case.push(serde_json::json!({
                "id": case.id, "expected": expected, "got": got, "shown": completion.text,
                "nll": nll / logprobs.len().max(1) as f64, "ms": completion.timings.total_ms,
                "context": completion.context.iter().map(|s| format!("{}:{} {} ({} bytes)", s.path, s.start_line + 1, s.reason, s.text.len())).collect::<Vec<_>>(),
            }));
        }
    }
    let n = cases.len().max(1) as f64;
    latencies.sort_by(f64::total_cmp);
    let report = serde_json::json!({
        "model": completer.describe(),
        "file": args.file.display().to_string(),
        "cases": cases.len(),
        "contextBudget": args.context_budget,
        "cutMidWord": args.cut_mid_word,
        "healing": serde_json::to_value(options.healing)?,
        "maxTokens": args.max_tokens,
        "exactMatch": exact as f64 / n,
        "exactMatchShown": exact_shown as f64 / n,
        "editSimilarity": similarity / n,
        "nllPerToken": nll_sum / nll_tokens.max(1) as f64,
        "nllMeanOfCases": nll_case_sum / n,
        "firstLineEmpty": empty as f64 / n,
        "latencyP50Ms": percentile(&latencies, 50.0),
        "latencyP90Ms": percentile(&latencies, 90.0),
        "withContext": with_context as f64 / n,
        "definitionRecall": (recall_cases > 0).then(|| recall_hits as f64 / recall_cases as f64),
        "nameMatch": (name_cases > 0).then(|| name_hits as f64 / name_cases as f64),
        "nameCases": name_cases,
        "perCase": per_case,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let f = |k: &str| report[k].as_f64().unwrap_or(f64::NAN);
        println!("model            {}", completer.describe());
        println!("cases            {}", cases.len());
        println!("exact match      {:.3} (first line, raw greedy; {:.3} after post-processing)", f("exactMatch"), f("exactMatchShown"));
        println!("edit similarity  {:.3}", f("editSimilarity"));
        println!(
            "NLL              {:.3} nats/token of the expected first line ({:.3} mean of cases)",
            f("nllPerToken"),
            f("nllMeanOfCases")
        );
        println!("first line empty {:.1}%", 100.0 * f("firstLineEmpty"));
        println!("latency          p50 {:.1} ms, p90 {:.1} ms", f("latencyP50Ms"), f("latencyP90Ms"));
        println!("with context     {:.1}%", 100.0 * f("withContext"));
        if name_cases > 0 {
            println!("name match       {:.3} of {name_cases} cross-file cases: the completion starts with the name", f("nameMatch"));
        }
        if recall_cases > 0 {
            println!("recall           {:.1}% of cross-file cases got the definition of the name they use", 100.0 * f("definitionRecall"));
        }
    }
    Ok(())
}

/// Where a cross-file case's name is defined: `defined_line` (1-based) of `defined_in`, under `repo`.
#[derive(Deserialize)]
pub(super) struct Gold {
    pub name: String,
    pub defined_in: String,
    pub defined_line: usize,
}

/// The first line of the case's definition, read from the defining file, trimmed.
pub(super) fn gold_line(id: &str, repo: &Path, gold: &Gold) -> anyhow::Result<String> {
    let path = repo.join(&gold.defined_in);
    let text = std::fs::read_to_string(&path).with_context(|| format!("case {id}: reading {}", path.display()))?;
    let line = text
        .lines()
        .nth(gold.defined_line.saturating_sub(1))
        .with_context(|| format!("case {id}: {} has no line {}", gold.defined_in, gold.defined_line))?;
    anyhow::ensure!(
        line.contains(&gold.name),
        "case {id}: line {} of {} does not name `{}`",
        gold.defined_line,
        gold.defined_in,
        gold.name
    );
    Ok(line.trim().to_string())
}

/// Whether a snippet of `defined_in` shows the definition's first line (an outline may cut a long
/// line, ending it in ` …`, and leaves out a comment at its end).
pub(super) fn carries(snippet: &Snippet, defined_in: &str, gold: &str) -> bool {
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

/// Whether `got` starts with the identifier `name` (not a longer one that begins with it).
fn starts_with_name(got: &str, name: &str) -> bool {
    got.strip_prefix(name).is_some_and(|rest| !rest.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
}

/// Moves the cursor of `case` to the middle of the first word of the expected line: `    return x`
/// becomes the prefix `    ret` and the middle `urn x`. False when the line starts with no word of
/// at least 4 characters (after its indentation).
fn cut_mid_word(case: &mut Case) -> bool {
    let line = case.middle.split('\n').next().unwrap_or("");
    let indent = line.len() - line.trim_start().len();
    let word = line[indent..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').map(char::len_utf8).sum::<usize>();
    if line[indent..].chars().take(word).count() < 4 {
        return false;
    }
    let mut cut = indent + word / 2;
    while !case.middle.is_char_boundary(cut) {
        cut -= 1;
    }
    case.prefix.push_str(&case.middle[..cut]);
    case.middle = case.middle[cut..].to_string();
    true
}

/// Whether `text` holds a top-level definition of `name` (def, class or assignment).
fn defines(text: &str, name: &str) -> bool {
    text.lines().any(|line| {
        let rest = line.strip_prefix("async ").unwrap_or(line);
        let defined = rest.strip_prefix("def ").or_else(|| rest.strip_prefix("class ")).unwrap_or(rest);
        defined.strip_prefix(name).is_some_and(|after| {
            let after = after.trim_start();
            (defined.len() != rest.len() && (after.starts_with('(') || after.starts_with(':')))
                || (after.starts_with('=') && !after.starts_with("=="))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::{carries, cut_mid_word, defines, starts_with_name, Case, Snippet};
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
        let go = "scanEnd   // top-level value ended";
        assert!(carries(&snippet("scanner.go", "\tscanEnd"), "scanner.go", go), "an outline cuts the comment");
        assert!(!carries(&snippet("scanner.go", "\tscan"), "scanner.go", go));
    }

    #[test]
    fn mid_word_cuts_move_half_the_first_word_into_the_prefix() {
        let mut case = Case {
            id: String::new(),
            path: None,
            repo: None,
            name: None,
            language: None,
            defined_in: None,
            defined_line: None,
            prefix: "x\n".into(),
            suffix: String::new(),
            middle: "    return x\n".into(),
        };
        assert!(cut_mid_word(&mut case));
        assert_eq!((case.prefix.as_str(), case.middle.as_str()), ("x\n    ret", "urn x\n"));
        let mut short = Case { middle: "    if x:\n".into(), ..case };
        assert!(!cut_mid_word(&mut short));
    }

    #[test]
    fn a_name_match_is_the_whole_identifier() {
        assert!(starts_with_name("Executor):", "Executor"));
        assert!(starts_with_name("Executor", "Executor"));
        assert!(!starts_with_name("ExecutorBase):", "Executor"));
        assert!(!starts_with_name("Execute", "Executor"));
    }

    #[test]
    fn finds_top_level_definitions() {
        assert!(defines("import x\ndef gather(*aws):\n    pass", "gather"));
        assert!(defines("class Protocol(BaseProtocol):", "Protocol"));
        assert!(defines("logger = logging.getLogger(__package__)", "logger"));
        assert!(defines("async def sleep(delay):", "sleep"));
        assert!(!defines("    logger.info('x')", "logger"));
        assert!(!defines("def gatherer():", "gather"));
        assert!(!defines("logger == 1", "logger"));
    }
}
