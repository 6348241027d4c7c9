//! Fuzzes hearth_base::LineIndex: every char boundary survives offset -> line/col -> offset in each
//! encoding (one between '\r' and '\n' comes back before the '\r': LSP has no position inside a line
//! ending), and arbitrary positions give an error or a char boundary, never a panic.
#![no_main]

use hearth_base::{LineCol, LineIndex, WideEncoding};
use libfuzzer_sys::fuzz_target;

const ENCODINGS: [WideEncoding; 3] = [WideEncoding::Utf8, WideEncoding::Utf16, WideEncoding::Utf32];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let index = LineIndex::new(&text);
    for offset in (0..=text.len()).filter(|&o| text.is_char_boundary(o)) {
        for enc in ENCODINGS {
            let pos = index.line_col(&text, offset, enc).expect("an in-range char boundary converts");
            let back = index.offset(&text, pos, enc).expect("a position from line_col converts back");
            let inside_crlf = text[..offset].ends_with('\r') && text[offset..].starts_with('\n');
            let want = if inside_crlf { offset - 1 } else { offset };
            assert_eq!(back, want, "{enc:?} {pos:?} in {text:?}");
        }
    }
    // Arbitrary positions derived from the input: an error or a char boundary inside the text.
    for chunk in data.chunks(4).take(64) {
        let line = chunk.first().copied().unwrap_or(0) as u32;
        let col = u16::from_le_bytes([chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)]) as u32;
        for enc in ENCODINGS {
            if let Ok(offset) = index.offset(&text, LineCol { line, col }, enc) {
                assert!(offset <= text.len() && text.is_char_boundary(offset), "{offset} for {line}:{col} {enc:?}");
            }
        }
    }
    assert!(index.line_col(&text, text.len() + 1, WideEncoding::Utf16).is_err());
});
