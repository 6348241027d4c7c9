//! Qwen3-MoE (Qwen3-Coder-30B-A3B, Qwen3-30B-A3B): Qwen3's attention, and in every layer a softmax
//! router over many small SwiGLU experts, of which each token uses the top k, their weights
//! renormalized to sum to one.

use serde::Deserialize;

use super::GgufMeta;
use crate::transformer::{Features, MoeSpec, Spec};
use crate::{ModelError, Result};

/// Mirrors Qwen3-MoE's `config.json` (the attention fields are Qwen3's).
#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    #[serde(flatten)]
    pub dense: super::qwen3::Config,
    pub num_experts: usize,
    pub num_experts_per_tok: usize,
    pub moe_intermediate_size: usize,
    #[serde(default = "super::default_true")]
    pub norm_topk_prob: bool,
    #[serde(default = "one")]
    pub decoder_sparse_step: usize,
    #[serde(default)]
    pub mlp_only_layers: Vec<usize>,
}

fn one() -> usize {
    1
}

impl Config {
    /// The spec, or an error for checkpoints that mix dense and MoE layers (not supported).
    pub fn spec(&self, path: &std::path::Path) -> Result<Spec> {
        if self.decoder_sparse_step != 1 || !self.mlp_only_layers.is_empty() {
            return Err(ModelError::bad_file(
                path,
                "Qwen3-MoE with dense layers among the experts (decoder_sparse_step != 1 or mlp_only_layers) is not supported",
            ));
        }
        let mut spec = self.dense.spec();
        spec.features = Features {
            moe: Some(MoeSpec {
                experts: self.num_experts,
                experts_per_token: self.num_experts_per_tok,
                expert_intermediate_size: self.moe_intermediate_size,
                normalize_top_k: self.norm_topk_prob,
            }),
            ..spec.features
        };
        Ok(spec)
    }
}

pub(crate) fn spec_from_gguf(md: &GgufMeta) -> Result<Spec> {
    let mut dense = super::qwen3::config_from_gguf(md)?;
    let expert_ff = md.usize("expert_feed_forward_length")?;
    if dense.intermediate_size == 0 {
        dense.intermediate_size = expert_ff;
    }
    Config {
        dense,
        num_experts: md.usize("expert_count")?,
        num_experts_per_tok: md.usize("expert_used_count")?,
        moe_intermediate_size: expert_ff,
        // llama.cpp always renormalizes Qwen3-MoE's top-k weights.
        norm_topk_prob: true,
        decoder_sparse_step: 1,
        mlp_only_layers: Vec::new(),
    }
    .spec(md.path)
}
