//! Loads open-weight code models (Hugging Face safetensors folders, GGUF files) and runs them
//! with a KV cache the caller owns and can roll back, returning logits for every new position.

mod attend;
mod device;
mod error;
pub mod fit;
mod gelu;
mod kquant;
mod kquant_wide;
mod kv_cache;
mod matvec;
pub mod models;
mod qgemm;
mod qgemm_wide;
mod resolve;
mod shared;
pub mod synthetic;
mod tokenizer;
mod transformer;
mod weights;
pub mod window;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::quantized::gguf_file;
pub use candle_core::{DType, Device, Tensor};

pub use device::{configure_cpu_threads, cpu_threads, describe as describe_device, select as select_device, DeviceChoice};
pub use error::{ModelError, Result};
pub use kv_cache::KvCache;
pub use resolve::{hf_cache_dir, hf_folder, list_local, ollama_dir, resolve, LocalModel, ModelFiles};
pub use shared::load_shared;
pub use tokenizer::{FimFormat, FimTokens, Tokenizer};
pub use transformer::{Deferred, KvType, Logits, Spec, Transformer};

use error::InFile;

/// The model families Hearth knows, each with its own FIM conventions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Qwen2,
    Qwen3,
    Qwen3Moe,
    Llama,
    StarCoder2,
    Gemma3,
}

impl Family {
    fn from_name(name: &str) -> Option<Family> {
        match name.to_ascii_lowercase().as_str() {
            "qwen2" | "qwen2forcausallm" => Some(Family::Qwen2),
            "qwen3" | "qwen3forcausallm" => Some(Family::Qwen3),
            "qwen3moe" | "qwen3_moe" | "qwen3moeforcausallm" => Some(Family::Qwen3Moe),
            "llama" | "llamaforcausallm" => Some(Family::Llama),
            "starcoder2" | "starcoder2forcausallm" => Some(Family::StarCoder2),
            "gemma3" | "gemma3_text" | "gemma3forcausallm" => Some(Family::Gemma3),
            _ => None,
        }
    }

    /// Whether the family's models were trained for fill-in-the-middle. Gemma 3's vocabulary
    /// spells no FIM tokens, and its base models complete left to right.
    pub fn trained_for_fim(self) -> bool {
        !matches!(self, Family::Gemma3)
    }
}

/// What callers need to know about a loaded model.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ModelInfo {
    pub family: Family,
    pub name: String,
    pub path: PathBuf,
    /// e.g. `safetensors f32` or `gguf q8_0`.
    pub format: String,
    pub device: String,
    pub fim: Option<FimTokens>,
    /// Tokens that end generation.
    pub eos_ids: Vec<u32>,
    /// Positions the model was trained for.
    pub max_positions: usize,
    pub vocab_size: usize,
    /// Bytes of weights on disk, for bandwidth estimates.
    pub weight_bytes: u64,
    /// The beginning-of-sequence token, and whether prompts start with it (Gemma's and LLaMA's
    /// do; Qwen's don't).
    pub bos_id: Option<u32>,
    pub add_bos: bool,
    /// The model's own Jinja chat template (GGUF `tokenizer.chat_template`, or
    /// `tokenizer_config.json` / `chat_template.jinja` beside safetensors), if it has one.
    #[serde(skip)]
    pub chat_template: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    pub device: DeviceChoice,
    /// Compute dtype for safetensors weights; default F32 on the CPU, BF16 on a GPU.
    pub dtype: Option<DType>,
    /// Expand quantized GGUF weights to F32 at load: the exact quantized weights with F32
    /// activations (more faithful, more memory) instead of quantized-activation kernels.
    pub dequantize: bool,
    /// CPU threads; `None` keeps candle's default (every physical core).
    pub threads: Option<usize>,
    /// Positions the caller's KV cache will hold, for the GPU memory estimate
    /// (default [`fit::DEFAULT_CACHE_POSITIONS`], clamped to the model's context).
    pub cache_positions: Option<usize>,
    /// How the CPU keeps keys and values (default F16; GPUs keep the compute dtype).
    pub kv_type: KvType,
}

/// A model ready to run: weights, tokenizer and facts. Cheap to share: the weights are read-only.
pub struct LoadedModel {
    pub model: Arc<Transformer>,
    pub tokenizer: Arc<Tokenizer>,
    pub info: ModelInfo,
    /// A warning to show the user, e.g. a GPU that was asked for but is missing.
    pub warning: Option<String>,
}

impl LoadedModel {
    /// The model's FIM prompt for `prefix` and `suffix` (its family's layout, after BOS when the
    /// model wants one). `None` for models without FIM tokens.
    pub fn fim_prompt(&self, prefix: &str, suffix: &str) -> Option<Vec<u32>> {
        let fim = self.info.fim.as_ref()?;
        let mut ids: Vec<u32> = self.bos().into_iter().collect();
        ids.extend(fim.layout(&self.tokenizer.encode(prefix), &self.tokenizer.encode(suffix)));
        Some(ids)
    }

    /// [`fim_prompt`](Self::fim_prompt) cut to the last `prefix_tokens` of the prefix and the first
    /// `suffix_tokens` of the suffix (each side tokenized as a whole, then cut; see [`window`]).
    pub fn fim_window(&self, prefix: &str, suffix: &str, prefix_tokens: usize, suffix_tokens: usize) -> Option<Vec<u32>> {
        let fim = self.info.fim.as_ref()?;
        let encode = |t: &str| self.tokenizer.encode(t);
        let mut ids: Vec<u32> = self.bos().into_iter().collect();
        ids.extend(fim.layout(&window::tail_tokens(&encode, prefix, prefix_tokens), &window::head_tokens(&encode, suffix, suffix_tokens)));
        Some(ids)
    }

    /// The BOS token prompts start with, if the model wants one.
    pub fn bos(&self) -> Option<u32> {
        self.info.bos_id.filter(|_| self.info.add_bos)
    }

    /// A fresh KV cache holding up to `capacity` positions (clamped to the context length).
    pub fn new_cache(&self, capacity: usize) -> Result<KvCache> {
        self.model.new_cache(capacity)
    }
}

/// A model's tokenizer and prompt conventions, read without its weights.
pub struct LoadedTokenizer {
    pub tokenizer: Tokenizer,
    pub name: String,
    pub bos_id: Option<u32>,
    pub add_bos: bool,
    pub chat_template: Option<String>,
}

impl LoadedTokenizer {
    /// The BOS token prompts start with, if the model wants one.
    pub fn bos(&self) -> Option<u32> {
        self.bos_id.filter(|_| self.add_bos)
    }
}

/// The tokenizer of `spec` (as [`load`] resolves it), without reading the weights: what
/// `hearth tokenize` shows, and what a remote backend counts prompts with.
pub fn load_tokenizer(spec: &str) -> Result<LoadedTokenizer> {
    match resolve(spec)? {
        ModelFiles::HfFolder { dir, config, tokenizer, .. } => {
            let text = std::fs::read_to_string(&config).map_err(|source| ModelError::Io { path: config.clone(), source })?;
            let json: serde_json::Value = serde_json::from_str(&text).in_file(&config)?;
            let tok = Tokenizer::from_file(&tokenizer)?;
            let (bos_id, add_bos, chat_template) = hf_chat_facts(&dir, &json, &tok);
            let name = dir.file_name().unwrap_or_default().to_string_lossy().to_string();
            Ok(LoadedTokenizer { tokenizer: tok, name, bos_id, add_bos, chat_template })
        }
        ModelFiles::Gguf { path } => {
            let mut file = File::open(&path).map_err(|source| ModelError::Io { path: path.clone(), source })?;
            let content = gguf_file::Content::read(&mut file).map_err(|e| {
                ModelError::bad_file(&path, format!("not a readable GGUF file ({})", e.to_string().lines().next().unwrap_or("")))
            })?;
            let tok = Tokenizer::from_gguf(&content, &path)?;
            let (bos_id, add_bos, chat_template) = gguf_chat_facts(&content);
            let name = path.file_stem().unwrap_or_default().to_string_lossy().to_string();
            Ok(LoadedTokenizer { tokenizer: tok, name, bos_id, add_bos, chat_template })
        }
    }
}

/// Loads `spec` (folder, `.gguf`, `ollama:NAME`, or an HF id already in the local cache) on the CPU
/// or the device asked for.
pub fn load(spec: &str, device: DeviceChoice) -> Result<LoadedModel> {
    load_with(spec, &LoadOptions { device, ..Default::default() })
}

pub fn load_with(spec: &str, opts: &LoadOptions) -> Result<LoadedModel> {
    let files = resolve(spec)?;
    configure_cpu_threads(opts.threads);
    let (device, warning) = select_device(opts.device);
    let mut place = Placement {
        device,
        warning,
        forced: matches!(opts.device, DeviceChoice::Cuda(_) | DeviceChoice::Metal),
        positions: opts.cache_positions.unwrap_or(fit::DEFAULT_CACHE_POSITIONS),
    };
    let mut loaded = match &files {
        ModelFiles::HfFolder { dir, config, weights, tokenizer } => load_hf(dir, config, weights, tokenizer, &mut place, opts.dtype)?,
        ModelFiles::Gguf { path } => load_gguf(path, &mut place, opts.dequantize)?,
    };
    if let Some(model) = Arc::get_mut(&mut loaded.model) {
        model.set_kv_type(opts.kv_type);
    }
    // Callers show `warning` to the user (the CLI on stderr, the server as a status message).
    if let Some(w) = &place.warning {
        tracing::debug!("{w}");
    }
    loaded.info.weight_bytes = files.weight_bytes();
    loaded.warning = place.warning;
    Ok(loaded)
}

/// Where a model is being loaded, and what the user should hear about it.
struct Placement {
    device: Device,
    warning: Option<String>,
    /// The user named the device: a model too large for it is an error, not a move to the CPU.
    forced: bool,
    positions: usize,
}

impl Placement {
    /// Before weights go to a GPU: estimate what the model needs there and compare with the free
    /// memory; move to the CPU (or refuse, when forced) if it does not fit.
    fn check_fit(&mut self, spec: &Spec, weight_bytes: u64, dtype: DType, model: &Path) -> Result<()> {
        let Some(free) = device::free_memory(&self.device) else { return Ok(()) };
        let need = fit::MemoryEstimate::new(spec, weight_bytes, dtype.size_in_bytes(), self.positions);
        tracing::debug!(?need, free, "GPU memory estimate");
        match fit::decide(&need, free, self.forced, model, &describe_device(&self.device)) {
            fit::Fit::Fits => Ok(()),
            fit::Fit::UseCpu(message) => {
                self.device = Device::Cpu;
                self.warning = Some(message);
                Ok(())
            }
            fit::Fit::Refuse(message) => Err(ModelError::DoesNotFit(message)),
        }
    }
}

/// The facts of a Hugging Face folder, and its `config.json` (normalized).
fn hf_facts(dir: &Path, config: &Path, tokenizer: &Path) -> Result<(Facts, serde_json::Value)> {
    let text = std::fs::read_to_string(config).map_err(|source| ModelError::Io { path: config.into(), source })?;
    let mut json: serde_json::Value = serde_json::from_str(&text).in_file(config)?;
    models::normalize_config(&mut json);
    let arch =
        json["model_type"].as_str().or_else(|| json["architectures"].get(0).and_then(|a| a.as_str())).unwrap_or("<none>").to_string();
    let family = Family::from_name(&arch).ok_or_else(|| ModelError::UnknownArchitecture { path: config.into(), arch: arch.clone() })?;
    let spec = match family {
        Family::Qwen2 => serde_json::from_value::<models::qwen2::Config>(json.clone()).in_file(config)?.spec(),
        Family::Qwen3 => serde_json::from_value::<models::qwen3::Config>(json.clone()).in_file(config)?.spec(),
        Family::Qwen3Moe => serde_json::from_value::<models::qwen3moe::Config>(json.clone()).in_file(config)?.spec(config)?,
        Family::Llama => serde_json::from_value::<models::llama::Config>(json.clone()).in_file(config)?.spec(),
        Family::StarCoder2 => serde_json::from_value::<models::starcoder2::Config>(json.clone()).in_file(config)?.spec(),
        Family::Gemma3 => serde_json::from_value::<models::gemma3::Config>(json.clone()).in_file(config)?.spec(config)?,
    };
    spec.validate(config)?;
    let tok = Tokenizer::from_file(tokenizer)?;
    check_vocab(&tok, &spec, tokenizer)?;
    let eos = eos_from_config(dir, &json).unwrap_or_else(|| tok.default_eos());
    let name = dir.file_name().unwrap_or_default().to_string_lossy().to_string();
    let chat = hf_chat_facts(dir, &json, &tok);
    Ok((Facts { family, arch, spec, tokenizer: tok, eos, name, chat }, json))
}

fn load_hf(
    dir: &Path,
    config: &Path,
    weights: &[PathBuf],
    tokenizer: &Path,
    place: &mut Placement,
    dtype: Option<DType>,
) -> Result<LoadedModel> {
    let (facts, json) = hf_facts(dir, config, tokenizer)?;
    let spec = facts.spec.clone();
    let dtype_on = |device: &Device| {
        dtype.unwrap_or(if device.is_cpu() {
            DType::F32
        } else {
            match json["torch_dtype"].as_str() {
                Some("float32") => DType::F32,
                Some("float16") => DType::F16,
                _ => DType::BF16,
            }
        })
    };
    let gpu_dtype = dtype_on(&place.device);
    place.check_fit(&spec, fit::parameter_count(&spec) * gpu_dtype.size_in_bytes() as u64, gpu_dtype, dir)?;
    let (device, dtype) = (&place.device, dtype_on(&place.device));
    let ws = weights::WeightSource::safetensors(weights, dtype, device)?;
    let model = Transformer::load(spec, &ws)?;
    Ok(finish(model, facts, dir, format!("safetensors {}", dtype_name(dtype)), device))
}

/// What a model file says about the model before any weight is read.
struct Facts {
    family: Family,
    arch: String,
    spec: Spec,
    tokenizer: Tokenizer,
    eos: Vec<u32>,
    name: String,
    chat: (Option<u32>, bool, Option<String>),
}

impl Facts {
    /// The facts as a [`ModelInfo`], for a model whose weights are elsewhere (`format`, `device`).
    fn into_info(self, path: &Path, format: String, device: String) -> (Tokenizer, ModelInfo) {
        let mut eos = self.eos;
        for id in self.tokenizer.end_of_turn_ids() {
            if !eos.contains(&id) {
                eos.push(id);
            }
        }
        let info = ModelInfo {
            family: self.family,
            name: self.name,
            path: path.to_path_buf(),
            format,
            device,
            fim: self.tokenizer.fim_tokens().filter(|_| self.family.trained_for_fim()),
            eos_ids: eos,
            max_positions: self.spec.max_positions,
            vocab_size: self.spec.vocab_size,
            weight_bytes: 0,
            bos_id: self.chat.0,
            add_bos: self.chat.1,
            chat_template: self.chat.2,
        };
        (self.tokenizer, info)
    }
}

/// The tokenizer and the facts of `spec` (as [`load`] resolves it) without its weights, for a model
/// that a server runs: `format` and `device` say where (e.g. `llama-server`, `remote: HOST`).
pub fn load_facts(spec: &str, format: &str, device: &str) -> Result<(Tokenizer, ModelInfo)> {
    match resolve(spec)? {
        ModelFiles::HfFolder { dir, config, tokenizer, .. } => {
            let (facts, _) = hf_facts(&dir, &config, &tokenizer)?;
            Ok(facts.into_info(&dir, format.into(), device.into()))
        }
        ModelFiles::Gguf { path } => {
            let (_, content) = open_gguf(&path)?;
            Ok(gguf_facts(&path, &content)?.into_info(&path, format.into(), device.into()))
        }
    }
}

fn open_gguf(path: &Path) -> Result<(File, gguf_file::Content)> {
    let mut file = File::open(path).map_err(|source| ModelError::Io { path: path.into(), source })?;
    let content = gguf_file::Content::read(&mut file)
        .map_err(|e| ModelError::bad_file(path, format!("not a readable GGUF file ({})", e.to_string().lines().next().unwrap_or(""))))?;
    Ok((file, content))
}

fn gguf_facts(path: &Path, content: &gguf_file::Content) -> Result<Facts> {
    let arch = content.metadata.get("general.architecture").and_then(|v| v.to_string().ok()).cloned().unwrap_or_default();
    let family = Family::from_name(&arch).ok_or_else(|| ModelError::UnknownArchitecture { path: path.into(), arch: arch.clone() })?;
    let md = models::GgufMeta { content, arch: &arch, path };
    let spec = match family {
        Family::Qwen2 => models::qwen2::spec_from_gguf(&md)?,
        Family::Qwen3 => models::qwen3::spec_from_gguf(&md)?,
        Family::Qwen3Moe => models::qwen3moe::spec_from_gguf(&md)?,
        Family::Llama => models::llama::spec_from_gguf(&md)?,
        Family::StarCoder2 => models::starcoder2::spec_from_gguf(&md)?,
        Family::Gemma3 => models::gemma3::spec_from_gguf(&md)?,
    };
    spec.validate(path)?;
    let tok = Tokenizer::from_gguf(content, path)?;
    check_vocab(&tok, &spec, path)?;
    let mut eos: Vec<u32> = ["tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"]
        .iter()
        .filter_map(|k| content.metadata.get(*k).and_then(|v| v.to_u32().ok()))
        .collect();
    eos.dedup();
    if eos.is_empty() {
        eos = tok.default_eos();
    }
    let name = content
        .metadata
        .get("general.name")
        .and_then(|v| v.to_string().ok())
        .cloned()
        .unwrap_or_else(|| path.file_stem().unwrap_or_default().to_string_lossy().to_string());
    let chat = gguf_chat_facts(content);
    Ok(Facts { family, arch, spec, tokenizer: tok, eos, name, chat })
}

fn load_gguf(path: &Path, place: &mut Placement, dequantize: bool) -> Result<LoadedModel> {
    let (file, content) = open_gguf(path)?;
    check_gguf_extent(&content, &file, path)?;
    let facts = gguf_facts(path, &content)?;
    let spec = facts.spec.clone();
    // GGUF computes in F32: quantized weights (the embedding table too) stay as stored, dense
    // ones are expanded to F32, and `dequantize` expands everything.
    let on_device = if dequantize { fit::parameter_count(&spec) * 4 } else { gguf_tensor_bytes(&content) };
    place.check_fit(&spec, on_device, DType::F32, path)?;
    let device = &place.device;
    let ws = weights::WeightSource::gguf(path, content, file, device, dequantize, &facts.arch);
    let stored = ws.gguf_dtype("model.layers.0.self_attn.q_proj.weight").map(|d| format!("{d:?}").to_lowercase()).unwrap_or_default();
    let format = if dequantize { format!("gguf {stored} (dequantized to f32)") } else { format!("gguf {stored}") };
    let model = Transformer::load(spec, &ws)?;
    Ok(finish(model, facts, path, format, device))
}

fn finish(model: Transformer, facts: Facts, path: &Path, format: String, device: &Device) -> LoadedModel {
    let (tok, info) = facts.into_info(path, format, describe_device(device));
    LoadedModel { model: Arc::new(model), tokenizer: Arc::new(tok), info, warning: None }
}

fn check_vocab(tok: &Tokenizer, spec: &Spec, path: &Path) -> Result<()> {
    if tok.vocab_size() > spec.vocab_size {
        return Err(ModelError::VocabMismatch {
            path: path.into(),
            tokenizer: tok.vocab_size(),
            model: spec.vocab_size,
            hint: "the tokenizer belongs to another model",
        });
    }
    Ok(())
}

/// BOS and the chat template from `tokenizer.*` GGUF metadata.
fn gguf_chat_facts(content: &gguf_file::Content) -> (Option<u32>, bool, Option<String>) {
    let md = |k: &str| content.metadata.get(k);
    let bos_id = md("tokenizer.ggml.bos_token_id").and_then(|v| v.to_u32().ok());
    // llama.cpp's default when the file does not say: SentencePiece vocabularies add BOS.
    let spm = matches!(md("tokenizer.ggml.model").and_then(|v| v.to_string().ok()).map(|s| s.as_str()), Some("llama" | "gemma4"));
    let add_bos = bos_id.is_some() && md("tokenizer.ggml.add_bos_token").and_then(|v| v.to_bool().ok()).unwrap_or(spm);
    (bos_id, add_bos, md("tokenizer.chat_template").and_then(|v| v.to_string().ok()).cloned())
}

/// BOS and the chat template of a Hugging Face folder: `tokenizer_config.json` (`add_bos_token`,
/// `bos_token`, `chat_template` as a string or a list of named templates, the `default` one
/// first), else `chat_template.jinja`; BOS id from `config.json` when the tokenizer config names none.
fn hf_chat_facts(dir: &Path, config: &serde_json::Value, tok: &Tokenizer) -> (Option<u32>, bool, Option<String>) {
    let tc: serde_json::Value =
        std::fs::read_to_string(dir.join("tokenizer_config.json")).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
    let token_text = |v: &serde_json::Value| v.as_str().or_else(|| v["content"].as_str()).map(String::from);
    let bos_id = token_text(&tc["bos_token"]).and_then(|t| tok.token_id(&t)).or_else(|| config["bos_token_id"].as_u64().map(|n| n as u32));
    let add_bos = bos_id.is_some() && tc["add_bos_token"].as_bool().unwrap_or(false);
    let template = match &tc["chat_template"] {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(list) => {
            list.iter().find(|t| t["name"] == "default").or_else(|| list.first()).and_then(|t| t["template"].as_str()).map(String::from)
        }
        _ => None,
    }
    .or_else(|| std::fs::read_to_string(dir.join("chat_template.jinja")).ok());
    (bos_id, add_bos, template)
}

/// `eos_token_id` from generation_config.json, else config.json; a number or a list.
fn eos_from_config(dir: &Path, config: &serde_json::Value) -> Option<Vec<u32>> {
    let gen: Option<serde_json::Value> =
        std::fs::read_to_string(dir.join("generation_config.json")).ok().and_then(|t| serde_json::from_str(&t).ok());
    let value = gen.as_ref().map(|g| &g["eos_token_id"]).filter(|v| !v.is_null()).unwrap_or(&config["eos_token_id"]);
    let ids: Vec<u32> = match value {
        serde_json::Value::Number(n) => n.as_u64().map(|n| vec![n as u32])?,
        serde_json::Value::Array(a) => a.iter().filter_map(|v| v.as_u64()).map(|n| n as u32).collect(),
        _ => return None,
    };
    (!ids.is_empty()).then_some(ids)
}

/// A truncated GGUF file fails here, naming the first tensor that lies past the end.
fn check_gguf_extent(content: &gguf_file::Content, file: &File, path: &Path) -> Result<()> {
    let len = file.metadata().map_err(|source| ModelError::Io { path: path.into(), source })?.len();
    for (name, info) in &content.tensor_infos {
        let end = content.tensor_data_offset + info.offset + tensor_bytes(info);
        if end > len {
            return Err(ModelError::bad_file(path, format!("truncated: tensor `{name}` ends at byte {end} but the file has {len}")));
        }
    }
    Ok(())
}

fn tensor_bytes(info: &gguf_file::TensorInfo) -> u64 {
    (info.shape.elem_count() / info.ggml_dtype.block_size() * info.ggml_dtype.type_size()) as u64
}

fn gguf_tensor_bytes(content: &gguf_file::Content) -> u64 {
    content.tensor_infos.values().map(tensor_bytes).sum()
}

fn dtype_name(dtype: DType) -> String {
    format!("{dtype:?}").to_lowercase()
}

/// Locations of the shared test assets (`../shared` beside the repository, or `$HEARTH_SHARED`).
#[doc(hidden)]
pub mod testing {
    use std::path::PathBuf;

    pub fn shared_dir() -> PathBuf {
        if let Some(p) = std::env::var_os("HEARTH_SHARED") {
            return PathBuf::from(p);
        }
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
        assert!(dir.join("models").is_dir(), "test assets not found at {} (set HEARTH_SHARED)", dir.display());
        dir.canonicalize().unwrap_or(dir)
    }

    pub fn model_path(name: &str) -> String {
        shared_dir().join("models").join(name).display().to_string()
    }

    /// `spec` on the CPU with an F32 KV cache, as the float64 and llama.cpp f32 references were
    /// recorded (the default F16 cache rounds keys and values, as llama.cpp's default does).
    pub fn load_f32_kv(spec: &str) -> crate::Result<crate::LoadedModel> {
        crate::load_with(spec, &crate::LoadOptions { device: crate::DeviceChoice::Cpu, kv_type: crate::KvType::F32, ..Default::default() })
    }

    /// The assets `scripts/fetch-assets.sh` downloads and checks (`$HEARTH_ASSETS`, else
    /// `~/.cache/hearth/assets`): the Gemma 3 GGUF and llama.cpp's source. Panics, naming the
    /// script, when they are missing: a test that needs them must fail, never skip.
    pub fn assets_dir() -> PathBuf {
        let dir = std::env::var_os("HEARTH_ASSETS")
            .map(PathBuf::from)
            .or_else(|| dirs::cache_dir().map(|c| c.join("hearth/assets")))
            .unwrap_or_else(|| PathBuf::from("assets"));
        assert!(
            dir.join("llama.cpp-src/models").is_dir() && dir.join("gemma-3-270m-q4_k_m.gguf").is_file(),
            "test assets not found at {}: run scripts/fetch-assets.sh (or set HEARTH_ASSETS)",
            dir.display()
        );
        dir
    }

    /// A file under llama.cpp's source tree in [`assets_dir`].
    pub fn llama_cpp_file(rel: &str) -> PathBuf {
        assets_dir().join("llama.cpp-src").join(rel)
    }

    /// The real Gemma 3 270M base model (Q4_K_M GGUF).
    pub fn gemma3_path() -> PathBuf {
        assets_dir().join("gemma-3-270m-q4_k_m.gguf")
    }

    /// The same weights with Qwen2.5-Instruct's tool-calling chat template (the GGUF has none).
    pub fn gemma3_with_template_path() -> PathBuf {
        let path = assets_dir().join("gemma-3-270m-qwen-template.gguf");
        assert!(path.is_file(), "{} not found: run scripts/fetch-assets.sh", path.display());
        path
    }

    /// The tokens Qwen2.5-Coder's `tokenizer_config.json` adds in the slots that llama.cpp's Qwen2
    /// vocabulary pads (151646..): its FIM and repository tokens.
    pub const QWEN25_CODER_TOKENS: &[(usize, &str)] = &[
        (151659, "<|fim_prefix|>"),
        (151660, "<|fim_middle|>"),
        (151661, "<|fim_suffix|>"),
        (151662, "<|fim_pad|>"),
        (151663, "<|repo_name|>"),
        (151664, "<|file_sep|>"),
    ];

    /// The tokenizer of llama.cpp's `models/ggml-vocab-NAME.gguf`, with `patch`'s `(id, spelling)`
    /// written in as control tokens.
    pub fn llama_cpp_vocab(name: &str, patch: &[(usize, &str)]) -> crate::Tokenizer {
        use candle_core::quantized::gguf_file;
        let path = llama_cpp_file(&format!("models/ggml-vocab-{name}.gguf"));
        let mut file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e} (run scripts/fetch-assets.sh)", path.display()));
        let mut content = gguf_file::Content::read(&mut file).unwrap();
        if !patch.is_empty() {
            let md = &mut content.metadata;
            let mut tokens = md["tokenizer.ggml.tokens"].to_vec().unwrap().clone();
            let mut types = md["tokenizer.ggml.token_type"].to_vec().unwrap().clone();
            for &(id, spelling) in patch {
                tokens[id] = gguf_file::Value::String(spelling.to_string());
                types[id] = gguf_file::Value::I32(3);
            }
            md.insert("tokenizer.ggml.tokens".into(), gguf_file::Value::Array(tokens));
            md.insert("tokenizer.ggml.token_type".into(), gguf_file::Value::Array(types));
        }
        crate::Tokenizer::from_gguf(&content, &path).unwrap()
    }
}
