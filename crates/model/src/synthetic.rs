//! Random-weight models with the exact shapes of real ones (Qwen2.5-Coder 0.5B/1.5B/7B,
//! Qwen3-Coder-30B-A3B, Gemma 3 270M, small test shapes of Qwen3, Qwen3-MoE and Gemma 3, or a custom
//! Qwen2 shape), written as a Hugging Face folder or a GGUF file that llama.cpp loads too, for
//! benchmarks where the real weights are not at hand and for checking families against llama.cpp.
//! The numbers they produce mean nothing; only their shapes, dtypes and byte counts are real.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use rand::{Rng, SeedableRng};

use crate::{ModelError, Result};

/// The architectures a synthetic model can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    Qwen2,
    Qwen3,
    Qwen3Moe,
    Gemma3,
}

impl Arch {
    /// The GGUF `general.architecture`.
    pub fn gguf_name(self) -> &'static str {
        match self {
            Arch::Qwen2 => "qwen2",
            Arch::Qwen3 => "qwen3",
            Arch::Qwen3Moe => "qwen3moe",
            Arch::Gemma3 => "gemma3",
        }
    }
}

/// The dimensions of a model.
#[derive(Clone, Debug, PartialEq)]
pub struct Shape {
    pub name: String,
    pub arch: Arch,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub intermediate: usize,
    pub vocab: usize,
    pub tie_embeddings: bool,
    pub max_positions: usize,
    pub rope_theta: f64,
    /// Per-head size when it is not `hidden / heads` (Qwen3, Gemma 3).
    pub head_dim: Option<usize>,
    /// Qwen3-MoE: (experts, experts per token, expert intermediate size).
    pub experts: Option<(usize, usize, usize)>,
    /// Gemma 3: the local layers' window (every sixth layer is global).
    pub sliding_window: Option<usize>,
}

/// Presets from the models' published `config.json` files, and small test shapes of each family.
pub const PRESETS: &[&str] = &[
    "qwen2.5-coder-0.5b",
    "qwen2.5-coder-1.5b",
    "qwen2.5-coder-7b",
    "qwen3-coder-30b-a3b",
    "gemma-3-270m",
    "test-qwen3",
    "test-qwen3moe",
    "test-gemma3",
];

impl Shape {
    /// A preset name, or `custom:HIDDEN:LAYERS:HEADS:KV_HEADS:INTERMEDIATE:VOCAB` (tied embeddings).
    pub fn parse(text: &str) -> std::result::Result<Shape, String> {
        let qwen = |name: &str, hidden, layers, heads, kv_heads, intermediate, vocab, tie_embeddings| Shape {
            name: name.to_string(),
            arch: Arch::Qwen2,
            hidden,
            layers,
            heads,
            kv_heads,
            intermediate,
            vocab,
            tie_embeddings,
            max_positions: 32768,
            rope_theta: 1_000_000.0,
            head_dim: None,
            experts: None,
            sliding_window: None,
        };
        let with = |base: Shape, arch, head_dim, experts, sliding_window| Shape { arch, head_dim, experts, sliding_window, ..base };
        match text.to_ascii_lowercase().as_str() {
            "qwen2.5-coder-0.5b" => return Ok(qwen(text, 896, 24, 14, 2, 4864, 151936, true)),
            "qwen2.5-coder-1.5b" => return Ok(qwen(text, 1536, 28, 12, 2, 8960, 151936, true)),
            "qwen2.5-coder-7b" => return Ok(qwen(text, 3584, 28, 28, 4, 18944, 152064, false)),
            "qwen3-coder-30b-a3b" => {
                return Ok(with(qwen(text, 2048, 48, 32, 4, 6144, 151936, false), Arch::Qwen3Moe, Some(128), Some((128, 8, 768)), None))
            }
            "gemma-3-270m" => {
                let base = Shape { rope_theta: 1_000_000.0, ..qwen(text, 640, 18, 4, 1, 2048, 262144, true) };
                return Ok(with(base, Arch::Gemma3, Some(256), None, Some(512)));
            }
            // Small shapes for tests: a head size unlike hidden / heads, windows that short prompts
            // outgrow, and more experts than are used per token.
            "test-qwen3" => return Ok(with(qwen(text, 64, 3, 4, 2, 96, 4096, true), Arch::Qwen3, Some(32), None, None)),
            "test-qwen3moe" => return Ok(with(qwen(text, 64, 2, 4, 2, 96, 4096, false), Arch::Qwen3Moe, Some(32), Some((8, 2, 32)), None)),
            "test-gemma3" => return Ok(with(qwen(text, 64, 7, 4, 2, 128, 4096, true), Arch::Gemma3, Some(32), None, Some(8))),
            _ => {}
        }
        let usage = || {
            format!("unknown shape `{text}`: use one of {} or custom:HIDDEN:LAYERS:HEADS:KV_HEADS:INTERMEDIATE:VOCAB", PRESETS.join(", "))
        };
        let rest = text.strip_prefix("custom:").ok_or_else(usage)?;
        let n: Vec<usize> = rest.split(':').map(|p| p.parse::<usize>()).collect::<std::result::Result<_, _>>().map_err(|_| usage())?;
        let [hidden, layers, heads, kv_heads, intermediate, vocab] = n[..] else { return Err(usage()) };
        if heads == 0 || kv_heads == 0 || heads % kv_heads != 0 || hidden % heads != 0 || (hidden / heads) % 2 != 0 {
            return Err(format!("shape `{text}`: hidden must split into an even head size and heads into kv_heads groups"));
        }
        if layers == 0 || intermediate == 0 || vocab == 0 {
            return Err(format!("shape `{text}`: layers, intermediate and vocab must be positive"));
        }
        let mut s = qwen(text, hidden, layers, heads, kv_heads, intermediate, vocab, true);
        s.max_positions = 4096;
        Ok(s)
    }

    fn head_dim(&self) -> usize {
        self.head_dim.unwrap_or(self.hidden / self.heads)
    }

    /// Gemma's local layers: all but every sixth.
    fn local_layers(&self) -> Vec<bool> {
        (0..self.layers).map(|i| i % 6 < 5).collect()
    }

    /// Tensor names (Hugging Face spelling) and shapes, in file order. MoE experts are listed one
    /// by one (`mlp.experts.E.gate_proj.weight`), as safetensors holds them; GGUF stacks them.
    pub fn tensors(&self) -> Vec<(String, Vec<usize>)> {
        let (h, i, hd) = (self.hidden, self.intermediate, self.head_dim());
        let (q, kv) = (self.heads * hd, self.kv_heads * hd);
        let mut out = vec![("model.embed_tokens.weight".to_string(), vec![self.vocab, h])];
        for l in 0..self.layers {
            let p = format!("model.layers.{l}");
            let mut t = |name: String, shape: Vec<usize>| out.push((name, shape));
            t(format!("{p}.input_layernorm.weight"), vec![h]);
            for (proj, rows) in [("q_proj", q), ("k_proj", kv), ("v_proj", kv)] {
                t(format!("{p}.self_attn.{proj}.weight"), vec![rows, h]);
                if self.arch == Arch::Qwen2 {
                    t(format!("{p}.self_attn.{proj}.bias"), vec![rows]);
                }
            }
            t(format!("{p}.self_attn.o_proj.weight"), vec![h, q]);
            if self.arch != Arch::Qwen2 {
                t(format!("{p}.self_attn.q_norm.weight"), vec![hd]);
                t(format!("{p}.self_attn.k_norm.weight"), vec![hd]);
            }
            t(format!("{p}.post_attention_layernorm.weight"), vec![h]);
            if self.arch == Arch::Gemma3 {
                t(format!("{p}.pre_feedforward_layernorm.weight"), vec![h]);
                t(format!("{p}.post_feedforward_layernorm.weight"), vec![h]);
            }
            match self.experts {
                Some((experts, _, ei)) => {
                    t(format!("{p}.mlp.gate.weight"), vec![experts, h]);
                    for e in 0..experts {
                        t(format!("{p}.mlp.experts.{e}.gate_proj.weight"), vec![ei, h]);
                        t(format!("{p}.mlp.experts.{e}.up_proj.weight"), vec![ei, h]);
                        t(format!("{p}.mlp.experts.{e}.down_proj.weight"), vec![h, ei]);
                    }
                }
                None => {
                    t(format!("{p}.mlp.gate_proj.weight"), vec![i, h]);
                    t(format!("{p}.mlp.up_proj.weight"), vec![i, h]);
                    t(format!("{p}.mlp.down_proj.weight"), vec![h, i]);
                }
            }
        }
        out.push(("model.norm.weight".to_string(), vec![h]));
        if !self.tie_embeddings {
            out.push(("lm_head.weight".to_string(), vec![self.vocab, h]));
        }
        out
    }

    pub fn param_count(&self) -> usize {
        self.tensors().iter().map(|(_, s)| s.iter().product::<usize>()).sum()
    }

    fn config_json(&self, torch_dtype: &str) -> serde_json::Value {
        let mut c = serde_json::json!({
            "vocab_size": self.vocab,
            "hidden_size": self.hidden,
            "intermediate_size": self.intermediate,
            "num_hidden_layers": self.layers,
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.kv_heads,
            "max_position_embeddings": self.max_positions,
            "rms_norm_eps": 1e-6,
            "rope_theta": self.rope_theta,
            "tie_word_embeddings": self.tie_embeddings,
            "torch_dtype": torch_dtype,
            "bos_token_id": 0,
            "eos_token_id": 0,
            "hearth_synthetic": "random weights; the outputs mean nothing",
        });
        let extra = match self.arch {
            Arch::Qwen2 => serde_json::json!({
                "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_act": "silu", "use_sliding_window": false,
            }),
            Arch::Qwen3 => serde_json::json!({
                "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "hidden_act": "silu", "head_dim": self.head_dim(),
                "attention_bias": false,
            }),
            Arch::Qwen3Moe => {
                let (experts, used, ei) = self.experts.unwrap_or_default();
                serde_json::json!({
                    "architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "hidden_act": "silu",
                    "head_dim": self.head_dim(), "attention_bias": false, "num_experts": experts,
                    "num_experts_per_tok": used, "moe_intermediate_size": ei, "norm_topk_prob": true,
                    "decoder_sparse_step": 1, "mlp_only_layers": [],
                })
            }
            Arch::Gemma3 => serde_json::json!({
                "architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text", "hidden_activation": "gelu_pytorch_tanh",
                "head_dim": self.head_dim(), "query_pre_attn_scalar": self.head_dim(), "rope_local_base_freq": 10_000.0,
                "sliding_window": self.sliding_window,
                "layer_types": self.local_layers().iter()
                    .map(|&l| if l { "sliding_attention" } else { "full_attention" }).collect::<Vec<_>>(),
            }),
        };
        if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
            c.extend(extra.clone());
        }
        c
    }
}

/// How the weights are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Bf16,
    F16,
    F32,
    Q8_0,
    /// GGUF with every tensor in F32: the exact weights, for comparing with llama.cpp.
    GgufF32,
    /// Every matmul weight in Q4_K (those whose rows don't split into 256-blocks fall back to Q8_0).
    Q4K,
}

impl Format {
    pub const NAMES: &'static [&'static str] = &["bf16", "f16", "f32", "q8_0", "q4_k", "gguf-f32"];

    pub fn parse(text: &str) -> std::result::Result<Format, String> {
        Ok(match text.to_ascii_lowercase().as_str() {
            "bf16" => Format::Bf16,
            "f16" => Format::F16,
            "f32" => Format::F32,
            "q8_0" => Format::Q8_0,
            "q4_k" | "q4_k_m" | "q4k" => Format::Q4K,
            "gguf-f32" | "gguf_f32" => Format::GgufF32,
            _ => return Err(format!("unknown format `{text}`: use one of {}", Format::NAMES.join(", "))),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Bf16 => "bf16",
            Format::F16 => "f16",
            Format::F32 => "f32",
            Format::Q8_0 => "q8_0",
            Format::Q4K => "q4_k",
            Format::GgufF32 => "gguf-f32",
        }
    }

    pub fn is_gguf(self) -> bool {
        matches!(self, Format::Q8_0 | Format::Q4K | Format::GgufF32)
    }
}

/// Writes a random-weight model of `shape` into `out_dir` and returns what `--model` takes: the
/// folder (safetensors formats) or the `.gguf` file inside it. The tokenizer is `base_tokenizer`
/// (a byte-level BPE `tokenizer.json`, e.g. tiny-coder's) padded with filler tokens up to the
/// shape's vocabulary, so that encoding, decoding and the FIM tokens work.
pub fn synthesize(shape: &Shape, format: Format, out_dir: &Path, seed: u64, base_tokenizer: &Path) -> Result<PathBuf> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ModelError::Io { path, source }
    };
    std::fs::create_dir_all(out_dir).map_err(io(out_dir))?;
    let tokenizer = padded_tokenizer(base_tokenizer, shape.vocab)?;
    let names = shape.tensors();
    if format.is_gguf() {
        let qdtype = match format {
            Format::Q8_0 => GgmlDType::Q8_0,
            Format::GgufF32 => GgmlDType::F32,
            _ => GgmlDType::Q4K,
        };
        let quantize =
            |t: &Tensor| if t.rank() >= 2 { quantize_with_fallback(t, qdtype) } else { Ok(QTensor::quantize(t, GgmlDType::F32)?) };
        // Experts are kept until their layer's set is complete, then stacked `[experts, out, in]`.
        let generated = generate(&names, seed, |name, t| {
            Ok(if expert_slot(&name).is_some() { (name, None, Some(t)) } else { (name, Some(quantize(&t)?), None) })
        })?;
        let mut tensors: Vec<(String, QTensor)> = Vec::new();
        let mut stacks: Vec<(String, Vec<Tensor>)> = Vec::new();
        for (name, q, dense) in generated {
            match (q, dense) {
                (Some(q), _) => tensors.push((name, q)),
                (None, Some(t)) => {
                    let stacked = expert_slot(&name).unwrap_or_default();
                    match stacks.iter_mut().find(|(n, _)| *n == stacked) {
                        Some((_, list)) => list.push(t),
                        None => stacks.push((stacked, vec![t])),
                    }
                }
                (None, None) => {}
            }
        }
        for (name, list) in stacks {
            tensors.push((name, quantize(&Tensor::stack(&list, 0)?)?));
        }
        let path = out_dir.join(format!("{}-{}.gguf", shape.name.replace(':', "_"), format.name()));
        let arch = shape.arch.gguf_name();
        let gguf_names: Vec<String> = tensors.iter().map(|(n, _)| crate::weights::gguf_name_for(arch, n)).collect();
        let metadata = gguf_metadata(shape, &tokenizer, base_tokenizer)?;
        let md_refs: Vec<(&str, &gguf_file::Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let t_refs: Vec<(&str, &QTensor)> = gguf_names.iter().zip(&tensors).map(|(n, (_, q))| (n.as_str(), q)).collect();
        let mut w = BufWriter::new(File::create(&path).map_err(io(&path))?);
        gguf_file::write(&mut w, &md_refs, &t_refs).map_err(|e| ModelError::bad_file(&path, format!("cannot write GGUF: {e}")))?;
        std::io::Write::flush(&mut w).map_err(io(&path))?;
        Ok(path)
    } else {
        let (dtype, torch_dtype) = match format {
            Format::Bf16 => (DType::BF16, "bfloat16"),
            Format::F16 => (DType::F16, "float16"),
            _ => (DType::F32, "float32"),
        };
        // Gemma's Hugging Face norms hold `w - 1`.
        let offset = if shape.arch == Arch::Gemma3 { 1.0 } else { 0.0 };
        let tensors: HashMap<String, Tensor> = generate(&names, seed, |name, t| {
            let t = if offset != 0.0 && name.ends_with("norm.weight") { (t - offset)? } else { t };
            Ok((name, t.to_dtype(dtype)?))
        })?
        .into_iter()
        .collect();
        let weights = out_dir.join("model.safetensors");
        candle_core::safetensors::save(&tensors, &weights).map_err(|e| ModelError::bad_file(&weights, format!("cannot write: {e}")))?;
        drop(tensors);
        write_json(&out_dir.join("config.json"), &shape.config_json(torch_dtype))?;
        write_json(&out_dir.join("tokenizer.json"), &tokenizer)?;
        Ok(out_dir.to_path_buf())
    }
}

/// Fills every tensor with seeded uniform noise of standard deviation 0.02 (norm weights: 1),
/// on all cores, and converts each with `convert` as soon as it exists.
fn generate<T: Send>(names: &[(String, Vec<usize>)], seed: u64, convert: impl Fn(String, Tensor) -> Result<T> + Sync) -> Result<Vec<T>> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<T>>>> = Mutex::new((0..names.len()).map(|_| None).collect());
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(names.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((name, shape)) = names.get(i) else { break };
                let result = random_tensor(name, shape, seed, i).and_then(|t| convert(name.clone(), t));
                let failed = result.is_err();
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(result);
                if failed {
                    next.store(names.len(), Ordering::Relaxed);
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut out = Vec::with_capacity(names.len());
    for r in results {
        match r {
            Some(r) => out.push(r?),
            None => continue, // skipped after another tensor failed; that error was pushed above.
        }
    }
    Ok(out)
}

/// `layer.mlp.experts.E.PROJ.weight` -> `layer.mlp.experts.PROJ.weight`, the stacked tensor's name.
fn expert_slot(name: &str) -> Option<String> {
    let (layer, rest) = name.split_once(".mlp.experts.")?;
    let (_, proj) = rest.split_once('.')?;
    Some(format!("{layer}.mlp.experts.{proj}"))
}

/// Seeded uniform noise of standard deviation 0.02; norm weights are 1 plus noise of 0.1, so that
/// a norm applied to the wrong axis or with the wrong offset shows.
fn random_tensor(name: &str, shape: &[usize], seed: u64, index: usize) -> Result<Tensor> {
    let len: usize = shape.iter().product();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let data: Vec<f32> = if name.ends_with("norm.weight") {
        let a = 0.1 * 3f32.sqrt();
        (0..len).map(|_| 1.0 + rng.random_range(-a..a)).collect()
    } else {
        let a = 0.02 * 3f32.sqrt(); // uniform(-a, a) has standard deviation 0.02
        (0..len).map(|_| rng.random_range(-a..a)).collect()
    };
    Ok(Tensor::from_vec(data, shape, &Device::Cpu)?)
}

/// Quantizes to `dtype`, or to Q8_0 (then F16) when a row does not split into its blocks, as
/// llama.cpp's quantizer does for such tensors.
fn quantize_with_fallback(t: &Tensor, dtype: GgmlDType) -> Result<QTensor> {
    let row = *t.dims().last().unwrap_or(&0);
    for d in [dtype, GgmlDType::Q8_0, GgmlDType::F16] {
        if row.is_multiple_of(d.block_size()) {
            return Ok(QTensor::quantize(t, d)?);
        }
    }
    Ok(QTensor::quantize(t, GgmlDType::F32)?)
}

/// The base tokenizer's JSON with `<|hearth_filler_N|>` vocabulary entries up to `vocab` ids.
fn padded_tokenizer(base: &Path, vocab: usize) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(base).map_err(|source| ModelError::Io { path: base.into(), source })?;
    let mut json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| ModelError::bad_file(base, format!("not a tokenizer.json: {e}")))?;
    let Some(map) = json["model"]["vocab"].as_object_mut() else {
        return Err(ModelError::bad_file(base, "tokenizer.json has no `model.vocab` (only BPE tokenizers can be padded)"));
    };
    let have = map.values().filter_map(|v| v.as_u64()).max().map_or(0, |m| m as usize + 1);
    if have > vocab {
        return Err(ModelError::bad_file(base, format!("the tokenizer has {have} tokens, more than the shape's vocabulary of {vocab}")));
    }
    for id in have..vocab {
        map.insert(format!("<|hearth_filler_{id}|>"), serde_json::Value::from(id));
    }
    Ok(json)
}

/// `general.*`, `ARCH.*` and `tokenizer.ggml.*` keys, as llama.cpp's converter writes them.
fn gguf_metadata(shape: &Shape, tokenizer: &serde_json::Value, path: &Path) -> Result<Vec<(String, gguf_file::Value)>> {
    use gguf_file::Value as V;
    let bad = |m: &str| ModelError::bad_file(path, m.to_string());
    let mut tokens = vec![String::new(); shape.vocab];
    let mut types = vec![1i32; shape.vocab];
    for (tok, id) in tokenizer["model"]["vocab"].as_object().ok_or_else(|| bad("tokenizer has no vocab"))? {
        let id = id.as_u64().ok_or_else(|| bad("vocab id is not a number"))? as usize;
        tokens[id] = tok.clone();
    }
    for added in tokenizer["added_tokens"].as_array().into_iter().flatten() {
        let (Some(id), Some(content)) = (added["id"].as_u64(), added["content"].as_str()) else { continue };
        if (id as usize) < shape.vocab {
            tokens[id as usize] = content.to_string();
            types[id as usize] = if added["special"].as_bool().unwrap_or(false) { 3 } else { 4 };
        }
    }
    if let Some(hole) = tokens.iter().position(|t| t.is_empty()) {
        return Err(bad(&format!("tokenizer has no token with id {hole}")));
    }
    let merges: Vec<V> = tokenizer["model"]["merges"]
        .as_array()
        .ok_or_else(|| bad("tokenizer has no merges"))?
        .iter()
        .map(|m| match m {
            serde_json::Value::String(s) => Ok(V::String(s.clone())),
            serde_json::Value::Array(pair) if pair.len() == 2 => {
                Ok(V::String(format!("{} {}", pair[0].as_str().unwrap_or(""), pair[1].as_str().unwrap_or(""))))
            }
            _ => Err(bad("a merge is neither `a b` nor [a, b]")),
        })
        .collect::<Result<_>>()?;
    let u32_ = |n: usize| V::U32(n as u32);
    let arch = shape.arch.gguf_name();
    let mut md: Vec<(String, V)> = vec![
        ("general.architecture".into(), V::String(arch.into())),
        ("general.name".into(), V::String(format!("{} (random weights)", shape.name))),
    ];
    let mut key = |k: &str, v: V| md.push((format!("{arch}.{k}"), v));
    key("context_length", u32_(shape.max_positions));
    key("embedding_length", u32_(shape.hidden));
    key("block_count", u32_(shape.layers));
    key("feed_forward_length", u32_(shape.intermediate));
    key("attention.head_count", u32_(shape.heads));
    key("attention.head_count_kv", u32_(shape.kv_heads));
    key("rope.freq_base", V::F32(shape.rope_theta as f32));
    key("attention.layer_norm_rms_epsilon", V::F32(1e-6));
    if shape.arch != Arch::Qwen2 {
        key("attention.key_length", u32_(shape.head_dim()));
        key("attention.value_length", u32_(shape.head_dim()));
    }
    if let Some((experts, used, ei)) = shape.experts {
        key("expert_count", u32_(experts));
        key("expert_used_count", u32_(used));
        key("expert_feed_forward_length", u32_(ei));
    }
    if let Some(window) = shape.sliding_window {
        key("attention.sliding_window", u32_(window));
        key("rope.freq_base_swa", V::F32(10_000.0));
    }
    md.extend([
        ("tokenizer.ggml.model".into(), V::String("gpt2".into())),
        ("tokenizer.ggml.pre".into(), V::String("default".into())),
        ("tokenizer.ggml.tokens".into(), V::Array(tokens.into_iter().map(V::String).collect())),
        ("tokenizer.ggml.token_type".into(), V::Array(types.into_iter().map(V::I32).collect())),
        ("tokenizer.ggml.merges".into(), V::Array(merges)),
        ("tokenizer.ggml.eos_token_id".into(), V::U32(0)),
    ]);
    Ok(md)
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    std::fs::write(path, text).map_err(|source| ModelError::Io { path: path.into(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_have_the_published_sizes() {
        // Parameter counts from the model cards: 0.49B, 1.54B, 7.61B.
        let billions = |s: &str| Shape::parse(s).unwrap().param_count() as f64 / 1e9;
        assert!((billions("qwen2.5-coder-0.5b") - 0.494).abs() < 0.01, "{}", billions("qwen2.5-coder-0.5b"));
        assert!((billions("qwen2.5-coder-1.5b") - 1.544).abs() < 0.01, "{}", billions("qwen2.5-coder-1.5b"));
        assert!((billions("qwen2.5-coder-7b") - 7.616).abs() < 0.01, "{}", billions("qwen2.5-coder-7b"));
    }

    #[test]
    fn parses_custom_shapes_and_rejects_bad_ones() {
        let s = Shape::parse("custom:64:2:4:2:128:5000").unwrap();
        assert_eq!((s.hidden, s.layers, s.heads, s.kv_heads, s.intermediate, s.vocab), (64, 2, 4, 2, 128, 5000));
        assert!(Shape::parse("custom:64:2:4:3:128:5000").is_err());
        assert!(Shape::parse("custom:64:2").is_err());
        assert!(Shape::parse("qwen9").is_err());
        assert_eq!(Format::parse("Q4_K_M").unwrap(), Format::Q4K);
        assert!(Format::parse("q3").is_err());
    }
}
