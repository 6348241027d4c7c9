//! Where tensors come from: Hugging Face safetensors (one file or sharded) or a GGUF file.
//! Model code asks for tensors by their Hugging Face name; GGUF names are mapped here.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use candle_core::quantized::{gguf_file, GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Tensor};

use crate::error::InFile;
use crate::{ModelError, Result};

pub enum WeightSource {
    Safetensors {
        files: candle_core::safetensors::MmapedSafetensors,
        dtype: DType,
        device: Device,
        paths: Vec<PathBuf>,
    },
    Gguf {
        content: gguf_file::Content,
        file: std::sync::Mutex<File>,
        path: PathBuf,
        device: Device,
        /// Expand quantized matmul weights to F32 (weight-only quantization, F32 activations).
        dequantize: bool,
        /// `general.architecture`: a few tensor names differ by family.
        arch: String,
    },
}

impl WeightSource {
    /// Memory-maps safetensors files; tensors are converted to `dtype` as they are read.
    pub fn safetensors(paths: &[PathBuf], dtype: DType, device: &Device) -> Result<Self> {
        for p in paths {
            check_safetensors_header(p)?;
        }
        // SAFETY: the files are opened read-only; as with every mmap-based loader, a file changed
        // on disk while mapped is undefined behaviour, which is the standard trade for zero-copy loads.
        let files = unsafe { candle_core::safetensors::MmapedSafetensors::multi(paths) }
            .in_file(paths.first().map(|p| p.as_path()).unwrap_or(Path::new("?")))?;
        Ok(WeightSource::Safetensors { files, dtype, device: device.clone(), paths: paths.to_vec() })
    }

    pub fn gguf(path: &Path, content: gguf_file::Content, file: File, device: &Device, dequantize: bool, arch: &str) -> Self {
        WeightSource::Gguf {
            content,
            file: std::sync::Mutex::new(file),
            path: path.to_path_buf(),
            device: device.clone(),
            dequantize,
            arch: arch.to_string(),
        }
    }

    pub fn is_safetensors(&self) -> bool {
        matches!(self, WeightSource::Safetensors { .. })
    }

    /// Whether quantized GGUF tensors stay quantized (not `--dequantize`).
    pub fn keeps_quantized(&self) -> bool {
        matches!(self, WeightSource::Gguf { dequantize: false, .. })
    }

    fn gguf_name(&self, hf: &str) -> String {
        match self {
            WeightSource::Gguf { arch, .. } => gguf_name_for(arch, hf),
            WeightSource::Safetensors { .. } => hf.to_string(),
        }
    }

    pub fn device(&self) -> &Device {
        match self {
            WeightSource::Safetensors { device, .. } | WeightSource::Gguf { device, .. } => device,
        }
    }

    /// The dtype activations are computed in.
    pub fn compute_dtype(&self) -> DType {
        match self {
            WeightSource::Safetensors { dtype, .. } => *dtype,
            WeightSource::Gguf { .. } => DType::F32,
        }
    }

    fn path(&self) -> &Path {
        match self {
            WeightSource::Safetensors { paths, .. } => &paths[0],
            WeightSource::Gguf { path, .. } => path,
        }
    }

    pub fn contains(&self, hf_name: &str) -> bool {
        match self {
            WeightSource::Safetensors { files, .. } => files.get(hf_name).is_ok(),
            WeightSource::Gguf { content, .. } => content.tensor_infos.contains_key(&self.gguf_name(hf_name)),
        }
    }

    /// A dense tensor in the compute dtype.
    pub fn tensor(&self, hf_name: &str) -> Result<Tensor> {
        match self {
            WeightSource::Safetensors { files, dtype, device, .. } => {
                let t = files.load(hf_name, device).map_err(|e| self.missing(hf_name, e))?;
                Ok(t.to_dtype(*dtype)?)
            }
            WeightSource::Gguf { device, .. } => Ok(self.qtensor(hf_name)?.dequantize(device)?),
        }
    }

    /// A dense tensor checked against the shape the config implies.
    pub fn tensor_shaped(&self, hf_name: &str, shape: &[usize]) -> Result<Tensor> {
        let t = self.tensor(hf_name)?;
        self.check_shape(hf_name, t.dims(), shape)?;
        Ok(t)
    }

    /// A matmul weight `[out, in]`: kept quantized for quantized GGUF tensors, dense otherwise.
    pub fn matmul(&self, hf_name: &str, shape: &[usize]) -> Result<QMatMul> {
        match self {
            WeightSource::Safetensors { .. } => Ok(QMatMul::Tensor(self.tensor_shaped(hf_name, shape)?)),
            WeightSource::Gguf { dequantize, device, .. } => {
                let q = self.qtensor(hf_name)?;
                self.check_shape(hf_name, q.shape().dims(), shape)?;
                if *dequantize {
                    return Ok(QMatMul::Tensor(q.dequantize(device)?));
                }
                Ok(QMatMul::from_qtensor(q)?)
            }
        }
    }

    /// The GGUF storage type of a tensor, if this source is GGUF.
    pub fn gguf_dtype(&self, hf_name: &str) -> Option<GgmlDType> {
        match self {
            WeightSource::Gguf { content, .. } => content.tensor_infos.get(&self.gguf_name(hf_name)).map(|i| i.ggml_dtype),
            WeightSource::Safetensors { .. } => None,
        }
    }

    /// A GGUF tensor as stored (quantized), checked against the shape the config implies.
    pub fn qtensor_shaped(&self, hf_name: &str, shape: &[usize]) -> Result<std::sync::Arc<QTensor>> {
        let q = self.qtensor(hf_name)?;
        self.check_shape(hf_name, q.shape().dims(), shape)?;
        Ok(std::sync::Arc::new(q))
    }

    /// The `[out, in]` matmul weights of `experts` experts of an MoE layer `layer` (e.g.
    /// `model.layers.3.mlp`): one `[experts, out, in]` tensor in GGUF, sliced per expert without
    /// a copy to F32, or `layer.experts.E.PROJ.weight` per expert in safetensors.
    pub fn expert_matmuls(&self, layer: &str, proj: &str, experts: usize, out: usize, inp: usize) -> Result<Vec<QMatMul>> {
        let WeightSource::Gguf { dequantize, device, .. } = self else {
            return (0..experts).map(|e| self.matmul(&format!("{layer}.experts.{e}.{proj}.weight"), &[out, inp])).collect();
        };
        let name = format!("{layer}.experts.{proj}.weight");
        let q = self.qtensor(&name)?;
        self.check_shape(&name, q.shape().dims(), &[experts, out, inp])?;
        let dtype = q.dtype();
        let data = q.data()?;
        let per = data.len() / experts;
        (0..experts)
            .map(|e| {
                let storage =
                    candle_core::quantized::QStorage::from_data(std::borrow::Cow::Borrowed(&data[e * per..(e + 1) * per]), device, dtype)?;
                let expert = QTensor::new(storage, (out, inp))?;
                Ok(if *dequantize { QMatMul::Tensor(expert.dequantize(device)?) } else { QMatMul::from_qtensor(expert)? })
            })
            .collect()
    }

    fn qtensor(&self, hf_name: &str) -> Result<QTensor> {
        let WeightSource::Gguf { content, file, device, .. } = self else { unreachable!("qtensor on safetensors") };
        let name = self.gguf_name(hf_name);
        let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
        match content.tensor_infos.get(&name) {
            Some(info) if device.is_cpu() => read_cpu_tensor(&mut file, info, content.tensor_data_offset),
            _ => content.tensor(&mut *file, &name, device),
        }
        .map_err(|e| self.missing(&name, e))
    }

    fn missing(&self, name: &str, e: candle_core::Error) -> ModelError {
        let msg = e.to_string();
        let msg = msg.lines().next().unwrap_or("");
        ModelError::bad_file(self.path(), format!("cannot read tensor `{name}`: {msg}"))
    }

    fn check_shape(&self, name: &str, got: &[usize], want: &[usize]) -> Result<()> {
        if got != want {
            return Err(ModelError::bad_file(
                self.path(),
                format!("tensor `{name}` has shape {got:?} but the config implies {want:?} (config and weights do not match)"),
            ));
        }
        Ok(())
    }
}

/// One GGUF tensor read from the file straight into its CPU storage. candle's `Content::tensor`
/// reads into a byte buffer and then copies it, so loading held two copies of the largest tensor
/// at once: the 0.5B shape's 145 MB embedding table, all of it in the peak RSS.
fn read_cpu_tensor(file: &mut File, info: &gguf_file::TensorInfo, data_offset: u64) -> candle_core::Result<QTensor> {
    use candle_core::quantized::k_quants::*;
    use std::io::{Seek, SeekFrom};
    let (elems, block) = (info.shape.elem_count(), info.ggml_dtype.block_size());
    if !elems.is_multiple_of(block) {
        candle_core::bail!("{elems} values are not a whole number of {block}-value blocks");
    }
    let blocks = elems / block;
    file.seek(SeekFrom::Start(data_offset + info.offset))?;
    let storage = match info.ggml_dtype {
        GgmlDType::F32 => read_blocks::<f32>(file, blocks)?,
        GgmlDType::F16 => read_blocks::<half::f16>(file, blocks)?,
        GgmlDType::BF16 => read_blocks::<half::bf16>(file, blocks)?,
        GgmlDType::Q4_0 => read_blocks::<BlockQ4_0>(file, blocks)?,
        GgmlDType::Q4_1 => read_blocks::<BlockQ4_1>(file, blocks)?,
        GgmlDType::Q5_0 => read_blocks::<BlockQ5_0>(file, blocks)?,
        GgmlDType::Q5_1 => read_blocks::<BlockQ5_1>(file, blocks)?,
        GgmlDType::Q8_0 => read_blocks::<BlockQ8_0>(file, blocks)?,
        GgmlDType::Q8_1 => read_blocks::<BlockQ8_1>(file, blocks)?,
        GgmlDType::Q2K => read_blocks::<BlockQ2K>(file, blocks)?,
        GgmlDType::Q3K => read_blocks::<BlockQ3K>(file, blocks)?,
        GgmlDType::Q4K => read_blocks::<BlockQ4K>(file, blocks)?,
        GgmlDType::Q5K => read_blocks::<BlockQ5K>(file, blocks)?,
        GgmlDType::Q6K => read_blocks::<BlockQ6K>(file, blocks)?,
        GgmlDType::Q8K => read_blocks::<BlockQ8K>(file, blocks)?,
    };
    QTensor::new(candle_core::quantized::QStorage::Cpu(storage), info.shape.clone())
}

/// `blocks` blocks of `T`, read from where `file` stands.
fn read_blocks<T: candle_core::quantized::k_quants::GgmlType + 'static>(
    file: &mut File,
    blocks: usize,
) -> std::io::Result<Box<dyn candle_core::quantized::QuantizedType>> {
    use std::io::Read;
    let mut data = vec![T::zeros(); blocks];
    // SAFETY: the GGML block types are `repr(C)` plain data, valid for any bytes (candle's own
    // reader casts the file's bytes to them the same way).
    let bytes = unsafe { std::slice::from_raw_parts_mut(data.as_mut_ptr() as *mut u8, std::mem::size_of_val(data.as_slice())) };
    file.read_exact(bytes)?;
    Ok(Box::new(data))
}

/// Reads a safetensors header eagerly so a truncated or corrupt file fails with a clear message
/// instead of a crash later.
fn check_safetensors_header(path: &Path) -> Result<()> {
    use std::io::Read;
    let mut f = File::open(path).map_err(|source| ModelError::Io { path: path.into(), source })?;
    let file_len = f.metadata().map_err(|source| ModelError::Io { path: path.into(), source })?.len();
    let mut len_bytes = [0u8; 8];
    f.read_exact(&mut len_bytes)
        .map_err(|_| ModelError::bad_file(path, "not a safetensors file: shorter than its 8-byte header length"))?;
    let header_len = u64::from_le_bytes(len_bytes);
    if header_len > 100 << 20 || 8 + header_len > file_len {
        return Err(ModelError::bad_file(path, "not a safetensors file: header length is past the end of the file"));
    }
    let mut header = vec![0u8; header_len as usize];
    f.read_exact(&mut header).map_err(|source| ModelError::Io { path: path.into(), source })?;
    let header: HashMap<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|e| ModelError::bad_file(path, format!("corrupt safetensors header: {e}")))?;
    let data_len = file_len - 8 - header_len;
    for (name, info) in &header {
        if name == "__metadata__" {
            continue;
        }
        let end = info.get("data_offsets").and_then(|o| o.get(1)).and_then(|e| e.as_u64()).unwrap_or(0);
        if end > data_len {
            return Err(ModelError::bad_file(
                path,
                format!("truncated: tensor `{name}` ends at byte {end} of the data but the file holds {data_len}"),
            ));
        }
    }
    Ok(())
}

/// Maps a Hugging Face tensor name to llama.cpp's GGUF name for the architecture `arch`: Gemma's
/// four norms per block name the second one after attention, where other families put the MLP's.
pub fn gguf_name_for(arch: &str, hf: &str) -> String {
    if arch.starts_with("gemma") {
        if let Some((idx, rest)) = hf.strip_prefix("model.layers.").and_then(|r| r.split_once('.')) {
            const GEMMA: &[(&str, &str)] = &[
                ("post_attention_layernorm", "post_attention_norm"),
                ("pre_feedforward_layernorm", "ffn_norm"),
                ("post_feedforward_layernorm", "post_ffw_norm"),
            ];
            for (h, g) in GEMMA {
                if let Some(suffix) = rest.strip_prefix(h) {
                    return format!("blk.{idx}.{g}{suffix}");
                }
            }
        }
    }
    gguf_name(hf)
}

/// Maps a Hugging Face tensor name to llama.cpp's GGUF name.
pub fn gguf_name(hf: &str) -> String {
    const TOP: &[(&str, &str)] = &[
        ("model.embed_tokens.weight", "token_embd.weight"),
        ("model.norm.weight", "output_norm.weight"),
        ("model.norm.bias", "output_norm.bias"),
        ("lm_head.weight", "output.weight"),
    ];
    if let Some((_, g)) = TOP.iter().find(|(h, _)| *h == hf) {
        return g.to_string();
    }
    const LAYER: &[(&str, &str)] = &[
        ("self_attn.q_proj", "attn_q"),
        ("self_attn.k_proj", "attn_k"),
        ("self_attn.v_proj", "attn_v"),
        ("self_attn.o_proj", "attn_output"),
        ("self_attn.q_norm", "attn_q_norm"),
        ("self_attn.k_norm", "attn_k_norm"),
        ("mlp.gate.", "ffn_gate_inp."),
        ("mlp.experts.gate_proj", "ffn_gate_exps"),
        ("mlp.experts.up_proj", "ffn_up_exps"),
        ("mlp.experts.down_proj", "ffn_down_exps"),
        ("mlp.gate_proj", "ffn_gate"),
        ("mlp.up_proj", "ffn_up"),
        ("mlp.down_proj", "ffn_down"),
        ("mlp.c_fc", "ffn_up"),
        ("mlp.c_proj", "ffn_down"),
        ("input_layernorm", "attn_norm"),
        ("post_attention_layernorm", "ffn_norm"),
    ];
    if let Some(rest) = hf.strip_prefix("model.layers.") {
        if let Some((idx, rest)) = rest.split_once('.') {
            for (h, g) in LAYER {
                if let Some(suffix) = rest.strip_prefix(h) {
                    return format!("blk.{idx}.{g}{suffix}");
                }
            }
        }
    }
    hf.to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_every_tensor_as_candles_reader_does() {
        // Gemma 3 adds Q4_K, Q5_0 and Q6_K to the tiny model's F32, F16 and Q8_0.
        let gemma = crate::testing::assets_dir().join("gemma-3-270m-q4_k_m.gguf").display().to_string();
        let tiny = ["tiny-coder-q8_0.gguf", "tiny-coder-f16.gguf", "tiny-coder-f32.gguf"]
            .map(|n| crate::testing::model_path(&format!("gguf/{n}")));
        for path in tiny.iter().chain([&gemma]) {
            let name = path.rsplit('/').next().unwrap_or(path);
            let mut file = std::fs::File::open(path).unwrap();
            let content = super::gguf_file::Content::read(&mut file).unwrap();
            for (tensor, info) in &content.tensor_infos {
                let ours = super::read_cpu_tensor(&mut file, info, content.tensor_data_offset).unwrap();
                let candles = content.tensor(&mut file, tensor, &candle_core::Device::Cpu).unwrap();
                assert_eq!((ours.dtype(), ours.shape()), (candles.dtype(), candles.shape()), "{name}: {tensor}");
                assert!(ours.data().unwrap() == candles.data().unwrap(), "{name}: {tensor} differs");
            }
        }
    }

    #[test]
    fn maps_hf_names_to_gguf() {
        assert_eq!(super::gguf_name("model.layers.3.self_attn.q_proj.bias"), "blk.3.attn_q.bias");
        assert_eq!(super::gguf_name("model.layers.10.mlp.down_proj.weight"), "blk.10.ffn_down.weight");
        assert_eq!(super::gguf_name("lm_head.weight"), "output.weight");
        assert_eq!(super::gguf_name("model.layers.2.mlp.gate.weight"), "blk.2.ffn_gate_inp.weight");
        assert_eq!(super::gguf_name("model.layers.2.mlp.gate_proj.weight"), "blk.2.ffn_gate.weight");
        assert_eq!(super::gguf_name("model.layers.2.mlp.experts.down_proj.weight"), "blk.2.ffn_down_exps.weight");
        assert_eq!(super::gguf_name_for("gemma3", "model.layers.1.post_attention_layernorm.weight"), "blk.1.post_attention_norm.weight");
        assert_eq!(super::gguf_name_for("qwen2", "model.layers.1.post_attention_layernorm.weight"), "blk.1.ffn_norm.weight");
        assert_eq!(super::gguf_name_for("gemma3", "model.layers.1.pre_feedforward_layernorm.weight"), "blk.1.ffn_norm.weight");
    }
}
