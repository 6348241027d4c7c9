//! `hearth`: command-line glue over the Hearth libraries. Each command group lives in its own module.

mod agent_cmd;
mod args;
mod edit_cmd;
mod generate;
mod index_bench;
mod index_cmd;
mod logging;
mod models;
mod next_edit_bench;
mod proc_stats;
mod serve_cmd;
mod tokenize_cmd;

use clap::{Parser, Subcommand};

/// Largest source file a command reads from the command line (`complete`, `context`, `edit --lines`).
const MAX_SOURCE_BYTES: u64 = 64 << 20;

/// The UTF-8 text of a source file named on the command line: a regular file (a FIFO is refused at
/// once), at most [`MAX_SOURCE_BYTES`].
pub(crate) fn read_source(path: &std::path::Path) -> anyhow::Result<String> {
    let bytes = hearth_base::read_regular(path, MAX_SOURCE_BYTES).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{} is not UTF-8 text", path.display()))
}

/// mimalloc: 17% less CPU and 20% less peak memory than glibc malloc on a cold index build (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc 3's `mi_option_e` (libmimalloc-sys has no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
// The option enum of the mimalloc this was checked against has 47 entries; another count means the
// index above needs checking again.
const _: () = assert!(libmimalloc_sys::_mi_option_last == 47);

/// mimalloc 3 keeps freed pages for 1 s before returning them to the OS. A cold index build frees about
/// 100 MB a second, so that held ~80 MB of peak RSS; 10 ms (mimalloc 2's default) measured no slower.
/// `MIMALLOC_PURGE_DELAY` in the environment still wins.
fn tune_allocator() {
    // SAFETY: sets a plain option value; mimalloc reads it when it next considers purging.
    unsafe { libmimalloc_sys::mi_option_set_default(MI_OPTION_PURGE_DELAY, 10) }
}

#[derive(Parser)]
#[command(name = "hearth", version, about = "A local code assistant: completions and edits from models you own.")]
struct Cli {
    /// Log filter (also RUST_LOG), e.g. `info` or `hearth=debug`. Logs go to stderr.
    #[arg(long, global = true)]
    log: Option<String>,
    /// Log prompts and completions (SOURCE CODE) at debug level; off by default.
    #[arg(long, global = true, env = "HEARTH_LOG_PROMPTS")]
    log_prompts: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate text with a model (FIM or left-to-right), optionally with speculative decoding.
    Generate(generate::GenerateArgs),
    /// List local models, or download one (the only command that uses the network).
    Models {
        #[command(subcommand)]
        command: models::ModelsCommand,
    },
    /// Benchmarks that print figures.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Build or update the repository index.
    Index(index_cmd::IndexArgs),
    /// Search the index.
    Search(index_cmd::SearchArgs),
    /// Look up symbol definitions in the index.
    Symbols(index_cmd::SymbolsArgs),
    /// Show what retrieval would send to the model at FILE:LINE:COL.
    Context(index_cmd::ContextArgs),
    /// Run the language server on stdio.
    Serve(serve_cmd::ServeArgs),
    /// Complete at FILE:LINE:COL as the server would.
    Complete(serve_cmd::CompleteArgs),
    /// Edit code from an instruction: a selection, files, or the whole repository. Prints a diff;
    /// writes only with --apply.
    Edit(edit_cmd::EditArgs),
    /// Give the agent a task: it looks things up with the index and proposes edits (a diff; written
    /// only with --apply).
    Agent(agent_cmd::AgentArgs),
    /// Show the token ids and pieces a model's tokenizer gives a text.
    Tokenize(tokenize_cmd::TokenizeArgs),
    /// Evaluate completion quality.
    Eval {
        #[command(subcommand)]
        command: EvalCommand,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Prompt and decode speed, time to first token, speculative acceptance.
    Decode(generate::BenchDecodeArgs),
    /// Indexing speed, update and retrieval latency on a source tree.
    Index(index_cmd::BenchIndexArgs),
    /// Replay a typing session through the real server.
    Typing(serve_cmd::BenchTypingArgs),
    /// Time to a next-edit suggestion, with and without speculation, and a rename typed through the server.
    NextEdit(next_edit_bench::BenchNextEditArgs),
}

#[derive(Subcommand)]
enum EvalCommand {
    /// Fill-in-the-middle quality and latency on a JSONL file of cases.
    Fim(serve_cmd::EvalFimArgs),
    /// Cross-file context recall: whether the prompt carries the definition a case needs.
    Context(serve_cmd::EvalContextArgs),
}

fn main() {
    // User errors (a bad model file, a missing path) never carry a backtrace: capturing one costs
    // most of a second and hundreds of MB under RUST_BACKTRACE=1. Panics still print theirs.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    tune_allocator();
    let cli = Cli::parse();
    logging::init(cli.log.as_deref(), cli.log_prompts);
    let result = match cli.command {
        Command::Generate(args) => generate::run(args),
        Command::Models { command } => models::run(command),
        Command::Bench { command } => match command {
            BenchCommand::Decode(args) => generate::bench_decode(args),
            BenchCommand::Index(args) => index_cmd::bench(args),
            BenchCommand::Typing(args) => serve_cmd::bench_typing(args),
            BenchCommand::NextEdit(args) => next_edit_bench::bench(args),
        },
        Command::Index(args) => index_cmd::index(args),
        Command::Search(args) => index_cmd::search(args),
        Command::Symbols(args) => index_cmd::symbols(args),
        Command::Context(args) => index_cmd::context(args),
        Command::Serve(args) => serve_cmd::serve(args),
        Command::Complete(args) => serve_cmd::complete(args),
        Command::Edit(args) => edit_cmd::edit(args),
        Command::Agent(args) => agent_cmd::agent(args),
        Command::Tokenize(args) => tokenize_cmd::tokenize(args),
        Command::Eval { command: EvalCommand::Fim(args) } => serve_cmd::eval_fim(args),
        Command::Eval { command: EvalCommand::Context(args) } => serve_cmd::eval_context(args),
    };
    if let Err(err) = result {
        eprintln!("error: {}", logging::one_line(&err));
        std::process::exit(1);
    }
}
