//! Fuzzes the FIM post-processor (hearth_assist::completion::postprocess): arbitrary model output and
//! surroundings never panic, an end is a char boundary inside the output, and a kept completion is
//! non-blank text from the output's head.
#![no_main]

use hearth_assist::completion::postprocess::Surroundings;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Three fields split on NUL: the line before the cursor, the suffix, the raw output.
    let mut parts = text.splitn(3, '\0');
    let (line_prefix, suffix, raw) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    for multiline in [false, true] {
        let s = Surroundings { line_prefix, suffix, multiline };
        for complete in [false, true] {
            if let Some(end) = s.end_of(raw, complete) {
                assert!(end <= raw.len() && raw.is_char_boundary(end), "end {end} of {raw:?}");
            }
        }
        if let Some(done) = s.finish(raw) {
            assert!(!done.trim().is_empty());
            assert!(raw.starts_with(done.as_str()), "{done:?} is not a head of {raw:?}");
        }
    }
});
