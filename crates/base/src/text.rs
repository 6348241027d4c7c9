//! The one place where byte offsets, line/column pairs and UTF-16 columns are converted.

/// Column unit used by an editor protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WideEncoding {
    Utf8,
    Utf16,
    Utf32,
}

/// Zero-based line and column; the column unit depends on the caller's [`WideEncoding`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LineCol {
    pub line: u32,
    pub col: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PositionError {
    #[error("line {line} is past the end of the text ({lines} lines)")]
    LineOutOfRange { line: u32, lines: u32 },
    #[error("byte offset {offset} is past the end of the text ({len} bytes)")]
    OffsetOutOfRange { offset: usize, len: usize },
}

/// Line starts of one text, for O(log n) conversions.
#[derive(Clone, Debug)]
pub struct LineIndex {
    line_starts: Vec<usize>,
    len: usize,
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { line_starts, len: text.len() }
    }

    pub fn line_count(&self) -> u32 {
        self.line_starts.len() as u32
    }

    /// The line holding byte `offset` (the last line for an offset past the end).
    pub fn line_of(&self, offset: usize) -> u32 {
        (self.line_starts.partition_point(|&s| s <= offset) - 1) as u32
    }

    /// Byte offset of the start of `line`.
    pub fn line_start(&self, line: u32) -> Result<usize, PositionError> {
        self.line_starts.get(line as usize).copied().ok_or(PositionError::LineOutOfRange { line, lines: self.line_count() })
    }

    /// Byte offset of a position. A column past the end of its line clamps to the line end (before
    /// a `\r\n` or `\n`), as LSP asks; a column inside a multi-unit character rounds down to its start.
    pub fn offset(&self, text: &str, pos: LineCol, enc: WideEncoding) -> Result<usize, PositionError> {
        let start = self.line_start(pos.line)?;
        let line_end = self.line_end(pos.line);
        let line = &text[start..line_end];
        // A '\r' before the '\n' is the line ending's; one at the end of the text is text.
        let line = if line_end < text.len() { line.strip_suffix('\r').unwrap_or(line) } else { line };
        let end = start + line.len();
        let mut units = 0u32;
        for (i, ch) in line.char_indices() {
            let w = unit_len(ch, enc);
            if units + w > pos.col {
                return Ok(start + i);
            }
            units += w;
        }
        Ok(end)
    }

    /// Line/column of a byte offset. An offset inside a character rounds down to its start, and one
    /// inside a `\r\n` to the line's end before it (the one position [`LineIndex::offset`] gives there).
    pub fn line_col(&self, text: &str, offset: usize, enc: WideEncoding) -> Result<LineCol, PositionError> {
        if offset > self.len {
            return Err(PositionError::OffsetOutOfRange { offset, len: self.len });
        }
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let mut offset = offset;
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        if offset > start && text[..offset].ends_with('\r') && text[offset..].starts_with('\n') {
            offset -= 1;
        }
        let col = match enc {
            WideEncoding::Utf8 => (offset - start) as u32,
            _ => text[start..offset].chars().map(|c| unit_len(c, enc)).sum(),
        };
        Ok(LineCol { line: line as u32, col })
    }

    /// Byte offset of the end of `line`, excluding its `\n`.
    fn line_end(&self, line: u32) -> usize {
        match self.line_starts.get(line as usize + 1) {
            Some(&next) => next - 1,
            None => self.len,
        }
    }
}

fn unit_len(ch: char, enc: WideEncoding) -> u32 {
    match enc {
        WideEncoding::Utf8 => ch.len_utf8() as u32,
        WideEncoding::Utf16 => ch.len_utf16() as u32,
        WideEncoding::Utf32 => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_round_trips_on_non_ascii_text() {
        let text = "héllo\n𝔘nicode = \"ü\"\n\nend";
        let index = LineIndex::new(text);
        for (offset, _) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
            let lc = index.line_col(text, offset, WideEncoding::Utf16).unwrap();
            assert_eq!(index.offset(text, lc, WideEncoding::Utf16).unwrap(), offset, "offset {offset}");
        }
        // "𝔘" is two UTF-16 units and four bytes.
        let after = index.offset(text, LineCol { line: 1, col: 2 }, WideEncoding::Utf16).unwrap();
        assert_eq!(&text[after..after + 7], "nicode ");
    }

    #[test]
    fn out_of_range_positions() {
        let text = "ab\ncd";
        let index = LineIndex::new(text);
        assert_eq!(index.offset(text, LineCol { line: 0, col: 99 }, WideEncoding::Utf16), Ok(2));
        assert!(matches!(index.offset(text, LineCol { line: 5, col: 0 }, WideEncoding::Utf16), Err(PositionError::LineOutOfRange { .. })));
        assert!(index.line_col(text, 99, WideEncoding::Utf16).is_err());
    }

    #[test]
    fn a_column_past_the_end_of_a_crlf_line_stops_before_the_line_ending() {
        let text = "ab\r\ncd\r\n";
        let index = LineIndex::new(text);
        assert_eq!(index.offset(text, LineCol { line: 0, col: 99 }, WideEncoding::Utf16), Ok(2));
        assert_eq!(index.offset(text, LineCol { line: 0, col: 2 }, WideEncoding::Utf16), Ok(2));
        assert_eq!(index.offset(text, LineCol { line: 1, col: 1 }, WideEncoding::Utf16), Ok(5));
        assert_eq!(index.offset(text, LineCol { line: 1, col: 9 }, WideEncoding::Utf16), Ok(6));
        // Inside the "\r\n" is the end of the line, before the '\r', both ways.
        let inside = index.line_col(text, 3, WideEncoding::Utf16).unwrap();
        assert_eq!((inside, index.offset(text, inside, WideEncoding::Utf16)), (LineCol { line: 0, col: 2 }, Ok(2)));
        // A '\r' that no '\n' follows is part of the line, as lines are split at '\n' only.
        let lone = "x\r";
        assert_eq!(LineIndex::new(lone).offset(lone, LineCol { line: 0, col: 5 }, WideEncoding::Utf16), Ok(2));
    }

    #[test]
    fn column_inside_surrogate_pair_rounds_down() {
        let text = "a𝔘b";
        let index = LineIndex::new(text);
        assert_eq!(index.offset(text, LineCol { line: 0, col: 2 }, WideEncoding::Utf16), Ok(1));
    }
}
