//! The decoder-only transformer every supported family shares, with a caller-owned KV cache
//! and logits for every new position. Family files only translate their config into [`Spec`].

use candle_core::quantized::{GgmlDType, QMatMul};
use candle_core::{CpuStorage, DType, Device, Module, Storage, Tensor};

use crate::kv_cache::KvCache;
use crate::matvec;
use crate::weights::WeightSource;
use crate::{ModelError, Result};

/// How rotary embeddings pair up dimensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeStyle {
    /// Hugging Face layout: dimension `i` pairs with `i + head_dim/2`.
    RotateHalf,
    /// llama.cpp's permuted LLaMA weights: dimension `2i` pairs with `2i + 1`.
    Interleaved,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormKind {
    Rms,
    Layer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MlpKind {
    /// `down(silu(gate(x)) * up(x))`
    SwiGlu,
    /// `c_proj(gelu_tanh(c_fc(x)))`
    Gelu,
}

/// Everything the shared transformer needs to know about one model.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub max_positions: usize,
    pub rope_theta: f64,
    /// Linear RoPE scaling: positions are divided by this factor.
    pub rope_linear_factor: f64,
    pub rope_style: RopeStyle,
    pub norm: NormKind,
    pub norm_eps: f64,
    pub qkv_bias: bool,
    pub o_bias: bool,
    pub mlp: MlpKind,
    pub mlp_bias: bool,
    pub tie_embeddings: bool,
}

impl Spec {
    pub(crate) fn validate(&self, path: &std::path::Path) -> Result<()> {
        let bad = |m: String| Err(ModelError::bad_file(path, m));
        if self.num_heads == 0 || self.num_kv_heads == 0 || !self.num_heads.is_multiple_of(self.num_kv_heads) {
            return bad(format!("{} attention heads cannot share {} key/value heads", self.num_heads, self.num_kv_heads));
        }
        if !self.head_dim.is_multiple_of(2) || self.head_dim == 0 {
            return bad(format!("head dimension {} must be even", self.head_dim));
        }
        if self.num_layers == 0 || self.vocab_size == 0 || self.hidden_size == 0 || self.max_positions == 0 {
            return bad("config has a zero layer count, vocabulary, hidden size or context length".into());
        }
        Ok(())
    }
}

struct Linear {
    w: QMatMul,
    b: Option<Tensor>,
}

impl Linear {
    fn load(ws: &WeightSource, name: &str, out_dim: usize, in_dim: usize, bias: bool) -> Result<Self> {
        let w = ws.matmul(&format!("{name}.weight"), &[out_dim, in_dim])?;
        let b = if bias { Some(ws.tensor_shaped(&format!("{name}.bias"), &[out_dim])?) } else { None };
        Ok(Linear { w, b })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = project(&self.w, x)?;
        Ok(match &self.b {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        })
    }
}

struct Norm {
    kind: NormKind,
    weight: Tensor,
    bias: Option<Tensor>,
    eps: f32,
}

impl Norm {
    fn load(ws: &WeightSource, name: &str, spec: &Spec) -> Result<Self> {
        let weight = ws.tensor_shaped(&format!("{name}.weight"), &[spec.hidden_size])?;
        let bias = match spec.norm {
            NormKind::Layer => Some(ws.tensor_shaped(&format!("{name}.bias"), &[spec.hidden_size])?),
            NormKind::Rms => None,
        };
        Ok(Norm { kind: spec.norm, weight, bias, eps: spec.norm_eps as f32 })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(match (self.kind, &self.bias) {
            (NormKind::Layer, Some(b)) => candle_nn::ops::layer_norm(x, &self.weight, b, self.eps)?,
            _ => candle_nn::ops::rms_norm(x, &self.weight, self.eps)?,
        })
    }
}

struct Rope {
    cos: Tensor,
    sin: Tensor,
    style: RopeStyle,
}

impl Rope {
    fn new(spec: &Spec, capacity: usize, dtype: DType, device: &Device) -> Result<Self> {
        let half = spec.head_dim / 2;
        let inv_freq: Vec<f32> =
            (0..half).map(|i| (1.0 / spec.rope_theta.powf(2.0 * i as f64 / spec.head_dim as f64)) as f32).collect();
        let positions: Vec<f32> = (0..capacity).map(|p| (p as f64 / spec.rope_linear_factor) as f32).collect();
        let inv_freq = Tensor::from_vec(inv_freq, (1, half), device)?;
        let positions = Tensor::from_vec(positions, (capacity, 1), device)?;
        let angles = positions.matmul(&inv_freq)?;
        Ok(Rope { cos: angles.cos()?.to_dtype(dtype)?, sin: angles.sin()?.to_dtype(dtype)?, style: spec.rope_style })
    }

    /// `x` is `[1, heads, n, head_dim]`, contiguous, for positions `pos..pos + n`.
    fn apply(&self, x: &Tensor, pos: usize) -> Result<Tensor> {
        let n = x.dim(2)?;
        let cos = self.cos.narrow(0, pos, n)?;
        let sin = self.sin.narrow(0, pos, n)?;
        Ok(match self.style {
            RopeStyle::RotateHalf => candle_nn::rotary_emb::rope(x, &cos, &sin)?,
            RopeStyle::Interleaved => candle_nn::rotary_emb::rope_i(x, &cos, &sin)?,
        })
    }
}

struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
}

impl Attention {
    fn load(ws: &WeightSource, name: &str, s: &Spec) -> Result<Self> {
        let (d, hd) = (s.hidden_size, s.head_dim);
        Ok(Attention {
            q: Linear::load(ws, &format!("{name}.q_proj"), s.num_heads * hd, d, s.qkv_bias)?,
            k: Linear::load(ws, &format!("{name}.k_proj"), s.num_kv_heads * hd, d, s.qkv_bias)?,
            v: Linear::load(ws, &format!("{name}.v_proj"), s.num_kv_heads * hd, d, s.qkv_bias)?,
            o: Linear::load(ws, &format!("{name}.o_proj"), d, s.num_heads * hd, s.o_bias)?,
            heads: s.num_heads,
            kv_heads: s.num_kv_heads,
            head_dim: hd,
        })
    }

    fn forward(&self, x: &Tensor, rope: &Rope, cache: &mut KvCache, layer: usize, mask: Option<&Tensor>) -> Result<Tensor> {
        let (_, n, _) = x.dims3()?;
        let pos = cache.len();
        let split = |t: Tensor, heads: usize| -> Result<Tensor> {
            Ok(t.reshape((1, n, heads, self.head_dim))?.transpose(1, 2)?.contiguous()?)
        };
        let q = rope.apply(&split(self.q.forward(x)?, self.heads)?, pos)?;
        let k = rope.apply(&split(self.k.forward(x)?, self.kv_heads)?, pos)?;
        let v = split(self.v.forward(x)?, self.kv_heads)?;
        let (k, v) = cache.append(layer, &k, &v)?;
        let total = k.dim(2)?;

        // Grouped-query attention without copying K/V: the query heads that share a KV head
        // become extra rows of one matmul.
        let rep = self.heads / self.kv_heads;
        let q = q.reshape((1, self.kv_heads, rep * n, self.head_dim))?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let att = (q.matmul(&k.t()?)? * scale)?;
        let att = match mask {
            Some(mask) => att.reshape((1, self.kv_heads, rep, n, total))?.broadcast_add(mask)?.reshape((
                1,
                self.kv_heads,
                rep * n,
                total,
            ))?,
            None => att,
        };
        let att = candle_nn::ops::softmax_last_dim(&att)?;
        let y = att.matmul(&v)?;
        let y = y.reshape((1, self.heads, n, self.head_dim))?.transpose(1, 2)?.reshape((1, n, self.heads * self.head_dim))?;
        self.o.forward(&y)
    }
}

enum Mlp {
    SwiGlu { gate: Linear, up: Linear, down: Linear },
    Gelu { fc: Linear, proj: Linear },
}

impl Mlp {
    fn load(ws: &WeightSource, name: &str, s: &Spec) -> Result<Self> {
        let (d, i, b) = (s.hidden_size, s.intermediate_size, s.mlp_bias);
        Ok(match s.mlp {
            MlpKind::SwiGlu => Mlp::SwiGlu {
                gate: Linear::load(ws, &format!("{name}.gate_proj"), i, d, b)?,
                up: Linear::load(ws, &format!("{name}.up_proj"), i, d, b)?,
                down: Linear::load(ws, &format!("{name}.down_proj"), d, i, b)?,
            },
            MlpKind::Gelu => Mlp::Gelu {
                fc: Linear::load(ws, &format!("{name}.c_fc"), i, d, b)?,
                proj: Linear::load(ws, &format!("{name}.c_proj"), d, i, b)?,
            },
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Mlp::SwiGlu { gate, up, down } => down.forward(&(gate.forward(x)?.silu()? * up.forward(x)?)?),
            Mlp::Gelu { fc, proj } => proj.forward(&fc.forward(x)?.gelu()?),
        }
    }
}

struct Block {
    attn_norm: Norm,
    attn: Attention,
    mlp_norm: Norm,
    mlp: Mlp,
}

/// Which positions to compute logits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Logits {
    /// Every new position: `[n, vocab]` (verification in speculative decoding).
    All,
    /// Only the last new position: `[1, vocab]` (prefill).
    Last,
}

/// A loaded model. Its weights are read-only; all per-sequence state lives in a [`KvCache`],
/// so one model can serve several caches.
pub struct Transformer {
    spec: Spec,
    embed: Tensor,
    blocks: Vec<Block>,
    norm: Norm,
    lm_head: QMatMul,
    dtype: DType,
    device: Device,
    rope_capacity: usize,
    rope: Rope,
}

impl Transformer {
    pub fn load(spec: Spec, ws: &WeightSource) -> Result<Self> {
        let device = ws.device().clone();
        let dtype = ws.compute_dtype();
        let embed = ws.tensor_shaped("model.embed_tokens.weight", &[spec.vocab_size, spec.hidden_size])?;
        let mut blocks = Vec::with_capacity(spec.num_layers);
        for i in 0..spec.num_layers {
            let p = format!("model.layers.{i}");
            blocks.push(Block {
                attn_norm: Norm::load(ws, &format!("{p}.input_layernorm"), &spec)?,
                attn: Attention::load(ws, &format!("{p}.self_attn"), &spec)?,
                mlp_norm: Norm::load(ws, &format!("{p}.post_attention_layernorm"), &spec)?,
                mlp: Mlp::load(ws, &format!("{p}.mlp"), &spec)?,
            });
        }
        let norm = Norm::load(ws, "model.norm", &spec)?;
        let embed_is_quantized = ws
            .gguf_dtype("model.embed_tokens.weight")
            .is_some_and(|d| !matches!(d, GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16));
        let lm_head = if !spec.tie_embeddings || ws.contains("lm_head.weight") {
            ws.matmul("lm_head.weight", &[spec.vocab_size, spec.hidden_size])?
        } else if embed_is_quantized {
            // Tied and quantized: project with the quantized table rather than its F32 expansion,
            // which would read 4x the bytes per token.
            ws.matmul("model.embed_tokens.weight", &[spec.vocab_size, spec.hidden_size])?
        } else {
            QMatMul::Tensor(embed.clone())
        };
        let rope_capacity = spec.max_positions;
        let rope = Rope::new(&spec, rope_capacity, dtype, &device)?;
        Ok(Transformer { spec, embed, blocks, norm, lm_head, dtype, device, rope_capacity, rope })
    }

    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// A cache for up to `capacity` positions (at most the model's context length).
    pub fn new_cache(&self, capacity: usize) -> Result<KvCache> {
        let capacity = capacity.min(self.rope_capacity);
        KvCache::new(self.spec.num_layers, self.spec.num_kv_heads, self.spec.head_dim, capacity, self.dtype, &self.device)
    }

    /// Runs `tokens` after the positions already in `cache`, appends them to it, and returns
    /// F32 logits of shape `[n, vocab]` (`n` = tokens.len() for [`Logits::All`], 1 for [`Logits::Last`]).
    pub fn forward(&self, tokens: &[u32], cache: &mut KvCache, logits: Logits) -> Result<Tensor> {
        let x = self.hidden(tokens, cache)?;
        let x = match logits {
            Logits::All => x,
            Logits::Last => x.narrow(1, tokens.len() - 1, 1)?,
        };
        let out = project(&self.lm_head, &self.norm.forward(&x)?)?;
        Ok(out.squeeze(0)?.to_dtype(DType::F32)?)
    }

    /// Fills `cache` with `tokens` without computing logits (prompt processing whose logits
    /// nobody reads: the output head is the largest matmul of a small model).
    pub fn prefill(&self, tokens: &[u32], cache: &mut KvCache) -> Result<()> {
        self.hidden(tokens, cache).map(drop)
    }

    /// The transformer blocks over `tokens`: hidden states `[1, n, hidden]`, before the final norm.
    fn hidden(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Tensor> {
        let n = tokens.len();
        if n == 0 {
            return Err(ModelError::EmptyInput);
        }
        cache.ensure_room(n)?;
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= self.spec.vocab_size) {
            return Err(ModelError::bad_file("<input>", format!("token id {bad} is outside the vocabulary of {}", self.spec.vocab_size)));
        }
        let ids = Tensor::new(tokens, &self.device)?;
        let mut x = self.embed.index_select(&ids, 0)?.unsqueeze(0)?;
        let mask = if n > 1 { Some(causal_mask(n, cache.len(), self.dtype, &self.device)?) } else { None };
        for (i, block) in self.blocks.iter().enumerate() {
            let h = block.attn.forward(&block.attn_norm.forward(&x)?, &self.rope, cache, i, mask.as_ref())?;
            let x1 = (x + h)?;
            let h = block.mlp.forward(&block.mlp_norm.forward(&x1)?)?;
            x = (x1 + h)?;
        }
        cache.advance(n);
        Ok(x)
    }
}

/// Rows of `x` for which [`matvec`] beats candle's packed gemm: verification windows. One row
/// (a decode step) measured no faster, and prompt chunks reuse each packed block many times.
const MATVEC_ROWS: std::ops::RangeInclusive<usize> = 2..=8;

/// `x · wᵀ`. Verification windows against dense F32/F16 weights on the CPU go through [`matvec`]
/// (no per-call packing of the weights); everything else through candle.
fn project(w: &QMatMul, x: &Tensor) -> Result<Tensor> {
    if let QMatMul::Tensor(dense) | QMatMul::TensorF16(dense) = w {
        if x.device().is_cpu() && x.dtype() == DType::F32 && dense.is_contiguous() && MATVEC_ROWS.contains(&(x.elem_count() / dense.dim(1)?)) {
            if let Some(y) = project_cpu(dense, x)? {
                return Ok(y);
            }
        }
    }
    Ok(w.forward(x)?)
}

fn project_cpu(w: &Tensor, x: &Tensor) -> Result<Option<Tensor>> {
    let (rows, cols) = w.dims2()?;
    let n = x.elem_count() / cols;
    let xs = x.flatten_all()?.to_vec1::<f32>()?;
    let y = {
        let (storage, layout) = w.storage_and_layout();
        let at = layout.start_offset();
        let Storage::Cpu(cpu) = &*storage else { return Ok(None) };
        match cpu {
            CpuStorage::F32(v) => matvec::matmul_t(&xs, n, matvec::Weights::F32(&v[at..at + rows * cols]), rows, cols),
            CpuStorage::F16(v) => matvec::matmul_t(&xs, n, matvec::Weights::F16(&v[at..at + rows * cols]), rows, cols),
            _ => return Ok(None),
        }
    };
    let mut dims = x.dims().to_vec();
    if let Some(last) = dims.last_mut() {
        *last = rows;
    }
    Ok(Some(Tensor::from_vec(y, dims, x.device())?))
}

/// Additive mask `[n, past + n]`: query `i` sees keys up to `past + i`.
fn causal_mask(n: usize, past: usize, dtype: DType, device: &Device) -> Result<Tensor> {
    let total = past + n;
    let data: Vec<f32> =
        (0..n).flat_map(|i| (0..total).map(move |j| if j <= past + i { 0.0 } else { f32::NEG_INFINITY })).collect();
    Ok(Tensor::from_vec(data, (n, total), device)?.to_dtype(dtype)?)
}
