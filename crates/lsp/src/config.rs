//! Settings: the keys of `initializationOptions`, `workspace/didChangeConfiguration` and the TOML config
//! file, their layering, and the model choice (`--model` > `HEARTH_MODEL` > client > file > bundled).

use std::path::PathBuf;

use hearth_assist::completion::{CompletionOptions, Healing, LoadSpec};
use hearth_remote::BackendConfig;

use crate::limits::Caps;
use serde::{Deserialize, Serialize};

/// `$ty` with every field of `$over` that is set, the rest from `$under`.
macro_rules! overlay {
    ($ty:ident, $under:expr, $over:expr; $($f:ident),* $(,)?) => { $ty { $($f: $over.$f.clone().or_else(|| $under.$f.clone())),* } };
}

/// One layer of settings; unset keys fall through to the layer below.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    pub model: Option<String>,
    #[serde(alias = "draft_model")]
    pub draft_model: Option<String>,
    pub device: Option<String>,
    pub multiline: Option<bool>,
    #[serde(alias = "debounce_ms")]
    pub debounce_ms: Option<u64>,
    #[serde(alias = "context_budget")]
    pub context_budget: Option<usize>,
    #[serde(alias = "max_tokens")]
    pub max_tokens: Option<usize>,
    #[serde(alias = "enabled_languages")]
    pub enabled_languages: Option<Vec<String>>,
    /// Reuse the KV cache of the previous request's common prefix (on by default; benchmarks turn it off).
    #[serde(alias = "prefix_reuse")]
    pub prefix_reuse: Option<bool>,
    /// Retrieve context from the index.
    pub retrieval: Option<bool>,
    /// Speculate with n-gram lookup in the document and snippets.
    pub lookup: Option<bool>,
    /// After a suggestion, compute the next one as if it were accepted (llama.vim's speculative FIM).
    pub prefetch: Option<bool>,
    /// Token healing at the cursor: `auto` (models without FIM), `on` or `off`.
    #[serde(alias = "token_healing")]
    pub token_healing: Option<Healing>,
    /// Caps (load shedding): prompt tokens at most (bounds `contextBudget`).
    #[serde(alias = "max_context_tokens")]
    pub max_context_tokens: Option<usize>,
    /// Completion requests decoding at once.
    #[serde(alias = "max_concurrent_requests")]
    pub max_concurrent_requests: Option<usize>,
    /// Completion requests waiting for a slot; past it a request is refused with an error.
    #[serde(alias = "max_queued_requests")]
    pub max_queued_requests: Option<usize>,
    /// Larger documents are kept but get no completions and are not sent to the index.
    #[serde(alias = "max_document_bytes")]
    pub max_document_bytes: Option<usize>,
    /// The team's own inference server; `model` then names the local tokenizer (GGUF or folder),
    /// and no weights are loaded.
    pub backend: Option<BackendConfig>,
    /// The agent (`hearth/agent`, `hearth agent`).
    pub agent: Option<AgentSettings>,
    /// Next-edit suggestions (`hearth/nextEdit`).
    #[serde(alias = "next_edit")]
    pub next_edit: Option<NextEditSettings>,
}

/// Next-edit settings (`[next_edit]` in the config file, `nextEdit` from the client).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct NextEditSettings {
    pub enabled: Option<bool>,
    /// `auto` (the model's own format), `sweep`, `zeta` or `chat`.
    pub format: Option<String>,
    /// Tokens of other files' code in the prompt, at most (it also has to fit the model's context).
    #[serde(alias = "context_tokens")]
    pub context_tokens: Option<usize>,
    /// Propose the window itself and the draft's guesses for verification (same output, faster).
    pub speculation: Option<bool>,
}

/// Next-edit settings with defaults filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct NextEditConfig {
    pub enabled: bool,
    /// `None`: the model's own format.
    pub format: Option<hearth_assist::nextedit::NextEditFormat>,
    pub context_tokens: usize,
    pub speculation: bool,
}

/// Default of `nextEdit.contextTokens`.
pub const DEFAULT_NEXT_EDIT_CONTEXT_TOKENS: usize = 2000;

impl NextEditSettings {
    /// The settings with defaults; an unknown format is an error with the accepted names.
    pub fn resolve(&self) -> Result<NextEditConfig, String> {
        let format = match self.format.as_deref() {
            None | Some("auto") => None,
            Some(name) => Some(name.parse()?),
        };
        Ok(NextEditConfig {
            enabled: self.enabled.unwrap_or(true),
            format,
            context_tokens: self.context_tokens.unwrap_or(DEFAULT_NEXT_EDIT_CONTEXT_TOKENS).min(32_768),
            speculation: self.speculation.unwrap_or(true),
        })
    }
}

/// The agent's settings (`[agent]` in the config file, `agent` from the client).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct AgentSettings {
    /// Exact command lines the `run` tool may run (each still confirmed unless approved for the session).
    pub commands: Option<Vec<String>>,
    #[serde(alias = "max_steps")]
    pub max_steps: Option<usize>,
    #[serde(alias = "max_tokens")]
    pub max_tokens: Option<usize>,
}

impl AgentSettings {
    /// The budget these settings give, defaults where unset.
    pub fn budget(&self) -> hearth_assist::agent::Budget {
        let d = hearth_assist::agent::Budget::default();
        hearth_assist::agent::Budget {
            max_steps: self.max_steps.unwrap_or(d.max_steps).clamp(1, 200),
            max_tokens: self.max_tokens.unwrap_or(d.max_tokens).max(16),
            ..d
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("settings are not valid: {0}")]
    Json(#[from] serde_json::Error),
    #[error("config file {path}: {message}")]
    File { path: PathBuf, message: String },
}

impl Settings {
    /// Settings from client JSON: either the keys themselves or the same keys under `"hearth"`.
    pub fn from_client(value: &serde_json::Value) -> Result<Settings, SettingsError> {
        let value = value.get("hearth").unwrap_or(value);
        if value.is_null() {
            return Ok(Settings::default());
        }
        Ok(serde_json::from_value(value.clone())?)
    }

    /// Settings from the text of a TOML config file (camelCase or snake_case keys).
    pub fn from_toml(path: PathBuf, text: &str) -> Result<Settings, SettingsError> {
        let value: toml::Table = toml::from_str(text).map_err(|e| SettingsError::File { path: path.clone(), message: e.to_string() })?;
        let value = value.get("hearth").and_then(|v| v.as_table()).cloned().unwrap_or(value);
        let json = serde_json::to_value(value).map_err(|e| SettingsError::File { path: path.clone(), message: e.to_string() })?;
        serde_json::from_value(json).map_err(|e| SettingsError::File { path, message: e.to_string() })
    }

    /// `self` with every key that `over` sets replaced.
    pub fn overlay(&self, over: &Settings) -> Settings {
        let mut merged = overlay!(Settings, self, over;
            model,
            draft_model,
            device,
            multiline,
            debounce_ms,
            context_budget,
            max_tokens,
            enabled_languages,
            prefix_reuse,
            retrieval,
            lookup,
            prefetch,
            token_healing,
            max_context_tokens,
            max_concurrent_requests,
            max_queued_requests,
            max_document_bytes,
            backend,
            agent,
            next_edit
        );
        // A client that sets one next-edit key keeps the file's others.
        if let (Some(under), Some(over)) = (&self.next_edit, &over.next_edit) {
            merged.next_edit = Some(overlay!(NextEditSettings, under, over; enabled, format, context_tokens, speculation));
        }
        merged
    }
}

/// The user's config file: `$HEARTH_CONFIG`, else `hearth/config.toml` in the user's config dir
/// (`~/.config` on Linux).
pub fn user_config_path() -> Option<PathBuf> {
    match std::env::var_os("HEARTH_CONFIG") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => dirs::config_dir().map(|d| d.join("hearth").join("config.toml")),
    }
}

/// Settings from the user's config file; none when it does not exist.
pub fn read_user_settings() -> Result<Settings, SettingsError> {
    let Some(path) = user_config_path() else { return Ok(Settings::default()) };
    match std::fs::read_to_string(&path) {
        Ok(text) => Settings::from_toml(path, &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
        Err(e) => Err(SettingsError::File { path, message: e.to_string() }),
    }
}

/// Where the model setting came from, for logs and `hearth/status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum ModelSource {
    CommandLine,
    Environment,
    Client,
    ConfigFile,
    Bundled,
}

/// Settings the server starts with, from the command line and the user's config file.
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// `--model` or `HEARTH_MODEL`, with which of the two it was.
    pub model_override: Option<(String, ModelSource)>,
    /// The config file's settings.
    pub file: Settings,
    /// The demo model shipped in the repository, if found.
    pub bundled_model: Option<PathBuf>,
    /// Don't start a file watcher on the workspace (`hearth serve --no-watch`): the index then follows
    /// only the editor (`didChange`, `didSave`, `workspace/didChangeWatchedFiles`).
    pub no_watch: bool,
    /// A scripted agent model (JSON, `hearth_assist::agent::ScriptedModel`) instead of the loaded
    /// model, for tests of the protocol (`HEARTH_AGENT_SCRIPT`).
    pub agent_script: Option<PathBuf>,
}

/// Settings after layering, with defaults filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct Effective {
    pub load: Option<LoadSpec>,
    pub model_source: ModelSource,
    pub options: CompletionOptions,
    pub debounce_ms: u64,
    pub enabled_languages: Vec<String>,
    pub prefix_reuse: bool,
    /// No layer sets `contextBudget`: it follows the measured prompt speed, up to `options.context_budget`.
    pub context_budget_auto: bool,
    /// Prefetch the suggestion that follows the shown one.
    pub prefetch: bool,
    pub caps: Caps,
    pub max_document_bytes: usize,
    pub backend: Option<BackendConfig>,
    pub agent: AgentSettings,
    pub next_edit: NextEditSettings,
}

/// Defaults of the caps.
pub const DEFAULT_MAX_CONTEXT_TOKENS: usize = 8192;
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 2;
pub const DEFAULT_MAX_QUEUED_REQUESTS: usize = 16;
/// As the index's default file-size limit.
pub const DEFAULT_MAX_DOCUMENT_BYTES: usize = 1 << 20;

impl ServerOptions {
    /// Resolves the file layer, then `client` on top, then the command line's model.
    pub fn effective(&self, client: &Settings) -> Effective {
        let s = self.file.overlay(client);
        let (model, model_source) = match (&self.model_override, &client.model, &self.file.model) {
            (Some((m, source)), _, _) => (Some(m.clone()), source.clone()),
            (None, Some(m), _) => (Some(m.clone()), ModelSource::Client),
            (None, None, Some(m)) => (Some(m.clone()), ModelSource::ConfigFile),
            (None, None, None) => (self.bundled_model.as_ref().map(|p| p.display().to_string()), ModelSource::Bundled),
        };
        let defaults = CompletionOptions::default();
        let options = CompletionOptions {
            multiline: s.multiline.unwrap_or(defaults.multiline),
            max_tokens: s.max_tokens.unwrap_or(defaults.max_tokens).clamp(1, 1024),
            context_budget: s
                .context_budget
                .unwrap_or(defaults.context_budget)
                .min(s.max_context_tokens.unwrap_or(DEFAULT_MAX_CONTEXT_TOKENS))
                .max(16),
            retrieval: s.retrieval.unwrap_or(defaults.retrieval),
            lookup: s.lookup.unwrap_or(defaults.lookup),
            healing: s.token_healing.unwrap_or(defaults.healing),
            ..defaults
        };
        Effective {
            load: model.map(|model| LoadSpec {
                model,
                draft: s.draft_model.clone().filter(|d| !d.is_empty()),
                device: s.device.clone().unwrap_or_else(|| "auto".into()),
            }),
            model_source,
            options,
            debounce_ms: s.debounce_ms.unwrap_or(30).min(2000),
            enabled_languages: s.enabled_languages.clone().unwrap_or_else(|| vec!["*".into()]),
            prefix_reuse: s.prefix_reuse.unwrap_or(true),
            prefetch: s.prefetch.unwrap_or(true),
            context_budget_auto: s.context_budget.is_none(),
            caps: Caps {
                concurrent: s.max_concurrent_requests.unwrap_or(DEFAULT_MAX_CONCURRENT_REQUESTS).max(1),
                queued: s.max_queued_requests.unwrap_or(DEFAULT_MAX_QUEUED_REQUESTS),
            },
            max_document_bytes: s.max_document_bytes.unwrap_or(DEFAULT_MAX_DOCUMENT_BYTES),
            backend: s.backend.clone(),
            agent: s.agent.clone().unwrap_or_default(),
            next_edit: s.next_edit.clone().unwrap_or_default(),
        }
    }
}

impl Effective {
    pub fn language_enabled(&self, language: &str) -> bool {
        self.enabled_languages.iter().any(|l| l == "*" || l == language)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(cli: Option<(&str, ModelSource)>, file_model: Option<&str>) -> ServerOptions {
        ServerOptions {
            model_override: cli.map(|(m, s)| (m.to_string(), s)),
            file: Settings { model: file_model.map(String::from), debounce_ms: Some(5), ..Default::default() },
            bundled_model: Some(PathBuf::from("/repo/models/tiny-coder-q8_0.gguf")),
            ..Default::default()
        }
    }

    #[test]
    fn model_precedence() {
        let client = Settings::from_client(&serde_json::json!({"model": "client.gguf"})).unwrap();
        let none = Settings::default();
        let model = |o: &ServerOptions, c: &Settings| {
            let e = o.effective(c);
            (e.load.unwrap().model, e.model_source)
        };
        assert_eq!(
            model(&options(Some(("cli", ModelSource::CommandLine)), Some("file")), &client),
            ("cli".into(), ModelSource::CommandLine)
        );
        assert_eq!(
            model(&options(Some(("env", ModelSource::Environment)), Some("file")), &client),
            ("env".into(), ModelSource::Environment)
        );
        assert_eq!(model(&options(None, Some("file")), &client), ("client.gguf".into(), ModelSource::Client));
        assert_eq!(model(&options(None, Some("file")), &none), ("file".into(), ModelSource::ConfigFile));
        assert_eq!(model(&options(None, None), &none), ("/repo/models/tiny-coder-q8_0.gguf".into(), ModelSource::Bundled));
    }

    #[test]
    fn client_settings_layer_over_the_file_and_accept_a_hearth_section() {
        let client = Settings::from_client(&serde_json::json!({"hearth": {"multiline": true, "maxTokens": 12, "unknown": 1}})).unwrap();
        let e = options(None, None).effective(&client);
        assert!(e.options.multiline);
        assert_eq!(e.options.max_tokens, 12);
        assert_eq!(e.debounce_ms, 5);
        assert!(Settings::from_client(&serde_json::json!({"maxTokens": "many"})).is_err());
    }

    #[test]
    fn caps_have_defaults_and_bound_the_context_budget() {
        let e = options(None, None).effective(&Settings::default());
        assert_eq!(e.caps, Caps { concurrent: DEFAULT_MAX_CONCURRENT_REQUESTS, queued: DEFAULT_MAX_QUEUED_REQUESTS });
        assert_eq!(e.max_document_bytes, DEFAULT_MAX_DOCUMENT_BYTES);
        let client = Settings::from_client(&serde_json::json!({
            "contextBudget": 100000, "maxContextTokens": 2048, "maxConcurrentRequests": 0, "maxQueuedRequests": 0, "maxDocumentBytes": 10
        }))
        .unwrap();
        let e = options(None, None).effective(&client);
        assert_eq!(e.options.context_budget, 2048);
        assert_eq!(e.caps, Caps { concurrent: 1, queued: 0 });
        assert_eq!(e.max_document_bytes, 10);
    }

    #[test]
    fn a_backend_comes_from_the_file_or_the_client() {
        let file = Settings::from_toml(
            "c.toml".into(),
            "model = \"m.gguf\"\n[backend]\nkind = \"llama-server\"\nurl = \"http://127.0.0.1:8080\"\ntimeout_ms = 500\n",
        )
        .unwrap();
        let backend = file.backend.clone().unwrap();
        assert_eq!(
            (backend.kind, backend.url.as_str(), backend.timeout_ms),
            (hearth_remote::BackendKind::LlamaServer, "http://127.0.0.1:8080", Some(500))
        );
        let server = ServerOptions { file, ..ServerOptions::default() };
        assert_eq!(server.effective(&Settings::default()).backend, Some(backend));
        let client = Settings::from_client(
            &serde_json::json!({"backend": {"kind": "ollama", "url": "http://localhost:11434", "model": "qwen2.5-coder"}}),
        )
        .unwrap();
        assert_eq!(server.effective(&client).backend.unwrap().kind, hearth_remote::BackendKind::Ollama);
        assert!(Settings::from_client(&serde_json::json!({"backend": {"kind": "ollama"}})).is_err(), "a backend needs its url");
    }

    #[test]
    fn next_edit_settings_have_defaults_and_name_a_format() {
        let e = options(None, None).effective(&Settings::default());
        let config = e.next_edit.resolve().unwrap();
        assert!(config.enabled && config.speculation && config.format.is_none());
        assert_eq!(config.context_tokens, DEFAULT_NEXT_EDIT_CONTEXT_TOKENS);
        let client = Settings::from_client(&serde_json::json!({"nextEdit": {"enabled": false, "format": "zeta"}})).unwrap();
        let config = options(None, None).effective(&client).next_edit.resolve().unwrap();
        assert_eq!((config.enabled, config.format), (false, Some(hearth_assist::nextedit::NextEditFormat::Zeta)));
        let file = Settings::from_toml("c.toml".into(), "[next_edit]\nformat = \"chat\"\ncontext_tokens = 500\n").unwrap();
        let client = Settings::from_client(&serde_json::json!({"nextEdit": {"enabled": true}})).unwrap();
        let config = ServerOptions { file, ..Default::default() }.effective(&client).next_edit.resolve().unwrap();
        assert_eq!(
            (config.format, config.context_tokens),
            (Some(hearth_assist::nextedit::NextEditFormat::Chat), 500),
            "the file's keys stay"
        );
        let file = Settings::from_toml("c.toml".into(), "[next_edit]\nformat = \"diff\"\n").unwrap();
        let err = ServerOptions { file, ..Default::default() }.effective(&Settings::default()).next_edit.resolve().unwrap_err();
        assert!(err.contains("sweep, zeta or chat"), "{err}");
    }

    #[test]
    fn toml_file_accepts_both_key_styles() {
        let s = Settings::from_toml("c.toml".into(), "model = \"m.gguf\"\ndebounce_ms = 10\ncontextBudget = 256\n").unwrap();
        assert_eq!((s.model.as_deref(), s.debounce_ms, s.context_budget), (Some("m.gguf"), Some(10), Some(256)));
        assert!(Settings::from_toml("c.toml".into(), "model = [").is_err());
    }
}
