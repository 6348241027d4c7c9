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
    fn decode(&self, ids: &[u32]) -> String {
        ids.iter().filter_map(|&id| id.checked_sub(Self::OFFSET).and_then(char::from_u32)).collect()
    }
}
