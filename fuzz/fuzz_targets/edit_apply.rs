//! Fuzzes the edit applier's text side (hearth_assist::edit): the text edits of any change, applied to
//! the old text, give the new text; they are ordered, disjoint, on char boundaries, and convert to
//! UTF-16 positions and back.
#![no_main]

use hearth_assist::edit::FileChange;
use hearth_base::{LineIndex, WideEncoding};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (old, new) = text.split_once('\0').unwrap_or((&text, ""));
    let change = FileChange { path: "f.rs".into(), abs_path: "/f.rs".into(), old: old.into(), new: new.into() };
    let edits = change.text_edits();
    let lines = LineIndex::new(old);
    let mut rebuilt = String::new();
    let mut at = 0;
    for edit in &edits {
        assert!(edit.range.start >= at && edit.range.start <= edit.range.end && edit.range.end <= old.len(), "{edits:?}");
        assert!(old.is_char_boundary(edit.range.start) && old.is_char_boundary(edit.range.end));
        let (start, end) = edit.positions(old, &lines, WideEncoding::Utf16).unwrap();
        assert_eq!(lines.offset(old, start, WideEncoding::Utf16).unwrap(), edit.range.start);
        assert_eq!(lines.offset(old, end, WideEncoding::Utf16).unwrap(), edit.range.end);
        rebuilt.push_str(&old[at..edit.range.start]);
        rebuilt.push_str(&edit.new_text);
        at = edit.range.end;
    }
    rebuilt.push_str(&old[at..]);
    assert_eq!(rebuilt, new);
    let _ = change.unified_diff();
});
