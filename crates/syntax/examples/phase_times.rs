//! Where extraction time goes: the parse, the one-walk extraction `analyze` does after it, and the
//! whole-tree query it replaced, timed apart on one thread over every parsable file under a directory.
//! Also checks, file by file, that both extractions give the same result.
//!
//! `cargo run --release -p hearth-syntax --example phase_times -- DIR [MAX_FILE_BYTES]`

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hearth_syntax::{analyze, analyze_whole_tree, parse, Language};

#[derive(Default)]
struct Totals {
    files: usize,
    bytes: u64,
    parse: Duration,
    one_walk: Duration,
    whole_tree: Duration,
    mismatches: usize,
}

fn collect(dir: &Path, out: &mut Vec<(PathBuf, Language)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_dir() {
            collect(&path, out);
        } else if let Some(lang) = Language::from_path(&path).filter(|_| kind.is_file()) {
            out.push((path, lang));
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().expect("usage: phase_times DIR [MAX_FILE_BYTES]"));
    let max_bytes: u64 = args.next().map_or(1 << 20, |s| s.parse().expect("a byte count"));
    let mut files = Vec::new();
    collect(&dir, &mut files);
    files.sort();
    let mut per_lang: Vec<(Language, Totals)> = Vec::new();
    let mut slowest: Vec<(Duration, usize, PathBuf)> = Vec::new();
    for (path, lang) in files {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        if text.len() as u64 > max_bytes {
            continue;
        }
        let t0 = Instant::now();
        if parse(lang, &text).is_err() {
            continue;
        }
        let t1 = Instant::now();
        let one_walk = analyze(lang, &text);
        let t2 = Instant::now();
        let whole_tree = analyze_whole_tree(lang, &text);
        let t3 = Instant::now();
        let slot = match per_lang.iter().position(|(l, _)| *l == lang) {
            Some(i) => i,
            None => {
                per_lang.push((lang, Totals::default()));
                per_lang.len() - 1
            }
        };
        let totals = &mut per_lang[slot].1;
        let parse_time = t1 - t0;
        slowest.push((parse_time, text.len(), path.clone()));
        totals.files += 1;
        totals.bytes += text.len() as u64;
        totals.parse += parse_time;
        totals.one_walk += (t2 - t1).saturating_sub(parse_time);
        totals.whole_tree += (t3 - t2).saturating_sub(parse_time);
        if one_walk.ok() != whole_tree.ok() {
            totals.mismatches += 1;
            eprintln!("extractions differ: {}", path.display());
        }
    }
    per_lang.sort_by_key(|(_, t)| std::cmp::Reverse(t.bytes));
    println!(
        "| language | files | MB | parse s (MB/s) | extraction after the parse: one walk s | whole-tree query s | files that differ |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mb = |b: u64| b as f64 / 1e6;
    for (lang, t) in &per_lang {
        println!(
            "| {} | {} | {:.1} | {:.2} ({:.1}) | {:.2} | {:.2} | {} |",
            lang.name(),
            t.files,
            mb(t.bytes),
            t.parse.as_secs_f64(),
            mb(t.bytes) / t.parse.as_secs_f64(),
            t.one_walk.as_secs_f64(),
            t.whole_tree.as_secs_f64(),
            t.mismatches
        );
    }
    slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
    let total: Duration = slowest.iter().map(|s| s.0).sum();
    println!("\nslowest parses (of {:.2} s in all):", total.as_secs_f64());
    for (time, bytes, path) in slowest.iter().take(15) {
        println!(
            "  {:.3} s  {:.2} MB/s  {} KB  {}",
            time.as_secs_f64(),
            *bytes as f64 / 1e6 / time.as_secs_f64(),
            bytes / 1024,
            path.display()
        );
    }
    if per_lang.iter().any(|(_, t)| t.mismatches > 0) {
        std::process::exit(1);
    }
}
