//! The agent's tools: the index (search, symbols, references), file reads and listings over the
//! edits made so far, gated search/replace edits, structural renames, and the user's allowed commands.
//! Every change stays in memory ([`Changes`]) until the user accepts it.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use hearth_base::CancelToken;
use hearth_index::Index;
use hearth_syntax::Language;
use serde_json::{Map, Value};

use super::command::{CommandPolicy, Confirm, RunOutput};
use super::schema::Schema;
use crate::chat::{RawValue, ToolSpec};
use crate::edit::{EditEngine, EditError, EditRequest, FileChange, Scope, Workspace};

/// The tool descriptions the model gets (`tools.json`; `run` only when commands are allowed).
const TOOLS_JSON: &str = include_str!("tools.json");

/// Most lines one `read_file` returns.
pub const READ_LINES: usize = 200;
/// Most entries a listing or search returns.
const LIST_LIMIT: usize = 200;

/// The tools offered for a session: all of `tools.json`, without `rename` and the index tools when
/// there is no index, and `run` only with allowed commands (its `command` an enum of them).
pub fn tool_specs(has_index: bool, commands: &[String]) -> Vec<ToolSpec> {
    #[derive(serde::Deserialize)]
    struct Spec {
        name: String,
        description: String,
        parameters: Box<RawValue>,
    }
    let specs: Vec<Spec> = serde_json::from_str(TOOLS_JSON).expect("tools.json is valid");
    specs
        .into_iter()
        .filter(|s| has_index || !matches!(s.name.as_str(), "search" | "symbols" | "references"))
        .filter(|s| !commands.is_empty() || s.name != "run")
        .map(|s| {
            let parameters = if s.name == "run" {
                let list = serde_json::to_string(commands).unwrap_or_default();
                let text = format!(
                    r#"{{"type": "object", "properties": {{"command": {{"type": "string", "enum": {list}, "description": "One of the allowed commands"}}}}, "required": ["command"]}}"#
                );
                RawValue::from_string(text).expect("valid JSON")
            } else {
                s.parameters
            };
            ToolSpec { name: s.name, description: s.description, parameters }
        })
        .collect()
}

/// The schemas of `specs`, for the call grammar.
pub fn schemas(specs: &[ToolSpec]) -> Vec<(String, Schema)> {
    specs.iter().map(|s| (s.name.clone(), Schema::parse(s.parameters.get()))).collect()
}

/// What a tool call returned: text for the model, and whether it did what was asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolResult {
    pub ok: bool,
    pub text: String,
}

impl ToolResult {
    fn ok(text: impl Into<String>) -> Self {
        ToolResult { ok: true, text: text.into() }
    }

    fn err(text: impl Into<String>) -> Self {
        ToolResult { ok: false, text: text.into() }
    }
}

/// The files the agent changed: each one's text before (as the editor or disk had it) and now.
#[derive(Clone, Debug, Default)]
pub struct Changes {
    files: BTreeMap<String, (String, String)>,
}

impl Changes {
    /// The changed files as reviewable changes (unchanged ones left out), in path order.
    pub fn file_changes(&self, root: &Path) -> Vec<FileChange> {
        self.files
            .iter()
            .filter(|(_, (old, new))| old != new)
            .map(|(path, (old, new))| FileChange { path: path.clone(), abs_path: root.join(path), old: old.clone(), new: new.clone() })
            .collect()
    }

    pub fn current(&self, rel: &str) -> Option<&str> {
        self.files.get(rel).map(|(_, new)| new.as_str())
    }

    fn set(&mut self, rel: &str, old: String, new: String) {
        self.files.entry(rel.to_string()).or_insert((old, String::new())).1 = new;
    }
}

/// Runs the tools of one agent session.
pub struct Toolbox<'a> {
    pub workspace: &'a Workspace,
    pub index: Option<&'a Index>,
    /// Root-relative path → unsaved editor text.
    pub open_documents: &'a HashMap<String, String>,
    pub changes: Changes,
    pub commands: CommandPolicy,
}

impl<'a> Toolbox<'a> {
    pub fn new(
        workspace: &'a Workspace,
        index: Option<&'a Index>,
        open_documents: &'a HashMap<String, String>,
        commands: CommandPolicy,
    ) -> Self {
        Toolbox { workspace, index, open_documents, changes: Changes::default(), commands }
    }

    /// Runs one call (arguments already checked against the tool's schema).
    pub fn call(&mut self, name: &str, args: &Map<String, Value>, confirm: &mut dyn Confirm, cancel: &CancelToken) -> ToolResult {
        let s = |k: &str| args.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let n = |k: &str| args.get(k).and_then(Value::as_i64);
        let result = match name {
            "search" => self.search(&s("query"), n("limit").unwrap_or(10).clamp(1, 50) as usize),
            "symbols" => self.symbols(&s("name")),
            "references" => self.references(&s("name")),
            "read_file" => self.read_file(&s("path"), n("start_line"), n("end_line")),
            "list_files" => self.list_files(&s("directory")),
            "edit" => self.edit(&s("path"), &s("search"), &s("replace")),
            "rename" => self.rename(&s("from"), &s("to"), cancel),
            "run" => Ok(self.run(&s("command"), confirm, cancel)),
            other => Ok(ToolResult::err(format!("`{other}` is not a tool"))),
        };
        result.unwrap_or_else(|e| ToolResult::err(e.to_string()))
    }

    /// A file's current text: the agent's edits, else the editor's buffer, else the disk.
    pub fn text(&self, rel: &str) -> Result<(String, String), EditError> {
        let path = self.workspace.resolve(Path::new(rel))?;
        if let Some(text) = self.changes.current(&path.rel) {
            return Ok((path.rel, text.to_string()));
        }
        if let Some(text) = self.open_documents.get(&path.rel) {
            return Ok((path.rel, text.clone()));
        }
        let text = self.workspace.read(&path)?;
        Ok((path.rel, text))
    }

    fn index(&self) -> Result<&Index, EditError> {
        self.index.ok_or(EditError::NoIndex)
    }

    fn search(&self, query: &str, limit: usize) -> Result<ToolResult, EditError> {
        let hits = self.index()?.search(query, limit)?;
        if hits.is_empty() {
            return Ok(ToolResult::ok(format!("no match for `{query}`")));
        }
        let mut out = String::new();
        for h in hits {
            let _ = writeln!(out, "{}:{}-{} {} {}", h.path, h.start_line + 1, h.end_line + 1, h.kind, h.name);
        }
        Ok(ToolResult::ok(out))
    }

    fn symbols(&self, name: &str) -> Result<ToolResult, EditError> {
        let defs = self.index()?.find_symbols(name, 30);
        if defs.is_empty() {
            return Ok(ToolResult::ok(format!("no definition matches `{name}`")));
        }
        let mut out = String::new();
        for d in defs {
            let _ = writeln!(out, "{}:{} {} {}: {}", d.path, d.start_line + 1, d.kind.as_str(), d.name, d.signature);
        }
        Ok(ToolResult::ok(out))
    }

    fn references(&self, name: &str) -> Result<ToolResult, EditError> {
        let refs = self.index()?.references(name)?;
        if refs.is_empty() {
            return Ok(ToolResult::ok(format!("`{name}` is not used anywhere")));
        }
        let mut out = String::new();
        for r in refs.iter().take(LIST_LIMIT) {
            let _ = writeln!(out, "{}:{}:{}", r.path, r.line + 1, r.col + 1);
        }
        if refs.len() > LIST_LIMIT {
            let _ = writeln!(out, "[{} more not shown]", refs.len() - LIST_LIMIT);
        }
        Ok(ToolResult::ok(out))
    }

    fn read_file(&self, path: &str, start: Option<i64>, end: Option<i64>) -> Result<ToolResult, EditError> {
        let (rel, text) = self.text(path)?;
        let lines: Vec<&str> = text.lines().collect();
        if lines.is_empty() {
            return Ok(ToolResult::ok(format!("{rel} is empty")));
        }
        let first = start.unwrap_or(1).max(1) as usize;
        if first > lines.len() {
            return Ok(ToolResult::err(format!("{rel} has {} lines; start_line {first} is past its end", lines.len())));
        }
        let last = end.map_or(first + READ_LINES - 1, |e| e.max(first as i64) as usize).min(lines.len()).min(first + READ_LINES - 1);
        let mut out = String::new();
        for (i, line) in lines[first - 1..last].iter().enumerate() {
            let _ = writeln!(out, "{:>5} {line}", first + i);
        }
        if last < lines.len() {
            let _ = writeln!(out, "[lines {}-{} of {}; read on with start_line {}]", first, last, lines.len(), last + 1);
        }
        Ok(ToolResult::ok(out))
    }

    fn list_files(&self, directory: &str) -> Result<ToolResult, EditError> {
        let dir = directory.trim_matches('/');
        let mut files: Vec<String> = match self.index {
            Some(index) => index.file_paths(),
            None => hearth_index::source_files(self.workspace.root(), crate::edit::MAX_FILE_BYTES),
        };
        for rel in self.changes.files.keys() {
            if !files.contains(rel) {
                files.push(rel.clone());
            }
        }
        files.sort();
        files.retain(|f| dir.is_empty() || f.starts_with(&format!("{dir}/")));
        if files.is_empty() {
            return Ok(ToolResult::ok(format!("no source files under `{directory}`")));
        }
        let mut out: String = files.iter().take(LIST_LIMIT).map(|f| format!("{f}\n")).collect();
        if files.len() > LIST_LIMIT {
            let _ = writeln!(out, "[{} more; list a directory]", files.len() - LIST_LIMIT);
        }
        Ok(ToolResult::ok(out))
    }

    /// One search/replace block, gated like `hearth edit`'s rewrites: no new tree-sitter errors.
    fn edit(&mut self, path: &str, search: &str, replace: &str) -> Result<ToolResult, EditError> {
        let (rel, old, new) = if search.is_empty() {
            match self.text(path) {
                Ok((rel, _)) => return Ok(ToolResult::err(format!("{rel} exists: give the text to replace in `search`"))),
                Err(EditError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                    let rel = self.workspace.resolve(Path::new(path))?.rel;
                    (rel, String::new(), replace.to_string())
                }
                Err(e) => return Err(e),
            }
        } else {
            let (rel, old) = self.text(path)?;
            let count = old.matches(search).count();
            match count {
                0 => return Ok(ToolResult::err(not_found(&rel, &old, search))),
                1 => {}
                n => {
                    return Ok(ToolResult::err(format!(
                        "`search` appears {n} times in {rel}; include more of the surrounding lines so it appears once"
                    )))
                }
            }
            let new = old.replacen(search, replace, 1);
            (rel, old, new)
        };
        if let Some(lang) = Language::from_path(Path::new(&rel)) {
            let before = hearth_syntax::error_count(lang, &old)?;
            let after = hearth_syntax::error_count(lang, &new)?;
            if after > before {
                let line = first_error_line(lang, &new).map(|l| format!(" (first at line {l})")).unwrap_or_default();
                return Ok(ToolResult::err(format!(
                    "edit rejected: {rel} would not parse as {}: {} new syntax error(s){line}. Nothing was changed; fix the replacement and try again",
                    lang.name(),
                    after - before
                )));
            }
        }
        let original = self.original(&rel, &old);
        self.changes.set(&rel, original, new.clone());
        let lines = replace.lines().count();
        Ok(ToolResult::ok(format!("edited {rel}: {} line(s) replaced by {lines}; it parses", search.lines().count())))
    }

    /// The text a file had before the agent's first change to it.
    fn original(&self, rel: &str, current: &str) -> String {
        match self.changes.files.get(rel) {
            Some((old, _)) => old.clone(),
            None => current.to_string(),
        }
    }

    fn rename(&mut self, from: &str, to: &str, cancel: &CancelToken) -> Result<ToolResult, EditError> {
        let mut open = self.open_documents.clone();
        for (rel, (_, new)) in &self.changes.files {
            open.insert(rel.clone(), new.clone());
        }
        let mut request = EditRequest::new(format!("rename {from} to {to}"), Scope::Repository);
        request.open_documents = open;
        let engine = EditEngine::new(self.workspace, self.index);
        let outcome = engine.run(&request, &mut [], cancel, &mut |_| {})?;
        if outcome.files.is_empty() {
            return Ok(ToolResult::err(format!("`{from}` was not found as an identifier; nothing renamed")));
        }
        let mut out =
            format!("renamed `{from}` to `{to}`: {} occurrence(s) in {} file(s)", outcome.plan.regions.len(), outcome.files.len());
        for note in &outcome.plan.notes {
            let _ = write!(out, "\nnote: {note}");
        }
        for change in outcome.files {
            let original = self.original(&change.path, &change.old);
            self.changes.set(&change.path, original, change.new);
        }
        Ok(ToolResult::ok(out))
    }

    fn run(&mut self, command: &str, confirm: &mut dyn Confirm, cancel: &CancelToken) -> ToolResult {
        let changes = self.changes.file_changes(self.workspace.root());
        match self.commands.run(self.workspace.root(), command, &changes, confirm, cancel) {
            Ok(RunOutput { status, output }) => ToolResult { ok: status == Some(0), text: output },
            Err(why) => ToolResult::err(why),
        }
    }
}

/// Why `search` was not found, with the closest line so the model can copy it exactly.
fn not_found(rel: &str, text: &str, search: &str) -> String {
    let first = search.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    let near = text.lines().enumerate().find(|(_, l)| !first.is_empty() && l.contains(first));
    match near {
        Some((i, line)) => format!(
            "`search` does not appear in {rel} exactly (whitespace counts). Its first line is at line {}: `{line}`; read the file and copy the text exactly",
            i + 1
        ),
        None => format!("`search` does not appear in {rel}; read the file first and copy the text to replace exactly"),
    }
}

fn first_error_line(lang: Language, text: &str) -> Option<usize> {
    let parsed = hearth_syntax::parse(lang, text).ok()?;
    parsed.first_error_line().map(|l| l as usize + 1)
}
