//! Byte offsets and Hearth results (completions, the edit and agent results) to protocol types, plus the LSP 3.18 inline completion types that
//! lsp-types 0.94 lacks.

use std::path::Path;

use hearth_assist::edit::{EditOutcome, FileChange};
use hearth_base::{LineIndex, WideEncoding};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tower_lsp::lsp_types::{
    self, CompletionItem, CompletionItemKind, CompletionTextEdit, CreateFile, DocumentChangeOperation, DocumentChanges, OneOf,
    OptionalVersionedTextDocumentIdentifier, Position, Range, ResourceOp, TextDocumentEdit, TextEdit, Url, WorkspaceEdit,
};

/// LSP position of a byte offset (clamped to the end of the text).
pub fn position(text: &str, index: &LineIndex, offset: usize) -> Position {
    let lc = index.line_col(text, offset.min(text.len()), WideEncoding::Utf16).expect("offset clamped to the text");
    Position::new(lc.line, lc.col)
}

/// `textDocument/inlineCompletion` params (LSP 3.18).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InlineCompletionParams {
    pub text_document: lsp_types::TextDocumentIdentifier,
    pub position: Position,
    #[serde(default)]
    pub context: Option<InlineCompletionContext>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InlineCompletionContext {
    /// 1 = invoked explicitly, 2 = automatically while typing.
    pub trigger_kind: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected_completion_info: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InlineCompletionList {
    pub items: Vec<InlineCompletionItem>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InlineCompletionItem {
    pub insert_text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<Range>,
}

/// The inline completion result for `text` inserted at `at`.
pub fn inline_completion(text: String, at: Position) -> InlineCompletionList {
    InlineCompletionList { items: vec![InlineCompletionItem { insert_text: text, filter_text: None, range: Some(Range::new(at, at)) }] }
}

/// An inline completion that replaces `range` with `text` (a next-edit suggestion on the cursor's line).
pub fn inline_replacement(text: String, range: Range) -> InlineCompletionList {
    InlineCompletionList { items: vec![InlineCompletionItem { insert_text: text, filter_text: None, range: Some(range) }] }
}

/// A `textDocument/completion` item that inserts `text` at `at`, labelled by its first line.
pub fn completion_item(text: String, at: Position) -> CompletionItem {
    let first_line = text.lines().next().unwrap_or("").trim();
    let label = if text.contains('\n') { format!("{first_line}…") } else { first_line.to_string() };
    CompletionItem {
        label,
        kind: Some(CompletionItemKind::TEXT),
        detail: Some("hearth".into()),
        text_edit: Some(CompletionTextEdit::Edit(TextEdit { range: Range::new(at, at), new_text: text })),
        ..Default::default()
    }
}

/// The outcome as protocol values: per-file `TextEdit`s (UTF-16 positions in the old text), the
/// The text edits that turn one file's old text into its new one (UTF-16 positions in the old text).
pub fn text_edits(file: &FileChange) -> Vec<TextEdit> {
    let index = LineIndex::new(&file.old);
    file.text_edits()
        .into_iter()
        .map(|e| {
            let start = position(&file.old, &index, e.range.start);
            let end = position(&file.old, &index, e.range.end);
            TextEdit { range: Range { start, end }, new_text: e.new_text }
        })
        .collect()
}

/// Changes as one `WorkspaceEdit`: `changes` per uri, or, when a file is new, `documentChanges`
/// that create it first.
pub fn workspace_edit(files: &[FileChange]) -> WorkspaceEdit {
    let created = |f: &FileChange| f.old.is_empty() && !f.abs_path.exists();
    if !files.iter().any(created) {
        let changes = files.iter().filter_map(|f| Some((Url::from_file_path(&f.abs_path).ok()?, text_edits(f)))).collect();
        return WorkspaceEdit { changes: Some(changes), ..Default::default() };
    }
    let mut operations = Vec::new();
    for f in files {
        let Ok(uri) = Url::from_file_path(&f.abs_path) else { continue };
        if created(f) {
            operations.push(DocumentChangeOperation::Op(ResourceOp::Create(CreateFile {
                uri: uri.clone(),
                options: None,
                annotation_id: None,
            })));
        }
        let edits = text_edits(f).into_iter().map(OneOf::Left).collect();
        operations.push(DocumentChangeOperation::Edit(TextDocumentEdit {
            text_document: OptionalVersionedTextDocumentIdentifier { uri, version: None },
            edits,
        }));
    }
    WorkspaceEdit { document_changes: Some(DocumentChanges::Operations(operations)), ..Default::default() }
}

/// plan with a range per region, the files left unedited that mention the change, and the report
/// as text.
pub fn edit_result(root: &Path, outcome: &EditOutcome) -> (WorkspaceEdit, Value) {
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
    let skipped: Vec<Value> = outcome
        .report
        .skipped_files
        .iter()
        .map(|s| json!({"uri": Url::from_file_path(root.join(&s.path)).ok(), "path": s.path, "reason": s.reason}))
        .collect();
    let edit = workspace_edit(&outcome.files);
    let report = format!("{}{}", outcome.plan, outcome.report);
    let value = json!({"edit": edit, "plan": plan, "skippedFiles": skipped, "report": report});
    (edit, value)
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    #[test]
    fn inline_completion_json_shape() {
        let list = inline_completion("x + 1)".into(), Position::new(2, 8));
        expect![[r#"{"items":[{"insertText":"x + 1)","range":{"start":{"line":2,"character":8},"end":{"line":2,"character":8}}}]}"#]]
            .assert_eq(&serde_json::to_string(&list).unwrap());
        let params: InlineCompletionParams = serde_json::from_str(
            r#"{"textDocument":{"uri":"file:///a.py"},"position":{"line":0,"character":3},"context":{"triggerKind":2}}"#,
        )
        .unwrap();
        assert_eq!(params.context.unwrap().trigger_kind, 2);
    }
}
