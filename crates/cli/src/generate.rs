//! `hearth generate` and `hearth bench decode`: the inference engine from the command line.

use std::io::Write;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use hearth_base::CancelToken;
use hearth_decode::{Engine, GenerateParams, Sampling, Speculation, StopConditions};
use hearth_model::{LoadedModel, Logits};

use crate::args::ModelArgs;

#[derive(Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Speculate with n-gram lookup over the prompt and the generated text.
    #[arg(long)]
    lookup: bool,
    /// Left-to-right prompt text.
    #[arg(long, conflicts_with_all = ["fim_prefix", "fim_suffix"])]
    prompt: Option<String>,
    /// Text before the cursor (fill-in-the-middle).
    #[arg(long)]
    fim_prefix: Option<String>,
    /// Text after the cursor (fill-in-the-middle).
    #[arg(long)]
    fim_suffix: Option<String>,
    #[arg(long, default_value_t = 64)]
    max_tokens: usize,
    /// 0 means greedy.
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    #[arg(long)]
    top_k: Option<usize>,
    #[arg(long)]
    top_p: Option<f32>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Stop when this text is produced (repeatable).
    #[arg(long)]
    stop: Vec<String>,
    /// Print one JSON object instead of streaming text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    let (target, draft, _) = args.model.load_models()?;
    let prompt = match (&args.prompt, &args.fim_prefix, &args.fim_suffix) {
        (Some(p), _, _) => target.bos().into_iter().chain(target.tokenizer.encode(p)).collect(),
        (None, None, None) => bail!("nothing to generate from: pass --prompt, or --fim-prefix and --fim-suffix"),
        (None, pre, suf) => target
            .fim_prompt(pre.as_deref().unwrap_or(""), suf.as_deref().unwrap_or(""))
            .with_context(|| format!("{} has no fill-in-the-middle tokens", target.info.name))?,
    };
    if prompt.is_empty() {
        bail!("the prompt is empty: pass a non-empty --prompt");
    }
    let sampling = if args.temperature > 0.0 {
        Sampling::Sample { temperature: args.temperature, top_k: args.top_k, top_p: args.top_p, seed: args.seed }
    } else {
        Sampling::Greedy
    };
    let params = GenerateParams {
        max_tokens: args.max_tokens,
        sampling,
        stop: StopConditions { strings: args.stop.clone(), special_tokens: true, ..Default::default() },
        speculation: Speculation { draft: draft.is_some(), lookup: args.lookup, ..Default::default() },
        lookup_sources: Vec::new(),
        copy_source: Vec::new(),
        forced_prefix: String::new(),
    };
    let mut engine = Engine::new(&target, draft.as_ref())?;
    let json = args.json;
    let mut stdout = std::io::stdout();
    let gen = engine.generate(&prompt, &params, &CancelToken::new(), &mut |text| {
        if !json {
            let _ = stdout.write_all(text.as_bytes());
            let _ = stdout.flush();
        }
        ControlFlow::Continue(())
    })?;
    let secs = gen.stats.prompt_secs + gen.stats.decode_secs;
    if json {
        let out = serde_json::json!({
            "text": gen.text,
            "token_ids": gen.tokens,
            "prompt_tokens": prompt.len(),
            "stop_reason": gen.stop_reason,
            "tokens_per_second": gen.tokens.len() as f64 / secs.max(1e-9),
            "acceptance_rate": gen.stats.acceptance_rate(),
            "mean_accepted_length": gen.stats.mean_accepted_length(gen.tokens.len()),
            "time_to_first_token_ms": gen.stats.prompt_secs * 1e3,
            "model": target.info.name,
            "format": target.info.format,
            "device": target.info.device,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!();
    }
    Ok(())
}

#[derive(Args)]
pub struct BenchDecodeArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Also measure speculation with n-gram lookup.
    #[arg(long)]
    lookup: bool,
    /// Prompt length for the prefill figure.
    #[arg(long, default_value_t = 256)]
    prompt_tokens: usize,
    /// Tokens generated for the decode figure.
    #[arg(long, default_value_t = 64)]
    gen_tokens: usize,
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// FIM cases (JSONL with prefix/suffix) for the speculative speedup and acceptance.
    #[arg(long)]
    fim_cases: Option<PathBuf>,
    /// How many FIM cases to use.
    #[arg(long, default_value_t = 100)]
    cases: usize,
    /// Measure speculation on a copy task (the benchmark prompt, one snippet repeated, continued
    /// for --gen-tokens) instead of on FIM cases.
    #[arg(long)]
    copy_task: bool,
    /// Also time one target forward over k new tokens after the --prompt-tokens context, for each
    /// k given (e.g. 1,4,8): the cost of a verification window relative to a single-token step.
    #[arg(long, value_delimiter = ',')]
    verify_windows: Vec<usize>,
    #[arg(long)]
    json: bool,
}

pub fn bench_decode(args: BenchDecodeArgs) -> anyhow::Result<()> {
    let (target, draft, _) = args.model.load_models()?;
    let mut engine = Engine::new(&target, draft.as_ref())?;
    engine.set_prefix_reuse(false);
    let capacity = engine.capacity();
    let prompt_len = args.prompt_tokens.min(capacity.saturating_sub(args.gen_tokens + 1)).max(1);
    // A deterministic prompt of ordinary code tokens.
    let sample = "def parse(line):\n    key, _, value = line.partition('=')\n    return key.strip(), value.strip()\n\n";
    let mut prompt: Vec<u32> = target.bos().into_iter().collect();
    while prompt.len() < prompt_len {
        prompt.extend(target.tokenizer.encode(sample));
    }
    prompt.truncate(prompt_len);
    let cancel = CancelToken::new();
    let free = GenerateParams { max_tokens: args.gen_tokens, stop: StopConditions::default(), ..Default::default() };
    let mut prefill = Vec::new();
    let mut decode = Vec::new();
    let mut ttft = Vec::new();
    engine.generate(&prompt, &free, &cancel, &mut |_| ControlFlow::Continue(()))?; // warm-up
    for _ in 0..args.repeats.max(1) {
        let t = Instant::now();
        let one = GenerateParams { max_tokens: 1, ..free.clone() };
        engine.generate(&prompt, &one, &cancel, &mut |_| ControlFlow::Continue(()))?;
        prefill.push(prompt.len() as f64 / t.elapsed().as_secs_f64());
        let g = engine.generate(&prompt[..8.min(prompt.len())], &free, &cancel, &mut |_| ControlFlow::Continue(()))?;
        decode.push((g.tokens.len() - 1) as f64 / g.stats.decode_secs);
        ttft.push(g.stats.prompt_secs * 1e3);
    }
    let mut report = serde_json::json!({
        "model": target.info.name,
        "format": target.info.format,
        "device": target.info.device,
        "kv_cache": format!("{:?}", target.model.kv_dtype()).to_lowercase(),
        "prompt_tokens": prompt.len(),
        "prompt_tokens_per_second": median(&mut prefill),
        "decode_tokens_per_second": median(&mut decode),
        "time_to_first_token_ms_8_token_prompt": median(&mut ttft),
    });
    if !args.verify_windows.is_empty() {
        report["verify"] = verify_costs(&target, &prompt, &args.verify_windows, args.repeats)?;
    }
    if args.fim_cases.is_some() || args.copy_task {
        engine.set_prefix_reuse(true);
        let (prompts, max_tokens) = match &args.fim_cases {
            Some(path) if !args.copy_task => {
                let cases = read_fim_cases(path, args.cases)?;
                // The eval protocol's window: the last 200 prefix tokens, the first 100 suffix tokens.
                let window = |(pre, suf): &(String, String)| target.fim_window(pre, suf, 200, 100).context("the model has no FIM tokens");
                (cases.iter().map(window).collect::<anyhow::Result<Vec<_>>>()?, 48)
            }
            _ => (vec![prompt.clone(); args.repeats.max(1)], args.gen_tokens),
        };
        let mut modes = vec![("plain", false, false)];
        if args.lookup {
            modes.push(("lookup", false, true));
        }
        if draft.is_some() {
            modes.push(("draft", true, false));
            if args.lookup {
                modes.push(("draft+lookup", true, true));
            }
        }
        let mut results = serde_json::Map::new();
        let mut plain_secs = 0.0;
        for (name, use_draft, use_lookup) in modes {
            let (mut secs, mut tokens, mut steps, mut proposed, mut accepted) = (0.0, 0, 0, 0, 0);
            for prompt in &prompts {
                let params = GenerateParams {
                    max_tokens,
                    speculation: Speculation { draft: use_draft, lookup: use_lookup, ..Default::default() },
                    ..Default::default()
                };
                let g = engine.generate(prompt, &params, &cancel, &mut |_| ControlFlow::Continue(()))?;
                // The copy task times decoding alone: its one prompt is prefilled once and then reused.
                secs += g.stats.decode_secs + if args.copy_task { 0.0 } else { g.stats.prompt_secs };
                tokens += g.tokens.len();
                steps += g.stats.steps;
                proposed += g.stats.proposed;
                accepted += g.stats.accepted;
            }
            if name == "plain" {
                plain_secs = secs;
            }
            results.insert(
                name.into(),
                serde_json::json!({
                    "tokens": tokens,
                    "tokens_per_second": tokens as f64 / secs,
                    "speedup_vs_plain": plain_secs / secs,
                    "acceptance_rate": if proposed == 0 { 0.0 } else { accepted as f64 / proposed as f64 },
                    "tokens_per_target_step": tokens as f64 / steps.max(1) as f64,
                }),
            );
        }
        if args.copy_task {
            report["copy_task_prompt_tokens"] = serde_json::json!(prompt.len());
        } else {
            report["fim_cases"] = serde_json::json!(prompts.len());
        }
        report["speculative"] = serde_json::Value::Object(results);
    }
    report["peak_rss_mb"] = serde_json::json!(crate::proc_stats::peak_rss_bytes().map_or(0.0, |b| b as f64 / (1 << 20) as f64));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

/// Milliseconds of one target forward over k new tokens after `context` (argmax read back, the
/// one host sync a verification step needs), per k, with the ratio to the first k given.
fn verify_costs(target: &LoadedModel, context: &[u32], windows: &[usize], repeats: usize) -> anyhow::Result<serde_json::Value> {
    let longest = windows.iter().copied().max().unwrap_or(1).max(1);
    let mut cache = target.new_cache(context.len() + longest + 1)?;
    target.model.forward(context, &mut cache, Logits::Last)?;
    let base = cache.len();
    let mut out = serde_json::Map::new();
    let mut first_ms = None;
    for &k in windows {
        let tokens: Vec<u32> = (0..k.max(1)).map(|i| context[i % context.len()]).collect();
        let mut times = Vec::new();
        for i in 0..=repeats.max(3) {
            cache.truncate(base);
            let t = Instant::now();
            let logits = target.model.forward(&tokens, &mut cache, Logits::All)?;
            logits.argmax(1)?.to_vec1::<u32>()?;
            if i > 0 {
                times.push(t.elapsed().as_secs_f64() * 1e3); // the first run warms up
            }
        }
        let ms = median(&mut times);
        let first = *first_ms.get_or_insert(ms);
        out.insert(format!("k{k}"), serde_json::json!({ "ms": ms, "relative": ms / first }));
    }
    Ok(serde_json::Value::Object(out))
}

pub fn read_fim_cases(path: &std::path::Path, limit: usize) -> anyhow::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .take(limit)
        .enumerate()
        .map(|(i, line)| {
            let v: serde_json::Value = serde_json::from_str(line).with_context(|| format!("{}:{}: invalid JSON", path.display(), i + 1))?;
            let field =
                |k: &str| v[k].as_str().map(str::to_string).with_context(|| format!("{}:{}: no `{k}` string", path.display(), i + 1));
            Ok((field("prefix")?, field("suffix")?))
        })
        .collect()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn print_table(report: &serde_json::Value) {
    let obj = report.as_object().unwrap();
    for (k, v) in obj {
        match v {
            serde_json::Value::Object(modes) => {
                println!("{k}:");
                for (mode, figures) in modes {
                    let f = figures.as_object().unwrap();
                    let line: Vec<String> = f.iter().map(|(k, v)| format!("{k}={}", fmt(v))).collect();
                    println!("  {mode:<14} {}", line.join("  "));
                }
            }
            _ => println!("{k:<40} {}", fmt(v)),
        }
    }
}

fn fmt(v: &serde_json::Value) -> String {
    match v.as_f64() {
        Some(x) if v.is_f64() => format!("{x:.3}"),
        _ => v.to_string().trim_matches('"').to_string(),
    }
}
