//! The agent's turns through the server's chat endpoint, with the tools: `/v1/chat/completions`
//! (llama-server started with `--jinja`, vLLM, any OpenAI-compatible server) or Ollama's
//! `/api/chat`. The server renders its template and parses the calls; a server that takes no
//! tools says so, and the agent decodes the locally rendered prompt instead.

use hearth_assist::chat::{ChatEndpoint, ChatReply, ChatRequest, Conversation, FunctionCall, RawValue, ToolCall};
use hearth_base::CancelToken;
use hearth_decode::DecodeError;
use serde_json::{json, Value};

use crate::generator::describe;
use crate::stream::{self, Failure};
use crate::{BackendKind, RemoteGenerator};

impl ChatEndpoint for RemoteGenerator {
    fn chat(&mut self, request: &ChatRequest<'_>, cancel: &CancelToken, on_text: &mut dyn FnMut(&str)) -> Result<ChatReply, DecodeError> {
        let result = self.stream_chat(request, cancel, on_text);
        match &result {
            Ok(_) => self.health.set(None),
            Err(DecodeError::Unavailable(why)) => self.health.set(Some(why.clone())),
            Err(_) => {}
        }
        result
    }
}

impl RemoteGenerator {
    fn stream_chat(
        &self,
        request: &ChatRequest<'_>,
        cancel: &CancelToken,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<ChatReply, DecodeError> {
        cancel.check()?;
        let ollama = self.kind == BackendKind::Ollama;
        let (path, body) = if ollama {
            ("/api/chat", ollama_body(self.model.as_deref(), request))
        } else {
            ("/v1/chat/completions", openai_body(self.kind, self.model.as_deref(), request))
        };
        let lines = stream::send(self.request("POST", path).set("Accept", "text/event-stream"), body);
        let mut reply = Reply::default();
        loop {
            let line = match lines.next(cancel) {
                Ok(Some(line)) => line,
                Ok(None) if reply.ended => break,
                Ok(None) => {
                    return Err(DecodeError::Unavailable(format!("{} closed the stream before the end of the answer", self.host())))
                }
                Err(Failure::Status { code, body }) if code >= 400 && refuses_tools(&body) => {
                    tracing::info!("{} takes no tools: {}", self.host(), describe(&Failure::Status { code, body }));
                    return Err(DecodeError::Unsupported("tool calls"));
                }
                Err(f) => return Err(self.decode_error(f)),
            };
            let read = if ollama { reply.ollama_line(&line) } else { reply.openai_line(&line) };
            match read {
                Ok(Some(text)) if !text.is_empty() => on_text(&text),
                Ok(_) => {}
                Err(e) => return Err(DecodeError::Backend(format!("{}: {e}", self.host()))),
            }
            if reply.ended && ollama {
                break;
            }
        }
        Ok(reply.finish())
    }
}

/// An error that says the server (or its model) cannot take tools: llama-server without `--jinja`,
/// vLLM without a tool parser, an Ollama model without tool support.
fn refuses_tools(body: &str) -> bool {
    let body = body.to_ascii_lowercase();
    body.contains("tool") || body.contains("jinja")
}

/// Which server's message shape.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `content` always a string, each call's arguments a JSON string, a tool's result tied to its call.
    OpenAi,
    /// Each call's arguments an object, a tool's result named by `tool_name`.
    Ollama,
}

fn messages(conversation: &Conversation, shape: Shape) -> Vec<Value> {
    conversation
        .messages
        .iter()
        .map(|m| {
            let mut out = json!({ "role": m.role, "content": m.content.as_deref().unwrap_or("") });
            if !m.tool_calls.is_empty() {
                let calls = m.tool_calls.iter().map(|c| {
                    let (name, arguments) = (&c.function.name, c.function.arguments.get());
                    match shape {
                        Shape::OpenAi => json!({ "id": c.id, "type": "function", "function": { "name": name, "arguments": arguments } }),
                        Shape::Ollama => {
                            let arguments: Value = serde_json::from_str(arguments).unwrap_or_else(|_| json!({}));
                            json!({ "function": { "name": name, "arguments": arguments } })
                        }
                    }
                });
                out["tool_calls"] = Value::Array(calls.collect());
            }
            match shape {
                Shape::OpenAi => {
                    if let Some(id) = &m.tool_call_id {
                        out["tool_call_id"] = json!(id);
                    }
                    if let Some(name) = &m.name {
                        out["name"] = json!(name);
                    }
                }
                Shape::Ollama => {
                    if let Some(name) = m.name.as_ref().filter(|_| m.role == "tool") {
                        out["tool_name"] = json!(name);
                    }
                }
            }
            out
        })
        .collect()
}

fn tools(conversation: &Conversation) -> Vec<Value> {
    conversation
        .tools
        .iter()
        .map(|t| {
            let parameters: Value = serde_json::from_str(t.parameters.get()).unwrap_or_else(|_| json!({ "type": "object" }));
            json!({ "type": "function", "function": { "name": t.name, "description": t.description, "parameters": parameters } })
        })
        .collect()
}

fn openai_body(kind: BackendKind, model: Option<&str>, request: &ChatRequest<'_>) -> Value {
    let mut body = json!({
        "messages": messages(request.conversation, Shape::OpenAi),
        "max_tokens": request.max_tokens,
        "temperature": 0.0,
        "stream": true,
        "stream_options": { "include_usage": true },
    });
    if let Some(model) = model {
        body["model"] = json!(model);
    }
    if !request.conversation.tools.is_empty() {
        body["tools"] = Value::Array(tools(request.conversation));
        body["tool_choice"] = json!(if request.require_tool { "required" } else { "auto" });
        // The loop runs one call a turn, each followed by its result.
        body["parallel_tool_calls"] = json!(false);
    }
    if !request.stop.is_empty() {
        body["stop"] = json!(request.stop);
    }
    if continues(request.conversation) {
        body["add_generation_prompt"] = json!(false);
        body["continue_final_message"] = json!(true);
    }
    if kind == BackendKind::LlamaServer {
        body["cache_prompt"] = json!(true);
    }
    body
}

/// Whether the server is to continue the assistant's last message (vLLM's and llama-server's
/// `continue_final_message`; Ollama continues one by itself).
fn continues(conversation: &Conversation) -> bool {
    conversation.messages.last().is_some_and(|m| m.role == "assistant" && m.tool_calls.is_empty())
}

fn ollama_body(model: Option<&str>, request: &ChatRequest<'_>) -> Value {
    let messages = messages(request.conversation, Shape::Ollama);
    let mut body = json!({
        "model": model,
        "messages": messages,
        "stream": true,
        "options": { "temperature": 0.0, "num_predict": request.max_tokens, "stop": request.stop },
    });
    if !request.conversation.tools.is_empty() {
        body["tools"] = Value::Array(tools(request.conversation));
    }
    body
}

/// A streamed reply as it builds up.
#[derive(Debug, Default)]
struct Reply {
    content: String,
    /// Calls by their index in the stream: id, name, and the arguments' text so far.
    calls: Vec<(Option<String>, String, String)>,
    prompt_tokens: Option<usize>,
    cached: Option<usize>,
    generated: Option<usize>,
    truncated: bool,
    ended: bool,
}

impl Reply {
    /// One line of an OpenAI-style event stream; the text it adds.
    fn openai_line(&mut self, line: &str) -> Result<Option<String>, String> {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("error:") {
            return Err(rest.trim().to_string());
        }
        let Some(data) = line.strip_prefix("data:").map(str::trim) else { return Ok(None) };
        if data == "[DONE]" {
            self.ended = true;
            return Ok(None);
        }
        let v: Value =
            serde_json::from_str(data).map_err(|_| format!("an unreadable answer: {}", data.chars().take(200).collect::<String>()))?;
        if let Some(e) = v.get("error").filter(|e| !e.is_null()) {
            return Err(e["message"].as_str().or(e.as_str()).map(String::from).unwrap_or_else(|| e.to_string()));
        }
        if let Some(usage) = v.get("usage").filter(|u| u.is_object()) {
            self.prompt_tokens = usage["prompt_tokens"].as_u64().map(|n| n as usize).or(self.prompt_tokens);
            self.generated = usage["completion_tokens"].as_u64().map(|n| n as usize).or(self.generated);
            self.cached = usage["prompt_tokens_details"]["cached_tokens"].as_u64().map(|n| n as usize).or(self.cached);
        }
        // llama-server's own counts: the prompt tokens it took from its cache.
        if let Some(n) = v["timings"]["cache_n"].as_u64() {
            self.cached = Some(n as usize);
            if let Some(computed) = v["timings"]["prompt_n"].as_u64() {
                self.prompt_tokens = Some((n + computed) as usize);
            }
        }
        let choice = &v["choices"][0];
        if choice["finish_reason"].as_str() == Some("length") {
            self.truncated = true;
        }
        let delta = &choice["delta"];
        for call in delta["tool_calls"].as_array().into_iter().flatten() {
            let index = call["index"].as_u64().unwrap_or(self.calls.len().saturating_sub(1) as u64) as usize;
            while self.calls.len() <= index {
                self.calls.push((None, String::new(), String::new()));
            }
            let slot = &mut self.calls[index];
            if let Some(id) = call["id"].as_str() {
                slot.0 = Some(id.to_string());
            }
            slot.1.push_str(call["function"]["name"].as_str().unwrap_or_default());
            slot.2.push_str(call["function"]["arguments"].as_str().unwrap_or_default());
        }
        let text = delta["content"].as_str().unwrap_or_default();
        self.content.push_str(text);
        Ok(Some(text.to_string()))
    }

    /// One line of Ollama's stream (a JSON object a line); the text it adds.
    fn ollama_line(&mut self, line: &str) -> Result<Option<String>, String> {
        let line = line.trim();
        if line.is_empty() {
            return Ok(None);
        }
        let v: Value =
            serde_json::from_str(line).map_err(|_| format!("an unreadable answer: {}", line.chars().take(200).collect::<String>()))?;
        if let Some(e) = v.get("error").filter(|e| !e.is_null()) {
            return Err(e.as_str().map(String::from).unwrap_or_else(|| e.to_string()));
        }
        for call in v["message"]["tool_calls"].as_array().into_iter().flatten() {
            let arguments = &call["function"]["arguments"];
            let arguments = match arguments.as_str() {
                Some(text) => text.to_string(),
                None => arguments.to_string(),
            };
            self.calls.push((None, call["function"]["name"].as_str().unwrap_or_default().to_string(), arguments));
        }
        if v["done"].as_bool() == Some(true) {
            self.ended = true;
            self.truncated = v["done_reason"].as_str() == Some("length");
            self.prompt_tokens = v["prompt_eval_count"].as_u64().map(|n| n as usize);
            self.generated = v["eval_count"].as_u64().map(|n| n as usize);
        }
        let text = v["message"]["content"].as_str().unwrap_or_default();
        self.content.push_str(text);
        Ok(Some(text.to_string()))
    }

    fn finish(self) -> ChatReply {
        let tool_calls = self
            .calls
            .into_iter()
            .filter(|(_, name, _)| !name.is_empty())
            .map(|(id, name, arguments)| {
                let arguments = if arguments.trim().is_empty() { "{}".to_string() } else { arguments };
                // Text that is not JSON is kept as a JSON string, for the agent's parser to refuse.
                let arguments = RawValue::from_string(arguments.clone())
                    .unwrap_or_else(|_| RawValue::from_string(json!(arguments).to_string()).expect("a JSON string"));
                ToolCall { id, function: FunctionCall { name, arguments } }
            })
            .collect();
        ChatReply {
            content: self.content,
            tool_calls,
            prompt_tokens: self.prompt_tokens,
            cached_prompt_tokens: self.cached,
            generated_tokens: self.generated,
            truncated: self.truncated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_assist::chat::{Message, ToolSpec};

    fn conversation() -> Conversation {
        let mut call = Message::new("assistant", "");
        call.tool_calls.push(ToolCall {
            id: Some("call1".into()),
            function: FunctionCall { name: "read_file".into(), arguments: RawValue::from_string(r#"{"path":"a.py"}"#.into()).unwrap() },
        });
        Conversation {
            messages: vec![Message::new("user", "read a.py"), call, Message::tool_result("call1", "read_file", "x = 1")],
            tools: vec![ToolSpec {
                name: "read_file".into(),
                description: "Reads a file".into(),
                parameters: RawValue::from_string(r#"{"type":"object","properties":{"path":{"type":"string"}}}"#.into()).unwrap(),
            }],
        }
    }

    #[test]
    fn requests_carry_the_tools_in_each_server_s_shape() {
        let c = conversation();
        let request = ChatRequest { conversation: &c, max_tokens: 64, require_tool: true, stop: &[] };
        let body = openai_body(BackendKind::LlamaServer, None, &request);
        assert_eq!(body["tool_choice"], "required");
        assert_eq!(body["tools"][0]["function"]["parameters"]["properties"]["path"]["type"], "string");
        assert_eq!(body["messages"][1]["tool_calls"][0]["function"]["arguments"], r#"{"path":"a.py"}"#);
        assert_eq!(body["messages"][2]["tool_call_id"], "call1");
        assert_eq!(body["cache_prompt"], true);
        assert!(body.get("model").is_none());
        assert!(body.get("continue_final_message").is_none());
        let body = ollama_body(Some("qwen"), &request);
        assert_eq!(body["messages"][1]["tool_calls"][0]["function"]["arguments"]["path"], "a.py");
        assert_eq!(body["messages"][2]["tool_name"], "read_file");
        assert_eq!(body["options"]["num_predict"], 64);
    }

    #[test]
    fn an_opened_answer_is_continued_up_to_the_stop_strings() {
        let mut c = conversation();
        c.tools.clear();
        c.messages.push(Message::new("assistant", "```python\n"));
        let stop = ["```".to_string()];
        let body = openai_body(
            BackendKind::OpenaiCompatible,
            Some("m"),
            &ChatRequest { conversation: &c, max_tokens: 8, require_tool: false, stop: &stop },
        );
        assert_eq!((body["continue_final_message"].clone(), body["add_generation_prompt"].clone()), (json!(true), json!(false)));
        assert_eq!(body["stop"], json!(["```"]));
        assert!(body.get("tools").is_none() && body.get("cache_prompt").is_none());
        assert_eq!(body["model"], "m");
    }

    #[test]
    fn streamed_calls_are_joined_from_their_pieces() {
        let mut r = Reply::default();
        let lines = [
            r#"data: {"choices":[{"delta":{"content":"Let me look."}}]}"#,
            r#"data: {"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c0","type":"function","function":{"name":"read_file","arguments":""}}]}}]}"#,
            r#"data: {"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"path\":"}}]}}]}"#,
            r#"data: {"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"a.py\"}"}}]},"finish_reason":"tool_calls"}]}"#,
            r#"data: {"choices":[],"usage":{"prompt_tokens":90,"completion_tokens":12},"timings":{"cache_n":80,"prompt_n":10}}"#,
            "data: [DONE]",
        ];
        let texts: Vec<String> = lines.iter().filter_map(|l| r.openai_line(l).unwrap()).collect();
        assert_eq!(texts.concat(), "Let me look.");
        assert!(r.ended);
        let reply = r.finish();
        assert_eq!(reply.tool_calls.len(), 1);
        assert_eq!(reply.tool_calls[0].id.as_deref(), Some("c0"));
        assert_eq!(reply.tool_calls[0].function.arguments.get(), r#"{"path":"a.py"}"#);
        assert_eq!((reply.prompt_tokens, reply.cached_prompt_tokens, reply.generated_tokens), (Some(90), Some(80), Some(12)));
        assert!(!reply.truncated);

        let mut o = Reply::default();
        o.ollama_line(r#"{"message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"read_file","arguments":{"path":"b.py"}}}]},"done":false}"#).unwrap();
        o.ollama_line(
            r#"{"message":{"role":"assistant","content":""},"done":true,"done_reason":"length","prompt_eval_count":50,"eval_count":9}"#,
        )
        .unwrap();
        let reply = o.finish();
        assert_eq!(reply.tool_calls[0].function.arguments.get(), r#"{"path":"b.py"}"#);
        assert!(reply.truncated);
        assert_eq!(reply.generated_tokens, Some(9));

        let mut bad = Reply::default();
        bad.openai_line(
            r#"data: {"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"read_file","arguments":"{\"path\": "}}]}}]}"#,
        )
        .unwrap();
        assert_eq!(bad.finish().tool_calls[0].function.arguments.get(), r#""{\"path\": ""#);
        assert!(Reply::default().openai_line(r#"data: {"error":{"message":"boom"}}"#).unwrap_err().contains("boom"));
    }

    #[test]
    fn a_refusal_of_tools_is_told_from_other_errors() {
        assert!(refuses_tools(r#"{"error":{"message":"tools param requires --jinja flag"}}"#));
        assert!(refuses_tools(r#"{"error":"registry.ollama.ai/library/gemma3 does not support tools"}"#));
        assert!(!refuses_tools(r#"{"error":{"message":"the request exceeds the available context size"}}"#));
    }
}
