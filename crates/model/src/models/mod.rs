//! Model families: each file mirrors one family's `config.json` and its GGUF metadata, and
//! translates both into the shared transformer's [`Spec`](crate::transformer::Spec).

pub mod llama;
pub mod qwen2;
pub mod starcoder2;

use std::path::Path;

use candle_core::quantized::gguf_file;

use crate::{ModelError, Result};

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
        if self.get(key).is_some() { self.usize(key).map(Some) } else { Ok(None) }
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
