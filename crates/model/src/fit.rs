//! Will a model fit on the GPU? An estimate of the device memory a model needs (weights, KV
//! cache, the largest forward pass's activations) and the decision against the free memory.

use std::path::Path;

use crate::transformer::{MlpKind, Spec};

/// The most positions a KV cache gets by default (hearth-decode's `Engine::new` uses it too).
pub const DEFAULT_CACHE_POSITIONS: usize = 32_768;

/// Tokens per prefill forward pass: hearth-decode processes prompts in chunks of this size so
/// attention scratch memory stays bounded.
pub const PREFILL_CHUNK: usize = 512;

/// Room for what the estimate leaves out: cuBLAS workspaces, kernel modules, allocator slack.
const RESERVE_BYTES: u64 = 512 << 20;

const GIB: f64 = (1u64 << 30) as f64;

/// Device bytes a model needs, by part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryEstimate {
    pub weights: u64,
    pub kv_cache: u64,
    pub activations: u64,
    pub reserve: u64,
}

impl MemoryEstimate {
    /// `weights` = bytes the weights take on the device; the KV cache and activations follow
    /// from the shapes, `dtype_bytes` (the compute dtype) and `positions` (the cache length).
    pub fn new(spec: &Spec, weights: u64, dtype_bytes: usize, positions: usize) -> Self {
        let positions = positions.min(spec.max_positions) as u64;
        let (layers, kv_dim, b) = (spec.num_layers as u64, (spec.num_kv_heads * spec.head_dim) as u64, dtype_bytes as u64);
        let kv_cache = 2 * layers * kv_dim * positions * b;
        // The rotary tables cover the whole context.
        let rope = 2 * spec.max_positions as u64 * (spec.head_dim / 2) as u64 * b;
        // The largest forward pass: a prefill chunk against a full cache. Attention scores and
        // their softmax, the mask, the MLP's hidden activations, a few residual-stream copies,
        // and F32 logits for a verification window of 8.
        let chunk = (PREFILL_CHUNK as u64).min(positions.max(1));
        let scores = 2 * spec.num_heads as u64 * chunk * positions * b + chunk * positions * b;
        let mlp_parts = if spec.mlp == MlpKind::SwiGlu { 3 } else { 2 };
        let mlp = mlp_parts * chunk * spec.intermediate_size as u64 * b;
        let stream = 6 * chunk * spec.hidden_size.max(spec.num_heads * spec.head_dim) as u64 * b;
        let logits = 8 * spec.vocab_size as u64 * 4;
        MemoryEstimate { weights, kv_cache, activations: rope + scores + mlp + stream + logits, reserve: RESERVE_BYTES }
    }

    pub fn total(&self) -> u64 {
        self.weights + self.kv_cache + self.activations + self.reserve
    }
}

/// Parameters in the weight tensors `spec` describes (biases and norms included).
pub fn parameter_count(spec: &Spec) -> u64 {
    let (d, i, hd) = (spec.hidden_size as u64, spec.intermediate_size as u64, spec.head_dim as u64);
    let (q, kv) = (spec.num_heads as u64 * hd, spec.num_kv_heads as u64 * hd);
    let embed = spec.vocab_size as u64 * d;
    let head = if spec.tie_embeddings { 0 } else { embed };
    let mut attn = d * (q + 2 * kv) + q * d;
    if spec.qkv_bias {
        attn += q + 2 * kv;
    }
    if spec.o_bias {
        attn += d;
    }
    if spec.features.qk_norm {
        attn += 2 * hd;
    }
    let mut mlp = match spec.mlp {
        MlpKind::SwiGlu | MlpKind::GeGlu => 3 * d * i,
        MlpKind::Gelu => 2 * d * i,
    };
    if spec.mlp_bias {
        mlp += match spec.mlp {
            MlpKind::SwiGlu | MlpKind::GeGlu => 2 * i + d,
            MlpKind::Gelu => i + d,
        };
    }
    if let Some(moe) = &spec.features.moe {
        mlp = moe.experts as u64 * (d + 3 * d * moe.expert_intermediate_size as u64);
    }
    let norm = if spec.norm == crate::transformer::NormKind::Layer { 2 * d } else { d };
    let norms_per_block = if spec.features.sandwich_norms { 4 } else { 2 };
    embed + head + spec.num_layers as u64 * (attn + mlp + norms_per_block * norm) + norm
}

/// What to do with a GPU that may be too small.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fit {
    Fits,
    /// Run on the CPU instead; the message gives the numbers.
    UseCpu(String),
    /// The user asked for this GPU: stop, with the numbers.
    Refuse(String),
}

/// Compares `need` with the device's `free` bytes. `forced`: the user named the device, so a
/// model that does not fit is an error rather than a quiet move to the CPU.
pub fn decide(need: &MemoryEstimate, free: u64, forced: bool, model: &Path, device: &str) -> Fit {
    if need.total() <= free {
        return Fit::Fits;
    }
    let numbers = format!(
        "{}: needs about {:.2} GiB on {device} (weights {:.2}, KV cache {:.2}, activations {:.2}, reserve {:.2}) but {:.2} GiB is free",
        model.display(),
        need.total() as f64 / GIB,
        need.weights as f64 / GIB,
        need.kv_cache as f64 / GIB,
        need.activations as f64 / GIB,
        need.reserve as f64 / GIB,
        free as f64 / GIB,
    );
    if forced {
        Fit::Refuse(format!("{numbers}; use a smaller or quantized model, or --device cpu"))
    } else {
        Fit::UseCpu(format!("{numbers}; running on the CPU"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transformer::{NormKind, RopeStyle};

    /// Qwen2.5-Coder-1.5B and -7B as their config.json files describe them.
    fn qwen(vocab: usize, hidden: usize, inter: usize, layers: usize, heads: usize, kv: usize, tie: bool) -> Spec {
        Spec {
            vocab_size: vocab,
            hidden_size: hidden,
            intermediate_size: inter,
            num_layers: layers,
            num_heads: heads,
            num_kv_heads: kv,
            head_dim: hidden / heads,
            max_positions: 32_768,
            rope_theta: 1e6,
            rope_linear_factor: 1.0,
            rope_style: RopeStyle::RotateHalf,
            norm: NormKind::Rms,
            norm_eps: 1e-6,
            qkv_bias: true,
            o_bias: false,
            mlp: MlpKind::SwiGlu,
            mlp_bias: false,
            tie_embeddings: tie,
            features: Default::default(),
        }
    }

    #[test]
    fn counts_the_published_parameters() {
        // The published counts: 1,543,714,304 and 7,615,616,512.
        assert_eq!(parameter_count(&qwen(151_936, 1536, 8960, 28, 12, 2, true)), 1_543_714_304);
        assert_eq!(parameter_count(&qwen(152_064, 3584, 18_944, 28, 28, 4, false)), 7_615_616_512);
    }

    #[test]
    fn estimates_qwen_7b_bf16_and_decides() {
        let spec = qwen(152_064, 3584, 18_944, 28, 28, 4, false);
        let need = MemoryEstimate::new(&spec, parameter_count(&spec) * 2, 2, DEFAULT_CACHE_POSITIONS);
        assert_eq!(need.weights, 15_231_233_024);
        // 28 layers x K and V x 4 heads x 128 dims x 32768 positions x 2 bytes.
        assert_eq!(need.kv_cache, 1_879_048_192);
        assert!(need.activations > 1 << 30 && need.activations < 2 << 30, "{}", need.activations);
        let total_gib = need.total() as f64 / GIB;
        assert!((18.0..20.0).contains(&total_gib), "{total_gib}");

        let path = Path::new("qwen7b.gguf");
        assert_eq!(decide(&need, 80 << 30, true, path, "CUDA device 0"), Fit::Fits);
        let Fit::UseCpu(msg) = decide(&need, 16 << 30, false, path, "CUDA device 0") else { panic!("should not fit") };
        assert!(msg.starts_with("qwen7b.gguf: needs about 18."), "{msg}");
        assert!(msg.contains("weights 14.19") && msg.contains("KV cache 1.75") && msg.contains("but 16.00 GiB is free"), "{msg}");
        assert!(matches!(decide(&need, 16 << 30, true, path, "CUDA device 0"), Fit::Refuse(m) if m.contains("--device cpu")));
        // A shorter cache makes it fit in 16 GiB.
        let short = MemoryEstimate::new(&spec, parameter_count(&spec) * 2, 2, 2048);
        assert_eq!(decide(&short, 16 << 30, true, path, "CUDA device 0"), Fit::Fits);
    }

    #[test]
    fn exact_boundary_fits() {
        let need = MemoryEstimate { weights: 100, kv_cache: 20, activations: 3, reserve: 0 };
        assert_eq!(decide(&need, 123, false, Path::new("m"), "gpu"), Fit::Fits);
        assert!(matches!(decide(&need, 122, false, Path::new("m"), "gpu"), Fit::UseCpu(_)));
    }
}
