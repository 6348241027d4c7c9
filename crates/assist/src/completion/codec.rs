//! Text to tokens and back: the one thing prompt building needs from a tokenizer.

/// Encodes text without special tokens and decodes ids back to text.
pub trait Codec {
    fn encode(&self, text: &str) -> Vec<u32>;
    fn decode(&self, ids: &[u32]) -> String;
}

impl Codec for hearth_model::Tokenizer {
    fn encode(&self, text: &str) -> Vec<u32> {
        hearth_model::Tokenizer::encode(self, text)
    }
    fn decode(&self, ids: &[u32]) -> String {
        hearth_model::Tokenizer::decode(self, ids)
    }
}

/// One token per character, ids offset past the special tokens; for tests of prompt mechanics.
#[cfg(test)]
pub(crate) struct CharCodec;

#[cfg(test)]
impl CharCodec {
    pub(crate) const OFFSET: u32 = 16;
}

#[cfg(test)]
impl Codec for CharCodec {
    fn encode(&self, text: &str) -> Vec<u32> {
        text.chars().map(|c| c as u32 + Self::OFFSET).collect()
    }
    /// Ids below the offset decode as Qwen2.5-Coder's spellings, for readable test prompts.
    fn decode(&self, ids: &[u32]) -> String {
        const SPECIALS: [&str; 7] =
            ["<bos>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"];
        ids.iter()
            .map(|&id| match id.checked_sub(Self::OFFSET) {
                Some(c) => char::from_u32(c).map(String::from).unwrap_or_default(),
                None => SPECIALS.get(id as usize).map_or_else(String::new, |s| s.to_string()),
            })
            .collect()
    }
}
