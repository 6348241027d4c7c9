//! `hearth bench index`: cold build, single-file updates, retrieval latency, index size and peak RSS
//! on a source tree, side by side with `ctags -R`, ripgrep and tree-sitter parsing alone in the same
//! run. It never writes into the tree: updates go through overlays, and the index lives in a temp dir.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use hearth_syntax::Language;

use hearth_index::{approximate_tokens, Index, IndexOptions, Progress, RetrieveRequest};

use crate::proc_stats::{cpu_seconds, peak_rss_bytes, rss_split_bytes};

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub root: PathBuf,
    /// Retrieval calls, at random cursor positions.
    pub retrievals: usize,
    /// Single-file updates (each an overlay set and then cleared: a re-index from disk).
    pub updates: usize,
    pub budget_tokens: usize,
    /// Run `ctags -R`, `rg` and tree-sitter alone (the parse floor) on the same tree.
    pub compare: bool,
    pub seed: u64,
    pub threads: usize,
}

/// Percentiles of a set of latencies, in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    fn of(mut samples: Vec<Duration>) -> Latency {
        if samples.is_empty() {
            return Latency::default();
        }
        samples.sort();
        let ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        Latency {
            count: ms.len(),
            p50_ms: hearth_base::stats::percentile(&ms, 50.0),
            p99_ms: hearth_base::stats::percentile(&ms, 99.0),
            max_ms: hearth_base::stats::percentile(&ms, 100.0),
        }
    }
}

/// A run of an external tool on the same tree.
#[derive(Clone, Debug, Serialize)]
pub struct ToolRun {
    pub command: String,
    pub seconds: f64,
    /// CPU seconds the tool used (user + system).
    pub cpu_seconds: Option<f64>,
    /// Set when the tool is missing or failed.
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub root: PathBuf,
    pub files: usize,
    pub source_bytes: u64,
    pub skipped: usize,
    pub symbols: usize,
    pub chunks: u64,
    pub cold_seconds: f64,
    /// CPU seconds of the cold build (all threads): the figure to compare on a busy machine.
    pub cold_cpu_seconds: Option<f64>,
    pub cold_mb_per_s: f64,
    pub files_per_s: f64,
    /// A second sync with nothing changed (stat walk only).
    pub noop_sync_seconds: f64,
    pub overlay_update: Latency,
    pub disk_update: Latency,
    /// A Tantivy commit after one single-file update (what makes it visible to BM25; fsyncs).
    pub commit: Latency,
    pub retrieve: Latency,
    pub retrieve_mean_snippets: f64,
    pub index_bytes: u64,
    pub index_fraction: f64,
    pub peak_rss_bytes: Option<u64>,
    /// Resident memory right after the cold build: (anonymous, file-backed), Linux only.
    pub rss_after_build: Option<(u64, u64)>,
    /// Peak RSS reached by the end of the cold build.
    pub peak_rss_build_bytes: Option<u64>,
    /// Resident memory at the end of the run (after updates and retrievals): (anonymous, file-backed).
    pub rss_at_end: Option<(u64, u64)>,
    /// tree-sitter parsing every indexed file and nothing else, on the index's threads: the floor under
    /// any index built with the parser (run with the tools).
    pub parse_only: Option<ParseOnly>,
    pub tools: Vec<ToolRun>,
}

/// tree-sitter's parse of every indexed file (read, parse, drop the tree), on `threads` threads.
#[derive(Clone, Debug, Serialize)]
pub struct ParseOnly {
    pub threads: usize,
    pub seconds: f64,
    pub cpu_seconds: Option<f64>,
    pub bytes: u64,
}

impl BenchReport {
    /// The report as a BENCHMARKS.md table, ratios against the other tools included.
    pub fn markdown(&self) -> String {
        use std::fmt::Write;
        let r = self;
        let mb = |bytes: u64| bytes as f64 / 1e6;
        let mut out = String::new();
        writeln!(out, "tree: {} ({} files, {:.1} MB indexed, {} skipped)", r.root.display(), r.files, mb(r.source_bytes), r.skipped)
            .unwrap();
        writeln!(out, "| measure | figure | goal |").unwrap();
        writeln!(out, "|---|---|---|").unwrap();
        writeln!(
            out,
            "| cold index | {:.2} s wall, {:.2} CPU-s, {:.1} MB/s, {:.0} files/s | ≥ 10 MB/s, ≤ 2× ctags |",
            r.cold_seconds,
            r.cold_cpu_seconds.unwrap_or(f64::NAN),
            r.cold_mb_per_s,
            r.files_per_s
        )
        .unwrap();
        writeln!(out, "| no-op re-sync (stat walk) | {:.3} s | |", r.noop_sync_seconds).unwrap();
        writeln!(
            out,
            "| single-file update via overlay: parse + tables + writer, no commit (n={}) | p50 {:.1} ms, p99 {:.1} ms | p50 < 20 ms |",
            r.overlay_update.count, r.overlay_update.p50_ms, r.overlay_update.p99_ms
        )
        .unwrap();
        writeln!(
                out,
            "| single-file update from disk (clear_overlay: read + parse + tables + writer, no commit) (n={}) | p50 {:.1} ms, p99 {:.1} ms | p50 < 20 ms |",
            r.disk_update.count, r.disk_update.p50_ms, r.disk_update.p99_ms
        ).unwrap();
        writeln!(
            out,
            "| Tantivy commit after one update (n={}) | p50 {:.1} ms, p99 {:.1} ms | |",
            r.commit.count, r.commit.p50_ms, r.commit.p99_ms
        )
        .unwrap();
        writeln!(
            out,
            "| retrieve() (n={}, {:.1} snippets avg) | p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms | p99 < 5 ms |",
            r.retrieve.count, r.retrieve_mean_snippets, r.retrieve.p50_ms, r.retrieve.p99_ms, r.retrieve.max_ms
        )
        .unwrap();
        writeln!(out, "| index size | {:.1} MB, {:.0}% of source | < 50% |", mb(r.index_bytes), 100.0 * r.index_fraction).unwrap();
        if let Some(peak) = r.peak_rss_bytes {
            writeln!(out, "| peak RSS (whole bench process) | {:.0} MB | < 500 MB |", mb(peak)).unwrap();
        }
        if let Some((anon, file)) = r.rss_at_end {
            writeln!(
                out,
                "| RSS at the end (after updates and retrievals) | {:.0} MB anonymous + {:.0} MB file-backed | |",
                mb(anon),
                mb(file)
            )
            .unwrap();
        }
        if let Some((anon, file)) = r.rss_after_build {
            writeln!(
                out,
                "| RSS after the cold build | {:.0} MB anonymous + {:.0} MB file-backed (peak so far {:.0} MB) | |",
                mb(anon),
                mb(file),
                mb(r.peak_rss_build_bytes.unwrap_or(0))
            )
            .unwrap();
        }
        writeln!(out, "| symbols / chunks | {} / {} | |", r.symbols, r.chunks).unwrap();
        if let Some(p) = &r.parse_only {
            writeln!(
                out,
                "| tree-sitter parse alone, {} threads (no extraction, no index) | {:.2} s wall, {:.2} CPU-s, {:.1} MB/s (hearth cold index: {:.1}× the wall, {:.1}× the CPU) | |",
                p.threads,
                p.seconds,
                p.cpu_seconds.unwrap_or(f64::NAN),
                mb(p.bytes) / p.seconds.max(1e-9),
                r.cold_seconds / p.seconds.max(1e-9),
                r.cold_cpu_seconds.unwrap_or(f64::NAN) / p.cpu_seconds.unwrap_or(f64::NAN).max(1e-9)
            )
            .unwrap();
        }
        for tool in &r.tools {
            if let Some(e) = &tool.error {
                writeln!(out, "| `{}` | failed: {e} | |", tool.command).unwrap();
                continue;
            }
            let parse_ratio = r
                .parse_only
                .as_ref()
                .map_or(String::new(), |p| format!("; tree-sitter parse alone: {:.1}× its wall", p.seconds / tool.seconds.max(1e-9)));
            writeln!(
                out,
                "| `{}` | {:.2} s wall, {:.2} CPU-s (hearth cold index: {:.1}× the wall, {:.1}× the CPU{parse_ratio}) | |",
                tool.command,
                tool.seconds,
                tool.cpu_seconds.unwrap_or(f64::NAN),
                r.cold_seconds / tool.seconds.max(1e-9),
                r.cold_cpu_seconds.unwrap_or(f64::NAN) / tool.cpu_seconds.unwrap_or(f64::NAN).max(1e-9)
            )
            .unwrap();
        }

        out
    }
}

/// Run the benchmark. `progress` sees the cold build's progress.
pub fn run(options: &BenchOptions, progress: &mut dyn FnMut(Progress)) -> anyhow::Result<BenchReport> {
    let index_dir = std::env::temp_dir().join(format!("hearth-bench-index-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&index_dir);
    let result = run_in(options, &index_dir, progress);
    let _ = std::fs::remove_dir_all(&index_dir);
    result
}

fn run_in(options: &BenchOptions, index_dir: &Path, progress: &mut dyn FnMut(Progress)) -> anyhow::Result<BenchReport> {
    let index_options = IndexOptions { index_dir: Some(index_dir.to_path_buf()), threads: options.threads, ..IndexOptions::default() };
    let index = Index::open(&options.root, index_options)?;

    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let cold = index.sync(progress)?;
    let cold_seconds = started.elapsed().as_secs_f64();
    let rss_after_build = rss_split_bytes();
    let peak_rss_build_bytes = peak_rss_bytes();
    let cold_cpu_seconds = cpu_before.zip(cpu_seconds()).map(|((before, _), (after, _))| after - before);
    let started = Instant::now();
    index.sync(&mut |_| {})?;
    let noop_sync_seconds = started.elapsed().as_secs_f64();

    // Size as built, before the updates below leave deleted documents behind.
    index.wait_merging()?;
    let built = index.stats()?;

    let mut rng = StdRng::seed_from_u64(options.seed);
    let mut files = index.file_paths();
    files.sort();

    let (mut overlay_times, mut disk_times, mut commit_times) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..options.updates.min(files.len()) {
        let rel = &files[rng.random_range(0..files.len())];
        let Some(text) = index.text_of(rel) else {
            continue;
        };
        let edited = format!("{text}\n// hearth bench edit\n");
        let path = index.root().join(rel);
        let t = Instant::now();
        index.set_overlay(&path, &edited)?;
        overlay_times.push(t.elapsed());
        let t = Instant::now();
        index.commit()?;
        commit_times.push(t.elapsed());
        let t = Instant::now();
        index.clear_overlay(&path)?;
        disk_times.push(t.elapsed());
        index.commit()?;
    }

    let mut retrieve_times = Vec::new();
    let mut snippets = 0usize;
    for _ in 0..options.retrievals {
        if files.is_empty() {
            break;
        }
        let rel = &files[rng.random_range(0..files.len())];
        let Some(text) = index.text_of(rel) else {
            continue;
        };
        let line_starts: Vec<usize> = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        let offset = line_starts[rng.random_range(0..line_starts.len())];
        let request = RetrieveRequest {
            path: Path::new(rel),
            text: Some(&text),
            offset,
            budget_tokens: options.budget_tokens,
            count_tokens: &approximate_tokens,
        };
        let t = Instant::now();
        let got = index.retrieve(&request)?;
        retrieve_times.push(t.elapsed());
        snippets += got.len();
    }

    let stats = index.stats()?;
    let rss_at_end = rss_split_bytes();
    let (parse_only, tools) = if options.compare {
        (Some(parse_only(index.root(), &index.files(), options.threads)), compare_tools(&options.root))
    } else {
        (None, Vec::new())
    };
    Ok(BenchReport {
        root: index.root().to_path_buf(),
        files: stats.files,
        source_bytes: stats.source_bytes,
        skipped: cold.skipped.len(),
        symbols: stats.symbols,
        chunks: stats.chunks,
        cold_seconds,
        cold_cpu_seconds,
        cold_mb_per_s: cold.bytes_indexed as f64 / 1e6 / cold_seconds.max(1e-9),
        files_per_s: cold.files_indexed as f64 / cold_seconds.max(1e-9),
        noop_sync_seconds,
        overlay_update: Latency::of(overlay_times),
        disk_update: Latency::of(disk_times),
        commit: Latency::of(commit_times),
        retrieve_mean_snippets: snippets as f64 / retrieve_times.len().max(1) as f64,
        retrieve: Latency::of(retrieve_times),
        index_bytes: built.index_bytes,
        index_fraction: built.index_bytes as f64 / built.source_bytes.max(1) as f64,
        peak_rss_bytes: peak_rss_bytes(),
        rss_after_build,
        peak_rss_build_bytes,
        rss_at_end,
        parse_only,
        tools,
    })
}

/// Read and parse every file on `threads` threads, dropping each tree: what the index costs at the least.
fn parse_only(root: &Path, files: &[(String, Language)], threads: usize) -> ParseOnly {
    let threads = threads.clamp(1, 16).min(files.len().max(1));
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let parse = |(rel, lang): &(String, Language)| -> u64 {
        let Ok(text) = std::fs::read_to_string(root.join(rel)) else {
            return 0;
        };
        hearth_syntax::parse(*lang, &text).map_or(0, |_| text.len() as u64)
    };
    // Every thread takes every `threads`-th file: big and small files spread evenly enough.
    let bytes = std::thread::scope(|scope| {
        let workers: Vec<_> =
            (0..threads).map(|t| scope.spawn(move || files.iter().skip(t).step_by(threads).map(parse).sum::<u64>())).collect();
        workers.into_iter().map(|w| w.join().unwrap_or(0)).sum()
    });
    let seconds = started.elapsed().as_secs_f64();
    ParseOnly { threads, seconds, cpu_seconds: cpu_before.zip(cpu_seconds()).map(|((before, _), (after, _))| after - before), bytes }
}

/// ctags restricted to the languages Hearth parses, then ripgrep listing files and reading every byte.
fn compare_tools(root: &Path) -> Vec<ToolRun> {
    let tags = std::env::temp_dir().join(format!("hearth-bench-tags-{}", std::process::id()));
    let root_str = root.to_string_lossy().to_string();
    let tags_str = tags.to_string_lossy().to_string();
    let runs = vec![
        vec![
            "ctags".to_string(),
            "-R".into(),
            "--languages=Rust,Python,JavaScript,TypeScript,Go,Java,C,C++,C#,Ruby,Lua".into(),
            "-f".into(),
            tags_str,
            root_str.clone(),
        ],
        vec!["rg".into(), "--files".into(), root_str.clone()],
        vec!["rg".into(), "-c".into(), "--no-messages".into(), "".into(), root_str],
    ];
    let out = runs
        .into_iter()
        .map(|argv| {
            let command = argv.iter().map(|a| if a.is_empty() { "''".to_string() } else { a.clone() }).collect::<Vec<_>>().join(" ");
            let cpu_before = cpu_seconds();
            let started = Instant::now();
            let status = Command::new(&argv[0]).args(&argv[1..]).stdout(Stdio::null()).stderr(Stdio::null()).status();
            let seconds = started.elapsed().as_secs_f64();
            let cpu_seconds = cpu_before.zip(cpu_seconds()).map(|((_, before), (_, after))| after - before);
            let error = match status {
                Ok(s) if s.success() || (argv[0] == "rg" && s.code() == Some(1)) => None,
                Ok(s) => Some(format!("exited with {s}")),
                Err(e) => Some(e.to_string()),
            };
            ToolRun { command, seconds, cpu_seconds, error }
        })
        .collect();
    let _ = std::fs::remove_file(&tags);
    out
}
