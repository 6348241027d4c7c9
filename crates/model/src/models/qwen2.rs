//! Qwen2 / Qwen2.5-Coder: RMSNorm, SwiGLU, grouped-query attention with q/k/v biases.

use serde::Deserialize;

use super::{default_rope_theta, GgufMeta};
use crate::transformer::{MlpKind, NormKind, RopeStyle, Spec};
use crate::Result;

/// Mirrors Qwen2's `config.json`.
#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: Option<usize>,
    pub max_position_embeddings: usize,
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f64,
    pub rms_norm_eps: f64,
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
            head_dim: self.hidden_size / self.num_attention_heads.max(1),
            max_positions: self.max_position_embeddings,
            rope_theta: self.rope_theta,
            rope_linear_factor: 1.0,
            rope_style: RopeStyle::RotateHalf,
            norm: NormKind::Rms,
            norm_eps: self.rms_norm_eps,
            qkv_bias: true,
            o_bias: false,
            mlp: MlpKind::SwiGlu,
            mlp_bias: false,
            tie_embeddings: self.tie_word_embeddings,
            features: Default::default(),
        }
    }
}

pub(crate) fn spec_from_gguf(md: &GgufMeta) -> Result<Spec> {
    let heads = md.usize("attention.head_count")?;
    let hidden = md.usize("embedding_length")?;
    Ok(Config {
        vocab_size: md.vocab_size()?,
        hidden_size: hidden,
        intermediate_size: md.usize("feed_forward_length")?,
        num_hidden_layers: md.usize("block_count")?,
        num_attention_heads: heads,
        num_key_value_heads: md.opt_usize("attention.head_count_kv")?,
        max_position_embeddings: md.usize("context_length")?,
        rope_theta: md.opt_f64("rope.freq_base").unwrap_or(10_000.0),
        rms_norm_eps: md.opt_f64("attention.layer_norm_rms_epsilon").unwrap_or(1e-6),
        tie_word_embeddings: md.tied_output(),
    }
    .spec())
}
