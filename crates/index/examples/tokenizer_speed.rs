//! Throughput of the code tokenizer alone over every parsable file under a directory, five rounds, then a
//! checksum of every token (equal across builds that tokenize the same way).
//!
//! `cargo run --release -p hearth-index --example tokenizer_speed -- DIR`

use std::time::Instant;

use hearth_syntax::Language;
use tantivy::tokenizer::{TokenStream, Tokenizer};

fn main() {
    let dir = std::env::args().nth(1).expect("usage: tokenizer_speed DIR");
    // Every file, ignore rules or not: the same set as `examples/phase_times.rs` in hearth-syntax.
    let texts: Vec<String> = ignore::WalkBuilder::new(&dir)
        .standard_filters(false)
        .build()
        .flatten()
        .filter(|entry| entry.file_type().is_some_and(|t| t.is_file()))
        .filter(|entry| Language::from_path(entry.path()).is_some())
        .filter_map(|entry| std::fs::read_to_string(entry.path()).ok())
        .collect();
    let mb = texts.iter().map(String::len).sum::<usize>() as f64 / 1e6;
    let mut tokenizer = hearth_index::CodeTokenizer::default();
    for round in 1..=5 {
        let started = Instant::now();
        let (mut tokens, mut token_bytes) = (0usize, 0usize);
        for text in &texts {
            let mut stream = tokenizer.token_stream(text);
            while stream.advance() {
                tokens += 1;
                token_bytes += stream.token().text.len();
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        println!("round {round}: {mb:.1} MB in {seconds:.3} s, {:.0} MB/s; {tokens} tokens of {token_bytes} bytes", mb / seconds);
    }
    // Untimed: what the tokens are, to compare builds.
    let mut checksum = 0u64;
    for text in &texts {
        let mut stream = tokenizer.token_stream(text);
        while stream.advance() {
            let token = stream.token();
            checksum = checksum
                .wrapping_mul(31)
                .wrapping_add(xxhash_rust::xxh3::xxh3_64(token.text.as_bytes()))
                .wrapping_add(token.offset_from as u64);
        }
    }
    println!("checksum of every token's text and offset: {checksum:016x}");
}
