//! `workspace/executeCommand` `hearth.edit` and the "Hearth: edit selection…" code action: protocol
//! glue over `hearth_assist::edit`. Arguments in, `{edit: WorkspaceEdit, plan, report}` out
//! (`to_proto::edit_result`); the handler plans and computes on a blocking thread (cancelled by
//! `$/cancelRequest` or shutdown), reports `$/progress`, and writes nothing itself: the client applies
//! the edit, after its review or through `workspace/applyEdit` when the request says `apply`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hearth_assist::edit::{parse_rename, EditEngine, EditError, EditRequest, Rewriter, Scope, Workspace};
use hearth_base::{CancelToken, LineIndex};
use hearth_index::Index;
use serde::Deserialize;
use serde_json::{json, Value};
use tower_lsp::jsonrpc::{Error, ErrorCode};
use tower_lsp::lsp_types::{CodeAction, CodeActionKind, Command, ExecuteCommandParams, Range, Url, WorkspaceEdit};

use crate::errors::{invalid_params, request_failed};
use crate::state::{lock, Backend, EditModel, ModelState};
use crate::status::ProgressReporter;
use crate::{from_proto, to_proto};

pub const COMMAND: &str = "hearth.edit";
pub const CODE_ACTION_TITLE: &str = "Hearth: edit selection…";

/// `{instruction, scope: "selection"|"file"|"repository", uri?, range?, apply?}`.
#[derive(Clone, Debug, Deserialize)]
pub struct EditArgs {
    #[serde(default)]
    pub instruction: String,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub uri: Option<Url>,
    #[serde(default)]
    pub range: Option<Range>,
    #[serde(default)]
    pub apply: bool,
}

impl EditArgs {
    /// The command's first argument; a clear error when it is missing or malformed.
    pub fn parse(arguments: &[Value]) -> Result<EditArgs, Error> {
        let usage = "hearth.edit takes one argument {instruction, scope: selection|file|repository, uri?, range?, apply?}";
        let value = arguments.first().ok_or_else(|| invalid_params(usage))?;
        let args: EditArgs = serde_json::from_value(value.clone()).map_err(|e| invalid_params(format!("{usage}: {e}")))?;
        if args.instruction.trim().is_empty() {
            return Err(invalid_params("hearth.edit: the instruction is empty (the code action leaves it to the editor to ask for one)"));
        }
        Ok(args)
    }
}

/// The "Hearth: edit selection…" code action for a non-empty range: its command is `hearth.edit` with
/// scope selection and no instruction, which the editor asks the user for before running it.
pub fn code_action(uri: Url, range: Range) -> CodeAction {
    let arguments = vec![json!({"scope": "selection", "uri": uri, "range": range})];
    CodeAction {
        title: CODE_ACTION_TITLE.into(),
        kind: Some(CodeActionKind::REFACTOR_REWRITE),
        command: Some(Command { title: CODE_ACTION_TITLE.into(), command: COMMAND.into(), arguments: Some(arguments) }),
        ..Default::default()
    }
}

/// Whether a code action request's `only` filter lets `refactor.rewrite` through.
pub fn kind_wanted(only: Option<&[CodeActionKind]>) -> bool {
    let ours = CodeActionKind::REFACTOR_REWRITE;
    only.is_none_or(|kinds| kinds.iter().any(|k| ours.as_str() == k.as_str() || ours.as_str().starts_with(&format!("{}.", k.as_str()))))
}

/// What the server hands over: the workspace root, the open documents' texts, the index when one
/// is open, and the model for rewrites (or why there is none: renames need no model).
pub struct EditInput {
    pub root: PathBuf,
    pub open: Vec<(Url, Arc<String>)>,
    pub args: EditArgs,
    pub model: Result<Arc<EditModel>, String>,
    pub index: Option<Arc<Index>>,
}

/// Runs the edit; blocking (call it on a blocking thread). Reports `(message, percent)` as it goes:
/// planning, region i of n, checking. Returns the WorkspaceEdit and the command's JSON result.
pub fn run(input: EditInput, cancel: &CancelToken, progress: &mut dyn FnMut(String, Option<u32>)) -> Result<(WorkspaceEdit, Value), Error> {
    progress("planning".into(), Some(0));
    let workspace = Workspace::new(&input.root).map_err(edit_error)?;
    let root = workspace.root().to_path_buf();
    let mut open_documents = HashMap::new();
    for (uri, text) in &input.open {
        if let Some(rel) = relative(&root, uri) {
            open_documents.insert(rel, text.to_string());
        }
    }
    let args = &input.args;
    let path = |what: &str| -> Result<PathBuf, Error> {
        let uri = args.uri.as_ref().ok_or_else(|| invalid_params(format!("hearth.edit: scope {what} needs a uri")))?;
        uri.to_file_path().map_err(|_| invalid_params(format!("hearth.edit: {uri} is not a file")))
    };
    let scope = match args.scope.as_deref().unwrap_or("repository") {
        "repository" => Scope::Repository,
        "file" => Scope::File(path("file")?),
        "selection" => {
            let file = path("selection")?;
            let range = args.range.ok_or_else(|| invalid_params("hearth.edit: scope selection needs a range"))?;
            let uri = args.uri.as_ref().expect("checked by path()");
            let text = match input.open.iter().find(|(u, _)| u == uri) {
                Some((_, t)) => t.to_string(),
                None => workspace.read(&workspace.resolve(&file).map_err(edit_error)?).map_err(edit_error)?,
            };
            let bytes = from_proto::span(&text, &LineIndex::new(&text), range).map_err(|e| invalid_params(format!("hearth.edit: {e}")))?;
            Scope::Selection { path: file, range: bytes }
        }
        other => return Err(invalid_params(format!("hearth.edit: unknown scope {other:?} (selection, file or repository)"))),
    };
    let mut request = EditRequest::new(args.instruction.trim(), scope);
    request.open_documents = open_documents;

    let engine = EditEngine::new(&workspace, input.index.as_deref());
    let mut rewriters: Vec<Box<dyn Rewriter>> = Vec::new();
    // A rename plans inside `run` only (planning is most of its time); a model rewrite plans first,
    // to report the regions and to need the model only when there are some.
    if parse_rename(&request.instruction).is_none() {
        let regions = engine.plan(&request).map_err(edit_error)?.regions.len();
        progress(format!("{regions} region(s) planned"), Some(10));
        if regions > 0 {
            let model =
                input.model.as_ref().map_err(|why| request_failed(format!("hearth.edit: this instruction needs the model, but {why}")))?;
            rewriters.push(model.rewriter().map_err(edit_error)?);
        }
    }
    let outcome = engine
        .run(&request, &mut rewriters, cancel, &mut |p| {
            let percent = 10 + (80 * p.done / p.total.max(1)) as u32;
            if p.done >= p.total {
                progress("checking".into(), Some(percent));
            } else {
                progress(format!("region {} of {}: {}", p.done, p.total, p.message), Some(percent));
            }
        })
        .map_err(edit_error)?;
    Ok(to_proto::edit_result(&root, &outcome))
}

/// `InvalidParams` for what the caller asked wrong; `RequestFailed` for what went wrong doing it.
fn edit_error(e: EditError) -> Error {
    match e {
        EditError::Cancelled => Error::request_cancelled(),
        EditError::OutsideRoot { .. }
        | EditError::GitDir(_)
        | EditError::Ignored(_)
        | EditError::NotUtf8(_)
        | EditError::NotRegular { .. }
        | EditError::TooLarge { .. }
        | EditError::NoIndex
        | EditError::EmptyInstruction
        | EditError::BadSelection { .. } => invalid_params(format!("hearth.edit: {e}")),
        other => request_failed(format!("hearth.edit: {other}")),
    }
}

pub(crate) fn relative(root: &Path, uri: &Url) -> Option<String> {
    let path = uri.to_file_path().ok()?;
    let rel = path.strip_prefix(root).ok()?;
    Some(rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"))
}

impl Backend {
    /// `hearth.edit`: plans and computes on a blocking thread (cancelled by `$/cancelRequest` or
    /// shutdown), reports `$/progress`, and with `apply: true` sends the edit through `workspace/applyEdit`.
    pub(crate) async fn edit_command(&self, params: ExecuteCommandParams) -> tower_lsp::jsonrpc::Result<Value> {
        let args = EditArgs::parse(&params.arguments)?;
        let root = lock(&self.root)
            .clone()
            .ok_or_else(|| invalid_params("hearth.edit needs a workspace folder (initialize with rootUri or workspaceFolders)"))?;
        let model = match self.model.borrow().clone() {
            ModelState::Ready(_, m) => m,
            ModelState::Loading => Err("the model is still loading (try again when Hearth is ready)".to_string()),
            ModelState::Failed(why) => Err(format!("the model failed to load: {why}")),
            ModelState::Missing => Err("no model is configured".to_string()),
        };
        let apply = args.apply;
        tracing::debug!(target: "hearth_prompts", "hearth.edit {:?} ({:?})", args.instruction, args.scope);
        let index = lock(&self.live).as_ref().map(|live| live.index().clone());
        let input = EditInput { root, open: lock(&self.docs).texts(), args, model, index };

        let id = self.progress_ids.fetch_add(1, Ordering::Relaxed);
        let token = CancelToken::new();
        lock(&self.edits).insert(id, token.clone());
        let mut running = RunningEdit { token: token.clone(), id, registry: self.edits.clone(), progress: None };
        let given = params.work_done_progress_params.work_done_token;
        let supported = self.progress_supported.load(Ordering::Relaxed);
        running.progress =
            Some(ProgressReporter::begin_with(&self.client, given, supported, &format!("hearth/edit/{id}"), "Hearth: edit").await);

        let started = Instant::now();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let job = tokio::task::spawn_blocking(move || run(input, &token, &mut |m, p| drop(tx.send((m, p)))));
        while let Some((message, percent)) = rx.recv().await {
            if let Some(p) = &running.progress {
                p.report(message, percent).await;
            }
        }
        // A panic's message may quote source code: it stays out of the reply and the log.
        let outcome = job.await.unwrap_or_else(|_| {
            Err(Error { code: ErrorCode::InternalError, message: "hearth.edit crashed (an internal error)".into(), data: None })
        });
        let progress = running.progress.take().expect("set above");
        let (edit, mut value) = match outcome {
            Ok(done) => done,
            Err(e) if e.code == ErrorCode::RequestCancelled => {
                progress.end("cancelled".into()).await;
                return Err(e);
            }
            Err(e) => {
                tracing::warn!("{}", e.message);
                progress.end(e.message.to_string()).await;
                return Err(e);
            }
        };
        let files = edit.changes.as_ref().map_or(0, |c| c.len());
        tracing::info!("hearth.edit: {files} file(s) changed in {:.1}s", started.elapsed().as_secs_f64());
        if apply {
            let (applied, reason) = if files == 0 {
                (false, Some("nothing to apply: no file changed".to_string()))
            } else {
                progress.report("applying".into(), Some(95)).await;
                let client = self.client.clone();
                // In its own task: a `$/cancelRequest` must not drop the wait for the client's answer.
                let answer = crate::detached(async move { client.apply_edit(edit).await });
                match answer.await.unwrap_or_else(|_| Err(Error::internal_error())) {
                    Ok(r) => (r.applied, r.failure_reason),
                    Err(e) => (false, Some(format!("workspace/applyEdit failed: {}", e.message))),
                }
            };
            value["applied"] = json!(applied);
            if let Some(reason) = reason {
                value["failureReason"] = json!(reason);
            }
        }
        progress.end(format!("{files} file(s) changed")).await;
        Ok(value)
    }
}

/// One running `hearth.edit` or `hearth/agent`, registered so that shutdown cancels it. Dropping it (tower-lsp drops the
/// handler's future on `$/cancelRequest`) cancels the work and ends its progress.
pub(crate) struct RunningEdit {
    token: CancelToken,
    id: u64,
    registry: Arc<Mutex<HashMap<u64, CancelToken>>>,
    pub(crate) progress: Option<ProgressReporter>,
}

impl RunningEdit {
    pub(crate) fn new(token: CancelToken, id: u64, registry: Arc<Mutex<HashMap<u64, CancelToken>>>) -> Self {
        RunningEdit { token, id, registry, progress: None }
    }
}

impl Drop for RunningEdit {
    fn drop(&mut self) {
        self.token.cancel();
        lock(&self.registry).remove(&self.id);
        if let (Some(progress), Ok(runtime)) = (self.progress.take(), tokio::runtime::Handle::try_current()) {
            runtime.spawn(progress.end("cancelled".into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_lsp::lsp_types::{Position, TextEdit};

    /// A fresh directory under the system temp dir (removed at the start of the next run).
    fn temp_root(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hearth-lsp-edit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.canonicalize().unwrap()
    }

    /// Applies LSP text edits (UTF-16 positions) to `text`, as a client would.
    fn apply_edits(text: &str, edits: &[TextEdit]) -> String {
        let index = LineIndex::new(text);
        let mut spans: Vec<(std::ops::Range<usize>, &str)> =
            edits.iter().map(|e| (from_proto::span(text, &index, e.range).unwrap(), e.new_text.as_str())).collect();
        spans.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
        let mut out = text.to_string();
        for (range, new) in spans {
            out.replace_range(range, new);
        }
        out
    }

    #[test]
    fn a_rename_comes_back_as_a_workspace_edit_that_applies_cleanly() {
        let root = temp_root("rename");
        let a = "é = \"日本\"\ndef load(x):\n    return x\n";
        let b = "from a import load\n𝔘 = load(1)  # load stays in comments\n";
        std::fs::write(root.join("a.py"), a).unwrap();
        std::fs::write(root.join("b.py"), b).unwrap();
        let b_uri = Url::from_file_path(root.join("b.py")).unwrap();
        // b.py is open with unsaved text: the edit must be computed against it.
        let unsaved = format!("{b}print(load(2))\n");
        let args = EditArgs { instruction: "rename load to fetch".into(), scope: None, uri: None, range: None, apply: false };
        let input =
            EditInput { root: root.clone(), open: vec![(b_uri.clone(), Arc::new(unsaved.clone()))], args, model: no_model(), index: None };
        let mut steps = Vec::new();
        let (edit, value) = run(input, &CancelToken::new(), &mut |m, p| steps.push((m, p))).unwrap();
        let messages: Vec<&str> = steps.iter().map(|(m, _)| m.as_str()).collect();
        assert_eq!(messages, ["planning", "checking"]);
        let changes = edit.changes.unwrap();
        assert_eq!(changes.len(), 2);
        let a_uri = Url::from_file_path(root.join("a.py")).unwrap();
        assert_eq!(apply_edits(a, &changes[&a_uri]), a.replace("load", "fetch"));
        assert_eq!(
            apply_edits(&unsaved, &changes[&b_uri]),
            "from a import fetch\n𝔘 = fetch(1)  # load stays in comments\nprint(fetch(2))\n"
        );
        assert_eq!(value["plan"].as_array().unwrap().len(), 4);
        assert_eq!(value["plan"][0]["reason"], "definition of `load` (function)");
        assert!(value["report"].as_str().unwrap().contains("2 file(s) changed"));
    }

    fn no_model() -> Result<Arc<EditModel>, String> {
        Err("the model is still loading".into())
    }

    fn run_quietly(input: EditInput) -> Result<(WorkspaceEdit, Value), Error> {
        run(input, &CancelToken::new(), &mut |_, _| {})
    }

    #[test]
    fn bad_arguments_give_clear_errors() {
        let dir = temp_root("args");
        std::fs::write(dir.join("a.py"), "def a():\n    return 1\n").unwrap();
        let args =
            |scope: &str| EditArgs { instruction: "rename a to b".into(), scope: Some(scope.into()), uri: None, range: None, apply: false };
        let input = |args| EditInput { root: dir.clone(), open: vec![], args, model: no_model(), index: None };
        let message = |input| run_quietly(input).unwrap_err().message.to_string();
        assert!(message(input(args("file"))).contains("needs a uri"));
        assert!(message(input(args("galaxy"))).contains("unknown scope"));
        // A file outside the workspace root is refused, with the parameters to blame.
        let outside = temp_root("outside");
        std::fs::write(outside.join("x.py"), "a = 1\n").unwrap();
        let escape = EditArgs { uri: Some(Url::from_file_path(outside.join("x.py")).unwrap()), ..args("file") };
        let err = run_quietly(input(escape)).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidParams);
        assert!(err.message.contains("outside the workspace root"), "{}", err.message);
        // A model rewrite of a selection says why it cannot run without the model.
        let selection = EditArgs {
            instruction: "add logging".into(),
            scope: Some("selection".into()),
            uri: Some(Url::from_file_path(dir.join("a.py")).unwrap()),
            range: Some(Range { start: Position::new(0, 0), end: Position::new(1, 12) }),
            apply: false,
        };
        let err = run_quietly(input(selection)).unwrap_err();
        assert_eq!(err.code, ErrorCode::ServerError(crate::errors::REQUEST_FAILED));
        assert!(err.message.contains("needs the model, but the model is still loading"), "{}", err.message);
        // A repository-wide rewrite needs the index.
        let rewrite = EditArgs { instruction: "add logging".into(), ..args("repository") };
        assert!(message(input(rewrite)).contains("index"));
        // The argument itself.
        assert!(EditArgs::parse(&[json!(42)]).unwrap_err().message.contains("takes one argument"));
        assert!(EditArgs::parse(&[json!({"scope": "selection"})]).unwrap_err().message.contains("instruction is empty"));
        assert!(EditArgs::parse(&[]).is_err());
    }

    #[test]
    fn the_code_action_asks_for_a_selection_edit_without_an_instruction() {
        let uri = Url::parse("file:///w/a.py").unwrap();
        let range = Range { start: Position::new(1, 0), end: Position::new(3, 4) };
        let action = code_action(uri.clone(), range);
        assert_eq!(action.kind, Some(CodeActionKind::REFACTOR_REWRITE));
        let command = action.command.unwrap();
        assert_eq!(command.command, COMMAND);
        assert_eq!(command.arguments.unwrap()[0], json!({"scope": "selection", "uri": uri, "range": range}));
        assert!(kind_wanted(None));
        assert!(kind_wanted(Some(&[CodeActionKind::REFACTOR])));
        assert!(kind_wanted(Some(&[CodeActionKind::REFACTOR_REWRITE])));
        assert!(!kind_wanted(Some(&[CodeActionKind::QUICKFIX, CodeActionKind::REFACTOR_EXTRACT])));
        assert!(!kind_wanted(Some(&[CodeActionKind::new("refactor.re")])));
    }
}
