//! Repo-wide edits from a plain-words instruction: plan the regions with the index, rewrite them
//! (structurally for renames, with the model otherwise), gate every rewrite on the syntax, and hand
//! back reviewable changes that [`apply`] writes atomically.
//!
//! The flow, as `hearth edit` and the LSP command `hearth.edit` drive it:
//!
//! ```text
//! Workspace::new(root)                         // the only root edits may touch
//! EditEngine::new(&workspace, Some(&index))    // index: symbols, references, BM25
//!   .plan(&request)        -> Plan             // regions + reasons, capped (`--plan-only` prints it)
//!   .run(&request, rewriters, cancel, progress) -> EditOutcome { plan, files: Vec<FileChange>, report }
//! FileChange::unified_diff() / FileChange::text_edits()   // CLI diff / LSP WorkspaceEdit
//! apply(&workspace, &outcome.files, &ApplyOptions { force }, cancel) // refuses dirty files, atomic
//! ```
//!
//! # For the LSP layer (`workspace/executeCommand` `hearth.edit`)
//!
//! Map `{instruction, scope, uri?, range?}` to an [`EditRequest`]: `scope: "repository"` is
//! [`Scope::Repository`], `"file"` is [`Scope::File`] with the uri's path, `"selection"` is
//! [`Scope::Selection`] with the range converted to bytes by `hearth_base::LineIndex::offset` on the
//! document's text. Put the editor's unsaved buffers in [`EditRequest::open_documents`] so edits are
//! computed against what the user sees. Call [`EditEngine::run`] on a blocking thread (it decodes)
//! with a [`Rewriter`] per worker ([`ModelRewriter`] over the loaded model; none is needed for a
//! rename) and a `CancelToken` tied to `$/cancelRequest`; forward [`EditProgress`] as `$/progress`.
//! The result maps one to one onto the protocol: for each [`FileChange`], [`FileChange::text_edits`]
//! gives byte ranges in the old text; convert them with `LineIndex::line_col` (UTF-16) into
//! `TextEdit`s of a `WorkspaceEdit.changes[uri]`. `plan` is [`Plan::regions`] (`uri` from
//! [`Region::path`] joined to the root, `range` from its lines, `reason`), and `report` is
//! `outcome.report.to_string()` (or the serialized [`Report`]). Nothing is written by `run`: with
//! `apply: true` the server sends the `WorkspaceEdit` through `workspace/applyEdit` so the client
//! confirms; [`apply`] is the CLI's path to disk.

mod apply;
mod diff;
mod instruction;
mod plan;
mod rename;
mod rewrite;
mod workspace;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Mutex;

use hearth_base::CancelToken;
use hearth_index::Index;
use hearth_syntax::Language;
use serde::Serialize;

pub use apply::{apply, apply_with, Applied, ApplyOptions, ApplyStep, TEMP_PREFIX};
pub use diff::{minimal_edits, TextEdit};
pub use instruction::{parse_rename, Rename};
pub use rewrite::{ModelRewriter, PromptFormat, RewriteStats, RewriteTask, Rewriter, Rewritten};
pub use workspace::{Workspace, WorkspacePath, MAX_FILE_BYTES};

/// Regions rewritten by the model per request unless the user raises it (`--limit`).
pub const DEFAULT_REGION_LIMIT: usize = 16;

/// Everything that can stop an edit. Problems with single regions are not errors: they are
/// dropped and listed in the [`Report`].
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("{} is outside the workspace root {}", path.display(), root.display())]
    OutsideRoot { path: PathBuf, root: PathBuf },
    #[error("{} is inside .git/: Hearth never edits git's own files", .0.display())]
    GitDir(PathBuf),
    #[error("{} is ignored (.gitignore): Hearth does not edit ignored files", .0.display())]
    Ignored(PathBuf),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{} is not valid UTF-8 text", .0.display())]
    NotUtf8(PathBuf),
    #[error("{} is not a regular file (a {kind}): Hearth edits only regular files", path.display())]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("{} is {size} bytes, over the {limit}-byte limit for edits", path.display())]
    TooLarge { path: PathBuf, size: u64, limit: u64 },
    #[error("refusing to apply: uncommitted changes in {} (commit or stash them, or pass --force)", .0.join(", "))]
    Uncommitted(Vec<String>),
    #[error("refusing to apply: {0} is not in a git repository, so uncommitted changes cannot be checked (pass --force)")]
    NoRepository(String),
    #[error("refusing to apply: {0} changed since the edit was computed; run the edit again")]
    Stale(String),
    #[error("apply stopped after writing {} of {} files ({}): {source}; every file is either old or new", applied.len(), total, applied.join(", "))]
    PartialApply { applied: Vec<String>, total: usize, source: std::io::Error },
    #[error("loading the model: {0}")]
    Model(String),
    #[error("this instruction needs a model (only renames are done without one)")]
    NoModel,
    #[error("a repository-wide rewrite needs the index: pass a file or a selection")]
    NoIndex,
    #[error("the instruction is empty")]
    EmptyInstruction,
    #[error("the selection {start}..{end} is out of range for {path} ({len} bytes)")]
    BadSelection { path: String, start: usize, end: usize, len: usize },
    #[error("cancelled")]
    Cancelled,
    #[error(transparent)]
    Index(#[from] hearth_index::IndexError),
    #[error(transparent)]
    Syntax(#[from] hearth_syntax::SyntaxError),
    #[error("git: {0}")]
    Git(#[from] git2::Error),
    #[error("decoding: {0}")]
    Decode(#[from] hearth_decode::DecodeError),
    #[error("the region has {needed} tokens with its prompt, but the model's context holds {capacity}")]
    RegionTooLong { needed: usize, capacity: usize },
}

impl From<hearth_base::Cancelled> for EditError {
    fn from(_: hearth_base::Cancelled) -> Self {
        EditError::Cancelled
    }
}

/// Which part of the workspace an edit may change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every file the index knows (narrowed by [`EditRequest::paths`] if any).
    Repository,
    /// One file (absolute or root-relative path).
    File(PathBuf),
    /// Bytes of one file; model rewrites cover the whole lines the range touches.
    Selection { path: PathBuf, range: Range<usize> },
}

/// One edit request.
#[derive(Clone, Debug)]
pub struct EditRequest {
    pub instruction: String,
    pub scope: Scope,
    /// Files or directories (absolute or root-relative) the edit is limited to; empty: no limit.
    pub paths: Vec<PathBuf>,
    /// Most regions the model rewrites; the plan says how many more it left out.
    pub limit: usize,
    /// Root-relative path → unsaved editor text, used instead of the disk.
    pub open_documents: HashMap<String, String>,
}

impl EditRequest {
    pub fn new(instruction: impl Into<String>, scope: Scope) -> Self {
        EditRequest {
            instruction: instruction.into(),
            scope,
            paths: Vec::new(),
            limit: DEFAULT_REGION_LIMIT,
            open_documents: HashMap::new(),
        }
    }
}

/// How the edit will be made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Strategy {
    /// Structural rename with tree-sitter, no model.
    Rename { from: String, to: String, in_comments: bool, in_strings: bool },
    /// Each region rewritten by the model.
    Rewrite,
}

/// A span of one file the edit touches, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Region {
    /// Root-relative, `/`-separated.
    pub path: String,
    /// Zero-based lines, end inclusive.
    pub start_line: u32,
    pub end_line: u32,
    /// Byte range in the file's text (whole lines for model rewrites, the identifier for renames).
    pub start_byte: usize,
    pub end_byte: usize,
    pub reason: String,
}

/// The regions an edit will touch, before anything is generated.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    pub strategy: Strategy,
    pub regions: Vec<Region>,
    /// Regions found beyond [`EditRequest::limit`] and left out.
    pub omitted: usize,
    pub limit: usize,
    /// Things the user should know before reviewing (e.g. a rename target that already exists).
    pub notes: Vec<String>,
    /// Files that mention what the edit changes but that it cannot edit.
    pub skipped_files: Vec<SkippedFile>,
}

/// A file that mentions what an edit changes but was left unedited, and why (the index left it
/// out as binary, not UTF-8 or too large, or it could not be read).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SkippedFile {
    /// Root-relative, `/`-separated.
    pub path: String,
    pub reason: String,
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.strategy {
            Strategy::Rename { from, to, in_comments, in_strings } => {
                let mut extra = Vec::new();
                if *in_comments {
                    extra.push("comments");
                }
                if *in_strings {
                    extra.push("strings");
                }
                let extra = if extra.is_empty() { String::new() } else { format!(", also in {}", extra.join(" and ")) };
                writeln!(f, "plan: structural rename of `{from}` to `{to}` (no model{extra}), {} occurrence(s)", self.regions.len())?;
            }
            Strategy::Rewrite => writeln!(
                f,
                "plan: model rewrite of {} region(s) (limit {}{})",
                self.regions.len(),
                self.limit,
                if self.omitted > 0 { format!(", {} more left out: raise --limit", self.omitted) } else { String::new() }
            )?,
        }
        for r in &self.regions {
            writeln!(f, "  {}:{}  {}", r.path, lines(r.start_line, r.end_line), r.reason)?;
        }
        for n in &self.notes {
            writeln!(f, "note: {n}")?;
        }
        for s in &self.skipped_files {
            writeln!(f, "note: {} cannot be edited ({})", s.path, s.reason)?;
        }
        Ok(())
    }
}

/// The new text of one file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileChange {
    /// Root-relative, `/`-separated.
    pub path: String,
    /// Absolute, symlinks resolved.
    pub abs_path: PathBuf,
    pub old: String,
    pub new: String,
}

/// A region the model rewrite left out, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Dropped {
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
    pub reason: String,
}

/// What happened: for the user, after the diff.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub files_changed: usize,
    pub regions_rewritten: usize,
    /// Regions that passed the syntax gate only on their second attempt.
    pub retried: usize,
    pub dropped: Vec<Dropped>,
    pub notes: Vec<String>,
    /// Files left unedited although they mention what the edit changes.
    pub skipped_files: Vec<SkippedFile>,
    /// Decoding totals over all regions (model rewrites only).
    pub stats: RewriteStats,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} file(s) changed", self.files_changed)?;
        if self.regions_rewritten > 0 || !self.dropped.is_empty() {
            write!(f, ", {} region(s) rewritten, {} retried, {} dropped", self.regions_rewritten, self.retried, self.dropped.len())?;
        }
        writeln!(f)?;
        for d in &self.dropped {
            writeln!(f, "dropped {}:{}: {}", d.path, lines(d.start_line, d.end_line), d.reason)?;
        }
        for n in &self.notes {
            writeln!(f, "note: {n}")?;
        }
        if !self.skipped_files.is_empty() {
            writeln!(f, "WARNING: {} file(s) mention it but were NOT edited; change them by hand:", self.skipped_files.len())?;
            for s in &self.skipped_files {
                writeln!(f, "  not edited: {} ({})", s.path, s.reason)?;
            }
        }
        let s = &self.stats;
        if s.generated_tokens > 0 {
            writeln!(
                f,
                "decoding: {} tokens in {} steps ({:.2} tokens/step), {}/{} proposed tokens accepted, {:.2}s",
                s.generated_tokens,
                s.steps,
                s.tokens_per_step(),
                s.accepted,
                s.proposed,
                s.prompt_secs + s.decode_secs
            )?;
        }
        Ok(())
    }
}

/// One-based `A-B`, or `A` for a single line.
fn lines(start: u32, end: u32) -> String {
    if start == end {
        format!("{}", start + 1)
    } else {
        format!("{}-{}", start + 1, end + 1)
    }
}

/// Everything one request produced. Nothing is on disk until [`apply`].
#[derive(Clone, Debug, Serialize)]
pub struct EditOutcome {
    pub plan: Plan,
    pub files: Vec<FileChange>,
    pub report: Report,
}

impl EditOutcome {
    /// All files' unified diffs, one after the other.
    pub fn unified_diff(&self) -> String {
        self.files.iter().map(FileChange::unified_diff).collect()
    }
}

/// Where a running edit stands, for progress bars and `$/progress`.
#[derive(Clone, Debug)]
pub struct EditProgress {
    pub done: usize,
    pub total: usize,
    pub message: String,
}

/// Plans and computes edits over one workspace. Cheap: holds references only.
pub struct EditEngine<'a> {
    workspace: &'a Workspace,
    index: Option<&'a Index>,
}

impl<'a> EditEngine<'a> {
    /// `index` finds symbols, references and BM25 matches; without it, renames walk the files and
    /// model rewrites need a file or selection scope.
    pub fn new(workspace: &'a Workspace, index: Option<&'a Index>) -> Self {
        EditEngine { workspace, index }
    }

    /// The regions the request would touch and why, without generating anything.
    pub fn plan(&self, request: &EditRequest) -> Result<Plan, EditError> {
        self.plan_with(request, &self.texts(request))
    }

    /// Plans over `texts`, which the run then edits: offsets stay valid even if the disk changes.
    fn plan_with(&self, request: &EditRequest, texts: &Texts<'_>) -> Result<Plan, EditError> {
        if request.instruction.trim().is_empty() {
            return Err(EditError::EmptyInstruction);
        }
        match parse_rename(&request.instruction) {
            Some(rename) => rename::plan(self.workspace, self.index, request, &rename, texts),
            None => plan::plan(self.workspace, self.index, request, texts),
        }
    }

    /// Plans, then computes the changes: structurally for renames, otherwise with `rewriters`
    /// (one region at a time per rewriter, each on its own thread). Every model rewrite must parse
    /// with no new tree-sitter errors; a failing region is retried once, then dropped and reported.
    /// Writes nothing.
    pub fn run(
        &self,
        request: &EditRequest,
        rewriters: &mut [Box<dyn Rewriter>],
        cancel: &CancelToken,
        progress: &mut dyn FnMut(EditProgress),
    ) -> Result<EditOutcome, EditError> {
        let texts = self.texts(request);
        let plan = self.plan_with(request, &texts)?;
        match &plan.strategy {
            Strategy::Rename { .. } => {
                let (files, report) = rename::apply_plan(self.workspace, &plan, &texts)?;
                progress(EditProgress { done: 1, total: 1, message: format!("{} file(s) renamed", files.len()) });
                Ok(EditOutcome { plan, files, report })
            }
            Strategy::Rewrite => {
                if rewriters.is_empty() {
                    return Err(EditError::NoModel);
                }
                self.rewrite(plan, &texts, &request.instruction, rewriters, cancel, progress)
            }
        }
    }

    fn texts(&self, request: &EditRequest) -> Texts<'a> {
        Texts { workspace: self.workspace, open: request.open_documents.clone(), cache: Mutex::default() }
    }

    fn rewrite(
        &self,
        plan: Plan,
        texts: &Texts<'_>,
        instruction: &str,
        rewriters: &mut [Box<dyn Rewriter>],
        cancel: &CancelToken,
        progress: &mut dyn FnMut(EditProgress),
    ) -> Result<EditOutcome, EditError> {
        let mut sources = HashMap::new();
        for region in &plan.regions {
            if !sources.contains_key(&region.path) {
                sources.insert(region.path.clone(), texts.get(&region.path)?);
            }
        }
        let total = plan.regions.len();
        let next = Mutex::new(0usize);
        let (tx, rx) = mpsc::channel::<(usize, Result<rewrite::Gated, EditError>)>();
        let mut results: Vec<Option<Result<rewrite::Gated, EditError>>> = (0..total).map(|_| None).collect();
        std::thread::scope(|s| {
            for rewriter in rewriters.iter_mut() {
                let tx = tx.clone();
                let (next, plan, sources) = (&next, &plan, &sources);
                s.spawn(move || loop {
                    let i = {
                        let mut n = next.lock().unwrap_or_else(|e| e.into_inner());
                        let i = *n;
                        *n += 1;
                        i
                    };
                    if i >= total || cancel.is_cancelled() {
                        break;
                    }
                    let region = &plan.regions[i];
                    let source = &sources[&region.path];
                    let result = rewrite::rewrite_gated(rewriter.as_mut(), instruction, region, source.as_str(), cancel);
                    if tx.send((i, result)).is_err() {
                        break;
                    }
                });
            }
            drop(tx);
            for (done, (i, result)) in rx.into_iter().enumerate() {
                let done = done + 1;
                let r = &plan.regions[i];
                progress(EditProgress { done, total, message: format!("{}:{}-{}", r.path, r.start_line + 1, r.end_line + 1) });
                results[i] = Some(result);
            }
        });
        cancel.check()?;

        let mut report = Report::default();
        let mut per_file: BTreeMap<String, Vec<(Range<usize>, String)>> = BTreeMap::new();
        for (region, result) in plan.regions.iter().zip(results) {
            let drop =
                |reason: String| Dropped { path: region.path.clone(), start_line: region.start_line, end_line: region.end_line, reason };
            match result {
                None => report.dropped.push(drop("not attempted".into())),
                Some(Err(EditError::Cancelled)) => return Err(EditError::Cancelled),
                Some(Err(e)) => report.dropped.push(drop(e.to_string())),
                Some(Ok(gated)) => {
                    report.stats.add(&gated.stats);
                    match gated.text {
                        Ok(text) => {
                            report.regions_rewritten += 1;
                            report.retried += usize::from(gated.attempts > 1);
                            per_file.entry(region.path.clone()).or_default().push((region.start_byte..region.end_byte, text));
                        }
                        Err(reason) => report.dropped.push(drop(reason)),
                    }
                }
            }
        }
        let mut files = Vec::new();
        for (path, mut edits) in per_file {
            let old = &sources[&path];
            edits.sort_by_key(|(range, _)| std::cmp::Reverse(range.start));
            let mut new = old.clone();
            for (range, text) in &edits {
                new.replace_range(range.clone(), text);
            }
            if let Some(lang) = Language::from_path(std::path::Path::new(&path)) {
                if hearth_syntax::error_count(lang, &new)? > hearth_syntax::error_count(lang, old)? {
                    report.notes.push(format!("{path}: the regions parse one by one but not together; file left unchanged"));
                    continue;
                }
            }
            if new != *old {
                files.push(FileChange { abs_path: self.workspace.root().join(&path), path, old: old.clone(), new });
            }
        }
        report.files_changed = files.len();
        report.notes.extend(plan.notes.iter().cloned());
        Ok(EditOutcome { plan, files, report })
    }
}

/// File texts for one request: open editor buffers first, then the disk (checked and cached).
pub(crate) struct Texts<'a> {
    workspace: &'a Workspace,
    open: HashMap<String, String>,
    cache: Mutex<HashMap<String, String>>,
}

impl Texts<'_> {
    pub(crate) fn get(&self, rel: &str) -> Result<String, EditError> {
        if let Some(text) = self.open.get(rel) {
            return Ok(text.clone());
        }
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(text) = cache.get(rel) {
            return Ok(text.clone());
        }
        let path = self.workspace.resolve(std::path::Path::new(rel))?;
        let text = self.workspace.read(&path)?;
        cache.insert(rel.to_string(), text.clone());
        Ok(text)
    }
}
