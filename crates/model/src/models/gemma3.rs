//! Gemma 3 (text): grouped-query attention with RMSNorm on queries and keys, sliding-window
//! (local) layers interleaved with global ones, each kind with its own RoPE base, four norms per
//! block, GeGLU, embeddings scaled by the square root of the width, and a tied output head.
//!
//! Hugging Face stores Gemma's norm weights as `w - 1` (the layer computes `x * (1 + w)`);
//! llama.cpp's GGUF conversion stores `w`. The spec's `norm_weight_offset` adds the 1 for safetensors.

use serde::Deserialize;

use super::GgufMeta;
use crate::transformer::{Features, MlpKind, NormKind, RopeStyle, SlidingWindow, Spec};
use crate::{ModelError, Result};

#[derive(Clone, Debug, Deserialize)]
pub struct RopeScaling {
    #[serde(alias = "type")]
    pub rope_type: String,
    pub factor: Option<f64>,
}

/// Mirrors Gemma 3's text `config.json` (`model_type` `gemma3_text`).
#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: Option<usize>,
    #[serde(default = "default_head_dim")]
    pub head_dim: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f64,
    #[serde(default = "default_local_theta")]
    pub rope_local_base_freq: f64,
    pub rope_scaling: Option<RopeScaling>,
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    #[serde(default = "default_head_dim_f")]
    pub query_pre_attn_scalar: f64,
    pub sliding_window: Option<usize>,
    /// Every `sliding_window_pattern`-th layer is global (older configs).
    pub sliding_window_pattern: Option<usize>,
    /// `sliding_attention` / `full_attention` per layer (newer configs).
    pub layer_types: Option<Vec<String>>,
    pub final_logit_softcapping: Option<f64>,
    #[serde(default = "super::default_true")]
    pub tie_word_embeddings: bool,
    pub hidden_activation: Option<String>,
}

fn default_head_dim() -> usize {
    256
}
fn default_head_dim_f() -> f64 {
    256.0
}
fn default_rope_theta() -> f64 {
    1_000_000.0
}
fn default_local_theta() -> f64 {
    10_000.0
}
fn default_eps() -> f64 {
    1e-6
}

/// Gemma 3's layout: five local layers, then a global one.
const PATTERN: usize = 6;

impl Config {
    pub fn spec(&self, path: &std::path::Path) -> Result<Spec> {
        if let Some(act) = self.hidden_activation.as_deref().filter(|a| !a.starts_with("gelu")) {
            return Err(ModelError::bad_file(path, format!("Gemma 3 with activation `{act}` is not supported")));
        }
        let local_layers = match &self.layer_types {
            Some(types) => types.iter().map(|t| t == "sliding_attention").collect(),
            None => pattern_layers(self.num_hidden_layers, self.sliding_window_pattern.unwrap_or(PATTERN)),
        };
        let rope_linear_factor = match &self.rope_scaling {
            Some(s) if s.rope_type == "linear" => s.factor.unwrap_or(1.0),
            Some(s) if s.rope_type != "default" => {
                return Err(ModelError::bad_file(path, format!("Gemma 3 RoPE scaling `{}` is not supported", s.rope_type)));
            }
            _ => 1.0,
        };
        Ok(Spec {
            vocab_size: self.vocab_size,
            hidden_size: self.hidden_size,
            intermediate_size: self.intermediate_size,
            num_layers: self.num_hidden_layers,
            num_heads: self.num_attention_heads,
            num_kv_heads: self.num_key_value_heads.unwrap_or(self.num_attention_heads),
            head_dim: self.head_dim,
            max_positions: self.max_position_embeddings,
            rope_theta: self.rope_theta,
            rope_linear_factor,
            rope_style: RopeStyle::RotateHalf,
            norm: NormKind::Rms,
            norm_eps: self.rms_norm_eps,
            qkv_bias: false,
            o_bias: false,
            mlp: MlpKind::GeGlu,
            mlp_bias: false,
            tie_embeddings: self.tie_word_embeddings,
            features: Features {
                qk_norm: true,
                sandwich_norms: true,
                norm_weight_offset: 1.0,
                embed_scale: Some((self.hidden_size as f64).sqrt()),
                attn_scale: Some(1.0 / self.query_pre_attn_scalar.sqrt()),
                sliding_window: self.sliding_window.map(|window| SlidingWindow {
                    window,
                    local_layers,
                    rope_theta: self.rope_local_base_freq,
                }),
                final_logit_softcap: self.final_logit_softcapping,
                moe: None,
            },
        })
    }
}

/// `n` layers where every `pattern`-th is global (llama.cpp's `set_swa_pattern`).
fn pattern_layers(n: usize, pattern: usize) -> Vec<bool> {
    (0..n).map(|i| pattern == 0 || i % pattern < pattern - 1).collect()
}

pub(crate) fn spec_from_gguf(md: &GgufMeta) -> Result<Spec> {
    let hidden = md.usize("embedding_length")?;
    let heads = md.usize("attention.head_count")?;
    let layers = md.usize("block_count")?;
    let head_dim = md.opt_usize("attention.key_length")?.unwrap_or(hidden / heads.max(1));
    // llama.cpp: Gemma 3 27B (62 layers) scales queries by the width per head, the others by the head size.
    let query_scalar = if layers == 62 { (hidden / heads.max(1)) as f64 } else { head_dim as f64 };
    let layer_flags = md.opt_bools("attention.sliding_window_pattern").filter(|f| f.len() == layers);
    let pattern = md.opt_usize("attention.sliding_window_pattern").ok().flatten().unwrap_or(PATTERN);
    let scaling = match (md.opt_str("rope.scaling.type"), md.opt_f64("rope.scaling.factor")) {
        (Some("linear") | None, Some(factor)) if factor != 1.0 => Some(RopeScaling { rope_type: "linear".into(), factor: Some(factor) }),
        _ => None,
    };
    let mut spec = Config {
        vocab_size: md.vocab_size()?,
        hidden_size: hidden,
        intermediate_size: md.usize("feed_forward_length")?,
        num_hidden_layers: layers,
        num_attention_heads: heads,
        num_key_value_heads: md.opt_usize("attention.head_count_kv")?,
        head_dim,
        max_position_embeddings: md.usize("context_length")?,
        rope_theta: md.opt_f64("rope.freq_base").unwrap_or(1_000_000.0),
        rope_local_base_freq: md.opt_f64("rope.freq_base_swa").unwrap_or(10_000.0),
        rope_scaling: scaling,
        rms_norm_eps: md.opt_f64("attention.layer_norm_rms_epsilon").unwrap_or(1e-6),
        query_pre_attn_scalar: query_scalar,
        sliding_window: md.opt_usize("attention.sliding_window")?.filter(|&w| w > 0),
        sliding_window_pattern: Some(pattern),
        layer_types: layer_flags
            .map(|flags| flags.iter().map(|&local| if local { "sliding_attention" } else { "full_attention" }.to_string()).collect()),
        final_logit_softcapping: md.opt_f64("final_logit_softcapping").filter(|&c| c > 0.0),
        tie_word_embeddings: md.tied_output(),
        hidden_activation: None,
    }
    .spec(md.path)?;
    // GGUF norm weights already include the 1.
    spec.features.norm_weight_offset = 0.0;
    Ok(spec)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_sixth_layer_is_global() {
        let layers = super::pattern_layers(18, 6);
        let global: Vec<usize> = (0..18).filter(|&i| !layers[i]).collect();
        assert_eq!(global, vec![5, 11, 17]);
    }
}
