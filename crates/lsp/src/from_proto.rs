//! Protocol positions to byte offsets. Every conversion goes through `hearth_base::LineIndex` (UTF-16).

use std::ops::Range;

use hearth_base::{LineCol, LineIndex, PositionError, WideEncoding};
use tower_lsp::lsp_types;

/// Byte offset of an LSP position. A line past the end is an error; a column past the line end clamps.
pub fn offset(text: &str, index: &LineIndex, pos: lsp_types::Position) -> Result<usize, PositionError> {
    index.offset(text, LineCol { line: pos.line, col: pos.character }, WideEncoding::Utf16)
}

/// Byte range of an LSP range; a reversed range is taken in order.
pub fn span(text: &str, index: &LineIndex, range: lsp_types::Range) -> Result<Range<usize>, PositionError> {
    let start = offset(text, index, range.start)?;
    let end = offset(text, index, range.end)?;
    Ok(start.min(end)..start.max(end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::to_proto;

    #[test]
    fn round_trips_non_ascii_positions() {
        let text = "é = \"日本\"\n𝔘 = 1\n";
        let index = LineIndex::new(text);
        let pos = lsp_types::Position::new(1, 2); // after 𝔘 (two UTF-16 units)
        let at = offset(text, &index, pos).unwrap();
        assert_eq!(&text[at..at + 4], " = 1");
        assert_eq!(to_proto::position(text, &index, at), pos);
        assert_eq!(offset(text, &index, lsp_types::Position::new(0, 99)).unwrap(), text.find('\n').unwrap());
        assert!(offset(text, &index, lsp_types::Position::new(7, 0)).is_err());
    }
}
