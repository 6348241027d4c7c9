//! Logging to stderr with `tracing`. Source code stays out of the logs unless `--log-prompts` is given:
//! the targets that carry code (tower-lsp's message trace, Hearth's prompt log) are clamped otherwise.

use tracing_subscriber::filter::{Directive, EnvFilter};

/// The tracing target of events that carry document text (prompts, completions); see hearth-lsp's server.
pub const PROMPTS_TARGET: &str = "hearth_prompts";

/// Installs the stderr logger: `filter` (else `RUST_LOG`, else `warn`), with code-bearing targets
/// off unless `log_prompts`, which also prints a warning that says so.
pub fn init(filter: Option<&str>, log_prompts: bool) {
    let mut filter = match filter {
        Some(f) => EnvFilter::new(f),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
    };
    let traces = filter.max_level_hint().is_none_or(|level| level >= tracing_subscriber::filter::LevelFilter::TRACE);
    for directive in code_directives(log_prompts, traces) {
        filter = filter.add_directive(directive);
    }
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
    if !log_prompts {
        // A panic message can quote the text being handled (e.g. a string slice out of a document).
        std::panic::set_hook(Box::new(|info| {
            let at = info.location().map(|l| l.to_string()).unwrap_or_else(|| "an unknown place".into());
            eprintln!(
                "hearth: internal error (panic) at {at}; its message is hidden because it may quote source code (--log-prompts shows it)"
            );
        }));
    } else {
        eprintln!("hearth: WARNING: --log-prompts is on: the logs will contain SOURCE CODE (prompts, document text and completions)");
    }
}

/// tower-lsp traces every message (with whole documents) at `trace`, so it is held at `debug` when
/// `traces` (the filter lets some trace through); the prompt log is at `debug`.
fn code_directives(log_prompts: bool, traces: bool) -> Vec<Directive> {
    let mut directives = vec![format!("{PROMPTS_TARGET}={}", if log_prompts { "debug" } else { "off" })];
    if traces && !log_prompts {
        directives.push("tower_lsp=debug".to_string());
    }
    directives.iter().map(|d| d.parse().expect("a valid directive")).collect()
}

/// One line a user can act on: the chain of causes, outermost first, each said once (a cause that
/// an outer message already quotes is left out).
pub fn one_line(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

#[cfg(test)]
mod one_line_tests {
    use super::*;

    /// An error that quotes its source, as thiserror's `#[error("model: {0}")]` with `#[from]` does.
    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "model: {}", self.0)
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn each_cause_is_said_once() {
        let io = std::io::Error::other("x.gguf: not a readable GGUF file");
        let err = anyhow::Error::from(Outer(io)).context("loading model `x.gguf`");
        assert_eq!(one_line(&err), "loading model `x.gguf`: model: x.gguf: not a readable GGUF file");
        let err = anyhow::anyhow!("disk full").context("writing the index");
        assert_eq!(one_line(&err), "writing the index: disk full");
    }
}
