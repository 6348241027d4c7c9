//! `hearth serve|complete|eval fim|bench typing`: the completion path from the command line.

mod bench;
pub(crate) mod client;
mod context;
mod eval;
mod eval_context;
mod listen;

use std::path::PathBuf;

use clap::Args;
use hearth_assist::completion::CompletionRequest;
use hearth_base::CancelToken;

use crate::args::{Location, ModelArgs};

pub use bench::{bench_typing, BenchTypingArgs};
pub(crate) use bench::{default_cases, Case};
pub use eval::{eval_fim, EvalFimArgs};
pub use eval_context::{eval_context, EvalContextArgs};

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Speak LSP on stdin/stdout, the default. Accepted because LSP clients pass it (vscode-languageclient's
    /// stdio transport adds `--stdio`); `--listen` chooses a socket instead.
    #[arg(long, default_value_t = true)]
    pub stdio: bool,
    /// Don't index the workspace (completions then use the open document only).
    #[arg(long)]
    pub no_index: bool,
    /// Don't watch the workspace for changes made outside the editor (a checkout, a formatter); the
    /// index then follows the editor's own notifications only.
    #[arg(long)]
    pub no_watch: bool,
    /// The index holds at most this many bytes of source; files past it are left out, with a log line.
    #[arg(long, default_value_t = hearth_index::IndexOptions::default().max_index_bytes)]
    pub max_index_bytes: u64,
    /// Files larger than this are not indexed.
    #[arg(long, default_value_t = hearth_index::IndexOptions::default().max_file_size)]
    pub max_file_size: u64,
    /// Listen on a socket instead of stdio: `unix` (private Unix socket) or `tcp` (loopback, token).
    #[arg(long, value_enum)]
    pub listen: Option<listen::Listen>,
    /// The Unix socket's path (default `$XDG_RUNTIME_DIR/hearth/hearth.sock`).
    #[arg(long, requires = "listen")]
    pub socket: Option<PathBuf>,
    /// The loopback TCP port for `--listen tcp` (default: any free port).
    #[arg(long, default_value_t = 0, requires = "listen")]
    pub port: u16,
}

pub fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut options = args.model.server_options();
    // --draft and --device on the command line act like config-file settings.
    options.file = options.file.overlay(&args.model.flag_settings());
    options.no_watch = args.no_watch;
    // A scripted agent model for tests of `hearth/agent` (docs/protocol.md); never set by users.
    options.agent_script = std::env::var_os("HEARTH_AGENT_SCRIPT").filter(|s| !s.is_empty()).map(std::path::PathBuf::from);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let index_options = hearth_index::IndexOptions {
        max_index_bytes: args.max_index_bytes,
        max_file_size: args.max_file_size,
        ..hearth_index::IndexOptions::default()
    };
    let indexer: hearth_lsp::ContextFactory = std::sync::Arc::new(move |root, cancel, progress| {
        context::open_index(root, index_options.clone(), cancel, progress).map_err(|e| crate::logging::one_line(&e))
    });
    let indexer = (!args.no_index).then_some(indexer);
    if let Some(listen) = args.listen {
        return listen::run(&runtime, listen, args.socket, args.port, options, indexer);
    }
    let code = runtime.block_on(hearth_lsp::serve(tokio::io::stdin(), tokio::io::stdout(), options, indexer));
    // Exit now: dropping the runtime would wait for the blocking read of stdin.
    std::process::exit(code)
}

#[derive(Args)]
pub struct CompleteArgs {
    /// FILE:LINE:COL, with 1-based line and column (in characters).
    pub location: String,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Complete a block instead of the rest of the line.
    #[arg(long)]
    pub multiline: bool,
    #[arg(long)]
    pub max_tokens: Option<usize>,
    /// Prompt tokens for context, prefix and suffix.
    #[arg(long)]
    pub context_budget: Option<usize>,
    /// Print the completion, timings, prompt and context as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn complete(args: CompleteArgs) -> anyhow::Result<()> {
    let location: Location = args.location.parse()?;
    let path = &location.file;
    let text = crate::read_source(path)?;
    let offset = location.offset_in(&text)?;
    let (completer, mut options) = args.model.load_completer()?;
    options.multiline |= args.multiline;
    options.max_tokens = args.max_tokens.unwrap_or(options.max_tokens);
    options.context_budget = args.context_budget.unwrap_or(options.context_budget);
    let path_text = path.display().to_string();
    let request = CompletionRequest {
        text: &text,
        offset,
        path: Some(&path_text),
        language: path.extension().and_then(|e| e.to_str()),
        repo_name: None,
    };
    let mut completion = completer.complete(&request, &options, &CancelToken::new())?;
    if args.json {
        completion.prompt = completer.preview(&request, &options, &CancelToken::new()).0;
        let mut value = serde_json::to_value(&completion)?;
        value["model"] = serde_json::Value::String(completer.describe());
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        match &completion.text {
            Some(t) => println!("{t}"),
            None => eprintln!("(no completion)"),
        }
        let t = completion.timings;
        eprintln!(
            "{}: {:.1} ms (prompt {:.1} ms for {} tokens, {} reused; decode {:.1} ms for {} tokens), {} context snippets",
            completer.describe(),
            t.total_ms,
            t.prefill_ms,
            completion.prompt_tokens,
            completion.reused_prompt_tokens,
            t.decode_ms,
            completion.generated_tokens,
            completion.context.len()
        );
    }
    Ok(())
}
