//! [`RemoteGenerator`]: one streamed request per generation, in the server's own protocol, with
//! Hearth's stop rules applied to what comes back, exactly as the in-process engine applies them.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hearth_base::CancelToken;
use hearth_decode::{stop_ids, DecodeError, Emitter, GenerateParams, Generation, Generator, Stats, StopReason, TextStream};
use hearth_model::Tokenizer;
use serde_json::{json, Value};

use crate::stream::{self, Failure, Lines};
use crate::{BackendKind, Endpoint, Health, ServerModel};

/// How often a check of the server's model is tried when the server does not answer.
const CHECK_ATTEMPTS: u32 = 3;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Clones share the connection pool and the health: one server, several requesters (completions, rewrites).
#[derive(Clone)]
pub struct RemoteGenerator {
    pub(crate) kind: BackendKind,
    endpoint: Endpoint,
    agent: ureq::Agent,
    pub(crate) model: Option<String>,
    api_key: Option<String>,
    tokenizer: Arc<Tokenizer>,
    eos_ids: Vec<u32>,
    pub(crate) health: Health,
}

impl RemoteGenerator {
    pub(crate) fn new(
        kind: BackendKind,
        endpoint: Endpoint,
        model: Option<String>,
        api_key: Option<String>,
        timeout: Duration,
        tokenizer: Arc<Tokenizer>,
        eos_ids: Vec<u32>,
    ) -> Self {
        // No redirects (the configured host is the only one), no proxy from the environment.
        let agent = ureq::AgentBuilder::new()
            .redirects(0)
            .timeout_connect(CONNECT_TIMEOUT)
            .timeout_read(timeout)
            .timeout_write(timeout)
            .user_agent(concat!("hearth/", env!("CARGO_PKG_VERSION")))
            .build();
        RemoteGenerator { kind, endpoint, agent, model, api_key, tokenizer, eos_ids, health: Health::default() }
    }

    /// Whether the server answers, as the requests have found.
    pub fn health(&self) -> Health {
        self.health.clone()
    }

    /// `HOST:PORT` of the server.
    pub fn host(&self) -> &str {
        &self.endpoint.host
    }

    pub fn kind(&self) -> BackendKind {
        self.kind
    }

    pub(crate) fn request(&self, method: &str, path: &str) -> ureq::Request {
        let request = self.agent.request(method, &self.endpoint.url(path));
        match &self.api_key {
            Some(key) => request.set("Authorization", &format!("Bearer {key}")),
            None => request,
        }
    }

    /// Asks the server which model it serves (retried with backoff: the check is idempotent).
    pub fn server_model(&self) -> Result<ServerModel, String> {
        let mut wait = Duration::from_millis(100);
        for attempt in 1..=CHECK_ATTEMPTS {
            let answer = match self.kind {
                BackendKind::Ollama => self.request("POST", "/api/show").send_json(json!({ "model": self.model })),
                _ => self.request("GET", "/v1/models").call(),
            };
            match answer {
                Ok(response) => {
                    let body: Value = response.into_json().map_err(|e| format!("an unreadable model list ({e})"))?;
                    let mut model = self.read_server_model(&body);
                    if self.kind == BackendKind::LlamaServer {
                        model.context = self.slot_context();
                    }
                    return Ok(model);
                }
                Err(e) => match stream::failure(e) {
                    Failure::Unreachable(why) if attempt < CHECK_ATTEMPTS => {
                        tracing::debug!("{}: {why}; retrying in {wait:?}", self.host());
                        std::thread::sleep(wait);
                        wait *= 3;
                    }
                    f => return Err(describe(&f)),
                },
            }
        }
        unreachable!("the last attempt returns")
    }

    /// llama-server's context per slot (`/props`), which its `-c` and `-np` set.
    fn slot_context(&self) -> Option<usize> {
        let props: Value = self.request("GET", "/props").call().ok()?.into_json().ok()?;
        props["default_generation_settings"]["n_ctx"].as_u64().map(|n| n as usize)
    }

    fn read_server_model(&self, body: &Value) -> ServerModel {
        match self.kind {
            BackendKind::Ollama => {
                let vocab = body["model_info"]
                    .as_object()
                    .and_then(|info| info.iter().find(|(k, _)| k.ends_with(".vocab_size")).and_then(|(_, v)| v.as_u64()));
                ServerModel { name: self.model.clone(), vocab_size: vocab.map(|v| v as usize), context: None }
            }
            _ => {
                let models = body["data"].as_array().cloned().unwrap_or_default();
                let entry = models
                    .iter()
                    .find(|m| self.model.as_deref().is_some_and(|want| m["id"].as_str() == Some(want)))
                    .or_else(|| models.first());
                ServerModel {
                    name: entry.and_then(|m| m["id"].as_str()).map(String::from),
                    vocab_size: entry.and_then(|m| m["meta"]["n_vocab"].as_u64()).map(|v| v as usize),
                    context: entry.and_then(|m| m["max_model_len"].as_u64()).map(|v| v as usize),
                }
            }
        }
    }

    fn body(&self, prompt: &[u32], params: &GenerateParams) -> (&'static str, Value) {
        match self.kind {
            // Greedy (temperature 0), token ids in and out, and the server's prompt cache kept. Timings
            // on every token: a completion stopped at its first line still learns how much of the
            // prompt the server took from its cache.
            BackendKind::LlamaServer => (
                "/completion",
                json!({
                    "prompt": prompt,
                    "n_predict": params.max_tokens,
                    "temperature": 0.0,
                    "stream": true,
                    "return_tokens": true,
                    "cache_prompt": true,
                    "timings_per_token": true,
                }),
            ),
            BackendKind::OpenaiCompatible => (
                "/v1/completions",
                json!({
                    "model": self.model,
                    "prompt": prompt,
                    "max_tokens": params.max_tokens,
                    "temperature": 0.0,
                    "stream": true,
                }),
            ),
            BackendKind::Ollama => {
                let text: Vec<u8> = prompt.iter().flat_map(|&id| self.tokenizer.token_bytes(id).to_vec()).collect();
                (
                    "/api/generate",
                    json!({
                        "model": self.model,
                        "prompt": String::from_utf8_lossy(&text),
                        "raw": true,
                        "stream": true,
                        "options": { "temperature": 0.0, "num_predict": params.max_tokens },
                    }),
                )
            }
        }
    }

    pub(crate) fn decode_error(&self, f: Failure) -> DecodeError {
        match f {
            Failure::Cancelled => DecodeError::Cancelled,
            Failure::Status { code, .. } if code == 503 || code == 502 || code == 504 => {
                DecodeError::Unavailable(format!("{} is not ready: {}", self.host(), describe(&f)))
            }
            Failure::Status { .. } => DecodeError::Backend(format!("{} refused the request: {}", self.host(), describe(&f))),
            Failure::Unreachable(_) | Failure::Broken(_) => {
                DecodeError::Unavailable(format!("{} is not answering: {}", self.host(), describe(&f)))
            }
        }
    }
}

pub(crate) fn describe(f: &Failure) -> String {
    match f {
        Failure::Unreachable(why) | Failure::Broken(why) => why.clone(),
        Failure::Status { code, body } if body.is_empty() => format!("HTTP {code}"),
        Failure::Status { code, body } => format!("HTTP {code}: {}", body.chars().take(300).collect::<String>()),
        Failure::Cancelled => "cancelled".into(),
    }
}

/// One piece of a streamed answer, whatever the protocol.
#[derive(Debug, Default, PartialEq)]
struct Chunk {
    text: String,
    tokens: Vec<u32>,
    /// The server's last word: why it stopped.
    end: Option<StopReason>,
    cached_prompt: Option<usize>,
    error: Option<String>,
}

/// Reads one line of `kind`'s stream; `None` for lines that carry nothing (keep-alives, blanks).
fn parse_line(kind: BackendKind, line: &str) -> Option<Chunk> {
    let line = line.trim();
    let payload = match kind {
        BackendKind::Ollama => line,
        _ => {
            if let Some(rest) = line.strip_prefix("error:") {
                return Some(Chunk { error: Some(rest.trim().to_string()), ..Chunk::default() });
            }
            let data = line.strip_prefix("data:")?.trim();
            if data == "[DONE]" {
                return Some(Chunk { end: Some(StopReason::StopToken), ..Chunk::default() });
            }
            data
        }
    };
    if payload.is_empty() {
        return None;
    }
    let Ok(v) = serde_json::from_str::<Value>(payload) else {
        return Some(Chunk {
            error: Some(format!("an unreadable answer: {}", payload.chars().take(200).collect::<String>())),
            ..Chunk::default()
        });
    };
    if let Some(e) = v.get("error").filter(|e| !e.is_null()) {
        let message = e["message"].as_str().or(e.as_str()).map(String::from).unwrap_or_else(|| e.to_string());
        return Some(Chunk { error: Some(message), ..Chunk::default() });
    }
    let reason = |r: Option<&str>| match r {
        Some("length" | "limit") => StopReason::MaxTokens,
        _ => StopReason::StopToken,
    };
    Some(match kind {
        BackendKind::LlamaServer => Chunk {
            text: v["content"].as_str().unwrap_or_default().to_string(),
            tokens: v["tokens"].as_array().map(|a| a.iter().filter_map(|t| t.as_u64()).map(|t| t as u32).collect()).unwrap_or_default(),
            end: v["stop"].as_bool().unwrap_or(false).then(|| reason(v["stop_type"].as_str())),
            cached_prompt: v["timings"]["cache_n"].as_u64().or(v["tokens_cached"].as_u64()).map(|n| n as usize),
            error: None,
        },
        BackendKind::OpenaiCompatible => {
            let choice = &v["choices"][0];
            Chunk {
                text: choice["text"].as_str().unwrap_or_default().to_string(),
                end: choice["finish_reason"].as_str().map(|r| reason(Some(r))),
                ..Chunk::default()
            }
        }
        BackendKind::Ollama => Chunk {
            text: v["response"].as_str().unwrap_or_default().to_string(),
            end: v["done"].as_bool().unwrap_or(false).then(|| reason(v["done_reason"].as_str())),
            ..Chunk::default()
        },
    })
}

/// Stop strings over streamed text, for servers that answer with text: emits what cannot be the
/// start of a stop string, and stops at the first one.
struct TextStops {
    stops: Vec<String>,
    text: String,
    emitted: usize,
}

impl TextStops {
    fn new(stops: &[String]) -> Self {
        TextStops { stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(), text: String::new(), emitted: 0 }
    }

    /// The text that may be shown now, and whether a stop string was reached (the text ends before it).
    fn push(&mut self, delta: &str) -> (String, bool) {
        let from = self.emitted;
        self.text.push_str(delta);
        if let Some(at) = self.stops.iter().filter_map(|s| self.text[from..].find(s.as_str()).map(|i| from + i)).min() {
            self.text.truncate(at);
            let out = self.text[from..].to_string();
            self.emitted = at;
            return (out, true);
        }
        let held = self
            .stops
            .iter()
            .flat_map(|s| (1..s.len()).filter(|&n| s.is_char_boundary(n) && self.text.ends_with(&s[..n])))
            .max()
            .unwrap_or(0);
        let safe = self.text.len() - held;
        let out = self.text[from..safe].to_string();
        self.emitted = safe;
        (out, false)
    }

    /// What was held back at the end of the answer.
    fn rest(&mut self) -> String {
        let out = self.text[self.emitted..].to_string();
        self.emitted = self.text.len();
        out
    }
}

impl Generator for RemoteGenerator {
    fn generate(
        &mut self,
        prompt: &[u32],
        params: &GenerateParams,
        cancel: &CancelToken,
        on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Generation, DecodeError> {
        let result = self.stream(prompt, params, cancel, on_text);
        match &result {
            Ok(_) => self.health.set(None),
            Err(DecodeError::Unavailable(why)) => self.health.set(Some(why.clone())),
            Err(_) => {}
        }
        result
    }

    fn supports_forced_prefix(&self) -> bool {
        false
    }
}

impl RemoteGenerator {
    fn stream(
        &mut self,
        prompt: &[u32],
        params: &GenerateParams,
        cancel: &CancelToken,
        on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Generation, DecodeError> {
        if prompt.is_empty() {
            return Err(DecodeError::EmptyPrompt);
        }
        let start = Instant::now();
        cancel.check()?;
        let (path, body) = self.body(prompt, params);
        let lines: Lines = stream::send(self.request("POST", path).set("Accept", "text/event-stream"), body);
        let stops = stop_ids(&params.stop, &self.eos_ids, &self.tokenizer);
        let stream = TextStream::new(self.tokenizer.clone(), params.stop.strings.clone());
        let mut out = Emitter::new(stops, stream, params.max_tokens, on_text);
        // Servers that answer with text: stop strings over the text, then `on_text` through `out`.
        let mut text_out = TextStops::new(&params.stop.strings);
        let mut from_text = false;
        let mut stats = Stats { prompt_tokens: prompt.len(), ..Stats::default() };
        let mut first_at = None;
        let stop_reason = 'read: loop {
            let line = match lines.next(cancel) {
                Ok(Some(line)) => line,
                Ok(None) => {
                    return Err(DecodeError::Unavailable(format!("{} closed the stream before the end of the answer", self.host())))
                }
                Err(f) => return Err(self.decode_error(f)),
            };
            let Some(chunk) = parse_line(self.kind, &line) else { continue };
            if let Some(e) = chunk.error {
                return Err(DecodeError::Backend(format!("{}: {e}", self.host())));
            }
            first_at.get_or_insert_with(Instant::now);
            if let Some(n) = chunk.cached_prompt {
                stats.reused_prompt_tokens = n.min(prompt.len());
            }
            if !chunk.tokens.is_empty() {
                for &t in &chunk.tokens {
                    if let Some(reason) = out.push(t) {
                        break 'read reason;
                    }
                }
            } else if !chunk.text.is_empty() {
                from_text = true;
                let (delta, hit_stop) = text_out.push(&chunk.text);
                if let Some(reason) = out.text(&delta) {
                    break 'read reason;
                }
                if hit_stop {
                    break 'read StopReason::StopString;
                }
            }
            if let Some(end) = chunk.end {
                if let Some(reason) = out.text(&text_out.rest()) {
                    break 'read reason;
                }
                break 'read end;
            }
        };
        // Returning drops `lines`: the request thread closes the connection, and the server stops.
        let first = first_at.unwrap_or_else(Instant::now);
        stats.prompt_secs = (first - start).as_secs_f64();
        stats.decode_secs = first.elapsed().as_secs_f64();
        let (mut tokens, mut text) = out.finish();
        if from_text {
            text = text_out.text;
            tokens = self.tokenizer.encode(&text);
        }
        stats.steps = tokens.len();
        Ok(Generation { tokens, text, stop_reason, stats })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_protocol_s_lines_read_as_chunks() {
        let l = parse_line(BackendKind::LlamaServer, r#"data: {"content":"ab","tokens":[5,6],"stop":false}"#).unwrap();
        assert_eq!((l.text.as_str(), l.tokens.as_slice(), l.end), ("ab", &[5u32, 6][..], None));
        let end = parse_line(BackendKind::LlamaServer, r#"data: {"content":"","stop":true,"stop_type":"limit","timings":{"cache_n":7}}"#)
            .unwrap();
        assert_eq!((end.end, end.cached_prompt), (Some(StopReason::MaxTokens), Some(7)));
        // With timings on every token, the first one already says what the cache held.
        let first = parse_line(BackendKind::LlamaServer, r#"data: {"content":"x","tokens":[9],"stop":false,"timings":{"cache_n":5}}"#);
        assert_eq!(first.unwrap().cached_prompt, Some(5));
        let o = parse_line(BackendKind::OpenaiCompatible, r#"data: {"choices":[{"text":"x","finish_reason":null}]}"#).unwrap();
        assert_eq!((o.text.as_str(), o.end), ("x", None));
        assert_eq!(parse_line(BackendKind::OpenaiCompatible, "data: [DONE]").unwrap().end, Some(StopReason::StopToken));
        let n = parse_line(BackendKind::Ollama, r#"{"response":"y","done":true,"done_reason":"length"}"#).unwrap();
        assert_eq!((n.text.as_str(), n.end), ("y", Some(StopReason::MaxTokens)));
        assert_eq!(parse_line(BackendKind::LlamaServer, ""), None);
        assert_eq!(parse_line(BackendKind::LlamaServer, ": keep-alive"), None);
        let e = parse_line(BackendKind::OpenaiCompatible, r#"data: {"error":{"message":"model not found"}}"#).unwrap();
        assert_eq!(e.error.as_deref(), Some("model not found"));
        assert!(parse_line(BackendKind::Ollama, "{not json").unwrap().error.unwrap().contains("unreadable"));
    }

    #[test]
    fn text_stops_hold_back_what_may_start_a_stop_string() {
        let mut s = TextStops::new(&["\n".into(), "<END>".into()]);
        assert_eq!(s.push("abc<E"), ("abc".into(), false));
        assert_eq!(s.push("ND>tail"), (String::new(), true));
        assert_eq!(s.text, "abc");
        let mut s = TextStops::new(&["<END>".into()]);
        assert_eq!(s.push("x<"), ("x".into(), false));
        assert_eq!(s.push("y"), ("<y".into(), false));
        assert_eq!(s.push("z\n"), ("z\n".into(), false));
        assert_eq!(s.rest(), "");
        let mut s = TextStops::new(&["\n".into()]);
        assert_eq!(s.push("one\ntwo"), ("one".into(), true));
    }
}
