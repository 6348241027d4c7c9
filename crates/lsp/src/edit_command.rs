//! `workspace/executeCommand` `hearth.edit`: protocol glue over `hearth_assist::edit`. Arguments in,
//! `{edit: WorkspaceEdit, plan, report}` out; nothing is written here (the client applies the edit).
//!
//! Not wired yet: `server.rs` must declare `mod edit_command;` (lib.rs), advertise `hearth.edit`, and
//! dispatch to [`run`] on a blocking thread (see the edits issue's report for the exact handler).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hearth_assist::edit::{
    shared_model, EditEngine, EditOutcome, EditRequest, ModelRewriter, Rewriter, Scope, Strategy, Workspace,
};
use hearth_base::{CancelToken, LineIndex};
use serde::Deserialize;
use serde_json::{json, Value};
use tower_lsp::lsp_types::{Position, Range, TextEdit, Url, WorkspaceEdit};

use crate::{from_proto, to_proto};

/// `{instruction, scope: "selection"|"file"|"repository", uri?, range?, apply?}`.
#[derive(Clone, Debug, Deserialize)]
pub struct EditArgs {
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

/// What the server hands over: the workspace root, the open documents' texts, and the model to
/// load for rewrites (`None`: renames only).
pub struct EditInput {
    pub root: PathBuf,
    pub open: Vec<(Url, Arc<String>)>,
    pub args: EditArgs,
    pub model: Option<(String, String)>,
}

/// Runs the edit; blocking (call it on a blocking thread). Returns the WorkspaceEdit and the
/// command's JSON result.
pub fn run(input: EditInput, cancel: &CancelToken) -> Result<(WorkspaceEdit, Value), String> {
    let workspace = Workspace::new(&input.root).map_err(|e| e.to_string())?;
    let root = workspace.root().to_path_buf();
    let mut open_documents = HashMap::new();
    for (uri, text) in &input.open {
        if let Some(rel) = relative(&root, uri) {
            open_documents.insert(rel, text.to_string());
        }
    }
    let args = &input.args;
    let path = |what: &str| -> Result<PathBuf, String> {
        let uri = args.uri.as_ref().ok_or_else(|| format!("hearth.edit: scope {what} needs a uri"))?;
        uri.to_file_path().map_err(|_| format!("hearth.edit: {uri} is not a file"))
    };
    let scope = match args.scope.as_deref().unwrap_or("repository") {
        "repository" => Scope::Repository,
        "file" => Scope::File(path("file")?),
        "selection" => {
            let file = path("selection")?;
            let range = args.range.ok_or("hearth.edit: scope selection needs a range")?;
            let uri = args.uri.as_ref().expect("checked by path()");
            let text = match input.open.iter().find(|(u, _)| u == uri) {
                Some((_, t)) => t.to_string(),
                None => std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?,
            };
            let bytes = from_proto::span(&text, &LineIndex::new(&text), range).map_err(|e| e.to_string())?;
            Scope::Selection { path: file, range: bytes }
        }
        other => return Err(format!("hearth.edit: unknown scope {other:?} (selection, file or repository)")),
    };
    let mut request = EditRequest::new(args.instruction.clone(), scope);
    request.open_documents = open_documents;

    let engine = EditEngine::new(&workspace, None);
    let plan = engine.plan(&request).map_err(|e| e.to_string())?;
    let mut rewriters: Vec<Box<dyn Rewriter>> = Vec::new();
    if plan.strategy == Strategy::Rewrite && !plan.regions.is_empty() {
        let Some((model, device)) = &input.model else { return Err("hearth.edit: no model is loaded".into()) };
        let loaded = shared_model(model, device).map_err(|e| e.to_string())?;
        rewriters.push(Box::new(ModelRewriter::new(&loaded, None).map_err(|e| e.to_string())?));
    }
    let outcome = engine.run(&request, &mut rewriters, cancel, &mut |_| {}).map_err(|e| e.to_string())?;
    Ok(to_result(&root, &outcome))
}

/// The outcome as protocol values: per-file `TextEdit`s (UTF-16 positions in the old text), the
/// plan with a range per region, and the report as text.
pub fn to_result(root: &Path, outcome: &EditOutcome) -> (WorkspaceEdit, Value) {
    let mut changes = HashMap::new();
    for file in &outcome.files {
        let Ok(uri) = Url::from_file_path(&file.abs_path) else { continue };
        let index = LineIndex::new(&file.old);
        let edits: Vec<TextEdit> = file
            .text_edits()
            .into_iter()
            .map(|e| {
                let start = to_proto::position(&file.old, &index, e.range.start);
                let end = to_proto::position(&file.old, &index, e.range.end);
                TextEdit { range: Range { start, end }, new_text: e.new_text }
            })
            .collect();
        changes.insert(uri, edits);
    }
    let plan: Vec<Value> = outcome
        .plan
        .regions
        .iter()
        .filter_map(|r| {
            let uri = Url::from_file_path(root.join(&r.path)).ok()?;
            let range = Range { start: Position::new(r.start_line, 0), end: Position::new(r.end_line + 1, 0) };
            Some(json!({"uri": uri, "range": range, "reason": r.reason}))
        })
        .collect();
    let edit = WorkspaceEdit { changes: Some(changes), ..Default::default() };
    let report = format!("{}{}", outcome.plan, outcome.report);
    let value = json!({"edit": edit, "plan": plan, "report": report});
    (edit, value)
}

fn relative(root: &Path, uri: &Url) -> Option<String> {
    let path = uri.to_file_path().ok()?;
    let rel = path.strip_prefix(root).ok()?;
    Some(rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut spans: Vec<(std::ops::Range<usize>, &str)> = edits
            .iter()
            .map(|e| (from_proto::span(text, &index, e.range).unwrap(), e.new_text.as_str()))
            .collect();
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
        let input = EditInput { root: root.clone(), open: vec![(b_uri.clone(), Arc::new(unsaved.clone()))], args, model: None };
        let (edit, value) = run(input, &CancelToken::new()).unwrap();
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

    #[test]
    fn bad_arguments_give_clear_errors() {
        let dir = temp_root("args");
        let args = |scope: &str| EditArgs { instruction: "rename a to b".into(), scope: Some(scope.into()), uri: None, range: None, apply: false };
        let input = |scope| EditInput { root: dir.clone(), open: vec![], args: args(scope), model: None };
        assert!(run(input("file"), &CancelToken::new()).unwrap_err().contains("needs a uri"));
        assert!(run(input("galaxy"), &CancelToken::new()).unwrap_err().contains("unknown scope"));
        let rewrite = EditInput {
            root: dir.clone(),
            open: vec![],
            args: EditArgs { instruction: "add logging".into(), scope: None, uri: None, range: None, apply: false },
            model: None,
        };
        assert!(run(rewrite, &CancelToken::new()).unwrap_err().contains("index"));
    }
}
