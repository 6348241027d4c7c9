//! Other layouts of the same weights load to the same model: sharded safetensors, and the
//! LLaMA family (tiny-coder's weights written as a LLaMA checkpoint with attention biases).

use std::collections::HashMap;
use std::path::Path;

use hearth_model::testing::model_path;
use hearth_model::{load, Device, DeviceChoice, Logits, Tensor};

const PROMPT: &[u32] = &[1, 318, 2050, 7, 120, 11, 3, 14, 290, 2];

fn logits(spec: &Path) -> Vec<f32> {
    let m = load(&spec.display().to_string(), DeviceChoice::Cpu).unwrap();
    let mut cache = m.new_cache(64).unwrap();
    m.model.forward(PROMPT, &mut cache, Logits::Last).unwrap().squeeze(0).unwrap().to_vec1().unwrap()
}

fn read_tensors() -> HashMap<String, Tensor> {
    let path = Path::new(&model_path("tiny-coder")).join("model.safetensors");
    candle_core::safetensors::load(path, &Device::Cpu).unwrap()
}

fn copy_side_files(dst: &Path) {
    for f in ["config.json", "tokenizer.json", "generation_config.json"] {
        std::fs::copy(Path::new(&model_path("tiny-coder")).join(f), dst.join(f)).unwrap();
    }
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn sharded_safetensors_equal_the_single_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    copy_side_files(dir);
    let tensors = read_tensors();
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let (first, second) = names.split_at(names.len() / 2);
    let mut weight_map = serde_json::Map::new();
    for (file, part) in [("model-00001-of-00002.safetensors", first), ("model-00002-of-00002.safetensors", second)] {
        let shard: HashMap<String, Tensor> = part.iter().map(|n| ((*n).clone(), tensors[*n].clone())).collect();
        candle_core::safetensors::save(&shard, dir.join(file)).unwrap();
        for n in part {
            weight_map.insert((*n).clone(), file.into());
        }
    }
    let index = serde_json::json!({ "metadata": {}, "weight_map": weight_map });
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();

    let diff = max_diff(&logits(dir), &logits(Path::new(&model_path("tiny-coder"))));
    assert!(diff < 1e-6, "sharded model differs by {diff}");
}

#[test]
fn llama_family_with_biases_runs_qwen2_weights_identically() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    copy_side_files(dir);
    let mut tensors = read_tensors();
    // LLaMA's attention_bias covers o_proj too; Qwen2 has none there, so add zeros.
    for i in 0..6 {
        tensors
            .insert(format!("model.layers.{i}.self_attn.o_proj.bias"), Tensor::zeros(256, candle_core::DType::F32, &Device::Cpu).unwrap());
    }
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
    let config = std::fs::read_to_string(dir.join("config.json")).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&config).unwrap();
    json["model_type"] = "llama".into();
    json["architectures"] = serde_json::json!(["LlamaForCausalLM"]);
    json["attention_bias"] = true.into();
    std::fs::write(dir.join("config.json"), json.to_string()).unwrap();

    let m = load(&dir.display().to_string(), DeviceChoice::Cpu).unwrap();
    assert_eq!(m.info.family, hearth_model::Family::Llama);
    let diff = max_diff(&logits(dir), &logits(Path::new(&model_path("tiny-coder"))));
    assert!(diff < 1e-5, "llama-format model differs by {diff}");
}

/// llama.cpp's converter permutes LLaMA q/k rows so RoPE rotates adjacent pairs. Write
/// tiny-coder as such a GGUF: the interleaved-RoPE path must reproduce the original logits.
#[test]
fn llama_gguf_with_permuted_rope_weights_matches() {
    use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
    let src_path = model_path("gguf/tiny-coder-f32.gguf");
    let mut src_file = std::fs::File::open(&src_path).unwrap();
    let content = gguf_file::Content::read(&mut src_file).unwrap();
    let (heads, kv_heads, head_dim) = (8usize, 4usize, 32usize);
    // rows (h, 2, d/2) -> (h, d/2, 2): element i of the second half moves next to element i.
    let permute = |t: Tensor, n_head: usize| -> Tensor {
        let dims = t.dims().to_vec();
        let rest: Vec<usize> = dims[1..].to_vec();
        let mut shape = vec![n_head, 2, head_dim / 2];
        shape.extend(&rest);
        t.reshape(shape).unwrap().transpose(1, 2).unwrap().contiguous().unwrap().reshape(dims).unwrap()
    };
    let mut tensors: Vec<(String, QTensor)> = Vec::new();
    for name in content.tensor_infos.keys() {
        let t = content.tensor(&mut src_file, name, &Device::Cpu).unwrap().dequantize(&Device::Cpu).unwrap();
        let t = if name.contains("attn_q.") {
            permute(t, heads)
        } else if name.contains("attn_k.") {
            permute(t, kv_heads)
        } else {
            t
        };
        tensors.push((name.clone(), QTensor::quantize(&t, GgmlDType::F32).unwrap()));
    }
    for i in 0..6 {
        let zeros = Tensor::zeros(256, candle_core::DType::F32, &Device::Cpu).unwrap();
        tensors.push((format!("blk.{i}.attn_output.bias"), QTensor::quantize(&zeros, GgmlDType::F32).unwrap()));
    }
    let metadata: Vec<(String, gguf_file::Value)> = content
        .metadata
        .iter()
        .map(|(k, v)| (k.replace("qwen2.", "llama."), v.clone()))
        .map(|(k, v)| if k == "general.architecture" { (k, gguf_file::Value::String("llama".into())) } else { (k, v) })
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("tiny-llama.gguf");
    let mut file = std::fs::File::create(&out).unwrap();
    let md: Vec<(&str, &gguf_file::Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let ts: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    gguf_file::write(&mut file, &md, &ts).unwrap();
    drop(file);

    let m = load(&out.display().to_string(), DeviceChoice::Cpu).unwrap();
    assert_eq!(m.info.family, hearth_model::Family::Llama);
    let diff = max_diff(&logits(&out), &logits(Path::new(&model_path("tiny-coder"))));
    assert!(diff < 1e-4, "llama GGUF differs by {diff}");
}
