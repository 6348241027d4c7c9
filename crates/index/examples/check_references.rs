//! Checks `Index::references` against a parse of every indexed file on a real tree, for a hash-chosen
//! sample of the identifiers it uses (plus a few one-letter names), and times the lookups.
//!
//! `cargo run --release -p hearth-index --example check_references -- PATH [ONE_IN]`
//! (`ONE_IN`, default 2000: keep a distinct name when its hash is 0 modulo this).

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Instant;

use hearth_index::{Index, IndexOptions};

type Occurrence = (String, u32, u32);

fn main() {
    let mut args = std::env::args().skip(1);
    let root = std::path::PathBuf::from(args.next().expect("usage: check_references PATH [ONE_IN]"));
    let one_in: u64 = args.next().map_or(2000, |a| a.parse().expect("ONE_IN is a number"));
    let dir = tempfile::tempdir().expect("a temp dir");
    let options = IndexOptions { index_dir: Some(dir.path().join("idx")), ..IndexOptions::default() };
    let index = Index::open(&root, options).expect("index opens");
    let stats = index.sync(&mut |_| {}).expect("sync");
    println!("indexed {} files", stats.files_indexed);

    let sampled = |name: &str| {
        let mut h = DefaultHasher::new();
        name.hash(&mut h);
        h.finish().is_multiple_of(one_in) || matches!(name, "x" | "i" | "n" | "_")
    };
    let mut expected: BTreeMap<String, Vec<Occurrence>> = BTreeMap::new();
    for (rel, lang) in index.files() {
        let Some(text) = index.text_of(&rel) else {
            continue;
        };
        let Ok(parsed) = hearth_syntax::parse(lang, &text) else {
            continue;
        };
        let lines = hearth_base::LineIndex::new(&text);
        let refs = hearth_syntax::references(&parsed, &text).expect("references");
        let names: BTreeSet<&str> = refs.iter().map(|r| r.name.as_str()).filter(|n| sampled(n)).collect();
        for name in names {
            let occurrences = expected.entry(name.to_string()).or_default();
            for r in refs.iter().filter(|r| r.name == name) {
                let col = r.range.start_byte - lines.line_start(r.range.start_line).unwrap_or(0);
                occurrences.push((rel.clone(), r.range.start_line, col as u32));
            }
        }
    }

    let (mut mismatches, mut occurrences) = (0, 0);
    let mut times = Vec::new();
    for (name, want) in &expected {
        let t = Instant::now();
        let got: Vec<Occurrence> = index.references(name).expect("references").into_iter().map(|l| (l.path, l.line, l.col)).collect();
        let ms = t.elapsed().as_secs_f64() * 1e3;
        times.push(ms);
        if ms > 500.0 {
            println!("slow: references({name:?}) {ms:.0} ms, {} occurrences", want.len());
        }
        occurrences += want.len();
        if &got != want {
            mismatches += 1;
            println!("MISMATCH {name:?}: index {} occurrences, parse {}", got.len(), want.len());
        }
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    println!(
        "{} names, {} occurrences: {} mismatches; references() p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        expected.len(),
        occurrences,
        mismatches,
        at(0.5),
        at(0.99),
        at(1.0)
    );
    if mismatches > 0 {
        std::process::exit(1);
    }
}
