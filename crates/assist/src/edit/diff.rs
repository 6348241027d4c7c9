//! Presenting a [`FileChange`]: a unified diff for people, and minimal text edits (byte ranges in
//! the old text) for editors.

use std::ops::Range;

use hearth_base::{LineCol, LineIndex, PositionError, WideEncoding};
use serde::Serialize;
use similar::{DiffOp, TextDiff};

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
        let diff = TextDiff::from_lines(&self.old, &self.new);
        let mut out = diff
            .unified_diff()
            .context_radius(3)
            .header(&format!("a/{}", self.path), &format!("b/{}", self.path))
            .to_string();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out
    }

    /// The change as line-granular edits of the old text.
    pub fn text_edits(&self) -> Vec<TextEdit> {
        let diff = TextDiff::from_lines(&self.old, &self.new);
        // Line starts from the diff's own lines, which also end at a lone `\r`.
        let old_starts = line_starts(diff.old_slices());
        let new_starts = line_starts(diff.new_slices());
        let mut edits = Vec::new();
        // Ranges from the ops' lengths, in order: similar 2.7 gave an insert the stale index old line 1
        // after a delete of lines 0..3 (found by fuzz/edit_apply, which checks the rebuilt text).
        let (mut old_at, mut new_at) = (0, 0);
        for op in diff.ops() {
            let (old_len, new_len) = match *op {
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
            let new_text = self.new[new_starts[new_range.start]..new_starts[new_range.end]].to_string();
            match edits.last_mut() {
                Some(TextEdit { range, new_text: prev }) if range.end == bytes.start => {
                    range.end = bytes.end;
                    prev.push_str(&new_text);
                }
                _ => edits.push(TextEdit { range: bytes, new_text }),
            }
        }
        edits
    }
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
