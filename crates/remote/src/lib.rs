//! A model that the team's own inference server runs (llama-server, an OpenAI-compatible server such
//! as vLLM, or Ollama) as a [`Generator`]: Hearth builds and counts the prompt with the model's own
//! tokenizer, locally; only the prompt goes to the configured URL, and nothing else is contacted.

mod chat;
mod endpoint;
mod fallback;
mod generator;
mod stream;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use endpoint::{Endpoint, Reach};
pub use fallback::WithFallback;
pub use generator::RemoteGenerator;
pub use hearth_decode::Generator;

/// The `backend` setting.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendConfig {
    pub kind: BackendKind,
    /// e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// The model's name on the server (`/v1/completions` and Ollama need it; llama-server serves one).
    #[serde(default)]
    pub model: Option<String>,
    /// The environment variable that holds the API key, sent as a bearer token.
    #[serde(default, alias = "api_key_env")]
    pub api_key_env: Option<String>,
    /// Allow plain `http://` to a host that is not loopback or private.
    #[serde(default, alias = "allow_insecure_http")]
    pub allow_insecure_http: bool,
    /// How long a request may wait for the server's next bytes (default 30 s).
    #[serde(default, alias = "timeout_ms")]
    pub timeout_ms: Option<u64>,
    /// While the server is down, complete with `model` in process (its weights are loaded too).
    #[serde(default)]
    pub fallback: bool,
}

/// Whether a backend answers: set by its generator, read by whoever reports it (the status).
#[derive(Clone, Debug, Default)]
pub struct Health(Arc<Mutex<Option<String>>>);

impl Health {
    /// Why the last request could not reach the server; `None` once one did.
    pub fn problem(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, problem: Option<String>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = problem;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    /// `/v1/completions`, with the prompt as token ids.
    OpenaiCompatible,
    /// llama.cpp's server: `/completion` with token ids in and out, so the output is exact.
    LlamaServer,
    /// `/api/generate` in raw mode, with the prompt as text.
    Ollama,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::OpenaiCompatible => "openai-compatible",
            BackendKind::LlamaServer => "llama-server",
            BackendKind::Ollama => "ollama",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("backend url `{url}`: {why}")]
    Url { url: String, why: String },
    #[error("backend: {0}")]
    Config(String),
    /// The server runs another model than the local tokenizer's.
    #[error("{host} serves a model that does not match `{local}`: {why}")]
    Mismatch { host: String, local: String, why: String },
}

/// The default wait for a server's next bytes: a long prompt's first token on a busy CPU server.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// What the server says about its model.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerModel {
    pub name: Option<String>,
    pub vocab_size: Option<usize>,
    /// Positions a request may use on the server (llama-server's slot context, vLLM's `max_model_len`).
    pub context: Option<usize>,
}

/// A checked connection to a backend: its generator, and a warning for the status when the server
/// could not be asked about its model (it may come up later; requests retry on their own).
pub struct Connected {
    pub generator: RemoteGenerator,
    pub server_model: Option<ServerModel>,
    pub warning: Option<String>,
}

/// Connects to `config`'s server for the model that `info` and `tokenizer` describe (loaded locally,
/// without weights). A server that answers with another vocabulary is an error.
pub fn connect(
    config: &BackendConfig,
    tokenizer: std::sync::Arc<hearth_model::Tokenizer>,
    info: &hearth_model::ModelInfo,
) -> Result<Connected, RemoteError> {
    let endpoint = Endpoint::parse(&config.url, config.allow_insecure_http)?;
    let api_key = match &config.api_key_env {
        Some(var) => Some(std::env::var(var).map_err(|_| RemoteError::Config(format!("apiKeyEnv is `{var}`, but `{var}` is not set")))?),
        None => None,
    };
    if matches!(config.kind, BackendKind::OpenaiCompatible | BackendKind::Ollama) && config.model.is_none() {
        return Err(RemoteError::Config(format!("a `{}` backend needs `model`: the model's name on the server", config.kind.as_str())));
    }
    let timeout = config.timeout_ms.map(Duration::from_millis).unwrap_or(DEFAULT_TIMEOUT);
    let generator = RemoteGenerator::new(config.kind, endpoint, config.model.clone(), api_key, timeout, tokenizer, info.eos_ids.clone());
    let (server_model, warning) = match generator.server_model() {
        Ok(m) => (Some(m), None),
        Err(e) => (None, Some(format!("{} did not answer yet ({e}); completions start when it does", generator.host()))),
    };
    if let Some(server) = &server_model {
        if let Some(vocab) = server.vocab_size {
            if vocab != info.vocab_size {
                return Err(RemoteError::Mismatch {
                    host: generator.host().to_string(),
                    local: info.name.clone(),
                    why: format!("its vocabulary has {vocab} tokens, the local model's {}", info.vocab_size),
                });
            }
        }
        if let (Some(want), Some(name)) = (&config.model, &server.name) {
            if config.kind != BackendKind::LlamaServer && want != name {
                return Err(RemoteError::Mismatch {
                    host: generator.host().to_string(),
                    local: info.name.clone(),
                    why: format!("it has no model named `{want}` (it lists `{name}`)"),
                });
            }
        }
    }
    Ok(Connected { generator, server_model, warning })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_reads_camel_and_snake_case() {
        let c: BackendConfig =
            serde_json::from_value(serde_json::json!({"kind": "llama-server", "url": "http://127.0.0.1:8080", "api_key_env": "K"}))
                .unwrap();
        assert_eq!(c.kind, BackendKind::LlamaServer);
        assert_eq!(c.api_key_env.as_deref(), Some("K"));
        let c: BackendConfig =
            serde_json::from_value(serde_json::json!({"kind": "openai-compatible", "url": "https://x", "allowInsecureHttp": true}))
                .unwrap();
        assert!(c.allow_insecure_http);
        assert!(serde_json::from_value::<BackendConfig>(serde_json::json!({"kind": "vllm", "url": "x"})).is_err());
    }
}
