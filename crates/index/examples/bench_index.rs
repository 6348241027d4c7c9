//! `cargo run --release -p hearth-index --example bench_index -- PATH [RETRIEVALS] [UPDATES] [no-tools]`:
//! the same benchmark as `hearth bench index PATH --json`, without building the whole CLI. `no-tools`
//! skips ctags, ripgrep and the parse-alone floor (for back-to-back runs of two builds).

/// The same allocator as the `hearth` binary, so the figures match it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// The option index below holds for mimalloc's 47-option enum (as checked in the `hearth` binary).
const _: () = assert!(libmimalloc_sys::_mi_option_last == 47);

fn main() {
    // As `tune_allocator` in the `hearth` binary (crates/cli/src/main.rs): a 10 ms purge delay (option 15).
    // SAFETY: sets a plain option value.
    unsafe { libmimalloc_sys::mi_option_set_default(15, 10) };
    let mut args = std::env::args().skip(1);
    let root = args.next().expect("usage: bench_index PATH [RETRIEVALS] [UPDATES] [no-tools]");
    let retrievals = args.next().map_or(1000, |a| a.parse().expect("RETRIEVALS is a number"));
    let updates = args.next().map_or(200, |a| a.parse().expect("UPDATES is a number"));
    let compare = args.next().as_deref() != Some("no-tools");
    let options = hearth_index::bench::BenchOptions {
        root: root.into(),
        retrievals,
        updates,
        budget_tokens: 1024,
        compare,
        seed: 7,
        threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
    };
    match hearth_index::bench::run(&options, &mut |_| {}) {
        Ok(report) => {
            print!("{}", report.markdown());
            println!("{}", serde_json::to_string_pretty(&report).expect("report serializes"));
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
