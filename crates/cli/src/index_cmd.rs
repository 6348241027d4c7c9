//! `hearth index|search|symbols|context|bench index`: the repository index from the command line.

use std::path::{Path, PathBuf};

use crate::index_bench::BenchOptions;
use anyhow::Context;
use clap::Args;
use hearth_index::{approximate_tokens, Index, IndexOptions, RetrieveRequest, SymbolDef, SyncStats};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::args::Location;

/// Where the index is and how it is opened; shared by every index command.
#[derive(Args, Clone)]
pub struct IndexLocation {
    /// Store the index here instead of the user's cache directory.
    #[arg(long, env = "HEARTH_INDEX_DIR")]
    index_dir: Option<PathBuf>,
    /// Skip files larger than this many bytes.
    #[arg(long, default_value_t = IndexOptions::default().max_file_size)]
    max_file_size: u64,
    /// The index holds at most this many bytes of source; files past it are left out (listed as skipped).
    #[arg(long, default_value_t = IndexOptions::default().max_index_bytes)]
    max_index_bytes: u64,
}

#[derive(Args)]
pub struct IndexArgs {
    /// The repository root (default: the git work tree containing the current directory).
    path: Option<PathBuf>,
    #[command(flatten)]
    location: IndexLocation,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// The repository a query command asks, and how it prints; shared by `search` and `symbols`.
#[derive(Args)]
pub struct QueryArgs {
    /// The repository root (default: the git work tree containing the current directory).
    #[arg(long)]
    root: Option<PathBuf>,
    #[command(flatten)]
    location: IndexLocation,
    #[arg(long)]
    json: bool,
}

impl QueryArgs {
    /// The repository's index, brought up to date.
    fn open(&self) -> anyhow::Result<Index> {
        let root = find_root(self.root.as_deref().unwrap_or(Path::new(".")))?;
        Ok(open_synced(&root, &self.location)?.0)
    }
}

#[derive(Args)]
pub struct SearchArgs {
    /// Identifiers or words; `parse_url` also finds `parseUrl`.
    query: String,
    #[arg(long, default_value_t = 10)]
    limit: usize,
    #[command(flatten)]
    repo: QueryArgs,
}

#[derive(Args)]
pub struct SymbolsArgs {
    /// The exact name (or, with --fuzzy, a part of it, case-insensitive).
    name: String,
    #[arg(long)]
    fuzzy: bool,
    #[arg(long, default_value_t = 50)]
    limit: usize,
    #[command(flatten)]
    repo: QueryArgs,
}

#[derive(Args)]
pub struct ContextArgs {
    /// FILE:LINE:COL, one-based (the column counts characters).
    position: String,
    /// Token budget for the snippets (counted approximately, 3.5 bytes a token).
    #[arg(long, default_value_t = 1024)]
    budget: usize,
    /// The repository root (default: the git work tree containing FILE).
    #[arg(long)]
    root: Option<PathBuf>,
    #[command(flatten)]
    location: IndexLocation,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct BenchIndexArgs {
    /// The source tree to index (it is only read; the index goes to a temp dir).
    path: PathBuf,
    /// retrieve() calls at random cursor positions.
    #[arg(long, default_value_t = 1000)]
    retrievals: usize,
    /// Single-file updates (overlay set, then cleared).
    #[arg(long, default_value_t = 200)]
    updates: usize,
    #[arg(long, default_value_t = 1024)]
    budget: usize,
    /// Do not run ctags, ripgrep and the parse-alone floor alongside.
    #[arg(long)]
    no_compare: bool,
    /// Parser threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    #[arg(long)]
    json: bool,
}

/// The git work tree containing `start` (a file or directory), else `start`'s directory.
fn find_root(start: &Path) -> anyhow::Result<PathBuf> {
    let start = start.canonicalize().with_context(|| format!("cannot open {}", start.display()))?;
    let dir = if start.is_dir() { start.clone() } else { start.parent().map(Path::to_path_buf).unwrap_or_default() };
    Ok(dir.ancestors().find(|d| d.join(".git").exists()).map(Path::to_path_buf).unwrap_or(dir))
}

fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {bar:40} {pos}/{len} files {binary_bytes_per_sec} eta {eta}").expect("valid template"),
    );
    bar
}

/// Open the index of `root` and bring it up to date, with a progress bar on a terminal.
fn open_synced(root: &Path, location: &IndexLocation) -> anyhow::Result<(Index, SyncStats)> {
    let options = IndexOptions {
        index_dir: location.index_dir.clone(),
        max_file_size: location.max_file_size,
        max_index_bytes: location.max_index_bytes,
        ..IndexOptions::default()
    };
    let index = Index::open(root, options).with_context(|| format!("cannot open the index of {}", root.display()))?;
    if let Some(reason) = index.rebuild_reason() {
        eprintln!("note: the index {reason}; rebuilt it");
    }
    if index.is_read_only() {
        eprintln!("note: another process is writing this index; answering from it as it is");
        return Ok((index, SyncStats::default()));
    }
    let bar = progress_bar();
    let stats = index.sync(&mut |p| {
        bar.set_length(p.files_total as u64);
        bar.set_position(p.files_done as u64);
    })?;
    bar.finish_and_clear();
    Ok((index, stats))
}

fn megabytes(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

pub fn index(args: IndexArgs) -> anyhow::Result<()> {
    let root = find_root(args.path.as_deref().unwrap_or(Path::new(".")))?;
    let (index, stats) = open_synced(&root, &args.location)?;
    let totals = index.stats()?;
    let seconds = stats.elapsed.as_secs_f64().max(1e-9);
    let peak = crate::proc_stats::peak_rss_bytes();
    if args.json {
        let out = json!({
            "root": index.root(),
            "index_dir": index.dir(),
            "files_seen": stats.files_seen,
            "files_indexed": stats.files_indexed,
            "files_removed": stats.files_removed,
            "files_skipped": stats.skipped.len(),
            "seconds": seconds,
            "files_per_s": stats.files_indexed as f64 / seconds,
            "mb_per_s": megabytes(stats.bytes_indexed) / seconds,
            "totals": totals,
            "peak_rss_bytes": peak,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("indexed {} in {:.2}s", index.root().display(), seconds);
    println!(
        "  {} files seen, {} parsed, {} removed, {} skipped; {:.0} files/s, {:.1} MB/s",
        stats.files_seen,
        stats.files_indexed,
        stats.files_removed,
        stats.skipped.len(),
        stats.files_indexed as f64 / seconds,
        megabytes(stats.bytes_indexed) / seconds
    );
    println!(
        "  index: {} files, {:.1} MB of source, {} symbols, {} chunks, {:.1} MB on disk ({:.0}% of the source) in {}",
        totals.files,
        megabytes(totals.source_bytes),
        totals.symbols,
        totals.chunks,
        megabytes(totals.index_bytes),
        100.0 * totals.index_bytes as f64 / totals.source_bytes.max(1) as f64,
        index.dir().display()
    );
    if let Some(peak) = peak {
        println!("  peak memory: {:.0} MB", megabytes(peak));
    }
    Ok(())
}

pub fn search(args: SearchArgs) -> anyhow::Result<()> {
    let index = args.repo.open()?;
    let hits = index.search(&args.query, args.limit)?;
    if args.repo.json {
        println!("{}", serde_json::to_string_pretty(&hits)?);
        return Ok(());
    }
    if hits.is_empty() {
        println!("no matches for {:?}", args.query);
    }
    for hit in hits {
        let name = if hit.name.is_empty() { String::new() } else { format!(" {}", hit.name) };
        println!("{}:{}-{}  {}{}  ({:.2})", hit.path, hit.start_line + 1, hit.end_line + 1, hit.kind, name, hit.score);
    }
    Ok(())
}

fn symbol_json(def: &SymbolDef) -> serde_json::Value {
    json!({
        "path": &*def.path,
        "name": def.name,
        "kind": def.kind.as_str(),
        "scope": def.scope,
        "signature": def.signature,
        "start_line": def.start_line,
        "end_line": def.end_line,
        "name_line": def.name_line,
        "name_col": def.name_col,
    })
}

pub fn symbols(args: SymbolsArgs) -> anyhow::Result<()> {
    let index = args.repo.open()?;
    let mut defs = if args.fuzzy { index.find_symbols(&args.name, args.limit) } else { index.symbols(&args.name) };
    defs.truncate(args.limit);
    if args.repo.json {
        let out: Vec<_> = defs.iter().map(symbol_json).collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    if defs.is_empty() {
        println!("no definition of {:?}", args.name);
    }
    for def in defs {
        let scope = def.scope.as_deref().map(|s| format!(" in {s}")).unwrap_or_default();
        println!("{}:{}:{}  {} {}{}", def.path, def.name_line + 1, def.name_col + 1, def.kind.as_str(), def.name, scope);
        println!("    {}", def.signature);
    }
    Ok(())
}

pub fn context(args: ContextArgs) -> anyhow::Result<()> {
    let position: Location = args.position.parse()?;
    let file = &position.file;
    let root = match &args.root {
        Some(root) => root.clone(),
        None => find_root(file)?,
    };
    let text = crate::read_source(file)?;
    let offset = position.offset_in(&text)?;
    let (index, _) = open_synced(&root, &args.location)?;
    let abs = file.canonicalize()?;
    let request = RetrieveRequest { path: &abs, text: Some(&text), offset, budget_tokens: args.budget, count_tokens: &approximate_tokens };
    let started = std::time::Instant::now();
    let snippets = index.retrieve(&request)?;
    let elapsed = started.elapsed();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&snippets)?);
        return Ok(());
    }
    let used: usize = snippets.iter().map(|s| approximate_tokens(&s.header()) + approximate_tokens(&s.text)).sum();
    println!("{} snippets, ~{used} of {} tokens, retrieved in {:.2} ms", snippets.len(), args.budget, elapsed.as_secs_f64() * 1e3);
    for s in snippets {
        println!("\n── {}:{}-{}  {}  (score {:.2})", s.path, s.start_line + 1, s.end_line + 1, s.reason, s.score);
        println!("{}", s.text);
    }
    Ok(())
}

pub fn bench(args: BenchIndexArgs) -> anyhow::Result<()> {
    let options = BenchOptions {
        root: args.path.clone(),
        retrievals: args.retrievals,
        updates: args.updates,
        budget_tokens: args.budget,
        compare: !args.no_compare,
        seed: 7,
        threads: args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
    };
    let bar = progress_bar();
    let report = crate::index_bench::run(&options, &mut |p| {
        bar.set_length(p.files_total as u64);
        bar.set_position(p.files_done as u64);
    })?;
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.markdown());
    }
    Ok(())
}
