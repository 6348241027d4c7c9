//! `hearth serve|complete|eval fim|bench typing`: the completion path from the command line.

mod bench;
mod client;
mod context;
mod eval;
mod eval_context;
mod listen;

use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::Args;
use hearth_assist::completion::{Completer, CompletionOptions, CompletionRequest, LoadSpec};
use hearth_base::{CancelToken, LineCol, LineIndex, WideEncoding};
use hearth_lsp::config::{read_user_settings, ModelSource, ServerOptions, Settings};

pub use bench::{bench_typing, BenchTypingArgs};
pub use eval::{eval_fim, EvalFimArgs};
pub use eval_context::{eval_context, EvalContextArgs};

/// The demo model bundled in the repository, found next to the binary or the source tree.
const BUNDLED_MODEL: &str = "models/tiny-coder-q8_0.gguf";

/// Which model to use; unset options fall back to `HEARTH_MODEL`, the config file, then the bundled model.
#[derive(Args, Clone, Debug, Default)]
pub struct ModelArgs {
    /// Model: a folder (config.json, tokenizer.json, *.safetensors), a .gguf file, or a Hugging Face id
    /// already downloaded with `hearth models pull`.
    #[arg(long)]
    pub model: Option<String>,
    /// Draft model for speculative decoding.
    #[arg(long)]
    pub draft: Option<String>,
    /// auto, cpu, cuda, cuda:N or metal.
    #[arg(long)]
    pub device: Option<String>,
}

impl ModelArgs {
    /// Server options: this model (or `HEARTH_MODEL`) on top, the config file below, the bundled model last.
    fn server_options(&self) -> ServerOptions {
        let model_override = match (&self.model, std::env::var("HEARTH_MODEL")) {
            (Some(m), _) => Some((m.clone(), ModelSource::CommandLine)),
            (None, Ok(m)) if !m.is_empty() => Some((m, ModelSource::Environment)),
            _ => None,
        };
        let file = read_user_settings().unwrap_or_else(|e| {
            tracing::warn!("ignoring the config file: {e}");
            Settings::default()
        });
        ServerOptions { model_override, file, bundled_model: find_bundled_model(), no_watch: false }
    }

    /// Settings from these flags, as a client layer over the config file.
    fn flag_settings(&self) -> Settings {
        Settings { draft_model: self.draft.clone(), device: self.device.clone(), ..Settings::default() }
    }

    /// The model to load, resolved like the server does, and the completion options from the config file.
    fn resolve(&self) -> anyhow::Result<(LoadSpec, ModelSource, CompletionOptions)> {
        let options = self.server_options();
        let effective = options.effective(&self.flag_settings());
        let Some(spec) = effective.load else {
            bail!("no model: pass --model PATH_OR_ID or set HEARTH_MODEL (the bundled demo model {BUNDLED_MODEL} was not found)")
        };
        Ok((spec, effective.model_source, effective.options))
    }

    fn load(&self) -> anyhow::Result<(Completer, CompletionOptions)> {
        let (spec, source, options) = self.resolve()?;
        if source == ModelSource::Bundled {
            eprintln!(
                "note: using the bundled DEMO model {} (tiny, for trying Hearth out); pass --model or set HEARTH_MODEL for a real one",
                spec.model
            );
        }
        let completer = Completer::load(&spec).with_context(|| format!("loading model `{}`", spec.model))?;
        Ok((completer, options))
    }
}

/// `models/tiny-coder-q8_0.gguf` beside the binary or in one of its parent folders, in the working
/// directory's ancestors, or in the source tree this binary was built from.
pub fn find_bundled_model() -> Option<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().skip(1).map(PathBuf::from));
    }
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().map(PathBuf::from));
    }
    roots.push(PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")));
    roots.into_iter().map(|r| r.join(BUNDLED_MODEL)).find(|p| p.is_file()).and_then(|p| p.canonicalize().ok())
}

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Speak LSP on stdin/stdout (the default and only transport).
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
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let index_options = hearth_index::IndexOptions {
        max_index_bytes: args.max_index_bytes,
        max_file_size: args.max_file_size,
        ..hearth_index::IndexOptions::default()
    };
    let indexer: hearth_lsp::ContextFactory = std::sync::Arc::new(move |root, cancel, progress| {
        context::IndexContext::open(root, index_options.clone(), cancel, progress)
            .map(|c| c.into_repo())
            .map_err(|e| crate::logging::one_line(&e))
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

/// Splits `FILE:LINE:COL` (the file name may itself hold colons).
fn parse_location(location: &str) -> anyhow::Result<(PathBuf, u32, u32)> {
    let mut parts = location.rsplitn(3, ':');
    let (col, line, file) = (parts.next(), parts.next(), parts.next());
    let (Some(col), Some(line), Some(file)) = (col, line, file) else { bail!("expected FILE:LINE:COL, got `{location}`") };
    let line: u32 = line.parse().with_context(|| format!("line `{line}` is not a number"))?;
    let col: u32 = col.parse().with_context(|| format!("column `{col}` is not a number"))?;
    if line == 0 || col == 0 {
        bail!("LINE and COL are 1-based");
    }
    Ok((PathBuf::from(file), line - 1, col - 1))
}

pub fn complete(args: CompleteArgs) -> anyhow::Result<()> {
    let (path, line, col) = parse_location(&args.location)?;
    let text = crate::read_source(&path)?;
    let index = LineIndex::new(&text);
    let offset = index.offset(&text, LineCol { line, col }, WideEncoding::Utf32).with_context(|| format!("position {}", args.location))?;
    let (completer, mut options) = args.model.load()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_one_based_and_allow_colons_in_the_file() {
        assert_eq!(parse_location("a/b.py:3:7").unwrap(), (PathBuf::from("a/b.py"), 2, 6));
        assert_eq!(parse_location("C:/x.py:1:1").unwrap(), (PathBuf::from("C:/x.py"), 0, 0));
        assert!(parse_location("x.py:0:1").is_err());
        assert!(parse_location("x.py:3").is_err());
    }
}
