//! `hearth edit`: repo-wide edits from the command line. Prints the plan (stderr) and a unified diff
//! (stdout); writes only with `--apply`.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use hearth_assist::edit::{
    apply, ApplyOptions, EditEngine, EditRequest, ModelRewriter, Rewriter, Scope, Strategy, Workspace, DEFAULT_REGION_LIMIT,
};
use hearth_base::CancelToken;
use hearth_index::{Index, IndexOptions};
use serde_json::json;

use crate::args::ModelArgs;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ScopeArg {
    /// The whole repository (narrowed by --path).
    #[value(alias = "repository")]
    Repo,
    /// The one file given with --path.
    File,
}

#[derive(Args)]
pub struct EditArgs {
    /// What to do, in plain words: "rename parse_cfg to parse_config", "add a timeout parameter to
    /// http_get and its callers". Renames are done structurally, without the model.
    instruction: String,
    /// Limit the edit to these files or directories (repeatable).
    #[arg(long = "path", short = 'p')]
    paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "repo")]
    scope: ScopeArg,
    /// Only these lines (one-based, inclusive, `START:END`) of the single --path file.
    #[arg(long, value_name = "START:END")]
    lines: Option<String>,
    /// Write the changes (atomically). Without it nothing is written.
    #[arg(long)]
    apply: bool,
    /// Apply even to files with uncommitted changes.
    #[arg(long, requires = "apply")]
    force: bool,
    /// Print the regions the edit would touch and why, then stop (no model is loaded).
    #[arg(long)]
    plan_only: bool,
    /// Most regions the model rewrites.
    #[arg(long, default_value_t = DEFAULT_REGION_LIMIT)]
    limit: usize,
    /// Regions rewritten at once, each with its own KV cache (the weights are shared).
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// The workspace root (default: the git work tree containing the current directory).
    #[arg(long)]
    root: Option<PathBuf>,
    /// Store the index here instead of the user's cache directory.
    #[arg(long, env = "HEARTH_INDEX_DIR")]
    index_dir: Option<PathBuf>,
    /// Print {plan, files: [{path, diff, edits}], report, applied} as JSON instead of a diff.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    model: ModelArgs,
}

pub fn edit(args: EditArgs) -> anyhow::Result<()> {
    let cwd = std::env::current_dir()?;
    let root = match &args.root {
        Some(r) => cwd.join(r),
        None => cwd.ancestors().find(|d| d.join(".git").exists()).unwrap_or(&cwd).to_path_buf(),
    };
    let workspace = Workspace::new(&root).with_context(|| format!("workspace root {}", root.display()))?;
    let request = request(&args, &cwd)?;

    let options = IndexOptions { index_dir: args.index_dir.clone(), ..IndexOptions::default() };
    let index = Index::open(workspace.root(), options).with_context(|| format!("cannot open the index of {}", root.display()))?;
    if !index.is_read_only() {
        index.sync(&mut |_| {}).context("updating the index")?;
    }
    let engine = EditEngine::new(&workspace, Some(&index));
    let plan = engine.plan(&request)?;
    if args.plan_only {
        if args.json {
            println!("{}", serde_json::to_string_pretty(&plan)?);
        } else {
            print!("{plan}");
        }
        return Ok(());
    }
    if !args.json {
        eprint!("{plan}");
    }

    let mut rewriters: Vec<Box<dyn Rewriter>> = Vec::new();
    if plan.strategy == Strategy::Rewrite && !plan.regions.is_empty() {
        let (target, draft, _) = args.model.load_models()?;
        for _ in 0..args.jobs.max(1) {
            rewriters.push(Box::new(ModelRewriter::new(&target, draft.as_ref())?));
        }
    }
    let cancel = CancelToken::new();
    let quiet = args.json;
    let outcome = engine.run(&request, &mut rewriters, &cancel, &mut |p| {
        if !quiet && p.total > 1 {
            eprintln!("[{}/{}] {}", p.done, p.total, p.message);
        }
    })?;

    let applied = if args.apply && !outcome.files.is_empty() {
        Some(apply(&workspace, &outcome.files, &ApplyOptions { force: args.force }, &cancel)?.files)
    } else {
        None
    };
    if args.json {
        let files: Vec<_> = outcome
            .files
            .iter()
            .map(|f| {
                let edits: Vec<_> = f
                    .text_edits()
                    .into_iter()
                    .map(|e| json!({"startByte": e.range.start, "endByte": e.range.end, "newText": e.new_text}))
                    .collect();
                json!({"path": f.path, "diff": f.unified_diff(), "edits": edits})
            })
            .collect();
        let value = json!({"plan": outcome.plan, "files": files, "report": outcome.report, "applied": applied});
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{}", outcome.unified_diff());
        eprint!("{}", outcome.report);
        match &applied {
            Some(files) => eprintln!("applied to {} file(s)", files.len()),
            None if !outcome.files.is_empty() => eprintln!("nothing written: review the diff, then run again with --apply"),
            None => {}
        }
    }
    Ok(())
}

/// The request, with paths made absolute from the current directory (the library reads relative
/// paths from the workspace root).
fn request(args: &EditArgs, cwd: &std::path::Path) -> anyhow::Result<EditRequest> {
    let paths: Vec<PathBuf> = args.paths.iter().map(|p| cwd.join(p)).collect();
    let single = || match paths.as_slice() {
        [one] => Ok(one.clone()),
        _ => bail!("--scope file and --lines need exactly one --path"),
    };
    let scope = match (&args.lines, args.scope) {
        (Some(lines), _) => {
            let path = single()?;
            let (start, end) = lines
                .split_once(':')
                .and_then(|(a, b)| Some((a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?)))
                .filter(|&(a, b)| a >= 1 && a <= b)
                .with_context(|| format!("--lines {lines}: expected START:END, one-based, START <= END"))?;
            let text = crate::read_source(&path)?;
            let index = hearth_base::LineIndex::new(&text);
            let at = |line: u32| index.line_start(line).unwrap_or(text.len());
            Scope::Selection { path, range: at(start - 1)..at(end) }
        }
        (None, ScopeArg::File) => Scope::File(single()?),
        (None, ScopeArg::Repo) => Scope::Repository,
    };
    let mut request = EditRequest::new(args.instruction.clone(), scope);
    if matches!(request.scope, Scope::Repository) {
        request.paths = paths.clone();
    }
    request.limit = args.limit;
    Ok(request)
}
