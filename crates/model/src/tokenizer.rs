//! Tokenizers from `tokenizer.json` or rebuilt from GGUF metadata, plus the FIM special tokens.

use std::path::Path;
use std::sync::OnceLock;

use candle_core::quantized::gguf_file;
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::BPE;
use tokenizers::normalizers::{Prepend, Replace};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, DecoderWrapper, NormalizerWrapper, PreTokenizerWrapper, SplitDelimiterBehavior};

use crate::{ModelError, Result};

/// Special tokens for fill-in-the-middle and repository-level prompts.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FimTokens {
    pub format: FimFormat,
    pub prefix: u32,
    pub suffix: u32,
    /// Absent in suffix-first formats, where generation follows the prefix (Codestral).
    pub middle: Option<u32>,
    pub pad: Option<u32>,
    pub file_sep: Option<u32>,
    pub repo_name: Option<u32>,
}

/// The fill-in-the-middle layouts of the families Hearth knows, each as its model card documents it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FimFormat {
    /// Qwen2.5-Coder: `<|fim_prefix|>P<|fim_suffix|>S<|fim_middle|>`; repository level with
    /// `<|repo_name|>` and `<|file_sep|>`.
    Qwen,
    /// StarCoder / StarCoder2: `<fim_prefix>P<fim_suffix>S<fim_middle>`; `<repo_name>`, `<file_sep>`.
    StarCoder,
    /// CodeGemma: Qwen's spellings with `<|file_separator|>` between files, after BOS.
    CodeGemma,
    /// CodeLlama: BOS `▁<PRE>`P`▁<SUF>`S`▁<MID>`.
    CodeLlama,
    /// DeepSeek-Coder: BOS `<｜fim▁begin｜>`P`<｜fim▁hole｜>`S`<｜fim▁end｜>`.
    DeepSeek,
    /// Codestral: BOS `[SUFFIX]`S`[PREFIX]`P, the answer follows the prefix.
    Codestral,
}

impl FimTokens {
    /// The FIM part of a prompt around already tokenized prefix and suffix (no BOS, no context).
    pub fn layout(&self, prefix: &[u32], suffix: &[u32]) -> Vec<u32> {
        let mut ids = Vec::with_capacity(prefix.len() + suffix.len() + 3);
        if self.format == FimFormat::Codestral {
            ids.push(self.suffix);
            ids.extend_from_slice(suffix);
            ids.push(self.prefix);
            ids.extend_from_slice(prefix);
        } else {
            ids.push(self.prefix);
            ids.extend_from_slice(prefix);
            ids.push(self.suffix);
            ids.extend_from_slice(suffix);
        }
        ids.extend(self.middle);
        ids
    }
}

/// Token spellings per format: (prefix, suffix, middle, pad, file separator, repo name). CodeGemma
/// comes before Qwen: both spell `<|fim_prefix|>`, only CodeGemma has `<|file_separator|>`.
const FIM_SPELLINGS: &[(FimFormat, [&str; 6])] = &[
    (FimFormat::CodeGemma, ["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "", "<|file_separator|>", ""]),
    (FimFormat::Qwen, ["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|fim_pad|>", "<|file_sep|>", "<|repo_name|>"]),
    (FimFormat::StarCoder, ["<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<fim_pad>", "<file_sep>", "<repo_name>"]),
    (FimFormat::CodeLlama, ["▁<PRE>", "▁<SUF>", "▁<MID>", "", "", ""]),
    (FimFormat::DeepSeek, ["<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>", "", "", ""]),
    (FimFormat::Codestral, ["[PREFIX]", "[SUFFIX]", "", "", "", ""]),
];

/// End-of-turn spellings that also end generation when they are special tokens.
const END_OF_TURN_SPELLINGS: &[&str] = &["<end_of_turn>", "<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|end|>", "<|EOT|>", "<|return|>"];

/// End-of-sequence spellings searched when the config names none.
const EOS_SPELLINGS: &[&str] = &["<|endoftext|>", "</s>", "<|EOT|>", "▁<EOT>", "<EOT>", "<|im_end|>", "<｜end▁of▁sentence｜>"];

pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    special: Vec<u32>,
    /// Finds special tokens' spellings for [`Tokenizer::encode_special`], with their ids.
    matcher: Option<(aho_corasick::AhoCorasick, Vec<u32>)>,
    /// The bytes each token stands for, built on first use (token healing).
    bytes: OnceLock<ByteTable>,
}

/// Every token's bytes end to end, and where each ends: two allocations for a whole vocabulary
/// (about 3 MB for Gemma's 262,144 pieces), where a vector per token costs a 24-byte header and an
/// allocation each.
struct ByteTable {
    bytes: Vec<u8>,
    ends: Vec<u32>,
}

impl ByteTable {
    fn get(&self, id: u32) -> &[u8] {
        let i = id as usize;
        let Some(&end) = self.ends.get(i) else { return &[] };
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start as usize..end as usize]
    }
}

impl Tokenizer {
    pub fn from_file(path: &Path) -> Result<Self> {
        let inner =
            tokenizers::Tokenizer::from_file(path).map_err(|e| ModelError::bad_file(path, format!("cannot read tokenizer: {e}")))?;
        Ok(Self::wrap(inner))
    }

    /// The tokenizer of a GGUF file, without loading its tensors.
    pub fn from_gguf_file(path: &Path) -> Result<Self> {
        let mut file = std::fs::File::open(path).map_err(|source| ModelError::Io { path: path.into(), source })?;
        let content =
            gguf_file::Content::read(&mut file).map_err(|e| ModelError::bad_file(path, format!("not a readable GGUF file ({e})")))?;
        Self::from_gguf(&content, path)
    }

    /// Rebuilds the tokenizer from `tokenizer.ggml.*` metadata: byte-level BPE (`gpt2`) or
    /// SentencePiece BPE (`llama`).
    pub fn from_gguf(content: &gguf_file::Content, path: &Path) -> Result<Self> {
        let md = |k: &str| content.metadata.get(k);
        let bad = |m: String| ModelError::bad_file(path, m);
        let strings = |k: &str| -> Result<Vec<String>> {
            let v = md(k).ok_or_else(|| bad(format!("GGUF metadata lacks `{k}`")))?;
            let list = v.to_vec().map_err(|_| bad(format!("`{k}` is not a list")))?;
            list.iter().map(|s| s.to_string().cloned().map_err(|_| bad(format!("`{k}` holds a non-string")))).collect()
        };
        let tokens = strings("tokenizer.ggml.tokens")?;
        let types: Vec<i32> = match md("tokenizer.ggml.token_type").and_then(|v| v.to_vec().ok()) {
            Some(list) => list.iter().map(|v| v.to_i32().unwrap_or(1)).collect(),
            None => vec![1; tokens.len()],
        };
        let vocab: tokenizers::models::bpe::Vocab = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        let model = md("tokenizer.ggml.model").and_then(|v| v.to_string().ok()).map(|s| s.as_str()).unwrap_or("");
        let pre = md("tokenizer.ggml.pre").and_then(|v| v.to_string().ok()).map(|s| s.as_str()).unwrap_or("default");
        let merges = || -> Result<Vec<(String, String)>> {
            strings("tokenizer.ggml.merges")?
                .into_iter()
                .map(|m| m.split_once(' ').map(|(a, b)| (a.to_string(), b.to_string())).ok_or_else(|| bad(format!("bad merge `{m}`"))))
                .collect()
        };
        let mut inner = match model {
            "gpt2" => {
                // llama.cpp takes a pre-token that is itself in the vocabulary whole (Llama 3's
                // `ignore_merges`); other byte-level BPE vocabularies always merge.
                let bpe = BPE::builder()
                    .vocab_and_merges(vocab, merges()?)
                    .ignore_merges(matches!(pre, "llama-bpe" | "llama3" | "smaug-bpe" | "dbrx"))
                    .build()
                    .map_err(|e| bad(format!("cannot build BPE tokenizer: {e}")))?;
                let mut inner = tokenizers::Tokenizer::new(bpe);
                inner.with_pre_tokenizer(Some(pre_tokenizer(pre).map_err(|e| bad(format!("pre-tokenizer `{pre}`: {e}")))?));
                inner.with_decoder(Some(ByteLevel::default()));
                inner
            }
            "llama" => {
                let scores: Vec<f32> = match md("tokenizer.ggml.scores").and_then(|v| v.to_vec().ok()) {
                    Some(list) => list.iter().map(|v| v.to_f32().map_err(|_| bad("`tokenizer.ggml.scores` holds a non-number".into()))).collect::<Result<_>>()?,
                    None => return Err(bad("GGUF metadata lacks `tokenizer.ggml.scores`".into())),
                };
                if scores.len() != tokens.len() {
                    return Err(bad(format!("{} tokenizer scores for {} tokens", scores.len(), tokens.len())));
                }
                let unk = md("tokenizer.ggml.unknown_token_id").and_then(|v| v.to_u32().ok()).unwrap_or(0) as usize;
                let space_prefix = md("tokenizer.ggml.add_space_prefix").and_then(|v| v.to_bool().ok()).unwrap_or(true);
                sentencepiece_bpe(vocab, spm_merges(&tokens, &scores), tokens.get(unk).cloned(), space_prefix, None)
                    .map_err(|e| bad(format!("cannot build SentencePiece tokenizer: {e}")))?
            }
            "gemma4" => {
                // SentencePiece-style BPE with explicit merges over raw UTF-8 (`▁` for space, byte
                // fallback), split only at newlines, as llama.cpp's gemma4 pre-tokenizer does.
                let unk = md("tokenizer.ggml.unknown_token_id").and_then(|v| v.to_u32().ok()).unwrap_or(3) as usize;
                let lines = Split::new(SplitPattern::Regex(r"[^\n]+|[\n]+".into()), SplitDelimiterBehavior::Isolated, false)
                    .map_err(|e| bad(format!("gemma4 pre-tokenizer: {e}")))?;
                sentencepiece_bpe(vocab, merges()?, tokens.get(unk).cloned(), false, Some(lines.into()))
                    .map_err(|e| bad(format!("cannot build the gemma4 tokenizer: {e}")))?
            }
            other => {
                return Err(bad(format!(
                    "GGUF tokenizer model `{other}` is not supported (byte-level BPE `gpt2`, SentencePiece `llama` and `gemma4` are); use the model's Hugging Face folder with tokenizer.json instead"
                )))
            }
        };
        // As llama.cpp: control tokens (type 3) are special, matched only where the caller asks for
        // special tokens ([`Tokenizer::encode_special`]); user-defined ones (type 4, e.g. Gemma's
        // runs of spaces and newlines) are always matched whole, before the model sees the text.
        let added: Vec<AddedToken> = tokens
            .iter()
            .zip(&types)
            .filter(|(_, &t)| t == 3 || t == 4)
            .map(|(s, &t)| AddedToken::from(s.clone(), t == 3).normalized(false))
            .collect();
        inner.add_tokens(&added);
        Ok(Self::wrap(inner))
    }

    fn wrap(mut inner: tokenizers::Tokenizer) -> Self {
        // Special tokens spelled in text are text (llama.cpp's `parse_special = false`): code that
        // contains `<|fim_prefix|>` or `<|im_end|>` must not steer the model.
        inner.set_encode_special_tokens(true);
        let mut specials: Vec<(u32, String)> = inner
            .get_added_vocabulary()
            .get_added_tokens_decoder()
            .iter()
            .filter(|(_, t)| t.special && !t.content.is_empty())
            .map(|(&id, t)| (id, t.content.clone()))
            .collect();
        specials.sort();
        let special = specials.iter().map(|(id, _)| *id).collect();
        let matcher = aho_corasick::AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            .build(specials.iter().map(|(_, s)| s.as_str()))
            .ok()
            .map(|m| (m, specials.iter().map(|(id, _)| *id).collect()));
        Tokenizer { inner, special, matcher, bytes: OnceLock::new() }
    }

    /// Token ids of `text`, without BOS. Special tokens spelled in it are encoded as text.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        match self.inner.encode_fast(text, false) {
            Ok(enc) => enc.get_ids().to_vec(),
            Err(e) => {
                tracing::warn!("tokenizer failed on {} bytes of text: {e}", text.len());
                Vec::new()
            }
        }
    }

    /// Token ids of text that spells special tokens on purpose, such as a rendered chat template:
    /// each special token's spelling becomes its id (llama.cpp's `parse_special = true`).
    pub fn encode_special(&self, text: &str) -> Vec<u32> {
        let Some((matcher, ids)) = &self.matcher else { return self.encode(text) };
        let mut out = Vec::new();
        let mut at = 0;
        for m in matcher.find_iter(text) {
            if m.start() > at {
                out.extend(self.encode(&text[at..m.start()]));
            }
            out.push(ids[m.pattern().as_usize()]);
            at = m.end();
        }
        if at < text.len() {
            out.extend(self.encode(&text[at..]));
        }
        out
    }

    /// Text of `ids`. Special tokens are kept so that nothing is silently dropped.
    pub fn decode(&self, ids: &[u32]) -> String {
        self.inner.decode(ids, false).unwrap_or_default()
    }

    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    pub fn token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// The bytes of text token `id` stands for (its piece with byte-level BPE's or SentencePiece's
    /// spelling undone); empty for unknown ids. Special tokens give their spelling.
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.bytes.get_or_init(|| self.byte_table()).get(id)
    }

    pub fn is_special(&self, id: u32) -> bool {
        self.special.binary_search(&id).is_ok()
    }

    fn byte_table(&self) -> ByteTable {
        let n = self.vocab_size();
        // SentencePiece vocabularies have `▁` (a space) as a piece; byte-level ones spell it `Ġ`.
        let byte_level = self.token_id("▁").is_none();
        let unicode_to_byte: std::collections::HashMap<char, u8> = gpt2_bytes().into_iter().map(|(b, c)| (c, b)).collect();
        let mut table = ByteTable { bytes: Vec::new(), ends: Vec::with_capacity(n) };
        for id in 0..n as u32 {
            if let Some(piece) = self.token(id) {
                let out = &mut table.bytes;
                let hex = piece.strip_prefix("<0x").and_then(|h| h.strip_suffix('>')).and_then(|h| u8::from_str_radix(h, 16).ok());
                if self.is_special(id) {
                    out.extend_from_slice(piece.as_bytes());
                } else if byte_level {
                    match piece.chars().map(|c| unicode_to_byte.get(&c).copied()).collect::<Option<Vec<u8>>>() {
                        Some(bytes) => out.extend_from_slice(&bytes),
                        None => out.extend_from_slice(piece.as_bytes()), // an added token spelled as plain text
                    }
                } else if let Some(b) = hex {
                    out.push(b);
                } else {
                    out.extend_from_slice(piece.replace('▁', " ").as_bytes());
                }
            }
            table.ends.push(table.bytes.len() as u32);
        }
        table.bytes.shrink_to_fit();
        table
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Ids of all special (added, control) tokens.
    pub fn special_ids(&self) -> &[u32] {
        &self.special
    }

    pub fn fim_tokens(&self) -> Option<FimTokens> {
        FIM_SPELLINGS.iter().find_map(|(format, s)| {
            let id = |t: &str| if t.is_empty() { None } else { self.token_id(t) };
            let middle = id(s[2]);
            if middle.is_none() && *format != FimFormat::Codestral {
                return None;
            }
            let file_sep = id(s[4]);
            if *format == FimFormat::CodeGemma && file_sep.is_none() {
                return None;
            }
            Some(FimTokens { format: *format, prefix: id(s[0])?, suffix: id(s[1])?, middle, pad: id(s[3]), file_sep, repo_name: id(s[5]) })
        })
    }

    pub fn default_eos(&self) -> Vec<u32> {
        EOS_SPELLINGS.iter().filter_map(|s| self.token_id(s)).collect()
    }

    /// Special tokens that end a turn in chat-trained vocabularies (Gemma's `<end_of_turn>`, Llama 3's
    /// `<|eot_id|>`, ChatML's `<|im_end|>`): generation stops at them too, as llama.cpp's does.
    pub fn end_of_turn_ids(&self) -> Vec<u32> {
        END_OF_TURN_SPELLINGS.iter().filter_map(|s| self.token_id(s)).filter(|id| self.special.contains(id)).collect()
    }
}

/// GPT-2's byte-to-character map: printable bytes stand for themselves, the others for the
/// characters from U+0100 on, in order.
fn gpt2_bytes() -> Vec<(u8, char)> {
    let printable = |b: u8| (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b);
    let mut next = 256u32;
    (0..=255u8)
        .map(|b| {
            if printable(b) {
                (b, b as char)
            } else {
                let c = char::from_u32(next).unwrap_or('?');
                next += 1;
                (b, c)
            }
        })
        .collect()
}

/// SentencePiece BPE as Hugging Face's `LlamaConverter` rebuilds it: BPE over `▁`-for-space text
/// with byte fallback (`<0xXX>` tokens), no pre-tokenizer, and the matching decoder.
fn sentencepiece_bpe(
    vocab: tokenizers::models::bpe::Vocab,
    merges: Vec<(String, String)>,
    unk: Option<String>,
    space_prefix: bool,
    pre_tokenizer: Option<PreTokenizerWrapper>,
) -> tokenizers::Result<tokenizers::Tokenizer> {
    let mut builder = BPE::builder().vocab_and_merges(vocab, merges).fuse_unk(true).byte_fallback(true);
    if let Some(unk) = unk {
        builder = builder.unk_token(unk);
    }
    let mut inner = tokenizers::Tokenizer::new(builder.build()?);
    let mut normalizers: Vec<NormalizerWrapper> = Vec::new();
    if space_prefix {
        normalizers.push(Prepend::new("▁".into()).into());
    }
    normalizers.push(Replace::new(" ", "▁")?.into());
    inner.with_normalizer(Some(tokenizers::normalizers::Sequence::new(normalizers)));
    if let Some(pre) = pre_tokenizer {
        inner.with_pre_tokenizer(Some(pre));
    }
    let mut decoders: Vec<DecoderWrapper> = vec![Replace::new("▁", " ")?.into(), ByteFallback::new().into(), Fuse::new().into()];
    if space_prefix {
        decoders.push(Strip::new(' ', 1, 0).into());
    }
    inner.with_decoder(Some(tokenizers::decoders::sequence::Sequence::new(decoders)));
    Ok(inner)
}

/// BPE merges from SentencePiece scores (`generate_merges` in Hugging Face's converter): every
/// split of a piece into two pieces of the vocabulary is a merge; merges rank by the merged piece's
/// score, then by the lengths (in chars) of the left and right parts, longest first, then by the
/// ids of the parts.
fn spm_merges(tokens: &[String], scores: &[f32]) -> Vec<(String, String)> {
    let ids: std::collections::HashMap<&str, usize> = tokens.iter().enumerate().map(|(i, t)| (t.as_str(), i)).collect();
    let mut merges: Vec<(f32, usize, usize, &str, &str)> = Vec::new();
    for (piece, &score) in tokens.iter().zip(scores) {
        let mut local: Vec<(usize, usize, &str, &str)> = piece
            .char_indices()
            .skip(1)
            .filter_map(|(at, _)| {
                let (l, r) = piece.split_at(at);
                Some((*ids.get(l)?, *ids.get(r)?, l, r))
            })
            .collect();
        local.sort_by_key(|&(li, ri, _, _)| (li, ri));
        merges.extend(local.into_iter().map(|(_, _, l, r)| (score, l.chars().count(), r.chars().count(), l, r)));
    }
    // Python's `sorted(..., reverse=True)` is stable: equal keys keep their order.
    merges.sort_by(|a, b| (b.0, b.1, b.2).partial_cmp(&(a.0, a.1, a.2)).unwrap_or(std::cmp::Ordering::Equal));
    merges.into_iter().map(|(_, _, _, l, r)| (l.to_string(), r.to_string())).collect()
}

fn pre_tokenizer(name: &str) -> tokenizers::Result<PreTokenizerWrapper> {
    let splits: &[&str] = match name {
        "qwen2" => &[
            r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        ],
        "qwen35" => &[
            r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        ],
        "llama-bpe" | "llama3" | "smaug-bpe" | "dbrx" => &[
            r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        ],
        "starcoder" | "refact" => &[r"\p{N}", r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"],
        "deepseek-coder" => &[r"[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", r"[一-龥ࠀ-一가-퟿]+", r"\p{N}"],
        other => {
            if !matches!(other, "gpt-2" | "gpt2" | "default") {
                tracing::warn!("unknown GGUF pre-tokenizer `{other}`; using GPT-2's");
            }
            return Ok(ByteLevel::new(false, true, true).into());
        }
    };
    let mut seq: Vec<PreTokenizerWrapper> = splits
        .iter()
        .map(|re| Split::new(SplitPattern::Regex(re.to_string()), SplitDelimiterBehavior::Isolated, false).map(Into::into))
        .collect::<tokenizers::Result<_>>()?;
    seq.push(ByteLevel::new(false, true, false).into());
    Ok(Sequence::new(seq).into())
}

#[cfg(test)]
mod tests {
    use super::{FimFormat, FimTokens};

    fn tokens(format: FimFormat, middle: Option<u32>) -> FimTokens {
        FimTokens { format, prefix: 100, suffix: 101, middle, pad: None, file_sep: None, repo_name: None }
    }

    #[test]
    fn gpt2_byte_map_is_the_published_one() {
        let map = super::gpt2_bytes();
        assert_eq!(map[b' ' as usize].1, 'Ġ');
        assert_eq!(map[b'\n' as usize].1, 'Ċ');
        assert_eq!(map[b'a' as usize].1, 'a');
        assert_eq!(map.iter().map(|(_, c)| *c).collect::<std::collections::HashSet<_>>().len(), 256);
    }

    #[test]
    fn layouts_follow_each_family_order() {
        // Prefix-suffix-middle (Qwen2.5-Coder, StarCoder2, CodeGemma, CodeLlama, DeepSeek-Coder).
        assert_eq!(tokens(FimFormat::CodeGemma, Some(102)).layout(&[1, 2], &[3]), vec![100, 1, 2, 101, 3, 102]);
        // Codestral: `[SUFFIX]S[PREFIX]P`, the answer follows the prefix.
        assert_eq!(tokens(FimFormat::Codestral, None).layout(&[1, 2], &[3]), vec![101, 3, 100, 1, 2]);
    }
}
