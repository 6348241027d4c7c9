//! LLaMA-architecture coders (CodeLlama, DeepSeek-Coder 1.x): RMSNorm, SwiGLU, optional biases,
//! linear RoPE scaling. llama.cpp permutes q/k for interleaved RoPE, so GGUF files rotate pairs.

use serde::Deserialize;

use super::{default_rope_theta, GgufMeta};
use crate::transformer::{MlpKind, NormKind, RopeStyle, Spec};
use crate::Result;

#[derive(Clone, Debug, Deserialize)]
pub struct RopeScaling {
    #[serde(alias = "rope_type")]
    #[serde(rename = "type")]
    pub kind: String,
    pub factor: f64,
}

/// Mirrors LLaMA's `config.json`.
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
    pub rope_scaling: Option<RopeScaling>,
    pub rms_norm_eps: f64,
    #[serde(default)]
    pub attention_bias: bool,
    #[serde(default)]
    pub mlp_bias: bool,
    #[serde(default)]
    pub tie_word_embeddings: bool,
}

impl Config {
    pub fn spec(&self) -> Spec {
        self.spec_with(RopeStyle::RotateHalf)
    }

    fn spec_with(&self, rope_style: RopeStyle) -> Spec {
        let rope_linear_factor = match &self.rope_scaling {
            Some(s) if s.kind == "linear" => s.factor,
            _ => 1.0,
        };
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
            rope_linear_factor,
            rope_style,
            norm: NormKind::Rms,
            norm_eps: self.rms_norm_eps,
            qkv_bias: self.attention_bias,
            o_bias: self.attention_bias,
            mlp: MlpKind::SwiGlu,
            mlp_bias: self.mlp_bias,
            tie_embeddings: self.tie_word_embeddings,
            features: Default::default(),
        }
    }
}

pub(crate) fn spec_from_gguf(md: &GgufMeta) -> Result<Spec> {
    let scaling = match (md.opt_str("rope.scaling.type"), md.opt_f64("rope.scaling.factor").or(md.opt_f64("rope.scale_linear"))) {
        (Some("linear") | None, Some(factor)) if factor != 1.0 => Some(RopeScaling { kind: "linear".into(), factor }),
        _ => None,
    };
    let heads = md.usize("attention.head_count")?;
    let bias = md.content.tensor_infos.contains_key("blk.0.attn_q.bias");
    Ok(Config {
        vocab_size: md.vocab_size()?,
        hidden_size: md.usize("embedding_length")?,
        intermediate_size: md.usize("feed_forward_length")?,
        num_hidden_layers: md.usize("block_count")?,
        num_attention_heads: heads,
        num_key_value_heads: md.opt_usize("attention.head_count_kv")?,
        head_dim: md.opt_usize("attention.key_length")?,
        max_position_embeddings: md.usize("context_length")?,
        rope_theta: md.opt_f64("rope.freq_base").unwrap_or(10_000.0),
        rope_scaling: scaling,
        rms_norm_eps: md.opt_f64("attention.layer_norm_rms_epsilon").unwrap_or(1e-5),
        attention_bias: bias,
        mlp_bias: false,
        tie_word_embeddings: md.tied_output(),
    }
    .spec_with(RopeStyle::Interleaved))
}
