//! Model families: each file mirrors one family's `config.json` and its GGUF metadata, and
//! translates both into the shared transformer's [`Spec`](crate::transformer::Spec).

pub mod gemma3;
pub mod llama;
pub mod qwen2;
pub mod qwen3;
pub mod qwen3moe;
pub mod starcoder2;

use std::path::Path;

use candle_core::quantized::gguf_file;

use crate::{ModelError, Result};

/// Brings a transformers 5 `config.json` to the older layout the family configs mirror:
/// transformers 5 writes the RoPE base and scaling under `rope_parameters` and the weights' dtype
/// as `dtype`; older files (most on the Hub) have `rope_theta`, `rope_scaling` and `torch_dtype`.
pub(crate) fn normalize_config(json: &mut serde_json::Value) {
    let Some(obj) = json.as_object_mut() else { return };
    // Per layer kind (Gemma 3): `full_attention` is the global RoPE, `sliding_attention` the local one.
    if let Some(kinds) = obj.get("rope_parameters").and_then(|p| p.as_object()).filter(|p| p.contains_key("full_attention")).cloned() {
        if let (false, Some(theta)) =
            (obj.contains_key("rope_local_base_freq"), kinds.get("sliding_attention").and_then(|s| s.get("rope_theta")))
        {
            obj.insert("rope_local_base_freq".into(), theta.clone());
        }
        obj.insert("rope_parameters".into(), kinds["full_attention"].clone());
    }
    if let Some(params) = obj.get("rope_parameters").and_then(|p| p.as_object()).cloned() {
        if let (false, Some(theta)) = (obj.contains_key("rope_theta"), params.get("rope_theta")) {
            obj.insert("rope_theta".into(), theta.clone());
        }
        let kind = params.get("rope_type").and_then(|t| t.as_str()).unwrap_or("default");
        if kind != "default" && obj.get("rope_scaling").is_none_or(|s| s.is_null()) {
            obj.insert("rope_scaling".into(), serde_json::Value::Object(params));
        }
    }
    if let (false, Some(dtype)) = (obj.contains_key("torch_dtype"), obj.get("dtype").cloned()) {
        obj.insert("torch_dtype".into(), dtype);
    }
}

/// Typed access to `<arch>.*` GGUF metadata with errors that name the file and key.
pub(crate) struct GgufMeta<'a> {
    pub content: &'a gguf_file::Content,
    pub arch: &'a str,
    pub path: &'a Path,
}

impl GgufMeta<'_> {
    fn get(&self, key: &str) -> Option<&gguf_file::Value> {
        self.content.metadata.get(&format!("{}.{key}", self.arch))
    }

    pub fn usize(&self, key: &str) -> Result<usize> {
        let v = self.get(key).ok_or_else(|| self.missing(key))?;
        let n = v.to_u64().or_else(|_| v.to_u32().map(u64::from)).or_else(|_| v.to_i32().map(|x| x as u64));
        n.map(|n| n as usize).map_err(|_| ModelError::bad_file(self.path, format!("metadata `{}.{key}` is not an integer", self.arch)))
    }

    pub fn opt_usize(&self, key: &str) -> Result<Option<usize>> {
        if self.get(key).is_some() {
            self.usize(key).map(Some)
        } else {
            Ok(None)
        }
    }

    /// A list of booleans (e.g. per-layer flags), if the key holds one.
    pub fn opt_bools(&self, key: &str) -> Option<Vec<bool>> {
        let list = self.get(key)?.to_vec().ok()?;
        list.iter().map(|v| v.to_bool().ok()).collect()
    }

    pub fn opt_f64(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(|v| v.to_f32().map(f64::from).or_else(|_| v.to_f64()).ok())
    }

    pub fn opt_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(|v| v.to_string().ok()).map(|s| s.as_str())
    }

    fn missing(&self, key: &str) -> ModelError {
        ModelError::bad_file(self.path, format!("GGUF metadata lacks `{}.{key}`", self.arch))
    }

    /// Vocabulary size: from metadata, else from the token list.
    pub fn vocab_size(&self) -> Result<usize> {
        if let Some(n) = self.opt_usize("vocab_size")? {
            return Ok(n);
        }
        match self.content.metadata.get("tokenizer.ggml.tokens") {
            Some(v) => Ok(v.to_vec().map_err(|_| self.missing("vocab_size"))?.len()),
            None => Err(self.missing("vocab_size")),
        }
    }

    /// Whether the output projection is missing, i.e. tied to the embeddings.
    pub fn tied_output(&self) -> bool {
        !self.content.tensor_infos.contains_key("output.weight")
    }
}

fn default_rope_theta() -> f64 {
    10_000.0
}

fn default_true() -> bool {
    true
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_transformers_5_rope_parameters() {
        let mut v = serde_json::json!({"rope_parameters": {"rope_theta": 5e5, "rope_type": "linear", "factor": 4.0}, "dtype": "bfloat16"});
        super::normalize_config(&mut v);
        assert_eq!(v["rope_theta"], 5e5);
        assert_eq!(v["rope_scaling"]["rope_type"], "linear");
        assert_eq!(v["rope_scaling"]["factor"], 4.0);
        assert_eq!(v["torch_dtype"], "bfloat16");
        // The older layout wins where both are present.
        let mut old = serde_json::json!({"rope_theta": 1e4, "rope_parameters": {"rope_theta": 5e5, "rope_type": "default"}});
        super::normalize_config(&mut old);
        assert_eq!(old["rope_theta"], 1e4);
        assert!(old.get("rope_scaling").is_none());
        // Gemma 3 in transformers 5: one set of RoPE parameters per layer kind.
        let mut gemma = serde_json::json!({"rope_parameters": {
            "full_attention": {"rope_theta": 1e6, "rope_type": "linear", "factor": 8.0},
            "sliding_attention": {"rope_theta": 1e4, "rope_type": "default"}}});
        super::normalize_config(&mut gemma);
        assert_eq!(gemma["rope_theta"], 1e6);
        assert_eq!(gemma["rope_local_base_freq"], 1e4);
        assert_eq!(gemma["rope_scaling"]["factor"], 8.0);
    }
}
