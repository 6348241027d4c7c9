//! Qwen3 (dense): Qwen2's decoder without biases, with RMSNorm over each head of queries and keys,
//! and an explicit head size.

use serde::Deserialize;

use super::{default_rope_theta, GgufMeta};
use crate::transformer::{Features, MlpKind, NormKind, RopeStyle, Spec};
use crate::Result;

/// Mirrors Qwen3's `config.json`.
#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: Option<usize>,
    pub head_dim: Option<usize>,
    pub max_position_embeddings: usize,
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f64,
    pub rms_norm_eps: f64,
    #[serde(default)]
    pub attention_bias: bool,
    #[serde(default)]
    pub tie_word_embeddings: bool,
}

impl Config {
    pub fn spec(&self) -> Spec {
        Spec {
            vocab_size: self.vocab_size,
            hidden_size: self.hidden_size,
            intermediate_size: self.intermediate_size,
            num_layers: self.num_hidden_layers,
            num_heads: self.num_attention_heads,
            num_kv_heads: self.num_key_value_heads.unwrap_or(self.num_attention_heads),
            head_dim: self.head_dim.unwrap_or(self.hidden_size / self.num_attention_heads.max(1)),
            max_positions: self.max_position_embeddings,
            rope_theta: self.rope_theta,
            rope_linear_factor: 1.0,
            rope_style: RopeStyle::RotateHalf,
            norm: NormKind::Rms,
            norm_eps: self.rms_norm_eps,
            qkv_bias: self.attention_bias,
            o_bias: false,
            mlp: MlpKind::SwiGlu,
            mlp_bias: false,
            tie_embeddings: self.tie_word_embeddings,
            features: Features { qk_norm: true, ..Features::default() },
        }
    }
}

pub(crate) fn config_from_gguf(md: &GgufMeta) -> Result<Config> {
    Ok(Config {
        vocab_size: md.vocab_size()?,
        hidden_size: md.usize("embedding_length")?,
        intermediate_size: md.opt_usize("feed_forward_length")?.unwrap_or(0),
        num_hidden_layers: md.usize("block_count")?,
        num_attention_heads: md.usize("attention.head_count")?,
        num_key_value_heads: md.opt_usize("attention.head_count_kv")?,
        head_dim: md.opt_usize("attention.key_length")?,
        max_position_embeddings: md.usize("context_length")?,
        rope_theta: md.opt_f64("rope.freq_base").unwrap_or(1_000_000.0),
        rms_norm_eps: md.opt_f64("attention.layer_norm_rms_epsilon").unwrap_or(1e-6),
        attention_bias: md.content.tensor_infos.contains_key("blk.0.attn_q.bias"),
        tie_word_embeddings: md.tied_output(),
    })
}

pub(crate) fn spec_from_gguf(md: &GgufMeta) -> Result<Spec> {
    Ok(config_from_gguf(md)?.spec())
}
