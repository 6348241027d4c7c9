//! Incremental detokenisation: emits text as tokens arrive, holds back incomplete UTF-8, and
//! cuts the text at the first stop string.
//!
//! Each token decodes only a short tail of ids, as Hugging Face's `DecodeStream` does: the ids
//! from `prefix_offset` on are decoded with and without the newest ones, and the difference is the
//! new text. Decoding the tail with some context keeps spaces and merged bytes right, and the work
//! per token stays constant instead of growing with the output.

use std::sync::Arc;

use hearth_model::Tokenizer;

pub struct TextStream {
    tokenizer: Arc<Tokenizer>,
    ids: Vec<u32>,
    /// Start of the ids decoded as context for the next piece of text.
    prefix_offset: usize,
    /// Ids before this one are already in `decoded`.
    read_offset: usize,
    /// Text of `ids[..read_offset]`.
    decoded: String,
    /// Text handed out (a prefix of `decoded`, cut at a stop string once one is seen).
    text: String,
    emitted: usize,
    stops: Vec<String>,
    stopped: bool,
    /// Text the output starts with that is not handed out (token healing's forced prefix).
    skip: String,
    /// Start of the handed-out text in `decoded` (after the skipped prefix).
    text_start: usize,
}

impl TextStream {
    pub fn new(tokenizer: Arc<Tokenizer>, stops: Vec<String>) -> Self {
        let stops = stops.into_iter().filter(|s| !s.is_empty()).collect();
        TextStream {
            tokenizer,
            ids: Vec::new(),
            prefix_offset: 0,
            read_offset: 0,
            decoded: String::new(),
            text: String::new(),
            emitted: 0,
            stops,
            stopped: false,
            skip: String::new(),
            text_start: 0,
        }
    }

    /// A stream that hands out only what follows `prefix` once the text starts with it: `prefix`
    /// is neither emitted nor searched for stop strings.
    pub fn after(mut self, prefix: &str) -> Self {
        self.skip = prefix.to_string();
        self
    }

    /// Adds a token; returns the new text and whether a stop string was reached.
    pub fn push(&mut self, id: u32) -> (String, bool) {
        if self.stopped {
            return (String::new(), true);
        }
        self.ids.push(id);
        if !self.decode_tail() {
            return (String::new(), false);
        }
        if !self.skip.is_empty() {
            if self.decoded.len() < self.skip.len() && self.skip.starts_with(self.decoded.as_str()) {
                return (String::new(), false);
            }
            // Once the text holds the whole prefix (or parts from it), output starts after it.
            let skipped = if self.decoded.starts_with(self.skip.as_str()) { self.skip.len() } else { 0 };
            self.emitted = self.emitted.max(skipped);
            self.text_start = skipped;
            self.skip.clear();
        }
        let stable = &self.decoded;
        let search_from = self.stops.iter().map(|s| self.emitted.saturating_sub(s.len())).min().unwrap_or(self.emitted);
        let mut search_from = search_from.max(self.text_start);
        while !stable.is_char_boundary(search_from) {
            search_from -= 1;
        }
        let cut = self.stops.iter().filter_map(|s| stable[search_from..].find(s.as_str()).map(|i| search_from + i)).min();
        let end = match cut {
            Some(c) => c.max(self.emitted),
            None => self.emitted.max(stable.len() - self.held_back(stable)),
        };
        let delta = stable[self.emitted..end].to_string();
        self.emitted = end;
        self.text = stable[self.text_start..end].to_string();
        self.stopped = cut.is_some();
        (delta, self.stopped)
    }

    /// Moves newly complete text into `decoded`. False while the newest ids end inside a
    /// multi-byte character (the decoder shows it as U+FFFD) or add no text yet.
    fn decode_tail(&mut self) -> bool {
        let before = self.tokenizer.decode(&self.ids[self.prefix_offset..self.read_offset]);
        let after = self.tokenizer.decode(&self.ids[self.prefix_offset..]);
        if after.len() <= before.len() || after.ends_with('\u{FFFD}') {
            return false;
        }
        match after.strip_prefix(before.as_str()) {
            Some(new) => self.decoded.push_str(new),
            // The context decodes differently once more ids follow: fall back to all the ids.
            None => self.decoded = self.tokenizer.decode(&self.ids),
        }
        self.prefix_offset = self.read_offset;
        self.read_offset = self.ids.len();
        true
    }

    /// Text generated so far, without a stop string (or a skipped prefix). Text held back at the
    /// end because it might start a stop string is included once generation is over.
    pub fn into_text(self) -> String {
        if self.stopped {
            return self.text;
        }
        let full = self.tokenizer.decode(&self.ids);
        let full = full.strip_suffix('\u{FFFD}').unwrap_or(&full);
        if !self.skip.is_empty() {
            // Generation ended inside the prefix, or went another way.
            return if self.skip.starts_with(full) {
                String::new()
            } else {
                full.strip_prefix(self.skip.as_str()).unwrap_or(full).to_string()
            };
        }
        full.get(self.text_start..).unwrap_or(full).to_string()
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

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_model::testing::model_path;

    fn stream_all(tok: &Arc<Tokenizer>, ids: &[u32]) -> (Vec<String>, String) {
        let mut stream = TextStream::new(tok.clone(), Vec::new());
        let deltas: Vec<String> = ids.iter().map(|&id| stream.push(id).0).collect();
        (deltas, stream.into_text())
    }

    #[test]
    fn multi_byte_characters_split_across_tokens_come_out_whole() {
        let loaded = hearth_model::load(&model_path("tiny-coder"), hearth_model::DeviceChoice::Cpu).unwrap();
        let tok = loaded.tokenizer.clone();
        let text = "héllo 🦀 中文 ünïcödé\n    🔥🔥 done";
        let ids = tok.encode(text);
        let (deltas, all) = stream_all(&tok, &ids);
        assert_eq!(deltas.concat(), text);
        assert_eq!(all, text);
        assert!(deltas.iter().all(|d| !d.contains('\u{FFFD}')), "{deltas:?}");
        // Some character really was split: a token that added no text while its bytes were incomplete.
        assert!(deltas.iter().any(|d| d.is_empty()), "no character spans tokens: {deltas:?}");
    }

    #[test]
    fn sentencepiece_spaces_and_byte_fallback_stream_like_a_whole_decode() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/tests/fixtures/spm-tokenizer.gguf");
        let tok = Arc::new(Tokenizer::from_gguf_file(&path).unwrap());
        let text = "fn main() {\n    let s = \"\u{2028} é 🦀\";\n}";
        let ids = tok.encode(text);
        let (deltas, all) = stream_all(&tok, &ids);
        assert_eq!(deltas.concat(), tok.decode(&ids));
        assert_eq!(all, tok.decode(&ids));
        assert!(deltas.iter().all(|d| !d.contains('\u{FFFD}')), "{deltas:?}");
    }
}
