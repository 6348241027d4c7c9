//! The decoder-only transformer every supported family shares, with a caller-owned KV cache
//! and logits for every new position. Family files only translate their config into [`Spec`].

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{CpuStorage, DType, Device, Module, Storage, Tensor};

use crate::attend;
use crate::gelu;
use crate::kquant;
use crate::kquant_wide;
use crate::kv_cache::KvCache;
use crate::matvec;
use crate::qgemm;
use crate::qgemm_wide;
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
    /// `down(gelu_tanh(gate(x)) * up(x))` (Gemma)
    GeGlu,
    /// `c_proj(gelu_tanh(c_fc(x)))`
    Gelu,
}

/// Local attention on some layers (Gemma 3: five of every six), with its own RoPE base.
#[derive(Clone, Debug, PartialEq)]
pub struct SlidingWindow {
    /// A query sees itself and the `window - 1` positions before it.
    pub window: usize,
    /// Per layer: `true` for a local (windowed) layer, `false` for a global one.
    pub local_layers: Vec<bool>,
    pub rope_theta: f64,
}

/// A mixture of experts in place of every layer's MLP (Qwen3-MoE): a softmax router picks
/// `experts_per_token` SwiGLU experts per token and sums their outputs by the router's weights.
#[derive(Clone, Debug, PartialEq)]
pub struct MoeSpec {
    pub experts: usize,
    pub experts_per_token: usize,
    pub expert_intermediate_size: usize,
    /// Renormalize the chosen experts' weights to sum to one.
    pub normalize_top_k: bool,
}

/// What some families add to the plain pre-norm decoder. The default adds nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Features {
    /// RMSNorm over each head of queries and keys before RoPE (Qwen3, Gemma 3).
    pub qk_norm: bool,
    /// Norms after attention and after the MLP too, four per block (Gemma).
    pub sandwich_norms: bool,
    /// Added to every norm weight at load: Gemma's Hugging Face weights store `w - 1`.
    pub norm_weight_offset: f32,
    /// Embeddings are multiplied by this (Gemma: the square root of the width).
    pub embed_scale: Option<f64>,
    /// Query scale in place of `1/sqrt(head_dim)` (Gemma's `query_pre_attn_scalar^-1/2`).
    pub attn_scale: Option<f64>,
    pub sliding_window: Option<SlidingWindow>,
    /// `c * tanh(logits / c)` on the output (Gemma 2).
    pub final_logit_softcap: Option<f64>,
    pub moe: Option<MoeSpec>,
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
    pub features: Features,
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
        if let Some(sw) = &self.features.sliding_window {
            if sw.window == 0 || sw.local_layers.len() != self.num_layers {
                return bad(format!("sliding window {} over {} of {} layers", sw.window, sw.local_layers.len(), self.num_layers));
            }
        }
        if let Some(moe) = &self.features.moe {
            if moe.experts == 0 || moe.experts_per_token == 0 || moe.experts_per_token > moe.experts || moe.expert_intermediate_size == 0 {
                return bad(format!("{} experts with {} per token cannot route", moe.experts, moe.experts_per_token));
            }
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
        Self::load_dim(ws, name, spec, spec.hidden_size)
    }

    fn load_dim(ws: &WeightSource, name: &str, spec: &Spec, dim: usize) -> Result<Self> {
        let mut weight = ws.tensor_shaped(&format!("{name}.weight"), &[dim])?;
        if spec.features.norm_weight_offset != 0.0 && ws.is_safetensors() {
            weight = (weight + spec.features.norm_weight_offset as f64)?;
        }
        let bias = match spec.norm {
            NormKind::Layer => Some(ws.tensor_shaped(&format!("{name}.bias"), &[dim])?),
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

/// Rotary embeddings with one base. The angles of the positions a forward pass needs are computed
/// for that pass (cheap next to the matmuls), so no table sized to the model's whole context is held.
struct Rope {
    inv_freq: Vec<f64>,
    linear_factor: f64,
    style: RopeStyle,
}

/// `cos` and `sin` of the angles for one forward pass's positions: `[n, head_dim / 2]`.
struct RopeAngles {
    cos: Tensor,
    sin: Tensor,
    style: RopeStyle,
}

impl Rope {
    fn new(head_dim: usize, theta: f64, linear_factor: f64, style: RopeStyle) -> Self {
        let half = head_dim / 2;
        let inv_freq = (0..half).map(|i| 1.0 / theta.powf(2.0 * i as f64 / head_dim as f64)).collect();
        Rope { inv_freq, linear_factor, style }
    }

    fn angles(&self, pos: usize, n: usize, dtype: DType, device: &Device) -> Result<RopeAngles> {
        let half = self.inv_freq.len();
        let (mut cos, mut sin) = (Vec::with_capacity(n * half), Vec::with_capacity(n * half));
        for p in pos..pos + n {
            let p = p as f64 / self.linear_factor;
            for f in &self.inv_freq {
                let (s, c) = ((p * f) as f32).sin_cos();
                cos.push(c);
                sin.push(s);
            }
        }
        let cos = Tensor::from_vec(cos, (n, half), device)?.to_dtype(dtype)?;
        let sin = Tensor::from_vec(sin, (n, half), device)?.to_dtype(dtype)?;
        Ok(RopeAngles { cos, sin, style: self.style })
    }
}

impl RopeAngles {
    /// `x` is `[1, heads, n, head_dim]`, contiguous.
    fn apply(&self, x: &Tensor) -> Result<Tensor> {
        Ok(match self.style {
            RopeStyle::RotateHalf => candle_nn::rotary_emb::rope(x, &self.cos, &self.sin)?,
            RopeStyle::Interleaved => candle_nn::rotary_emb::rope_i(x, &self.cos, &self.sin)?,
        })
    }
}

/// What one forward pass's attention layers share: RoPE angles and masks per layer kind.
struct PassContext {
    global: LayerPass,
    local: Option<LayerPass>,
}

/// For one kind of layer: the angles, the first key position attended to, and the additive mask
/// over keys `start..past + n` (`None` where nothing is masked, or attention runs per position).
struct LayerPass {
    rope: RopeAngles,
    start: usize,
    mask: Option<Tensor>,
    /// Positions before this pass, and the sliding window of a local layer.
    past: usize,
    window: Option<usize>,
}

struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    q_norm: Option<Norm>,
    k_norm: Option<Norm>,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    scale: f64,
}

impl Attention {
    fn load(ws: &WeightSource, name: &str, s: &Spec) -> Result<Self> {
        let (d, hd) = (s.hidden_size, s.head_dim);
        Ok(Attention {
            q: Linear::load(ws, &format!("{name}.q_proj"), s.num_heads * hd, d, s.qkv_bias)?,
            k: Linear::load(ws, &format!("{name}.k_proj"), s.num_kv_heads * hd, d, s.qkv_bias)?,
            v: Linear::load(ws, &format!("{name}.v_proj"), s.num_kv_heads * hd, d, s.qkv_bias)?,
            o: Linear::load(ws, &format!("{name}.o_proj"), d, s.num_heads * hd, s.o_bias)?,
            q_norm: if s.features.qk_norm { Some(Norm::load_dim(ws, &format!("{name}.q_norm"), s, hd)?) } else { None },
            k_norm: if s.features.qk_norm { Some(Norm::load_dim(ws, &format!("{name}.k_norm"), s, hd)?) } else { None },
            heads: s.num_heads,
            kv_heads: s.num_kv_heads,
            head_dim: hd,
            scale: s.features.attn_scale.unwrap_or(1.0 / (hd as f64).sqrt()),
        })
    }

    fn forward(&self, x: &Tensor, pass: &LayerPass, cache: &mut KvCache, layer: usize) -> Result<Tensor> {
        let (_, n, _) = x.dims3()?;
        let split = |t: Tensor, heads: usize, norm: &Option<Norm>| -> Result<Tensor> {
            let t = t.reshape((1, n, heads, self.head_dim))?.transpose(1, 2)?.contiguous()?;
            match norm {
                Some(norm) => norm.forward(&t),
                None => Ok(t),
            }
        };
        let q = pass.rope.apply(&split(self.q.forward(x)?, self.heads, &self.q_norm)?)?;
        let k = pass.rope.apply(&split(self.k.forward(x)?, self.kv_heads, &self.k_norm)?)?;
        let v = split(self.v.forward(x)?, self.kv_heads, &None)?;
        let (k, v) = cache.append(layer, &k, &v)?;
        if let Some(y) = self.attend_cpu(&q, cache, layer, pass, n)? {
            return self.o.forward(&y);
        }
        let (k, v) = (k.to_dtype(q.dtype())?, v.to_dtype(q.dtype())?);
        // A local layer reads only the keys its window reaches.
        let (k, v) = if pass.start > 0 {
            let len = k.dim(2)? - pass.start;
            (k.narrow(2, pass.start, len)?, v.narrow(2, pass.start, len)?)
        } else {
            (k, v)
        };
        if row_by_row(n, x.device()) {
            let y = self.attend_row_by_row(&q, &k, &v, pass, n)?;
            return self.o.forward(&y);
        }
        let total = k.dim(2)?;
        let mask = pass.mask.as_ref();

        // Grouped-query attention without copying K/V: the query heads that share a KV head
        // become extra rows of one matmul.
        let rep = self.heads / self.kv_heads;
        let q = q.reshape((1, self.kv_heads, rep * n, self.head_dim))?;
        let att = (q.matmul(&k.t()?)? * self.scale)?;
        let att = match mask {
            Some(mask) => {
                att.reshape((1, self.kv_heads, rep, n, total))?.broadcast_add(mask)?.reshape((1, self.kv_heads, rep * n, total))?
            }
            None => att,
        };
        let att = candle_nn::ops::softmax_last_dim(&att)?;
        let y = att.matmul(&v)?;
        let y = y.reshape((1, self.heads, n, self.head_dim))?.transpose(1, 2)?.reshape((1, n, self.heads * self.head_dim))?;
        self.o.forward(&y)
    }

    /// Attention through [`attend`] over an F32 or F16 cache on the CPU (`[1, n, heads * head_dim]`), for
    /// prompts, decode steps and verification windows alike; None elsewhere.
    fn attend_cpu(&self, q: &Tensor, cache: &KvCache, layer: usize, pass: &LayerPass, n: usize) -> Result<Option<Tensor>> {
        if !attends_in_kernel(q.device(), q.dtype()) {
            return Ok(None);
        }
        let (keys, values) = cache.layer(layer);
        let q = q.contiguous()?;
        let (q_storage, q_layout) = q.storage_and_layout();
        let (k_storage, k_layout) = keys.storage_and_layout();
        let (v_storage, v_layout) = values.storage_and_layout();
        let Storage::Cpu(CpuStorage::F32(qd)) = &*q_storage else { return Ok(None) };
        fn rows(s: &Storage, at: usize) -> Option<attend::Rows<'_>> {
            match s {
                Storage::Cpu(CpuStorage::F32(d)) => Some(attend::Rows::F32(&d[at..])),
                Storage::Cpu(CpuStorage::F16(d)) => Some(attend::Rows::F16(&d[at..])),
                _ => None,
            }
        }
        let (Some(keys), Some(values)) = (rows(&k_storage, k_layout.start_offset()), rows(&v_storage, v_layout.start_offset())) else {
            return Ok(None);
        };
        let layer = attend::Layer {
            shape: attend::Heads { heads: self.heads, kv_heads: self.kv_heads, head_dim: self.head_dim },
            keys,
            values,
            capacity: cache.allocated(),
            window: pass.window,
            scale: self.scale as f32,
        };
        let y = layer.attend(&qd[q_layout.start_offset()..][..q.elem_count()], n, pass.past);
        Ok(Some(Tensor::from_vec(y, (1, n, self.heads * self.head_dim), q.device())?))
    }

    /// Attention for a verification window (not F32), one position at a time over exactly the keys that
    /// position sees, in the shapes of a one-token step, so that it rounds as that step does.
    fn attend_row_by_row(&self, q: &Tensor, k: &Tensor, v: &Tensor, pass: &LayerPass, n: usize) -> Result<Tensor> {
        let rep = self.heads / self.kv_heads;
        let mut rows = Vec::with_capacity(n);
        for i in 0..n {
            let end = pass.past + i + 1;
            let first = pass.window.map_or(0, |w| end.saturating_sub(w)).max(pass.start);
            let (k, v) = (k.narrow(2, first - pass.start, end - first)?, v.narrow(2, first - pass.start, end - first)?);
            let q = q.narrow(2, i, 1)?.contiguous()?.reshape((1, self.kv_heads, rep, self.head_dim))?;
            let att = (q.matmul(&k.t()?)? * self.scale)?;
            let att = candle_nn::ops::softmax_last_dim(&att)?;
            rows.push(att.matmul(&v)?.reshape((1, self.heads, 1, self.head_dim))?);
        }
        let y = Tensor::cat(&rows, 2)?;
        Ok(y.transpose(1, 2)?.reshape((1, n, self.heads * self.head_dim))?)
    }
}

enum Mlp {
    Gated { gate: Linear, up: Linear, down: Linear, gelu: bool },
    Gelu { fc: Linear, proj: Linear },
    Moe(Moe),
}

impl Mlp {
    fn load(ws: &WeightSource, name: &str, s: &Spec) -> Result<Self> {
        if let Some(moe) = &s.features.moe {
            return Ok(Mlp::Moe(Moe::load(ws, name, s.hidden_size, moe)?));
        }
        let (d, i, b) = (s.hidden_size, s.intermediate_size, s.mlp_bias);
        Ok(match s.mlp {
            MlpKind::SwiGlu | MlpKind::GeGlu => Mlp::Gated {
                gate: Linear::load(ws, &format!("{name}.gate_proj"), i, d, b)?,
                up: Linear::load(ws, &format!("{name}.up_proj"), i, d, b)?,
                down: Linear::load(ws, &format!("{name}.down_proj"), d, i, b)?,
                gelu: s.mlp == MlpKind::GeGlu,
            },
            MlpKind::Gelu => Mlp::Gelu {
                fc: Linear::load(ws, &format!("{name}.c_fc"), i, d, b)?,
                proj: Linear::load(ws, &format!("{name}.c_proj"), d, i, b)?,
            },
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Mlp::Gated { gate, up, down, gelu } => {
                let g = gate.forward(x)?;
                let u = up.forward(x)?;
                if *gelu {
                    if let Some(h) = gelu::gated(&g, &u)? {
                        return down.forward(&h);
                    }
                }
                let g = if *gelu { g.gelu()? } else { g.silu()? };
                down.forward(&(g * u)?)
            }
            Mlp::Gelu { fc, proj } => proj.forward(&fc.forward(x)?.gelu()?),
            Mlp::Moe(moe) => moe.forward(x),
        }
    }
}

/// One SwiGLU expert.
struct Expert {
    gate: QMatMul,
    up: QMatMul,
    down: QMatMul,
}

/// Routed experts: each token runs through its top-k experts only.
struct Moe {
    router: QMatMul,
    experts: Vec<Expert>,
    top_k: usize,
    normalize: bool,
}

impl Moe {
    fn load(ws: &WeightSource, name: &str, d: usize, spec: &MoeSpec) -> Result<Self> {
        let (e, i) = (spec.experts, spec.expert_intermediate_size);
        let router = ws.matmul(&format!("{name}.gate.weight"), &[e, d])?;
        let gate = ws.expert_matmuls(name, "gate_proj", e, i, d)?;
        let up = ws.expert_matmuls(name, "up_proj", e, i, d)?;
        let down = ws.expert_matmuls(name, "down_proj", e, d, i)?;
        let experts = gate.into_iter().zip(up).zip(down).map(|((gate, up), down)| Expert { gate, up, down }).collect();
        Ok(Moe { router, experts, top_k: spec.experts_per_token, normalize: spec.normalize_top_k })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let d = *dims.last().unwrap_or(&0);
        let x = x.reshape(((), d))?;
        let n = x.dim(0)?;
        let probs = candle_nn::ops::softmax_last_dim(&project(&self.router, &x)?.to_dtype(DType::F32)?)?.to_vec2::<f32>()?;
        // Per expert: the tokens routed to it and their weights.
        let mut routed: Vec<(Vec<u32>, Vec<f32>)> = vec![(Vec::new(), Vec::new()); self.experts.len()];
        for (t, p) in probs.iter().enumerate() {
            let mut order: Vec<usize> = (0..p.len()).collect();
            order.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
            let chosen = &order[..self.top_k];
            let sum: f32 = if self.normalize { chosen.iter().map(|&e| p[e]).sum() } else { 1.0 };
            for &e in chosen {
                routed[e].0.push(t as u32);
                routed[e].1.push(p[e] / sum);
            }
        }
        let mut out = Tensor::zeros((n, d), x.dtype(), x.device())?;
        for (expert, (tokens, weights)) in self.experts.iter().zip(routed) {
            if tokens.is_empty() {
                continue;
            }
            let m = tokens.len();
            let ids = Tensor::from_vec(tokens, m, x.device())?;
            let xs = x.index_select(&ids, 0)?;
            let h = (project(&expert.gate, &xs)?.silu()? * project(&expert.up, &xs)?)?;
            let y = project(&expert.down, &h)?;
            let w = Tensor::from_vec(weights, (m, 1), x.device())?.to_dtype(y.dtype())?;
            out = out.index_add(&ids, &y.broadcast_mul(&w)?, 0)?;
        }
        Ok(out.reshape(dims)?)
    }
}

struct Block {
    attn_norm: Norm,
    attn: Attention,
    /// Sandwich norms (Gemma): on the attention output and the MLP output.
    post_attn_norm: Option<Norm>,
    mlp_norm: Norm,
    mlp: Mlp,
    post_mlp_norm: Option<Norm>,
    local: bool,
}

impl Block {
    fn load(ws: &WeightSource, i: usize, spec: &Spec) -> Result<Self> {
        let p = format!("model.layers.{i}");
        let sandwich = spec.features.sandwich_norms;
        let norm = |name: &str| Norm::load(ws, &format!("{p}.{name}"), spec);
        Ok(Block {
            attn_norm: norm("input_layernorm")?,
            attn: Attention::load(ws, &format!("{p}.self_attn"), spec)?,
            post_attn_norm: if sandwich { Some(norm("post_attention_layernorm")?) } else { None },
            mlp_norm: norm(if sandwich { "pre_feedforward_layernorm" } else { "post_attention_layernorm" })?,
            mlp: Mlp::load(ws, &format!("{p}.mlp"), spec)?,
            post_mlp_norm: if sandwich { Some(norm("post_feedforward_layernorm")?) } else { None },
            local: spec.features.sliding_window.as_ref().is_some_and(|sw| sw.local_layers[i]),
        })
    }

    fn forward(&self, x: Tensor, pass: &PassContext, cache: &mut KvCache, layer: usize) -> Result<Tensor> {
        let layer_pass = match (&pass.local, self.local) {
            (Some(local), true) => local,
            _ => &pass.global,
        };
        let h = self.attn.forward(&self.attn_norm.forward(&x)?, layer_pass, cache, layer)?;
        let h = match &self.post_attn_norm {
            Some(norm) => norm.forward(&h)?,
            None => h,
        };
        let x = (x + h)?;
        let h = self.mlp.forward(&self.mlp_norm.forward(&x)?)?;
        let h = match &self.post_mlp_norm {
            Some(norm) => norm.forward(&h)?,
            None => h,
        };
        Ok((x + h)?)
    }
}

/// The token embedding table: dense, or quantized rows read per token (no F32 copy of a large
/// vocabulary; Gemma's 262k x 640 table would be 671 MB expanded).
enum Embedding {
    Dense(Tensor),
    Quantized(std::sync::Arc<QTensor>),
}

impl Embedding {
    fn lookup(&self, ids: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Embedding::Dense(t) => t.index_select(ids, 0)?,
            Embedding::Quantized(q) => q.embedding(ids)?,
        })
    }
}

/// Which positions to compute logits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Logits {
    /// Every new position: `[n, vocab]` (verification in speculative decoding).
    All,
    /// Only the last new position: `[1, vocab]` (prefill).
    Last,
}

/// The hidden states of one pass, before the final norm, whose logits are computed on demand.
pub struct Deferred {
    hidden: Tensor,
}

/// A loaded model. Its weights are read-only; all per-sequence state lives in a [`KvCache`],
/// so one model can serve several caches.
pub struct Transformer {
    spec: Spec,
    embed: Embedding,
    blocks: Vec<Block>,
    norm: Norm,
    lm_head: QMatMul,
    dtype: DType,
    /// The KV cache's dtype: [`KvType`] where attention runs in [`attend`], else `dtype`.
    kv_dtype: DType,
    device: Device,
    rope: Rope,
    local_rope: Option<Rope>,
}

/// How the CPU keeps keys and values: F16 (the default, as llama.cpp's `--cache-type-k f16`:
/// half the memory and the bandwidth of a long context) or F32 (exact, for comparing with
/// references recorded that way).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KvType {
    #[default]
    F16,
    F32,
}

impl std::str::FromStr for KvType {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "f16" => Ok(KvType::F16),
            "f32" => Ok(KvType::F32),
            other => Err(format!("unknown KV cache type `{other}` (f16 or f32)")),
        }
    }
}

impl Transformer {
    pub fn load(spec: Spec, ws: &WeightSource) -> Result<Self> {
        let device = ws.device().clone();
        let dtype = ws.compute_dtype();
        const EMBED: &str = "model.embed_tokens.weight";
        let embed_shape = [spec.vocab_size, spec.hidden_size];
        let quantized_embed = ws.gguf_dtype(EMBED).is_some_and(|d| !matches!(d, GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16))
            && ws.keeps_quantized()
            && spec.hidden_size.is_multiple_of(ws.gguf_dtype(EMBED).map_or(1, |d| d.block_size()));
        let embed = if quantized_embed {
            Embedding::Quantized(ws.qtensor_shaped(EMBED, &embed_shape)?)
        } else {
            Embedding::Dense(ws.tensor_shaped(EMBED, &embed_shape)?)
        };
        let blocks = (0..spec.num_layers).map(|i| Block::load(ws, i, &spec)).collect::<Result<Vec<_>>>()?;
        let norm = Norm::load(ws, "model.norm", &spec)?;
        let lm_head = if !spec.tie_embeddings || ws.contains("lm_head.weight") {
            ws.matmul("lm_head.weight", &embed_shape)?
        } else {
            match &embed {
                // Tied and quantized: the output head projects with the same quantized table.
                Embedding::Quantized(q) => QMatMul::from_arc(q.clone())?,
                Embedding::Dense(t) => QMatMul::Tensor(t.clone()),
            }
        };
        let rope = Rope::new(spec.head_dim, spec.rope_theta, spec.rope_linear_factor, spec.rope_style);
        let local_rope = spec.features.sliding_window.as_ref().map(|sw| Rope::new(spec.head_dim, sw.rope_theta, 1.0, spec.rope_style));
        let kv_dtype = dtype;
        Ok(Transformer { spec, embed, blocks, norm, lm_head, dtype, kv_dtype, device, rope, local_rope })
    }

    /// Keeps keys and values as `kv` in caches made from now on, where attention runs on the CPU
    /// in F32 (elsewhere the cache keeps the compute dtype).
    pub fn set_kv_type(&mut self, kv: KvType) {
        self.kv_dtype = match kv {
            KvType::F16 if attends_in_kernel(&self.device, self.dtype) => DType::F16,
            _ => self.dtype,
        };
    }

    /// The dtype of this model's KV caches.
    pub fn kv_dtype(&self) -> DType {
        self.kv_dtype
    }

    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// A cache for up to `capacity` positions (at most the model's context length).
    pub fn new_cache(&self, capacity: usize) -> Result<KvCache> {
        let capacity = capacity.min(self.spec.max_positions);
        KvCache::new(self.spec.num_layers, self.spec.num_kv_heads, self.spec.head_dim, capacity, self.kv_dtype, &self.device)
    }

    /// Runs `tokens` after the positions already in `cache`, appends them to it, and returns
    /// F32 logits of shape `[n, vocab]` (`n` = tokens.len() for [`Logits::All`], 1 for [`Logits::Last`]).
    pub fn forward(&self, tokens: &[u32], cache: &mut KvCache, logits: Logits) -> Result<Tensor> {
        let x = self.hidden(tokens, cache)?;
        let x = match logits {
            Logits::All => x,
            Logits::Last => x.narrow(1, tokens.len() - 1, 1)?,
        };
        self.head(&x)
    }

    /// Runs `tokens` after the positions already in `cache` and appends them to it, like
    /// [`Transformer::forward`], but leaves the output head to [`Transformer::logits`]: a caller
    /// that reads the rows in order (verifying a speculative window) projects only those it reaches.
    pub fn forward_deferred(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Deferred> {
        Ok(Deferred { hidden: self.hidden(tokens, cache)? })
    }

    /// F32 logits `[rows.len(), vocab]` of some of a [`Deferred`] pass's positions. A row's
    /// logits do not depend on which other rows are projected with it.
    pub fn logits(&self, pass: &Deferred, rows: std::ops::Range<usize>) -> Result<Tensor> {
        if rows.is_empty() {
            return Err(ModelError::EmptyInput);
        }
        self.head(&pass.hidden.narrow(1, rows.start, rows.len())?)
    }

    /// The final norm, the output head and Gemma 2's soft cap over hidden states `[1, n, hidden]`.
    fn head(&self, x: &Tensor) -> Result<Tensor> {
        let out = project(&self.lm_head, &self.norm.forward(x)?)?.squeeze(0)?.to_dtype(DType::F32)?;
        Ok(match self.spec.features.final_logit_softcap {
            Some(cap) => ((out / cap)?.tanh()? * cap)?,
            None => out,
        })
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
        let mut x = self.embed.lookup(&ids)?.to_dtype(self.dtype)?.unsqueeze(0)?;
        if let Some(scale) = self.spec.features.embed_scale {
            x = (x * scale)?;
        }
        let pass = self.pass_context(cache.len(), n)?;
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.forward(x, &pass, cache, i)?;
        }
        cache.advance(n);
        Ok(x)
    }

    /// Angles and masks for `n` new positions after `past`, per kind of layer.
    fn pass_context(&self, past: usize, n: usize) -> Result<PassContext> {
        let (dtype, device) = (self.dtype, &self.device);
        let global = LayerPass {
            rope: self.rope.angles(past, n, dtype, device)?,
            start: 0,
            mask: if needs_mask(n, device, dtype) { Some(attention_mask(n, past, 0, None, dtype, device)?) } else { None },
            past,
            window: None,
        };
        let local = match (&self.spec.features.sliding_window, &self.local_rope) {
            (Some(sw), Some(rope)) => {
                // The first new query reaches back `window - 1` positions; nothing before that is read.
                let start = (past + 1).saturating_sub(sw.window);
                Some(LayerPass {
                    rope: rope.angles(past, n, dtype, device)?,
                    start,
                    mask: if needs_mask(n, device, dtype) {
                        Some(attention_mask(n, past, start, Some(sw.window), dtype, device)?)
                    } else {
                        None
                    },
                    past,
                    window: Some(sw.window),
                })
            }
            _ => None,
        };
        Ok(PassContext { global, local })
    }
}

/// Rows of `x` for which [`matvec`] beats candle's packed gemm: verification windows. One row
/// (a decode step) measured no faster, and prompt chunks reuse each packed block many times.
const MATVEC_ROWS: std::ops::RangeInclusive<usize> = 2..=8;

/// `x · wᵀ`. Block-quantized weights on the CPU go through [`qgemm`], verification windows against
/// dense F32/F16 weights on the CPU through [`matvec`] (no per-call packing of the weights),
/// everything else through candle.
fn project(w: &QMatMul, x: &Tensor) -> Result<Tensor> {
    if let QMatMul::QTensor(q) = w {
        if let Some(y) = project_blocks(q, x)? {
            return Ok(y);
        }
        if let Some(y) = project_kquant_rows(q, x)? {
            return Ok(y);
        }
    }
    if let QMatMul::Tensor(dense) | QMatMul::TensorF16(dense) = w {
        if x.device().is_cpu()
            && x.dtype() == DType::F32
            && dense.is_contiguous()
            && MATVEC_ROWS.contains(&(x.elem_count() / dense.dim(1)?))
        {
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
    outputs(y, x, rows).map(Some)
}

/// A projection's result `y` as a tensor shaped like `x` with `rows` in its last dimension.
fn outputs(y: Vec<f32>, x: &Tensor, rows: usize) -> Result<Tensor> {
    let mut dims = x.dims().to_vec();
    if let Some(last) = dims.last_mut() {
        *last = rows;
    }
    Ok(Tensor::from_vec(y, dims, x.device())?)
}

/// `x · wᵀ` through [`qgemm`] for block-quantized weights on the CPU (one kernel for every row
/// count, so prefill and decode quantize alike; the K-quants read from the mapped file, with no
/// repacked copy kept); None for other formats and devices, a CPU without its kernels, or a shape
/// that candle's repacked kernels do faster.
fn project_blocks(w: &QTensor, x: &Tensor) -> Result<Option<Tensor>> {
    let format = match w.dtype() {
        GgmlDType::Q8_0 => qgemm::Format::Q8_0,
        GgmlDType::Q5_0 => qgemm::Format::Q5_0,
        GgmlDType::Q4_0 => qgemm::Format::Q4_0,
        GgmlDType::Q4K => qgemm::Format::Q4K,
        GgmlDType::Q5K => qgemm::Format::Q5K,
        GgmlDType::Q6K => qgemm::Format::Q6K,
        _ => return Ok(None),
    };
    if format.is_k_quant() && !qgemm::k_quants_in_place() {
        return Ok(None);
    }
    if !x.device().is_cpu() || x.dtype() != DType::F32 || !qgemm::available() {
        return Ok(None);
    }
    let (rows, cols) = w.shape().dims2()?;
    let m = x.elem_count() / cols;
    // Decode steps and verification windows stay on this kernel, which rounds alike for every row count.
    if m > SAME_KERNEL_ROWS && qgemm::candle_is_faster(format, rows, cols) {
        return Ok(None);
    }
    let xs = x.flatten_all()?.to_vec1::<f32>()?;
    let data = w.data()?;
    // Past the verification windows, prompts take the wide GEMMs.
    let y = if format.is_k_quant() && m > SAME_KERNEL_ROWS {
        kquant_wide::matmul_t(&xs, m, &data, format, rows, cols)
    } else if format.is_k_quant() {
        kquant::matmul_t(&xs, m, &data, format, rows, cols)
    } else if m > SAME_KERNEL_ROWS && qgemm::wide_avx2(cols) {
        qgemm_wide::matmul_t(&xs, m, &data, format, rows, cols)
    } else {
        let Some(y) = qgemm::matmul_t(&xs, m, &data, format, rows, cols) else { return Ok(None) };
        y
    };
    outputs(y, x, rows).map(Some)
}

/// Rows (decode steps, verification windows and short prompt chunks) for which every kernel on the
/// path rounds as for one row: the engine's windows stay below it.
const SAME_KERNEL_ROWS: usize = 31;

/// Whether attention runs in [`attend`] (any number of positions, each over exactly its keys).
fn attends_in_kernel(device: &Device, dtype: DType) -> bool {
    device.is_cpu() && dtype == DType::F32
}

/// Whether attention over `n` new positions needs an additive mask: candle's batched path.
fn needs_mask(n: usize, device: &Device, dtype: DType) -> bool {
    n > 1 && !attends_in_kernel(device, dtype) && !row_by_row(n, device)
}

/// Whether attention over `n` new positions runs per position (see `Attention::attend_row_by_row`):
/// windows of up to [`SAME_KERNEL_ROWS`] on the CPU, which then need no mask.
fn row_by_row(n: usize, device: &Device) -> bool {
    n > 1 && n <= SAME_KERNEL_ROWS && device.is_cpu()
}

/// Q6_K weights against up to [`SAME_KERNEL_ROWS`] rows on the CPU, through candle's generic kernel
/// (one `vec_dot` per output, whatever the row count): candle uses it for one row but repacked tiles
/// that quantize the activations otherwise for more, and a verified token could then differ from
/// plain decoding's. (Its Q4_K tiles round alike below 32 rows; from 32 it switches to AMX.)
fn project_kquant_rows(w: &QTensor, x: &Tensor) -> Result<Option<Tensor>> {
    use candle_core::quantized::k_quants::{matmul, BlockQ6K, QK_K};
    if !x.device().is_cpu() || x.dtype() != DType::F32 || w.dtype() != GgmlDType::Q6K {
        return Ok(None);
    }
    let (rows, cols) = w.shape().dims2()?;
    let m = x.elem_count() / cols;
    if m > SAME_KERNEL_ROWS || !cols.is_multiple_of(QK_K) {
        return Ok(None);
    }
    let data = w.data()?;
    let size = std::mem::size_of::<BlockQ6K>();
    if !data.len().is_multiple_of(size) || !(data.as_ptr() as usize).is_multiple_of(std::mem::align_of::<BlockQ6K>()) {
        return Ok(None);
    }
    // SAFETY: GGUF Q6_K data is an array of `BlockQ6K` (repr(C)); length and alignment checked.
    let blocks = unsafe { std::slice::from_raw_parts(data.as_ptr() as *const BlockQ6K, data.len() / size) };
    let xs = x.flatten_all()?.to_vec1::<f32>()?;
    let mut y = vec![0f32; m * rows];
    matmul((m, cols, rows), &xs, blocks, &mut y)?;
    outputs(y, x, rows).map(Some)
}

/// Additive mask `[n, past + n - start]` over keys `start..past + n`: query `i` (at `past + i`) sees
/// keys up to itself, and with a window only the `window` positions ending at itself.
fn attention_mask(n: usize, past: usize, start: usize, window: Option<usize>, dtype: DType, device: &Device) -> Result<Tensor> {
    let total = past + n;
    let data: Vec<f32> = (0..n)
        .flat_map(|i| {
            let q = past + i;
            (start..total).map(move |k| {
                let visible = k <= q && window.is_none_or(|w| q - k < w);
                if visible {
                    0.0
                } else {
                    f32::NEG_INFINITY
                }
            })
        })
        .collect();
    Ok(Tensor::from_vec(data, (n, total - start), device)?.to_dtype(dtype)?)
}
