//! Token windows of long text: the first or last `cap` tokens of a file as if all of it were
//! tokenized, while tokenizing only a window around the cut. Editors send whole files (hundreds of
//! KB); the window grows from a line boundary until it holds `cap` tokens plus a margin, and the
//! margin tokens are dropped, so the window edge does not change the kept tokens.

/// Tokens tokenized beyond the cut and then dropped, so the window edge does not change the kept tokens.
const WINDOW_MARGIN: usize = 24;
/// First guess of bytes per token for sizing a window.
const BYTES_PER_TOKEN: usize = 6;

/// The last at most `cap` tokens of `text`, as if all of it were tokenized.
pub fn tail_tokens(encode: &dyn Fn(&str) -> Vec<u32>, text: &str, cap: usize) -> Vec<u32> {
    if cap == 0 {
        return Vec::new();
    }
    let mut bytes = (cap + WINDOW_MARGIN) * BYTES_PER_TOKEN;
    loop {
        let start = line_start_before(text, text.len().saturating_sub(bytes));
        let ids = encode(&text[start..]);
        if start == 0 || ids.len() >= cap + WINDOW_MARGIN {
            return ids[ids.len().saturating_sub(cap)..].to_vec();
        }
        bytes *= 2;
    }
}

/// The first at most `cap` tokens of `text`, as if all of it were tokenized.
pub fn head_tokens(encode: &dyn Fn(&str) -> Vec<u32>, text: &str, cap: usize) -> Vec<u32> {
    if cap == 0 {
        return Vec::new();
    }
    let mut bytes = (cap + WINDOW_MARGIN) * BYTES_PER_TOKEN;
    loop {
        let end = line_end_after(text, bytes.min(text.len()));
        let mut ids = encode(&text[..end]);
        if end == text.len() || ids.len() >= cap + WINDOW_MARGIN {
            ids.truncate(cap);
            return ids;
        }
        bytes *= 2;
    }
}

/// Start of the line holding byte `at` (or `at` rounded to a char boundary in a line without breaks).
fn line_start_before(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    if at == 0 {
        return 0;
    }
    match text[..at].rfind('\n') {
        Some(nl) => nl + 1,
        None => 0,
    }
}

/// End of the line holding byte `at`, past its newline.
fn line_end_after(text: &str, at: usize) -> usize {
    let mut at = at;
    while !text.is_char_boundary(at) {
        at += 1;
    }
    match text[at..].find('\n') {
        Some(nl) => at + nl + 1,
        None => text.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One token per character: windows are easy to check by hand.
    fn chars(text: &str) -> Vec<u32> {
        text.chars().map(|c| c as u32).collect()
    }

    #[test]
    fn windows_equal_cutting_the_whole_tokenization() {
        let text: String = (0..400).map(|i| format!("line {i} é🦀\n")).collect();
        let all = chars(&text);
        assert_eq!(tail_tokens(&chars, &text, 200), all[all.len() - 200..]);
        assert_eq!(head_tokens(&chars, &text, 100), all[..100]);
        assert_eq!(tail_tokens(&chars, "short", 200), chars("short"));
        assert!(tail_tokens(&chars, &text, 0).is_empty());
    }
}
