//! What the model is told: the system text, the repository map from the index, and (for a
//! template that does not teach one) the tools and how to call them.

use std::fmt::Write as _;

use hearth_index::Index;

use super::format::{ParsedCall, ToolFormat};
use crate::chat::ToolSpec;

pub const SYSTEM: &str = "You are Hearth, a coding agent working in the user's repository. Use the tools to look \
things up and to change files: every edit is collected for the user to review, nothing is written until they accept it. \
Call one tool at a time and wait for its result. Edits must keep each file parsing. When the task is done, answer \
without a tool call: say in a few sentences what you changed and why.";

/// Lines of the repository map: each file, with its top-level definitions, until `budget` tokens
/// (counted by `count`); `focus` files come first. Says how many files it left out.
pub fn repository_map(index: &Index, focus: &[String], budget: usize, count: &dyn Fn(&str) -> usize) -> String {
    let mut files = index.file_paths();
    files.sort_by_key(|f| !focus.contains(f));
    let mut out = String::new();
    let mut used = 0;
    for (i, file) in files.iter().enumerate() {
        let names: Vec<String> = index.outline(file).into_iter().filter(|d| d.scope.is_none()).take(12).map(|d| d.name).collect();
        let line = if names.is_empty() { format!("{file}\n") } else { format!("{file}: {}\n", names.join(", ")) };
        let cost = count(&line);
        if used + cost > budget {
            let _ = writeln!(out, "[{} more files: call list_files]", files.len() - i);
            break;
        }
        used += cost;
        out.push_str(&line);
    }
    out
}

impl ToolFormat {
    /// How to call a tool in this format (after a list of `tools`, if any), for a template that does not say it.
    pub fn instructions(self, tools: &[ToolSpec]) -> String {
        let mut out = String::new();
        if !tools.is_empty() {
            out.push_str("You can call these tools:\n");
        }
        for t in tools {
            let _ = writeln!(
                out,
                "{{\"name\": {}, \"description\": {}, \"parameters\": {}}}",
                json_str(&t.name),
                json_str(&t.description),
                t.parameters.get()
            );
        }
        if !tools.is_empty() {
            out.push('\n');
        }
        let example =
            ParsedCall { name: "read_file".into(), arguments: serde_json::from_str(r#"{"path": "src/main.py"}"#).expect("valid JSON") };
        let _ = write!(
            out,
            "To call a tool, write exactly this, with the tool's name and arguments, and nothing after it:\n{}",
            self.render_call(&example)
        );
        out
    }

    /// A call's text in this format from its name and JSON arguments (an earlier call, shown again).
    pub fn render_raw(self, name: &str, arguments: &str) -> String {
        let arguments = serde_json::from_str(arguments).unwrap_or_default();
        self.render_call(&ParsedCall { name: name.to_string(), arguments })
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}
