//! Rewriting one region with a model: the prompt formats (chat for instruct models, a plain
//! copy-friendly format for base models), decoding with n-gram lookup over the original region,
//! and the syntax gate with one retry.

use std::ops::ControlFlow;
use std::path::Path;

use hearth_base::CancelToken;
use std::sync::Arc;

use hearth_decode::{DecodeError, Engine, GenerateParams, Generator, Sampling, Speculation, StopConditions, StopReason, MAX_WINDOW};
use hearth_model::{LoadedModel, ModelInfo, Tokenizer};
use hearth_syntax::Language;
use serde::Serialize;

use super::{EditError, Region};
use crate::chat::{encode_rendered, ChatEndpoint, ChatRequest, ChatTemplate, Conversation, Message, RenderOptions};

/// What a rewriter is asked to do with one region.
#[derive(Clone, Debug)]
pub struct RewriteTask<'a> {
    pub instruction: &'a str,
    /// Root-relative path, shown to the model.
    pub path: &'a str,
    pub language: Option<Language>,
    /// The region's text: whole lines, ending with `\n` unless it ends the file.
    pub original: &'a str,
    /// 1 for the first try, 2 for the retry after a rewrite that broke the syntax.
    pub attempt: u32,
}

/// A rewriter's answer.
#[derive(Clone, Debug, Default)]
pub struct Rewritten {
    /// The new text of the region.
    pub text: String,
    /// False when decoding stopped before the format's end marker (token or context limit).
    pub complete: bool,
    pub stats: RewriteStats,
}

/// Decoding figures, summed over regions in the report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct RewriteStats {
    pub generated_tokens: usize,
    /// Target forward passes after the prompt.
    pub steps: usize,
    pub proposed: usize,
    pub accepted: usize,
    pub prompt_secs: f64,
    pub decode_secs: f64,
}

impl RewriteStats {
    pub fn add(&mut self, o: &RewriteStats) {
        self.generated_tokens += o.generated_tokens;
        self.steps += o.steps;
        self.proposed += o.proposed;
        self.accepted += o.accepted;
        self.prompt_secs += o.prompt_secs;
        self.decode_secs += o.decode_secs;
    }

    /// Mean tokens produced per target step: the acceptance length (1.0 without speculation).
    pub fn tokens_per_step(&self) -> f64 {
        if self.steps == 0 {
            0.0
        } else {
            self.generated_tokens as f64 / self.steps as f64
        }
    }
}

/// Rewrites regions. [`ModelRewriter`] is the real one; tests use scripted ones.
pub trait Rewriter: Send {
    fn rewrite(&mut self, task: &RewriteTask<'_>, cancel: &CancelToken) -> Result<Rewritten, EditError>;
}

/// How a region and the instruction become a prompt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptFormat {
    /// The model's own chat template: a system and a user turn, then the assistant's turn opened
    /// with a code fence, so the answer is the code and ends at the closing fence.
    Chat,
    /// For base models (no chat template): the original region between comment markers, the
    /// instruction, then the rewritten region up to the end marker. Copy-friendly: the answer
    /// mostly repeats the input.
    Plain,
}

const SYSTEM: &str = "You are Hearth, a coding assistant. Rewrite the code the user gives you as the instruction \
says, changing nothing else. Answer with the complete rewritten code in one fenced code block and nothing else.";

const RETRY_NOTE: &str = "The previous answer did not parse: keep the code syntactically valid.";

impl PromptFormat {
    fn instruction(task: &RewriteTask<'_>) -> String {
        if task.attempt > 1 {
            format!("{} ({RETRY_NOTE})", task.instruction)
        } else {
            task.instruction.to_string()
        }
    }

    /// The user turn of the chat format: the instruction, the file, the region in a fence.
    pub fn user_message(task: &RewriteTask<'_>) -> String {
        let fence = fence_language(task.language);
        format!("{}\n\nFile `{}`:\n```{fence}\n{}```", Self::instruction(task), task.path, with_newline(task.original))
    }

    /// The chat prompt's text through `template`, with the assistant's fence opened, and the user
    /// turn (to be encoded as text: code that spells a special token must not become one). A
    /// template that refuses a system turn (Gemma's) gets the system text at the head of the user turn.
    pub fn chat_text(template: &ChatTemplate, task: &RewriteTask<'_>) -> Result<(String, String), EditError> {
        let user = Self::user_message(task);
        let options = RenderOptions { add_generation_prompt: true, ..Default::default() };
        let (rendered, _) = template
            .render_folding_system(&Self::conversation(&user), &options)
            .map_err(|e| EditError::Model(format!("the model's chat template: {e}")))?;
        Ok((format!("{rendered}{}", Self::answer_opening(task)), user))
    }

    fn conversation(user: &str) -> Conversation {
        Conversation { messages: vec![Message::new("system", SYSTEM), Message::new("user", user)], tools: Vec::new() }
    }

    /// What the assistant's turn starts with: the fence its code goes in.
    fn answer_opening(task: &RewriteTask<'_>) -> String {
        format!("```{}\n", fence_language(task.language))
    }

    /// The chat format as messages, for a server that renders the template itself: the assistant's
    /// last message is the opened fence, which the server continues.
    pub fn chat_messages(task: &RewriteTask<'_>) -> Conversation {
        let mut conversation = Self::conversation(&Self::user_message(task));
        conversation.messages.push(Message::new("assistant", Self::answer_opening(task)));
        conversation
    }

    /// The plain format's prompt text.
    pub fn plain_text(task: &RewriteTask<'_>) -> String {
        let original = with_newline(task.original);
        let c = line_comment(task.language);
        let instruction = Self::instruction(task).replace('\n', " ");
        format!("{c} {path} (original)\n{original}{c} end\n{c} {instruction}\n{c} {path} (rewritten)\n", path = task.path)
    }

    /// Strings that end the answer (not part of it).
    pub fn stop_strings(self, task: &RewriteTask<'_>) -> Vec<String> {
        match self {
            PromptFormat::Chat => vec!["```".into()],
            PromptFormat::Plain => vec![format!("{} end", line_comment(task.language))],
        }
    }

    /// The region's new text from the answer: the original's trailing newline kept or left off.
    pub fn extract(self, answer: &str, task: &RewriteTask<'_>) -> String {
        let body = answer.trim_end_matches(['\n', '\r', ' ', '\t']);
        if task.original.ends_with('\n') && !body.is_empty() {
            format!("{body}\n")
        } else {
            body.to_string()
        }
    }
}

/// A rewriter over a model, in process (with lookup speculation over the original region: rewrites
/// mostly copy their input, and verification keeps the output identical to plain decoding) or on a
/// server (the prompt built here, with the model's own template, and decoded there).
pub struct ModelRewriter {
    engine: Box<dyn Generator>,
    /// A server's chat endpoint, for the chat format: it renders the template itself.
    endpoint: Option<Box<dyn ChatEndpoint>>,
    tokenizer: Arc<Tokenizer>,
    /// Positions the prompt and the answer must fit in.
    capacity: usize,
    format: PromptFormat,
    chat: Option<ChatTemplate>,
    bos: Option<u32>,
    speculate: bool,
}

impl ModelRewriter {
    /// The chat format with the model's own template when it has one, else the plain format (logged);
    /// speculation is on.
    pub fn new(target: &LoadedModel, draft: Option<&LoadedModel>) -> Result<Self, EditError> {
        let engine = Engine::new(target, draft)?;
        let capacity = engine.capacity();
        Ok(Self::with_generator(target.tokenizer.clone(), &target.info, Box::new(engine), capacity))
    }

    /// A rewriter whose tokens come from `generator` (e.g. a model on a server), with the model's
    /// tokenizer and facts, loaded locally, for the prompt.
    pub fn with_generator(tokenizer: Arc<Tokenizer>, info: &ModelInfo, generator: Box<dyn Generator>, capacity: usize) -> Self {
        let name = &info.name;
        let chat = match ChatTemplate::of_model(&tokenizer, info) {
            Some(Ok(t)) => Some(t),
            Some(Err(e)) => {
                tracing::warn!("{name}: its chat template does not compile ({e}); edits use the plain format");
                None
            }
            None => {
                tracing::info!("{name} has no chat template: edits use the plain rewrite format for base models");
                None
            }
        };
        let format = if chat.is_some() { PromptFormat::Chat } else { PromptFormat::Plain };
        let bos = info.bos_id.filter(|_| info.add_bos);
        ModelRewriter { engine: generator, endpoint: None, tokenizer, capacity, format, chat, bos, speculate: true }
    }

    /// Asks `endpoint` with the chat format's messages (the prompt is still built here to count it);
    /// the plain format, and a server that refuses the request, decode through the generator.
    pub fn with_endpoint(mut self, endpoint: Box<dyn ChatEndpoint>) -> Self {
        self.endpoint = Some(endpoint);
        self
    }

    pub fn format(&self) -> PromptFormat {
        self.format
    }

    /// Lookup (and draft, if loaded) speculation on or off; the output is the same either way.
    pub fn set_speculation(&mut self, on: bool) {
        self.speculate = on;
    }

    /// Whether the next call may reuse the KV cache of the previous prompt's common prefix.
    pub fn set_prefix_reuse(&mut self, on: bool) {
        self.engine.set_prefix_reuse(on);
    }

    /// The prompt's token ids for `task`.
    pub fn prompt_ids(&self, task: &RewriteTask<'_>) -> Result<Vec<u32>, EditError> {
        let tokenizer = &self.tokenizer;
        Ok(match &self.chat {
            Some(template) => {
                let (text, user) = PromptFormat::chat_text(template, task)?;
                encode_rendered(tokenizer, &text, &[&user])
            }
            None => self.bos.into_iter().chain(tokenizer.encode(&PromptFormat::plain_text(task))).collect(),
        })
    }

    /// Decodes the answer for `task` and returns it with the raw tokens (for benchmarks).
    pub fn generate(&mut self, task: &RewriteTask<'_>, cancel: &CancelToken) -> Result<(Rewritten, Vec<u32>), EditError> {
        let prompt = self.prompt_ids(task)?;
        let region = self.tokenizer.encode(task.original);
        // Room for the answer: the region again plus some growth.
        let budget = region.len() + region.len() / 2 + 32;
        let capacity = self.capacity;
        if prompt.len() + region.len() + 8 > capacity {
            return Err(EditError::RegionTooLong { needed: prompt.len() + region.len() + 8, capacity });
        }
        let params = GenerateParams {
            max_tokens: budget.min(capacity - prompt.len() - 1),
            sampling: Sampling::Greedy,
            stop: StopConditions { token_ids: Vec::new(), strings: self.format.stop_strings(task), special_tokens: true },
            speculation: Speculation { draft: self.speculate, lookup: self.speculate, max_window: MAX_WINDOW },
            copy_source: if self.speculate { region.clone() } else { Vec::new() },
            lookup_sources: if self.speculate { vec![region] } else { Vec::new() },
            forced_prefix: String::new(),
        };
        if let Some(endpoint) = self.endpoint.as_mut().filter(|_| self.format == PromptFormat::Chat) {
            let conversation = PromptFormat::chat_messages(task);
            let request =
                ChatRequest { conversation: &conversation, max_tokens: params.max_tokens, require_tool: false, stop: &params.stop.strings };
            let started = std::time::Instant::now();
            match endpoint.chat(&request, cancel, &mut |_| {}) {
                Ok(reply) => {
                    cancel.check()?;
                    let tokens = self.tokenizer.encode(&reply.content);
                    let generated_tokens = reply.generated_tokens.unwrap_or(tokens.len());
                    let stats = RewriteStats {
                        generated_tokens,
                        steps: generated_tokens,
                        decode_secs: started.elapsed().as_secs_f64(),
                        ..RewriteStats::default()
                    };
                    let text = self.format.extract(&reply.content, task);
                    return Ok((Rewritten { text, complete: !reply.truncated, stats }, tokens));
                }
                Err(DecodeError::Unsupported(what)) => {
                    tracing::info!("the server's chat endpoint takes no {what}: rewrites send the local rendering instead");
                    self.endpoint = None;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let generation = self.engine.generate(&prompt, &params, cancel, &mut |_| {
            if cancel.is_cancelled() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        cancel.check()?;
        let s = &generation.stats;
        let stats = RewriteStats {
            generated_tokens: generation.tokens.len(),
            steps: s.steps,
            proposed: s.proposed,
            accepted: s.accepted,
            prompt_secs: s.prompt_secs,
            decode_secs: s.decode_secs,
        };
        let complete = matches!(generation.stop_reason, StopReason::StopString | StopReason::StopToken);
        let text = self.format.extract(&generation.text, task);
        Ok((Rewritten { text, complete, stats }, generation.tokens))
    }
}

impl Rewriter for ModelRewriter {
    fn rewrite(&mut self, task: &RewriteTask<'_>, cancel: &CancelToken) -> Result<Rewritten, EditError> {
        self.generate(task, cancel).map(|(r, _)| r)
    }
}

/// A region's outcome after the syntax gate.
pub(crate) struct Gated {
    /// The accepted text, or why the region was dropped.
    pub text: Result<String, String>,
    pub attempts: u32,
    pub stats: RewriteStats,
}

/// Rewrites `region` of `source`; a rewrite that leaves the file with more tree-sitter errors than
/// before (or that the model did not finish) is retried once, then dropped.
pub(crate) fn rewrite_gated(
    rewriter: &mut dyn Rewriter,
    instruction: &str,
    region: &Region,
    source: &str,
    cancel: &CancelToken,
) -> Result<Gated, EditError> {
    let language = Language::from_path(Path::new(&region.path));
    let baseline = match language {
        Some(lang) => Some(hearth_syntax::error_count(lang, source)?),
        None => None,
    };
    let mut stats = RewriteStats::default();
    let mut why = String::new();
    for attempt in 1..=2 {
        let task =
            RewriteTask { instruction, path: &region.path, language, original: &source[region.start_byte..region.end_byte], attempt };
        let out = rewriter.rewrite(&task, cancel)?;
        stats.add(&out.stats);
        if !out.complete {
            why = format!("the model did not finish the rewrite ({} tokens)", out.stats.generated_tokens);
            continue;
        }
        let (Some(lang), Some(before)) = (language, baseline) else {
            return Ok(Gated { text: Ok(out.text), attempts: attempt, stats });
        };
        let candidate = format!("{}{}{}", &source[..region.start_byte], out.text, &source[region.end_byte..]);
        let after = hearth_syntax::error_count(lang, &candidate)?;
        if after <= before {
            return Ok(Gated { text: Ok(out.text), attempts: attempt, stats });
        }
        why = format!("the rewrite does not parse ({} new tree-sitter error(s))", after - before);
    }
    Ok(Gated { text: Err(format!("{why}; tried twice")), attempts: 2, stats })
}

fn with_newline(text: &str) -> String {
    if text.ends_with('\n') || text.is_empty() {
        text.to_string()
    } else {
        format!("{text}\n")
    }
}

/// The line comment marker of a language (`#` when unknown).
pub(crate) fn line_comment(language: Option<Language>) -> &'static str {
    match language {
        Some(Language::Python | Language::Ruby) | None => "#",
        Some(Language::Lua) => "--",
        Some(_) => "//",
    }
}

/// The info string of a Markdown code fence.
fn fence_language(language: Option<Language>) -> &'static str {
    match language {
        Some(Language::CSharp) => "csharp",
        Some(Language::Tsx) => "tsx",
        Some(l) => l.name(),
        None => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(original: &str) -> RewriteTask<'_> {
        RewriteTask { instruction: "add a docstring", path: "a.py", language: Some(Language::Python), original, attempt: 1 }
    }

    /// The chat format through a real template (Qwen2.5's, from llama.cpp's models/templates).
    #[test]
    fn chat_prompt_uses_the_models_template_with_an_open_fence() {
        let path = hearth_model::testing::llama_cpp_file("models/templates/Qwen-Qwen2.5-7B-Instruct.jinja");
        let template = ChatTemplate::new(&std::fs::read_to_string(path).unwrap(), "", "<|im_end|>").unwrap();
        let (p, user) = PromptFormat::chat_text(&template, &task("def f():\n    pass\n")).unwrap();
        assert!(p.contains(&user));
        expect_test::expect![[r#"
            <|im_start|>system
            You are Hearth, a coding assistant. Rewrite the code the user gives you as the instruction says, changing nothing else. Answer with the complete rewritten code in one fenced code block and nothing else.<|im_end|>
            <|im_start|>user
            add a docstring

            File `a.py`:
            ```python
            def f():
                pass
            ```<|im_end|>
            <|im_start|>assistant
            ```python
        "#]]
        .assert_eq(&p);
    }

    /// Gemma's template refuses a system turn: the system text leads the user turn instead.
    #[test]
    fn templates_without_a_system_role_get_it_in_the_user_turn() {
        let path = hearth_model::testing::llama_cpp_file("models/templates/google-gemma-2-2b-it.jinja");
        let template = ChatTemplate::new(&std::fs::read_to_string(path).unwrap(), "<bos>", "<eos>").unwrap();
        let (p, _) = PromptFormat::chat_text(&template, &task("x = 1\n")).unwrap();
        assert!(p.starts_with("<bos><start_of_turn>user\nYou are Hearth"), "{p}");
        assert!(p.ends_with("<start_of_turn>model\n```python\n"), "{p}");
    }

    #[test]
    fn plain_prompt_brackets_the_original_and_retries_say_why() {
        let mut t = task("def f():\n    pass");
        t.attempt = 2;
        let p = PromptFormat::plain_text(&t);
        expect_test::expect![[r#"
            # a.py (original)
            def f():
                pass
            # end
            # add a docstring (The previous answer did not parse: keep the code syntactically valid.)
            # a.py (rewritten)
        "#]]
        .assert_eq(&p);
        assert_eq!(PromptFormat::Plain.stop_strings(&t), ["# end"]);
    }

    #[test]
    fn extract_keeps_the_originals_trailing_newline() {
        assert_eq!(PromptFormat::Plain.extract("x = 1\n\n", &task("y = 1\n")), "x = 1\n");
        assert_eq!(PromptFormat::Plain.extract("x = 1\n", &task("y = 1")), "x = 1");
    }
}
