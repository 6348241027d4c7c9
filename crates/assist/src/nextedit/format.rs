//! The next-edit prompt formats, each as its model was trained on it: Sweep's next-edit format
//! (`<|file_sep|>` sections, `original:`/`updated:` diff blocks, the `original/`, `current/` and
//! `updated/` windows), Zed's Zeta format (an instruction prompt with the user's edits as unified
//! diffs and an editable region between markers), and a generic instruction through the model's own
//! chat template. Each says which part of the file the model rewrites, what it writes when nothing
//! changes (the copy source for speculation), where its answer stops, and how to read the answer.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use hearth_model::Tokenizer;
use serde::Serialize;

use super::history::{lines, EditEvent};
use crate::chat::{ChatTemplate, Conversation, Message, RenderOptions};

/// How a next-edit prompt is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NextEditFormat {
    /// Sweep's next-edit models (`sweepai/sweep-next-edit-*`, Qwen2.5-Coder based), as their model
    /// card's `run_model.py` builds it: needs `<|file_sep|>` as one token.
    Sweep,
    /// Zed's Zeta (`zed-industries/zeta`), as its training notebook writes it; plain text markers.
    Zeta,
    /// Any instruction-tuned model, through its own chat template.
    Chat,
}

impl FromStr for NextEditFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sweep" => Ok(NextEditFormat::Sweep),
            "zeta" => Ok(NextEditFormat::Zeta),
            "chat" => Ok(NextEditFormat::Chat),
            other => Err(format!("unknown next-edit format `{other}` (expected auto, sweep, zeta or chat)")),
        }
    }
}

impl fmt::Display for NextEditFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NextEditFormat::Sweep => "sweep",
            NextEditFormat::Zeta => "zeta",
            NextEditFormat::Chat => "chat",
        })
    }
}

impl NextEditFormat {
    /// Whether the prompt shows other files (Zeta's has the edits and the excerpt only).
    pub fn shows_context(self) -> bool {
        self != NextEditFormat::Zeta
    }

    /// The format a model was trained on, judged by its name and vocabulary: Sweep's and Zed's models
    /// by name, an instruction-tuned model with a chat template gets `chat`, a base model whose
    /// vocabulary has `<|file_sep|>` (Qwen2.5-Coder's repository format) gets `sweep`, others `zeta`.
    pub fn for_model(name: &str, has_chat_template: bool, has_file_sep: bool) -> NextEditFormat {
        let name = name.to_lowercase();
        let instruct = ["instruct", "-it", "_it", "chat"].iter().any(|m| name.contains(m));
        if name.contains("sweep") {
            NextEditFormat::Sweep
        } else if name.contains("zeta") {
            NextEditFormat::Zeta
        } else if instruct && has_chat_template {
            NextEditFormat::Chat
        } else if has_file_sep {
            NextEditFormat::Sweep
        } else {
            NextEditFormat::Zeta
        }
    }
}

/// A file (or part of one) shown to the model for context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextFile {
    pub path: String,
    pub text: String,
}

/// What a next-edit prompt is built from.
#[derive(Clone, Copy, Debug)]
pub struct NextEditInput<'a> {
    /// Root-relative, `/`-separated.
    pub path: &'a str,
    /// The document as the editor holds it.
    pub text: &'a str,
    /// The cursor, a byte offset into `text` on a character boundary.
    pub cursor: usize,
    /// Recent edits, oldest first; the last edit of this file must be the latest of its hunks.
    pub events: &'a [EditEvent],
    /// Other files' snippets, best first.
    pub context: &'a [ContextFile],
}

/// A piece of a prompt: text (never a special token, whatever it spells), a special token (one id
/// of the vocabulary), or a chat template's own text (its special tokens as ids).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    Text(String),
    Special(&'static str),
    Template(String),
}

/// Sweep's section separator, a special token of Qwen2.5-Coder's vocabulary.
pub const FILE_SEP: &str = "<|file_sep|>";

const ZETA_INSTRUCTION: &str = "You are a code completion assistant and your task is to analyze user edits and then rewrite an excerpt that the user provides, suggesting the appropriate edits within the excerpt, taking into account the cursor location.";
const START_OF_FILE: &str = "<|start_of_file|>";
const REGION_START: &str = "<|editable_region_start|>";
const REGION_END: &str = "<|editable_region_end|>";
const CURSOR: &str = "<|user_cursor_is_here|>";

const CHAT_SYSTEM: &str = "You predict a programmer's next edit. From the edits they just made and the code around their cursor, \
rewrite the marked region of their file with the edit they will make next: continue the change their recent edits started \
(update the other uses of a renamed name, fill in what a new field or parameter needs). Never undo their edits. If nothing \
needs to change, repeat the region exactly. Answer with the rewritten region alone, in one fenced code block.";

/// Lines above and below the cursor's line in Sweep's window (21 lines, as Sweep trains).
const SWEEP_LINES_AROUND: usize = 10;
/// Zeta's editable region and the context around it, in its own token estimate (bytes / 3).
const ZETA_EDITABLE_TOKENS: usize = 350;
const ZETA_CONTEXT_TOKENS: usize = 150;
/// Zeta's edit history budget (bytes / 3), the newest edits first.
const ZETA_EVENT_TOKENS: usize = 500;

/// A prompt in one format, and how to read its answer.
#[derive(Clone, Debug)]
pub struct NextEditPrompt {
    pub format: NextEditFormat,
    pub segments: Vec<Segment>,
    /// The bytes of the document the model rewrites: whole lines, without the last one's newline.
    pub window: Range<usize>,
    /// The answer when nothing changes: proposals for speculation copy it.
    pub unchanged: String,
    /// Strings that end the answer (special tokens end it too).
    pub stop_strings: Vec<String>,
}

impl NextEditPrompt {
    /// The prompt as one string (special tokens spelled out).
    pub fn text(&self) -> String {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Text(t) | Segment::Template(t) => t.as_str(),
                Segment::Special(t) => t,
            })
            .collect()
    }

    /// The prompt's token ids: text as text, special tokens as their one id (an error names the
    /// token a vocabulary lacks), a template's text with its special tokens.
    pub fn ids(&self, tokenizer: &Tokenizer, bos: Option<u32>) -> Result<Vec<u32>, String> {
        let mut ids: Vec<u32> = bos.into_iter().collect();
        for segment in &self.segments {
            match segment {
                Segment::Text(text) => ids.extend(tokenizer.encode(text)),
                Segment::Template(text) => ids.extend(tokenizer.encode_special(text)),
                Segment::Special(name) => ids.push(special_id(tokenizer, self.format, name)?),
            }
        }
        Ok(ids)
    }

    /// The answer's ids when nothing changes, its end included (Sweep's `<|file_sep|>`).
    pub fn unchanged_ids(&self, tokenizer: &Tokenizer) -> Result<Vec<u32>, String> {
        let mut ids = tokenizer.encode(&self.unchanged);
        if self.format == NextEditFormat::Sweep {
            ids.push(special_id(tokenizer, self.format, FILE_SEP)?);
        }
        Ok(ids)
    }

    /// Where the answer starts the editable region over, after some of its text: the rewrite ended
    /// there (Gemma 3 270M, on the chat format, goes on to repeat the region). None for formats
    /// without markers and answers that do not start over.
    pub fn restart_at(&self, answer: &str) -> Option<usize> {
        if self.format == NextEditFormat::Sweep {
            return None;
        }
        answer.match_indices(REGION_START).map(|(at, _)| at).find(|&at| {
            let before = [CURSOR, REGION_START, REGION_END].iter().fold(answer[..at].to_string(), |t, m| t.replace(m, ""));
            !before.trim().is_empty()
        })
    }

    /// The window's new text from the model's answer (`None`: the answer has no region).
    pub fn parse(&self, answer: &str) -> Option<String> {
        match self.format {
            NextEditFormat::Sweep => {
                let body = answer.strip_prefix('\n').unwrap_or(answer);
                let body = body.split("</s>").next().unwrap_or(body);
                Some(body.strip_suffix('\n').unwrap_or(body).to_string())
            }
            NextEditFormat::Zeta => {
                let answer = answer.replace(CURSOR, "");
                let start = answer.find(REGION_START)? + REGION_START.len();
                let body = &answer[start..];
                let body = body.strip_prefix('\n').unwrap_or(body);
                let body = match body.rfind(REGION_END) {
                    Some(end) => &body[..end],
                    None => body,
                };
                Some(body.strip_suffix('\n').unwrap_or(body).to_string())
            }
            NextEditFormat::Chat => {
                // The prompt's markers, when the model repeats them, are not code: a line that held
                // only markers goes, and markers within a line come out.
                let body = answer.split("```").next().unwrap_or(answer);
                let markers = [CURSOR, REGION_START, REGION_END];
                let unmarked = |line: &str| markers.iter().fold(line.to_string(), |l, m| l.replace(m, ""));
                let body: String = body
                    .split_inclusive('\n')
                    .filter(|line| !(markers.iter().any(|m| line.contains(m)) && unmarked(line).trim().is_empty()))
                    .map(unmarked)
                    .collect();
                Some(body.strip_suffix('\n').unwrap_or(&body).to_string())
            }
        }
    }
}

/// Builds the prompt for `input` in `format`; `chat` is the model's template (needed for `Chat`).
pub fn build(format: NextEditFormat, input: &NextEditInput<'_>, chat: Option<&ChatTemplate>) -> Result<NextEditPrompt, String> {
    match format {
        NextEditFormat::Sweep => Ok(sweep(input)),
        NextEditFormat::Zeta => Ok(zeta(input)),
        NextEditFormat::Chat => chat_prompt(input, chat.ok_or("the chat next-edit format needs a model with a chat template")?),
    }
}

fn sweep(input: &NextEditInput<'_>) -> NextEditPrompt {
    let window = lines_around(input.text, input.cursor, SWEEP_LINES_AROUND, SWEEP_LINES_AROUND);
    let current = &input.text[window.clone()];
    // The file's latest edit shows as `original/` against `current/`; older ones as diff blocks.
    let (original, shown) = original_window(input, &window);
    // `run_model.py`: the parts joined by one newline; each `<|file_sep|>` starts a part.
    let mut parts: Vec<Vec<Segment>> = Vec::new();
    let section = |name: String| vec![Segment::Special(FILE_SEP), Segment::Text(name)];
    for file in input.context {
        parts.push(section(file.path.clone()));
        parts.push(vec![Segment::Text(file.text.clone())]);
    }
    for (i, event) in input.events.iter().enumerate() {
        if shown == Some(i) {
            continue;
        }
        parts.push(section(format!("{}.diff", event.path)));
        for text in ["original:", strip_newline(&event.hunk.old), "updated:", strip_newline(&event.hunk.new)] {
            parts.push(vec![Segment::Text(text.to_string())]);
        }
    }
    parts.push(section(format!("original/{}", input.path)));
    parts.push(vec![Segment::Text(original)]);
    parts.push(section(format!("current/{}", input.path)));
    parts.push(vec![Segment::Text(current.to_string())]);
    parts.push(section(format!("updated/{}", input.path)));
    let mut segments = Vec::new();
    for (i, part) in parts.into_iter().enumerate() {
        if i > 0 {
            push_text(&mut segments, "\n");
        }
        for s in part {
            match s {
                Segment::Text(t) => push_text(&mut segments, &t),
                special => segments.push(special),
            }
        }
    }
    NextEditPrompt {
        format: NextEditFormat::Sweep,
        segments,
        unchanged: format!("\n{current}\n"),
        window,
        stop_strings: vec!["</s>".into()],
    }
}

fn zeta(input: &NextEditInput<'_>) -> NextEditPrompt {
    let (editable, context) = zeta_regions(input.text, input.cursor);
    let text = input.text;
    let mut events: Vec<String> = Vec::new();
    let mut budget = ZETA_EVENT_TOKENS;
    for event in input.events.iter().rev() {
        let rendered = format!("User edited {:?}:\n```diff\n{}\n```", event.path, event.hunk.unified_diff());
        let cost = rendered.len() / 3;
        if cost > budget {
            break;
        }
        budget -= cost;
        events.push(rendered);
    }
    events.reverse();
    let mut excerpt = format!("```{}\n", input.path);
    if context.start == 0 {
        excerpt.push_str(START_OF_FILE);
        excerpt.push('\n');
    }
    excerpt.push_str(&marked(text, input.cursor, &editable, &context));
    excerpt.push_str("\n```");
    let prompt = format!(
        "### Instruction:\n{ZETA_INSTRUCTION}\n\n### User Edits:\n\n{}\n\n### User Excerpt:\n\n{excerpt}\n\n### Response:\n\n",
        events.join("\n\n")
    );
    NextEditPrompt {
        format: NextEditFormat::Zeta,
        segments: vec![Segment::Text(prompt)],
        unchanged: format!("{REGION_START}\n{}\n{REGION_END}", &text[editable.clone()]),
        window: editable,
        stop_strings: vec![REGION_END.into()],
    }
}

fn chat_prompt(input: &NextEditInput<'_>, template: &ChatTemplate) -> Result<NextEditPrompt, String> {
    let text = input.text;
    let window = lines_around(text, input.cursor, SWEEP_LINES_AROUND, SWEEP_LINES_AROUND);
    let context = lines_around(text, input.cursor, 2 * SWEEP_LINES_AROUND, 2 * SWEEP_LINES_AROUND);
    let mut user = String::new();
    if !input.events.is_empty() {
        user.push_str("My recent edits, oldest first:\n\n");
        for event in input.events {
            user.push_str(&format!("`{}`:\n```diff\n{}```\n\n", event.path, event.hunk.unified_diff()));
        }
    }
    for file in input.context {
        user.push_str(&format!("Related code from `{}`:\n```\n{}\n```\n\n", file.path, strip_newline(&file.text)));
    }
    user.push_str(&format!("The file `{}`, my cursor at {CURSOR}:\n```\n", input.path));
    user.push_str(&marked(text, input.cursor, &window, &context));
    user.push_str(&format!("\n```\n\nRewrite the code between {REGION_START} and {REGION_END} with my next edit, without the markers."));
    let conversation =
        Conversation { messages: vec![Message::new("system", CHAT_SYSTEM), Message::new("user", user.clone())], tools: Vec::new() };
    let options = RenderOptions { add_generation_prompt: true, ..Default::default() };
    let (rendered, _) = template.render_folding_system(&conversation, &options).map_err(|e| format!("the model's chat template: {e}"))?;
    // The template's text with its special tokens; the user turn as plain text (code may spell one).
    let at = rendered.find(&user).ok_or("the chat template changed the prompt's text")?;
    let segments = vec![
        Segment::Template(rendered[..at].to_string()),
        Segment::Text(user.clone()),
        Segment::Template(format!("{}```\n", &rendered[at + user.len()..])),
    ];
    Ok(NextEditPrompt {
        format: NextEditFormat::Chat,
        segments,
        unchanged: format!("{}\n```", &text[window.clone()]),
        window,
        // The model closing the region has finished it, as a closing fence does.
        stop_strings: vec!["```".into(), REGION_END.into()],
    })
}

/// `context` of `text` with the editable `region` between its markers (each on a line of its own)
/// and the cursor marked.
fn marked(text: &str, cursor: usize, region: &Range<usize>, context: &Range<usize>) -> String {
    [
        &text[context.start..region.start],
        REGION_START,
        "\n",
        &text[region.start..cursor],
        CURSOR,
        &text[cursor..region.end],
        "\n",
        REGION_END,
        &text[region.end..context.end],
    ]
    .concat()
}

/// The window as it was before the file's latest edit: the current window with that edit's hunk
/// taken back where it falls inside (or overlaps) the window; with the index of the event taken back.
fn original_window(input: &NextEditInput<'_>, window: &Range<usize>) -> (String, Option<usize>) {
    let current = &input.text[window.clone()];
    let unchanged = (current.to_string(), None);
    let Some((index, event)) = input.events.iter().enumerate().rev().find(|(_, e)| e.path == input.path) else { return unchanged };
    let hunk = &event.hunk;
    let all = lines(input.text);
    let first = input.text[..window.start].matches('\n').count();
    let last = first + current.matches('\n').count() + 1;
    let (h0, h1) = (hunk.start_line, hunk.start_line + hunk.new_line_count());
    if h1 < first || h0 >= last || h1 > all.len() || all[h0..h1].concat() != hunk.new {
        return unchanged;
    }
    let (lo, hi) = (first.min(h0), last.max(h1).min(all.len()));
    let reverted = format!("{}{}{}", all[lo..h0].concat(), hunk.old, all[h1..hi].concat());
    // Without the window's last newline, as the current window is written.
    let text = if hi == all.len() && !input.text.ends_with('\n') { reverted } else { strip_newline(&reverted).to_string() };
    (text, Some(index))
}

/// Whole lines from `above` lines before the cursor's line to `below` after it, without the last
/// line's newline.
pub fn lines_around(text: &str, cursor: usize, above: usize, below: usize) -> Range<usize> {
    let starts = line_starts(text, cursor);
    let line = starts.partition_point(|&s| s <= cursor) - 1;
    let first = line.saturating_sub(above);
    let last = (line + below).min(starts.len() - 1);
    starts[first]..line_end(text, starts[last])
}

/// Zeta's editable region (about 350 of its tokens around the cursor, grown a line at a time above
/// and below in turn) and its context (150 more), both whole lines without the last newline.
fn zeta_regions(text: &str, cursor: usize) -> (Range<usize>, Range<usize>) {
    let starts = line_starts(text, cursor);
    let line_end = |l: usize| line_end(text, starts[l]);
    let cost = |l: usize| (line_end(l) + 1 - starts[l]).div_ceil(3);
    let line = starts.partition_point(|&s| s <= cursor) - 1;
    let grow = |(mut first, mut last): (usize, usize), mut budget: usize| loop {
        let mut grew = false;
        if first > 0 && cost(first - 1) <= budget {
            first -= 1;
            budget -= cost(first);
            grew = true;
        }
        if last + 1 < starts.len() && cost(last + 1) <= budget {
            last += 1;
            budget -= cost(last);
            grew = true;
        }
        if !grew {
            return (first, last);
        }
    };
    let editable = grow((line, line), ZETA_EDITABLE_TOKENS.saturating_sub(cost(line)));
    let context = grow(editable, ZETA_CONTEXT_TOKENS);
    ((starts[editable.0]..line_end(editable.1)), (starts[context.0]..line_end(context.1)))
}

fn special_id(tokenizer: &Tokenizer, format: NextEditFormat, name: &str) -> Result<u32, String> {
    tokenizer.token_id(name).filter(|&id| tokenizer.is_special(id)).ok_or_else(|| {
        format!("the {format} next-edit format needs {name} as one token of the vocabulary, which has none: use the zeta or chat format")
    })
}

/// Where each line starts; the empty line after a final newline counts only with the cursor on it.
fn line_starts(text: &str, cursor: usize) -> Vec<usize> {
    let mut starts: Vec<usize> = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
    if starts.len() > 1 && starts.last() == Some(&text.len()) && cursor < text.len() {
        starts.pop();
    }
    starts
}

/// The end of the line that starts at `start`, before its newline.
fn line_end(text: &str, start: usize) -> usize {
    text[start..].find('\n').map_or(text.len(), |i| start + i)
}

fn strip_newline(text: &str) -> &str {
    text.strip_suffix('\n').unwrap_or(text)
}

fn push_text(segments: &mut Vec<Segment>, text: &str) {
    match segments.last_mut() {
        Some(Segment::Text(t)) => t.push_str(text),
        _ => segments.push(Segment::Text(text.to_string())),
    }
}
