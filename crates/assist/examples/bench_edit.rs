//! Speculation benchmark for edit rewrites: function regions from the CPython standard library,
//! rewritten with the plain (copy-heavy) prompt format, decoded twice with the same model: plainly
//! and with n-gram lookup over the original region. Prints acceptance length, speedup, and checks
//! that both outputs are identical.
//!
//! `cargo run --release -p hearth-assist --example bench_edit -- [--model PATH] [--regions N] [--stdlib DIR]`

use std::path::{Path, PathBuf};
use std::time::Instant;

use hearth_assist::edit::{ModelRewriter, PromptFormat, RewriteTask};
use hearth_base::CancelToken;
use hearth_syntax::{ChunkKind, Language};

/// Instruction of every region: the answer should mostly copy the region.
const INSTRUCTION: &str = "keep the behaviour, tidy the formatting";

/// CPython modules the regions come from (plain Python, stable across versions).
const MODULES: &[&str] = &[
    "textwrap.py",
    "shlex.py",
    "fnmatch.py",
    "posixpath.py",
    "string.py",
    "json/encoder.py",
    "json/decoder.py",
    "colorsys.py",
    "bisect.py",
    "heapq.py",
    "glob.py",
    "calendar.py",
    "difflib.py",
    "ipaddress.py",
    "statistics.py",
];

struct Row {
    path: String,
    region_tokens: usize,
    tokens: usize,
    steps_plain: usize,
    steps_spec: usize,
    secs_plain: f64,
    secs_spec: f64,
    copy_ratio: f64,
    identical: bool,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut model = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/tiny-coder-q8_0.gguf");
    let mut count = 24usize;
    let mut stdlib: Option<PathBuf> = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--model" => model = args.next().expect("--model PATH").into(),
            "--regions" => count = args.next().and_then(|n| n.parse().ok()).expect("--regions N"),
            "--stdlib" => stdlib = Some(args.next().expect("--stdlib DIR").into()),
            other => panic!("unknown argument {other}"),
        }
    }
    let stdlib = stdlib.unwrap_or_else(python_stdlib);
    let loaded = hearth_model::load(&model.display().to_string(), hearth_model::DeviceChoice::Cpu).expect("model");
    let mut rewriter = ModelRewriter::new(&loaded, None).expect("engine");
    rewriter.set_prefix_reuse(false);
    let format = rewriter.format();
    let tokenizer = loaded.tokenizer.clone();

    let regions = pick_regions(&stdlib, count, &|t| tokenizer.encode(t).len());
    eprintln!("{} regions from {}; model {} ({:?} format)", regions.len(), stdlib.display(), loaded.info.name, format);
    let cancel = CancelToken::new();
    let mut rows = Vec::new();
    for (i, (path, text)) in regions.iter().enumerate() {
        let task = RewriteTask { instruction: INSTRUCTION, path, language: Some(Language::Python), original: text, attempt: 1 };
        if i == 0 {
            rewriter.set_speculation(false);
            rewriter.generate(&task, &cancel).expect("warm-up");
        }
        rewriter.set_speculation(false);
        let t = Instant::now();
        let (plain, plain_tokens) = rewriter.generate(&task, &cancel).expect("plain decoding");
        let secs_plain = t.elapsed().as_secs_f64();
        rewriter.set_speculation(true);
        let t = Instant::now();
        let (spec, spec_tokens) = rewriter.generate(&task, &cancel).expect("speculative decoding");
        let secs_spec = t.elapsed().as_secs_f64();
        rows.push(Row {
            path: path.clone(),
            region_tokens: tokenizer.encode(text).len(),
            tokens: plain_tokens.len(),
            steps_plain: plain.stats.steps,
            steps_spec: spec.stats.steps,
            secs_plain,
            secs_spec,
            copy_ratio: similar::TextDiff::from_chars(text.as_str(), plain.text.as_str()).ratio() as f64,
            identical: plain_tokens == spec_tokens && plain.text == spec.text,
        });
    }
    report(&rows, format, &loaded.info.name);
}

fn report(rows: &[Row], format: PromptFormat, model: &str) {
    println!("| region | region tok | new tok | copy | steps plain | steps spec | accept len | plain s | spec s | speedup | same |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {:.2} | {} | {} | {:.2} | {:.3} | {:.3} | {:.2}x | {} |",
            r.path,
            r.region_tokens,
            r.tokens,
            r.copy_ratio,
            r.steps_plain,
            r.steps_spec,
            r.tokens as f64 / r.steps_spec.max(1) as f64,
            r.secs_plain,
            r.secs_spec,
            r.secs_plain / r.secs_spec,
            if r.identical { "yes" } else { "NO" }
        );
    }
    println!();
    println!("model {model}, {format:?} prompt format, greedy, lookup over the original region, window up to 8");
    type Keep = fn(&Row) -> bool;
    let groups: [(&str, Keep); 2] = [("all regions", |_| true), ("output mostly copies the input (copy >= 0.8)", |r| r.copy_ratio >= 0.8)];
    for (name, keep) in groups {
        let sel: Vec<&Row> = rows.iter().filter(|r| keep(r)).collect();
        if sel.is_empty() {
            println!("{name}: none");
            continue;
        }
        let tokens: usize = sel.iter().map(|r| r.tokens).sum();
        let steps: usize = sel.iter().map(|r| r.steps_spec).sum();
        let plain: f64 = sel.iter().map(|r| r.secs_plain).sum();
        let spec: f64 = sel.iter().map(|r| r.secs_spec).sum();
        let same = sel.iter().filter(|r| r.identical).count();
        println!(
            "{name}: {} regions, {tokens} tokens; acceptance length {:.2} tokens/step; plain {:.2}s ({:.0} tok/s), speculative {:.2}s ({:.0} tok/s): speedup {:.2}x; identical output {same}/{}",
            sel.len(),
            tokens as f64 / steps.max(1) as f64,
            plain,
            tokens as f64 / plain,
            spec,
            tokens as f64 / spec,
            plain / spec,
            sel.len()
        );
    }
    let bad = rows.iter().filter(|r| !r.identical).count();
    assert_eq!(bad, 0, "speculative output differs from plain decoding in {bad} region(s)");
}

/// Function chunks of 40..=150 tokens (the tiny model's context holds the prompt, the region and
/// its rewrite), spread evenly over the modules, in a fixed order.
fn pick_regions(stdlib: &Path, count: usize, tokens: &dyn Fn(&str) -> usize) -> Vec<(String, String)> {
    let mut all = Vec::new();
    for module in MODULES {
        let Ok(text) = std::fs::read_to_string(stdlib.join(module)) else { continue };
        let Ok(syntax) = hearth_syntax::analyze(Language::Python, &text) else { continue };
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        for chunk in syntax.chunks.iter().filter(|c| matches!(c.kind, ChunkKind::Function | ChunkKind::Method)) {
            if chunk.header.is_some() {
                continue;
            }
            let region: String = lines[chunk.range.start_line as usize..=chunk.range.end_line as usize].concat();
            let n = tokens(&region);
            if (40..=150).contains(&n) {
                all.push((format!("{module}:{}", chunk.range.start_line + 1), region));
            }
        }
    }
    let step = (all.len() / count.max(1)).max(1);
    all.into_iter().step_by(step).take(count).collect()
}

fn python_stdlib() -> PathBuf {
    let out = std::process::Command::new("python3")
        .args(["-c", "import sysconfig;print(sysconfig.get_paths()['stdlib'])"])
        .output()
        .expect("python3 (or pass --stdlib DIR)");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}
