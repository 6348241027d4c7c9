//! Presenting a [`FileChange`]: a unified diff for people, and minimal text edits (byte ranges in
//! the old text) for editors.

use std::ops::Range;

use hearth_base::{LineCol, LineIndex, PositionError, WideEncoding};
use serde::Serialize;
use std::time::{Duration, Instant};

use similar::udiff::UnifiedHunkHeader;
use similar::{Algorithm, DiffOp};

use super::FileChange;

/// Replace `range` (bytes of the old text) with `new_text`. Edits of one file never overlap and
/// come in order, as LSP's `TextEdit[]` requires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TextEdit {
    pub range: Range<usize>,
    pub new_text: String,
}

impl TextEdit {
    /// The range as editor positions in `old` (e.g. UTF-16 for LSP).
    pub fn positions(&self, old: &str, lines: &LineIndex, enc: WideEncoding) -> Result<(LineCol, LineCol), PositionError> {
        Ok((lines.line_col(old, self.range.start, enc)?, lines.line_col(old, self.range.end, enc)?))
    }
}

impl FileChange {
    /// `git diff`-style unified diff with 3 lines of context, paths as `a/PATH` and `b/PATH`.
    pub fn unified_diff(&self) -> String {
        let (old, new) = (split_lines(&self.old), split_lines(&self.new));
        let ops = line_ops(&old, &new);
        let mut out = String::new();
        for group in similar::group_diff_ops(ops, 3) {
            if out.is_empty() {
                out.push_str(&format!("--- a/{}\n+++ b/{}\n", self.path, self.path));
            }
            out.push_str(&format!("{}\n", UnifiedHunkHeader::new(&group)));
            for change in group.iter().flat_map(|op| op.iter_changes(&old, &new)) {
                out.push_str(&format!("{}{}", change.tag(), change.value()));
                if change.missing_newline() {
                    out.push_str("\n\\ No newline at end of file\n");
                }
            }
        }
        out
    }

    /// The change as line-granular edits of the old text.
    pub fn text_edits(&self) -> Vec<TextEdit> {
        line_edits(&self.old, &self.new)
    }
}

/// The smallest edits of `old` into `new`: the line diff's edits, a changed run of as many lines as
/// it replaces split line by line, each cut to the characters that differ (a rename inside a line
/// replaces the name alone).
pub fn minimal_edits(old: &str, new: &str) -> Vec<TextEdit> {
    let mut edits = Vec::new();
    for edit in line_edits(old, new) {
        let (was, now) = (split_lines(&old[edit.range.clone()]), split_lines(&edit.new_text));
        if was.len() == now.len() {
            let mut at = edit.range.start;
            for (a, b) in was.iter().zip(&now) {
                edits.extend(trimmed(a, b, at));
                at += a.len();
            }
        } else {
            edits.extend(trimmed(&old[edit.range.clone()], &edit.new_text, edit.range.start));
        }
    }
    edits
}

/// The edit of `was` (at byte `at`) into `now` without their common first and last characters.
fn trimmed(was: &str, now: &str, at: usize) -> Option<TextEdit> {
    let head: usize = was.chars().zip(now.chars()).take_while(|(a, b)| a == b).map(|(a, _)| a.len_utf8()).sum();
    let tail: usize = was[head..].chars().rev().zip(now[head..].chars().rev()).take_while(|(a, b)| a == b).map(|(a, _)| a.len_utf8()).sum();
    let range = at + head..at + was.len() - tail;
    let new_text = now[head..now.len() - tail].to_string();
    (!range.is_empty() || !new_text.is_empty()).then_some(TextEdit { range, new_text })
}

/// Line-granular edits of `old_text` into `new_text`, adjacent changes merged.
fn line_edits(old_text: &str, new_text: &str) -> Vec<TextEdit> {
    let (old, new) = (split_lines(old_text), split_lines(new_text));
    let old_starts = line_starts(&old);
    let new_starts = line_starts(&new);
    let mut edits = Vec::new();
    // Ranges from the ops' lengths, in order: similar 2.7 gave an insert the stale index old line 1
    // after a delete of lines 0..3 (found by fuzz/edit_apply, which checks the rebuilt text).
    let (mut old_at, mut new_at) = (0, 0);
    for op in line_ops(&old, &new) {
        let (old_len, new_len) = match op {
            DiffOp::Equal { len, .. } => (len, len),
            DiffOp::Delete { old_len, .. } => (old_len, 0),
            DiffOp::Insert { new_len, .. } => (0, new_len),
            DiffOp::Replace { old_len, new_len, .. } => (old_len, new_len),
        };
        let (old_range, new_range) = (old_at..old_at + old_len, new_at..new_at + new_len);
        (old_at, new_at) = (old_range.end, new_range.end);
        if let DiffOp::Equal { .. } = op {
            continue;
        }
        let bytes = old_starts[old_range.start]..old_starts[old_range.end];
        let inserted = new_text[new_starts[new_range.start]..new_starts[new_range.end]].to_string();
        match edits.last_mut() {
            Some(TextEdit { range, new_text: prev }) if range.end == bytes.start => {
                range.end = bytes.end;
                prev.push_str(&inserted);
            }
            _ => edits.push(TextEdit { range: bytes, new_text: inserted }),
        }
    }
    edits
}

/// Longest a general line diff may search for the smallest diff before settling for a larger one.
const DIFF_DEADLINE: Duration = Duration::from_secs(1);

/// The line diff of `old` to `new`. When the line count is unchanged (every rename), lines are
/// paired one to one, in linear time: Myers' diff is quadratic in the changed lines, and took
/// seconds on a rename with 40,000 occurrences. Otherwise Myers, with a deadline.
fn line_ops(old: &[&str], new: &[&str]) -> Vec<DiffOp> {
    if old.len() != new.len() {
        return similar::capture_diff_slices_deadline(Algorithm::Myers, old, new, Some(Instant::now() + DIFF_DEADLINE));
    }
    let mut ops: Vec<DiffOp> = Vec::new();
    for (i, (a, b)) in old.iter().zip(new).enumerate() {
        let equal = a == b;
        match ops.last_mut() {
            Some(DiffOp::Equal { len, .. }) if equal => *len += 1,
            Some(DiffOp::Replace { old_len, new_len, .. }) if !equal => {
                *old_len += 1;
                *new_len += 1;
            }
            _ if equal => ops.push(DiffOp::Equal { old_index: i, new_index: i, len: 1 }),
            _ => ops.push(DiffOp::Replace { old_index: i, old_len: 1, new_index: i, new_len: 1 }),
        }
    }
    ops
}

/// `text`'s lines as similar's line diff splits them: each ends after `\n`, or after a `\r` that
/// no `\n` follows.
fn split_lines(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut lines = Vec::new();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
            lines.push(&text[start..=i]);
            start = i + 1;
        }
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// Byte offset of each line start, plus the text's end (so `starts[n]` ends line `n - 1`).
fn line_starts(lines: &[&str]) -> Vec<usize> {
    let mut starts = vec![0];
    starts.extend(lines.iter().scan(0, |end, line| {
        *end += line.len();
        Some(*end)
    }));
    starts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(old: &str, new: &str) -> FileChange {
        FileChange { path: "a.py".into(), abs_path: "/a.py".into(), old: old.into(), new: new.into() }
    }

    #[test]
    fn minimal_edits_replace_only_what_differs() {
        let old = "def greet(nme):\n    print(nme)\n    return nme\n";
        let new = "def greet(name):\n    print(name)\n    return nme\n";
        let edits = minimal_edits(old, new);
        let cut: Vec<(&str, &str)> = edits.iter().map(|e| (&old[e.range.clone()], e.new_text.as_str())).collect();
        assert_eq!(cut, [("", "a"), ("", "a")], "{edits:?}");
        assert_eq!(apply(old, &edits), new);
        // Lines added: one edit, still trimmed; non-ASCII boundaries kept.
        let (old, new) = ("x = 'é'\ny = 1\n", "x = 'é'\nz = 2\nw = 3\ny = 1\n");
        let edits = minimal_edits(old, new);
        assert_eq!(edits.len(), 1);
        assert_eq!(apply(old, &edits), new);
        assert!(minimal_edits(old, old).is_empty());
    }

    fn apply(old: &str, edits: &[TextEdit]) -> String {
        let mut out = old.to_string();
        for e in edits.iter().rev() {
            out.replace_range(e.range.clone(), &e.new_text);
        }
        out
    }

    #[test]
    fn text_edits_reproduce_the_new_text() {
        for (old, new) in [
            ("a\nb\nc\n", "a\nB\nc\n"),
            ("a\nb\nc\n", "x\na\nc\ny\n"),
            ("a\nb", "a\nb\nc"),
            ("", "new\n"),
            ("gone\n", ""),
            ("a\nb\nc\nd\n", "a\nd\n"),
            // A lone `\r` ends a line for the diff too (found by fuzz/edit_apply).
            ("-\u{b}\r\u{b}", ""),
            ("a\rb\r\nc", "a\rB\r\nc\r"),
            ("\u{fffd}\n,\n\u{fffd}\r\n\n", "\n\n"),
        ] {
            let c = change(old, new);
            let edits = c.text_edits();
            assert!(edits.windows(2).all(|w| w[0].range.end <= w[1].range.start), "{old:?} -> {new:?}: {edits:?}");
            assert_eq!(apply(old, &edits), new, "{old:?} -> {new:?}");
        }
    }

    /// The diff matches similar's own unified diff wherever the line count is kept (ours pairs
    /// lines; Myers finds the same ops there) and whatever the line endings.
    #[test]
    fn unified_diff_matches_similar() {
        for (old, new) in [
            ("a\nb\nc\n", "a\nB\nc\n"),
            ("a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n", "A\nb\nc\nd\ne\nf\ng\nh\ni\nJ\n"),
            ("a\nb", "a\nB"),
            ("a\rb\r\nc", "a\rB\r\nc"),
            ("a\nb\nc\n", "x\na\nc\ny\n"),
            ("a\nb\nc\nd\n", "a\nd\n"),
            ("", "new\n"),
        ] {
            let c = change(old, new);
            let theirs = similar::TextDiff::from_lines(old, new).unified_diff().context_radius(3).header("a/a.py", "b/a.py").to_string();
            assert_eq!(c.unified_diff(), theirs, "{old:?} -> {new:?}");
        }
    }

    #[test]
    fn unified_diff_has_git_headers() {
        expect_test::expect![[r#"
            --- a/a.py
            +++ b/a.py
            @@ -1,2 +1,2 @@
             a
            -b
            +B
        "#]]
        .assert_eq(&change("a\nb\n", "a\nB\n").unified_diff());
    }
}
