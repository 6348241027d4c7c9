//! Post-processing of raw model output: where a completion ends, and what of it repeats the suffix.

/// What the text around the cursor says about where a completion should end.
#[derive(Clone, Copy, Debug)]
pub struct Surroundings<'a> {
    /// Text of the cursor's line before the cursor.
    pub line_prefix: &'a str,
    /// Text after the cursor, at least up to a few lines.
    pub suffix: &'a str,
    pub multiline: bool,
}

impl Surroundings<'_> {
    /// Byte length of the completion to keep from `raw` so far, if it already ended. With `complete`
    /// false the last line may still grow, so only finished lines are judged.
    pub fn end_of(&self, raw: &str, complete: bool) -> Option<usize> {
        if !self.multiline {
            return raw.find('\n').or(complete.then_some(raw.len()));
        }
        let floor = indent_width(self.line_prefix);
        let mut depth: i32 = 0;
        let mut blank_run = 0;
        let mut line_start: usize = 0;
        for (i, line) in raw.split_inclusive('\n').enumerate() {
            let finished = line.ends_with('\n') || complete;
            if !finished {
                break;
            }
            let body = line.trim_end_matches(['\n', '\r']);
            if i > 0 {
                let trimmed = body.trim_start();
                if trimmed.is_empty() {
                    blank_run += 1;
                    if blank_run >= 2 {
                        return Some(line_start.saturating_sub(1));
                    }
                } else {
                    blank_run = 0;
                    let dedents = indent_width(body) < floor;
                    let closes_outer = trimmed.starts_with([')', ']', '}']) && depth + leading_balance(trimmed) < 0;
                    if dedents || closes_outer {
                        return Some(before_line(raw, line_start));
                    }
                }
            }
            depth += bracket_balance(body);
            line_start += line.len();
        }
        complete.then_some(raw.len())
    }

    /// The completion to show for the raw model output, or `None` when nothing useful is left.
    pub fn finish(&self, raw: &str) -> Option<String> {
        let end = self.end_of(raw, true).unwrap_or(raw.len());
        let mut text = raw[..end].trim_end().to_string();
        self.trim_suffix_repeat(&mut text);
        if text.trim().is_empty() {
            return None;
        }
        Some(text)
    }

    /// Drops the tail of `text` that the suffix already holds: the rest of the cursor's line (or closing
    /// punctuation of it), and in multi-line mode any line that repeats the next line of the suffix.
    fn trim_suffix_repeat(&self, text: &mut String) {
        let (line_rest, after) = self.suffix.split_once('\n').unwrap_or((self.suffix, ""));
        let line_rest = line_rest.trim_end();
        if self.multiline {
            if let Some(next) = after.lines().map(str::trim).find(|l| !l.is_empty()) {
                if next.len() > 3 {
                    let mut offset = 0;
                    for (i, line) in text.split_inclusive('\n').enumerate() {
                        if i > 0 && line.trim() == next {
                            text.truncate(before_line(text, offset));
                            break;
                        }
                        offset += line.len();
                    }
                }
            }
        }
        if line_rest.is_empty() {
            return;
        }
        if text.ends_with(line_rest) {
            text.truncate(text.len() - line_rest.len());
            return;
        }
        let closing: usize = line_rest.chars().take_while(|c| ")]}>\"'`;:,".contains(*c)).map(char::len_utf8).sum();
        for k in (1..=closing).rev() {
            if text.ends_with(&line_rest[..k]) {
                text.truncate(text.len() - k);
                return;
            }
        }
    }
}

/// Offset of the newline that ends the line before `line_start`.
fn before_line(text: &str, line_start: usize) -> usize {
    let cut = line_start.saturating_sub(1);
    if text[..cut].ends_with('\r') {
        cut - 1
    } else {
        cut
    }
}

/// Columns of leading whitespace, tabs counted as four.
fn indent_width(line: &str) -> usize {
    line.chars().take_while(|c| c.is_whitespace()).map(|c| if c == '\t' { 4 } else { 1 }).sum()
}

/// Opening minus closing brackets in a line, ignoring those inside simple string literals.
fn bracket_balance(line: &str) -> i32 {
    let mut balance = 0;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in line.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '"' | '\'' | '`' => quote = Some(c),
                '(' | '[' | '{' => balance += 1,
                ')' | ']' | '}' => balance -= 1,
                '#' => break,
                _ => {}
            },
        }
    }
    balance
}

/// Balance of the run of closing brackets a line starts with.
fn leading_balance(trimmed: &str) -> i32 {
    -(trimmed.chars().take_while(|c| matches!(c, ')' | ']' | '}')).count() as i32)
}

#[cfg(test)]
mod tests {
    use expect_test::{expect, Expect};

    use super::*;

    /// `fixture` is a document with `$0` at the cursor, then `---` and the raw model output.
    fn check(multiline: bool, fixture: &str, expect: Expect) {
        let (doc, raw) = fixture.split_once("\n---\n").expect("fixture needs ---");
        let cursor = doc.find("$0").expect("fixture needs $0");
        let line_prefix = &doc[doc[..cursor].rfind('\n').map_or(0, |i| i + 1)..cursor];
        let surroundings = Surroundings { line_prefix, suffix: &doc[cursor + 2..], multiline };
        let actual = match surroundings.finish(raw) {
            Some(text) => format!("{text}|"),
            None => "(none)".to_string(),
        };
        expect.assert_eq(&actual);
    }

    #[test]
    fn single_line_stops_at_the_newline() {
        check(false, "x = $0\n---\nfoo(1)\ny = 2\n", expect!["foo(1)|"]);
        check(false, "x = $0\n---\nfoo(1)  ", expect!["foo(1)|"]);
    }

    #[test]
    fn whitespace_only_is_no_completion() {
        check(false, "def f():\n$0\n---\n    \nreturn 1", expect!["(none)"]);
        check(false, "x = $0\n---\n\nfoo", expect!["(none)"]);
        check(true, "x = 1\n$0\n---\n\n\n\nfoo", expect!["(none)"]);
    }

    #[test]
    fn trims_the_rest_of_the_line_when_repeated() {
        check(false, "print(add($0))\n---\n1, 2))", expect!["1, 2|"]);
        check(false, "items = [$0]\n---\na, b]", expect!["a, b|"]);
        check(false, "if ok($0):\n---\nx):", expect!["x|"]);
        check(false, "call($0)\n---\nx) + 1", expect!["x) + 1|"]);
    }

    #[test]
    fn multi_line_stops_at_a_dedent() {
        check(
            true,
            "def f(x):\n    $0\n\ndef g():\n    pass\n---\nif x:\n        return 1\n    return 2\ndef h():\n    pass",
            expect![[r#"
                if x:
                        return 1
                    return 2|"#]],
        );
    }

    #[test]
    fn multi_line_stops_at_a_bracket_that_closes_an_outer_block() {
        check(
            true,
            "fn main() {\n    let x = 1;\n    $0\n}\n---\nlet y = 2;\n    println!(\"{y}\");\n}\n\nfn other() {}",
            expect![[r#"
                let y = 2;
                    println!("{y}");|"#]],
        );
        check(
            true,
            "config = {\n    $0\n}\n---\n\"a\": [\n        1,\n    ],\n    \"b\": 2,\n}\nnext = 1",
            expect![[r#"
                "a": [
                        1,
                    ],
                    "b": 2,|"#]],
        );
    }

    #[test]
    fn multi_line_stops_at_two_blank_lines_and_at_a_repeated_suffix_line() {
        check(true, "x = 1\n$0\n---\ny = 2\n\n\nz = 3", expect!["y = 2|"]);
        check(
            true,
            "def f():\n    $0\n    return total\n---\ntotal = 0\n    for i in range(3):\n        total += i\n    return total\n",
            expect![[r#"
                total = 0
                    for i in range(3):
                        total += i|"#]],
        );
    }

    #[test]
    fn streaming_end_is_found_only_on_finished_lines() {
        let s = Surroundings { line_prefix: "    ", suffix: "", multiline: true };
        assert_eq!(s.end_of("a = 1\n    b = 2\nde", false), None);
        assert_eq!(s.end_of("a = 1\n    b = 2\ndef g():\n", false), Some(15));
        let single = Surroundings { multiline: false, ..s };
        assert_eq!(single.end_of("abc", false), None);
        assert_eq!(single.end_of("abc\nd", false), Some(3));
    }
}
