//! StarCoder2: LayerNorm with bias, GELU MLP (`c_fc`/`c_proj`), biases everywhere, tied embeddings.

use serde::Deserialize;

use super::{default_rope_theta, default_true, GgufMeta};
use crate::transformer::{MlpKind, NormKind, RopeStyle, Spec};
use crate::Result;

/// Mirrors StarCoder2's `config.json`.
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
    pub norm_epsilon: f64,
    #[serde(default = "default_true")]
    pub use_bias: bool,
    #[serde(default = "default_true")]
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
            norm: NormKind::Layer,
            norm_eps: self.norm_epsilon,
            qkv_bias: self.use_bias,
            o_bias: self.use_bias,
            mlp: MlpKind::Gelu,
            mlp_bias: self.use_bias,
            tie_embeddings: self.tie_word_embeddings,
            features: Default::default(),
        }
    }
}

pub(crate) fn spec_from_gguf(md: &GgufMeta) -> Result<Spec> {
    Ok(Config {
        vocab_size: md.vocab_size()?,
        hidden_size: md.usize("embedding_length")?,
        intermediate_size: md.usize("feed_forward_length")?,
        num_hidden_layers: md.usize("block_count")?,
        num_attention_heads: md.usize("attention.head_count")?,
        num_key_value_heads: md.opt_usize("attention.head_count_kv")?,
        max_position_embeddings: md.usize("context_length")?,
        rope_theta: md.opt_f64("rope.freq_base").unwrap_or(10_000.0),
        norm_epsilon: md.opt_f64("attention.layer_norm_epsilon").unwrap_or(1e-5),
        use_bias: md.content.tensor_infos.contains_key("blk.0.attn_q.bias"),
        tie_word_embeddings: md.tied_output(),
    }
    .spec())
}
