//! `hearth agent`: an agent session from the command line. The transcript goes to stderr as it
//! happens, the proposed changes to stdout as a unified diff; files are written only with `--apply`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use hearth_assist::agent::{self, AgentEvent, AgentModel, AgentRequest, AlwaysAnswer, Approval, ChatModel, Confirm, ScriptedModel};
use hearth_assist::edit::{apply, ApplyOptions, Workspace};
use hearth_base::CancelToken;
use hearth_index::{Index, IndexOptions};
use serde_json::json;

use crate::args::ModelArgs;

#[derive(Args)]
pub struct AgentArgs {
    /// What to do, in plain words.
    task: String,
    /// Files the task is about (repeatable): shown to the model first.
    #[arg(long = "files", short = 'f', num_args = 1..)]
    files: Vec<PathBuf>,
    /// Write the proposed changes (atomically). Without it nothing is written.
    #[arg(long)]
    apply: bool,
    /// Apply even to files with uncommitted changes.
    #[arg(long, requires = "apply")]
    force: bool,
    /// Most model turns (default: the config file's agent.max_steps, else 16).
    #[arg(long)]
    max_steps: Option<usize>,
    /// Most tokens generated in all (default: agent.max_tokens, else 16384).
    #[arg(long)]
    max_tokens: Option<usize>,
    /// A command line the `run` tool may run (repeatable), besides the config file's agent.commands.
    #[arg(long = "allow", value_name = "COMMAND")]
    allow: Vec<String>,
    /// Run allowed commands without asking.
    #[arg(long)]
    yes: bool,
    /// Print {answer, stop, steps, files: [{path, diff}], transcript, applied} as JSON.
    #[arg(long)]
    json: bool,
    /// The workspace root (default: the git work tree containing the current directory).
    #[arg(long)]
    root: Option<PathBuf>,
    /// Store the index here instead of the user's cache directory.
    #[arg(long, env = "HEARTH_INDEX_DIR")]
    index_dir: Option<PathBuf>,
    /// A scripted model (JSON turns) instead of a real one: for tests of the loop.
    #[arg(long, hide = true)]
    script: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
}

/// Asks on the terminal; without one, refuses (say --yes to allow commands unattended).
struct AskTerminal;

impl Confirm for AskTerminal {
    fn confirm(&mut self, command: &str) -> Approval {
        if !std::io::stdin().is_terminal() {
            eprintln!("  (not running `{command}`: no terminal to ask on; pass --yes to allow it)");
            return Approval::Deny;
        }
        eprint!("  run `{command}` on a copy of the repository, without network? [y]es / [a]lways / [N]o: ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        match line.trim().to_lowercase().as_str() {
            "y" | "yes" => Approval::Once,
            "a" | "always" => Approval::Always,
            _ => Approval::Deny,
        }
    }
}

pub fn agent(args: AgentArgs) -> anyhow::Result<()> {
    let cwd = std::env::current_dir()?;
    let root = match &args.root {
        Some(r) => cwd.join(r),
        None => cwd.ancestors().find(|d| d.join(".git").exists()).unwrap_or(&cwd).to_path_buf(),
    };
    let workspace = Workspace::new(&root).with_context(|| format!("workspace root {}", root.display()))?;
    let settings = args.model.server_options().file.agent.unwrap_or_default();
    let mut budget = settings.budget();
    if let Some(n) = args.max_steps {
        budget.max_steps = n.max(1);
    }
    if let Some(n) = args.max_tokens {
        budget.max_tokens = n.max(16);
    }
    let mut commands = settings.commands.unwrap_or_default();
    commands.extend(args.allow.iter().cloned());
    let mut files = Vec::new();
    for f in &args.files {
        files.push(workspace.resolve(&cwd.join(f))?.rel);
    }

    let options = IndexOptions { index_dir: args.index_dir.clone(), ..IndexOptions::default() };
    let index = Index::open(workspace.root(), options).with_context(|| format!("cannot open the index of {}", root.display()))?;
    if !index.is_read_only() {
        index.sync(&mut |_| {}).context("updating the index")?;
    }
    let mut model: Box<dyn AgentModel> = match &args.script {
        Some(path) => Box::new(ScriptedModel::from_json(&std::fs::read_to_string(path).with_context(|| path.display().to_string())?)?),
        None => Box::new(ChatModel::local(&args.model.load_models()?.0)?),
    };
    let request = AgentRequest { task: args.task.clone(), files, budget, open_documents: Default::default(), commands };
    let cancel = CancelToken::new();
    let quiet = args.json;
    let mut confirm: Box<dyn Confirm> = if args.yes { Box::new(AlwaysAnswer(Approval::Always)) } else { Box::new(AskTerminal) };
    let outcome = agent::run(&request, model.as_mut(), &workspace, Some(&index), confirm.as_mut(), &cancel, &mut |e| {
        if !quiet {
            print_event(e);
        }
    })?;

    let applied = if args.apply && !outcome.files.is_empty() {
        Some(apply(&workspace, &outcome.files, &ApplyOptions { force: args.force }, &cancel)?.files)
    } else {
        None
    };
    if args.json {
        let files: Vec<_> = outcome.files.iter().map(|f| json!({"path": f.path, "diff": f.unified_diff()})).collect();
        let value = json!({
            "answer": outcome.answer, "stop": outcome.stop, "steps": outcome.steps, "generatedTokens": outcome.generated_tokens,
            "calls": outcome.calls, "malformedCalls": outcome.malformed_calls, "files": files, "transcript": outcome.transcript,
            "applied": applied,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    for f in &outcome.files {
        print!("{}", f.unified_diff());
    }
    eprintln!(
        "{} step(s), {} tokens generated, {} tool call(s) ({} malformed); stopped: {}",
        outcome.steps,
        outcome.generated_tokens,
        outcome.calls,
        outcome.malformed_calls,
        serde_json::to_value(outcome.stop)?.as_str().unwrap_or("?")
    );
    match &applied {
        Some(files) => eprintln!("applied to {} file(s)", files.len()),
        None if !outcome.files.is_empty() => eprintln!("nothing written: review the diff, then run again with --apply"),
        None => eprintln!("no file changed"),
    }
    Ok(())
}

fn print_event(event: &AgentEvent) {
    match event {
        AgentEvent::Step { step, max_steps, prompt_tokens, context_tokens } => {
            eprintln!("[step {step}/{max_steps}] prompt {prompt_tokens} of {context_tokens} tokens")
        }
        AgentEvent::Text { text } => eprintln!("  {}", text.replace('\n', "\n  ")),
        AgentEvent::ToolCall { name, arguments, .. } => eprintln!("  -> {name} {arguments}"),
        AgentEvent::ToolResult { ok, text, .. } => {
            let lines: Vec<&str> = text.lines().collect();
            let head = lines.iter().take(6).map(|l| format!("     {l}")).collect::<Vec<_>>().join("\n");
            let more = if lines.len() > 6 { format!("\n     [{} more lines]", lines.len() - 6) } else { String::new() };
            eprintln!("  <- {}\n{head}{more}", if *ok { "ok" } else { "error" });
        }
        AgentEvent::FormatError { message } => eprintln!("  !! the call did not parse: {message}"),
        AgentEvent::Note { text } => eprintln!("  note: {text}"),
    }
}
