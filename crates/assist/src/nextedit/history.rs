//! The user's edit history, as a next-edit prompt shows it: recent edits coalesced into hunks a
//! person would read as one change, each file's text from before this session's edits, and the
//! files viewed recently. Bounded, in memory only; the caller feeds it document texts.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Edits kept, oldest dropped first.
pub const MAX_EVENTS: usize = 16;
/// Files whose original text is kept, least recently used dropped first.
const MAX_ORIGINALS: usize = 64;
/// Bytes of original texts kept in all; a file over it keeps none.
const MAX_ORIGINAL_BYTES: usize = 32 << 20;
/// Recently viewed files remembered.
const MAX_VIEWED: usize = 8;
/// A change this many lines or fewer from the open edit's lines extends it...
const NEAR_LINES: usize = 2;
/// ...when it comes within this pause, or goes on where the last change ended.
const PAUSE: Duration = Duration::from_secs(1);
/// Lines of context around a hunk.
pub const CONTEXT_LINES: usize = 3;

/// One coalesced edit of a file: its lines before and after, with unchanged lines around them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EditEvent {
    pub path: String,
    pub hunk: Hunk,
}

/// A changed run of whole lines. Line texts keep their `\n` (the file's last line may lack one).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hunk {
    /// Zero-based line of `old` in the text before the edit (and of `new` after it).
    pub start_line: usize,
    pub old: String,
    pub new: String,
    /// Up to [`CONTEXT_LINES`] unchanged lines before and after.
    pub before: String,
    pub after: String,
}

impl Hunk {
    /// The hunk between two texts: the lines between their common first and last lines.
    pub fn between(old: &str, new: &str) -> Hunk {
        let (old_lines, new_lines) = (lines(old), lines(new));
        let head = old_lines.iter().zip(&new_lines).take_while(|(a, b)| a == b).count();
        let max_tail = old_lines.len().min(new_lines.len()) - head;
        let tail = old_lines.iter().rev().zip(new_lines.iter().rev()).take(max_tail).take_while(|(a, b)| a == b).count();
        let ctx_start = head.saturating_sub(CONTEXT_LINES);
        let after_end = (old_lines.len() - tail + CONTEXT_LINES).min(old_lines.len());
        Hunk {
            start_line: head,
            old: old_lines[head..old_lines.len() - tail].concat(),
            new: new_lines[head..new_lines.len() - tail].concat(),
            before: old_lines[ctx_start..head].concat(),
            after: old_lines[old_lines.len() - tail..after_end].concat(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.old == self.new
    }

    /// Lines of `new` (the last one counted even without its `\n`).
    pub fn new_line_count(&self) -> usize {
        lines(&self.new).len()
    }

    /// The hunk as a unified diff (`@@ -a,b +c,d @@`, then context, `-` and `+` lines), without file
    /// headers; lines within it that did not change are context too.
    pub fn unified_diff(&self) -> String {
        let context_before = lines(&self.before);
        let start = self.start_line - context_before.len();
        let old = format!("{}{}{}", self.before, with_newline(&self.old, !self.after.is_empty()), self.after);
        let new = format!("{}{}{}", self.before, with_newline(&self.new, !self.after.is_empty()), self.after);
        let diff = similar::TextDiff::from_lines(&old, &new);
        let (old_count, new_count) = (lines(&old).len(), lines(&new).len());
        let at = |line: usize, count: usize| if count == 0 { line } else { line + 1 };
        let mut out = format!("@@ -{},{} +{},{} @@\n", at(start, old_count), old_count, at(start, new_count), new_count);
        for change in diff.iter_all_changes() {
            let sign = match change.tag() {
                similar::ChangeTag::Equal => ' ',
                similar::ChangeTag::Delete => '-',
                similar::ChangeTag::Insert => '+',
            };
            out.push(sign);
            out.push_str(change.value());
            if change.missing_newline() {
                out.push('\n');
            }
        }
        out
    }
}

/// The edit still growing: its file's text when it began, and now.
#[derive(Debug)]
struct OpenEvent {
    path: String,
    before: Arc<str>,
    after: Arc<str>,
    /// Changed lines in `after`, end exclusive.
    lines: (usize, usize),
    /// When the last change came, and the byte of `after` where it ended.
    last_at: Instant,
    last_end: usize,
}

#[derive(Debug)]
struct Original {
    text: Arc<str>,
    used: u64,
}

/// Recent edits, originals and viewed files of one editor session.
#[derive(Debug, Default)]
pub struct EditHistory {
    events: VecDeque<EditEvent>,
    open: Option<OpenEvent>,
    originals: HashMap<String, Original>,
    original_bytes: usize,
    viewed: VecDeque<String>,
    clock: u64,
}

impl EditHistory {
    pub fn new() -> Self {
        Self::default()
    }

    /// A document was opened (or shown): its text is its original unless the session edited it already.
    pub fn opened(&mut self, path: &str, text: &Arc<str>) {
        self.keep_original(path, text);
        self.viewed(path);
    }

    /// The file was looked at: it moves to the front of the recently viewed.
    pub fn viewed(&mut self, path: &str) {
        self.viewed.retain(|p| p != path);
        self.viewed.push_front(path.to_string());
        self.viewed.truncate(MAX_VIEWED);
    }

    /// A document changed from `before` to `after` (one `didChange`) at `now`: the open edit grows
    /// when the change is in its file, near its lines, and either soon after the last change or
    /// where it ended; else the open edit is closed and a new one begins.
    pub fn changed(&mut self, path: &str, before: &Arc<str>, after: &Arc<str>, now: Instant) {
        if before == after {
            return;
        }
        self.keep_original(path, before);
        self.viewed(path);
        let change = Change::between(before, after);
        match &mut self.open {
            Some(open)
                if open.path == path
                    && near(open.lines, change.lines_before)
                    && (now.duration_since(open.last_at) < PAUSE || change.start.abs_diff(open.last_end) <= 1) =>
            {
                open.after = after.clone();
                open.lines = Change::between(&open.before, after).lines_after;
                (open.last_at, open.last_end) = (now, change.end_after);
                if open.before == open.after {
                    // Typed and taken back: nothing to show.
                    self.open = None;
                }
            }
            _ => {
                self.close_open();
                self.open = Some(OpenEvent {
                    path: path.to_string(),
                    before: before.clone(),
                    after: after.clone(),
                    lines: change.lines_after,
                    last_at: now,
                    last_end: change.end_after,
                });
            }
        }
    }

    /// Recent edits, oldest first, the growing one last.
    pub fn events(&self) -> Vec<EditEvent> {
        let mut out: Vec<EditEvent> = self.events.iter().cloned().collect();
        if let Some(open) = &self.open {
            out.push(EditEvent { path: open.path.clone(), hunk: Hunk::between(&open.before, &open.after) });
        }
        let skip = out.len().saturating_sub(MAX_EVENTS);
        out.drain(..skip);
        out
    }

    /// The file's text before this session's edits, if kept.
    pub fn original(&self, path: &str) -> Option<&Arc<str>> {
        self.originals.get(path).map(|o| &o.text)
    }

    /// Recently viewed files, the latest first.
    pub fn recently_viewed(&self) -> impl Iterator<Item = &str> {
        self.viewed.iter().map(String::as_str)
    }

    fn close_open(&mut self) {
        if let Some(open) = self.open.take() {
            let hunk = Hunk::between(&open.before, &open.after);
            if !hunk.is_empty() {
                self.events.push_back(EditEvent { path: open.path, hunk });
                if self.events.len() > MAX_EVENTS {
                    self.events.pop_front();
                }
            }
        }
    }

    fn keep_original(&mut self, path: &str, text: &Arc<str>) {
        self.clock += 1;
        if let Some(o) = self.originals.get_mut(path) {
            o.used = self.clock;
            return;
        }
        if text.len() > MAX_ORIGINAL_BYTES {
            return;
        }
        while self.originals.len() >= MAX_ORIGINALS || self.original_bytes + text.len() > MAX_ORIGINAL_BYTES {
            let Some(oldest) = self.originals.iter().min_by_key(|(_, o)| o.used).map(|(p, _)| p.clone()) else { break };
            if let Some(o) = self.originals.remove(&oldest) {
                self.original_bytes -= o.text.len();
            }
        }
        self.original_bytes += text.len();
        self.originals.insert(path.to_string(), Original { text: text.clone(), used: self.clock });
    }
}

/// Whether a change at `line` is near the lines `open` covers.
fn near(open: (usize, usize), change: (usize, usize)) -> bool {
    change.0 + NEAR_LINES >= open.0 && change.0 <= open.1 + NEAR_LINES
}

/// Where two texts differ: between their common head and tail.
struct Change {
    /// First differing byte (the same in both).
    start: usize,
    /// Where the change ends in `after`.
    end_after: usize,
    /// Changed lines of `before` and of `after` (end exclusive).
    lines_before: (usize, usize),
    lines_after: (usize, usize),
}

impl Change {
    fn between(before: &str, after: &str) -> Change {
        let head = before.bytes().zip(after.bytes()).take_while(|(a, b)| a == b).count();
        let max_tail = before.len().min(after.len()) - head;
        let tail = before.bytes().rev().zip(after.bytes().rev()).take(max_tail).take_while(|(a, b)| a == b).count();
        let line_of = |text: &str, byte: usize| text.as_bytes()[..byte].iter().filter(|&&b| b == b'\n').count();
        let start = line_of(before, head);
        let end_in = |text: &str| line_of(text, text.len() - tail) + 1;
        Change { start: head, end_after: after.len() - tail, lines_before: (start, end_in(before)), lines_after: (start, end_in(after)) }
    }
}

/// Lines with their terminators; the last may lack one.
pub(crate) fn lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

fn with_newline(text: &str, needed: bool) -> String {
    if needed && !text.is_empty() && !text.ends_with('\n') {
        format!("{text}\n")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    fn arc(s: &str) -> Arc<str> {
        Arc::from(s)
    }

    /// Types `inserted` at `at`, one character per change 100 ms apart, as an editor sends it.
    fn type_into(h: &mut EditHistory, path: &str, text: &mut String, at: usize, inserted: &str) {
        for (i, c) in inserted.char_indices() {
            let before = arc(text);
            text.insert(at + i, c);
            h.changed(path, &before, &arc(text), tick());
        }
    }

    /// A clock that moves 100 ms a call.
    fn tick() -> Instant {
        thread_local!(static NOW: std::cell::Cell<Instant> = std::cell::Cell::new(Instant::now()));
        NOW.with(|n| {
            n.set(n.get() + Duration::from_millis(100));
            n.get()
        })
    }

    #[test]
    fn typing_in_one_place_is_one_edit_and_a_distant_edit_another() {
        let mut h = EditHistory::new();
        let mut text = String::from("def greet(nme):\n    print(nme)\na = 1\nb = 2\nc = 3\nd = 4\ne = 5\nx = 1\n");
        let original = text.clone();
        h.opened("a.py", &arc(&text));
        // Rename the parameter: delete `nme`, type `name`.
        let before = arc(&text);
        text.replace_range(10..13, "");
        h.changed("a.py", &before, &arc(&text), tick());
        type_into(&mut h, "a.py", &mut text, 10, "name");
        assert_eq!(h.events().len(), 1, "one rename, however many keystrokes");
        // An edit 7 lines down is a second event.
        let at = text.find("x = 1").unwrap();
        type_into(&mut h, "a.py", &mut text, at, "y = 0\n");
        let events = h.events();
        assert_eq!(events.len(), 2);
        expect![[r#"
            @@ -1,4 +1,4 @@
            -def greet(nme):
            +def greet(name):
                 print(nme)
             a = 1
             b = 2
        "#]]
        .assert_eq(&events[0].hunk.unified_diff());
        expect![[r#"
            @@ -5,4 +5,5 @@
             c = 3
             d = 4
             e = 5
            +y = 0
             x = 1
        "#]]
        .assert_eq(&events[1].hunk.unified_diff());
        assert_eq!(h.original("a.py").map(|t| t.as_ref()), Some(original.as_str()));
        assert_eq!(h.recently_viewed().collect::<Vec<_>>(), ["a.py"]);
    }

    #[test]
    fn an_edit_typed_and_taken_back_leaves_nothing() {
        let mut h = EditHistory::new();
        let mut text = String::from("a = 1\n");
        type_into(&mut h, "a.py", &mut text, 5, "23");
        for _ in 0..2 {
            let before = arc(&text);
            text.remove(5);
            h.changed("a.py", &before, &arc(&text), tick());
        }
        assert!(h.events().is_empty());
    }

    #[test]
    fn after_a_pause_an_edit_nearby_is_a_new_one_unless_it_goes_on_where_typing_stopped() {
        let mut h = EditHistory::new();
        let mut text = String::from("a = 1\nb = 2\n");
        type_into(&mut h, "a.py", &mut text, 5, "0");
        let later = tick() + PAUSE;
        let before = arc(&text);
        text.insert(6, '0');
        h.changed("a.py", &before, &arc(&text), later);
        assert_eq!(h.events().len(), 1, "typing on where it stopped: {:?}", h.events());
        let before = arc(&text);
        text.insert(12, '9');
        h.changed("a.py", &before, &arc(&text), later + PAUSE);
        assert_eq!(h.events().len(), 2, "{:?}", h.events());
    }

    #[test]
    fn edits_in_another_file_start_a_new_event_and_the_history_is_bounded() {
        let mut h = EditHistory::new();
        for i in 0..MAX_EVENTS + 5 {
            let path = format!("f{}.py", i % 2);
            h.changed(&path, &arc("x\n"), &arc(&format!("x{i}\n")), tick());
        }
        let events = h.events();
        assert_eq!(events.len(), MAX_EVENTS);
        assert_eq!(events.last().unwrap().hunk.new, format!("x{}\n", MAX_EVENTS + 4));
        assert!(h.recently_viewed().count() <= MAX_VIEWED);
    }

    #[test]
    fn hunk_keeps_context_and_a_last_line_without_newline() {
        let hunk = Hunk::between("a\nb\nc\nd\ne", "a\nb\nc\nd\nE");
        assert_eq!((hunk.start_line, hunk.old.as_str(), hunk.new.as_str(), hunk.before.as_str()), (4, "e", "E", "b\nc\nd\n"));
        expect![[r#"
            @@ -2,4 +2,4 @@
             b
             c
             d
            -e
            +E
        "#]]
        .assert_eq(&hunk.unified_diff());
    }
}
