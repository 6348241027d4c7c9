//! Incremental detokenisation: emits text as tokens arrive, holds back incomplete UTF-8, and
//! cuts the text at the first stop string.

use std::sync::Arc;

use hearth_model::Tokenizer;

pub struct TextStream {
    tokenizer: Arc<Tokenizer>,
    ids: Vec<u32>,
    text: String,
    emitted: usize,
    stops: Vec<String>,
    stopped: bool,
}

impl TextStream {
    pub fn new(tokenizer: Arc<Tokenizer>, stops: Vec<String>) -> Self {
        let stops = stops.into_iter().filter(|s| !s.is_empty()).collect();
        TextStream { tokenizer, ids: Vec::new(), text: String::new(), emitted: 0, stops, stopped: false }
    }

    /// Adds a token; returns the new text and whether a stop string was reached.
    pub fn push(&mut self, id: u32) -> (String, bool) {
        if self.stopped {
            return (String::new(), true);
        }
        self.ids.push(id);
        let full = self.tokenizer.decode(&self.ids);
        // A trailing replacement character is usually a multi-byte character still arriving.
        let stable = full.strip_suffix('\u{FFFD}').unwrap_or(&full).to_string();
        if stable.len() < self.emitted || !stable.is_char_boundary(self.emitted) {
            return (String::new(), false);
        }
        let search_from = self.stops.iter().map(|s| self.emitted.saturating_sub(s.len())).min().unwrap_or(self.emitted);
        let mut search_from = search_from;
        while !stable.is_char_boundary(search_from) {
            search_from -= 1;
        }
        let cut = self.stops.iter().filter_map(|s| stable[search_from..].find(s.as_str()).map(|i| search_from + i)).min();
        let end = match cut {
            Some(c) => c.max(self.emitted),
            None => self.emitted.max(stable.len() - self.held_back(&stable)),
        };
        let delta = stable[self.emitted..end].to_string();
        self.emitted = end;
        self.text = stable[..end].to_string();
        self.stopped = cut.is_some();
        (delta, self.stopped)
    }

    /// Text generated so far, without a stop string. Text held back at the end because it
    /// might start a stop string is included once generation is over.
    pub fn into_text(self) -> String {
        if self.stopped {
            return self.text;
        }
        let full = self.tokenizer.decode(&self.ids);
        full.strip_suffix('\u{FFFD}').unwrap_or(&full).to_string()
    }

    /// Bytes at the end of `text` that could be the start of a stop string.
    fn held_back(&self, text: &str) -> usize {
        let tail = &text[self.emitted..];
        self.stops
            .iter()
            .flat_map(|s| (1..s.len().min(tail.len() + 1)).rev().filter(move |&n| s.is_char_boundary(n) && tail.ends_with(&s[..n])))
            .max()
            .unwrap_or(0)
    }
}
