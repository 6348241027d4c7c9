//! Rewriting one region with a model: the prompt formats (chat for instruct models, a plain
//! copy-friendly format for base models), decoding with n-gram lookup over the original region,
//! and the syntax gate with one retry.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::{Arc, Mutex};

use hearth_base::CancelToken;
use hearth_decode::{Engine, GenerateParams, Sampling, Speculation, StopConditions, StopReason, MAX_WINDOW};
use hearth_model::{LoadedModel, Tokenizer};
use hearth_syntax::Language;
use serde::Serialize;

use super::{EditError, Region};

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
        if self.steps == 0 { 0.0 } else { self.generated_tokens as f64 / self.steps as f64 }
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
    /// ChatML as Qwen2.5-Coder-Instruct expects: system and user turns, then the assistant's turn
    /// opened with a code fence, so the answer is the code and ends at the closing fence.
    Chat,
    /// For base models: the original region between comment markers, the instruction, then the
    /// rewritten region up to the end marker. Copy-friendly: the answer mostly repeats the input.
    Plain,
}

const SYSTEM: &str = "You are Hearth, a coding assistant. Rewrite the code the user gives you as the instruction \
says, changing nothing else. Answer with the complete rewritten code in one fenced code block and nothing else.";

const RETRY_NOTE: &str = "The previous answer did not parse: keep the code syntactically valid.";

impl PromptFormat {
    /// Chat when the tokenizer has ChatML's `<|im_start|>`/`<|im_end|>`, plain otherwise.
    pub fn detect(tokenizer: &Tokenizer) -> Self {
        if tokenizer.token_id("<|im_start|>").is_some() && tokenizer.token_id("<|im_end|>").is_some() {
            PromptFormat::Chat
        } else {
            PromptFormat::Plain
        }
    }

    pub fn prompt(self, task: &RewriteTask<'_>) -> String {
        let original = with_newline(task.original);
        let instruction = if task.attempt > 1 { format!("{} ({RETRY_NOTE})", task.instruction) } else { task.instruction.to_string() };
        match self {
            PromptFormat::Chat => {
                let fence = fence_language(task.language);
                format!(
                    "<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{instruction}\n\nFile `{path}`:\n```{fence}\n{original}```<|im_end|>\n<|im_start|>assistant\n```{fence}\n",
                    path = task.path,
                )
            }
            PromptFormat::Plain => {
                let c = line_comment(task.language);
                let instruction = instruction.replace('\n', " ");
                format!("{c} {path} (original)\n{original}{c} end\n{c} {instruction}\n{c} {path} (rewritten)\n", path = task.path)
            }
        }
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

/// A rewriter over a loaded model, with lookup speculation over the original region (rewrites
/// mostly copy their input, and verification keeps the output identical to plain decoding).
pub struct ModelRewriter {
    engine: Engine,
    format: PromptFormat,
    speculate: bool,
}

impl ModelRewriter {
    /// The prompt format is detected from the tokenizer; speculation is on.
    pub fn new(target: &LoadedModel, draft: Option<&LoadedModel>) -> Result<Self, EditError> {
        Ok(ModelRewriter { engine: Engine::new(target, draft)?, format: PromptFormat::detect(&target.tokenizer), speculate: true })
    }

    pub fn with_format(mut self, format: PromptFormat) -> Self {
        self.format = format;
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

    /// Decodes the answer for `task` and returns it with the raw tokens (for benchmarks).
    pub fn generate(&mut self, task: &RewriteTask<'_>, cancel: &CancelToken) -> Result<(Rewritten, Vec<u32>), EditError> {
        let tokenizer = self.engine.tokenizer().clone();
        let prompt = tokenizer.encode(&self.format.prompt(task));
        let region = tokenizer.encode(task.original);
        // Room for the answer: the region again plus some growth.
        let budget = region.len() + region.len() / 2 + 32;
        let capacity = self.engine.capacity();
        if prompt.len() + region.len() + 8 > capacity {
            return Err(EditError::RegionTooLong { needed: prompt.len() + region.len() + 8, capacity });
        }
        let params = GenerateParams {
            max_tokens: budget.min(capacity - prompt.len() - 1),
            sampling: Sampling::Greedy,
            stop: StopConditions { token_ids: Vec::new(), strings: self.format.stop_strings(task), special_tokens: true },
            speculation: Speculation { draft: self.speculate, lookup: self.speculate, max_window: MAX_WINDOW },
            lookup_sources: if self.speculate { vec![region] } else { Vec::new() },
        };
        let generation = self.engine.generate(&prompt, &params, cancel, &mut |_| {
            if cancel.is_cancelled() { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
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

/// Loads `model` on `device` (`auto`, `cpu`, `cuda`, ...) once per process and shares the weights
/// with later calls: for a server whose completion engine does not hand out its `LoadedModel`.
pub fn shared_model(model: &str, device: &str) -> Result<Arc<LoadedModel>, EditError> {
    static CACHE: Mutex<Option<(String, String, Arc<LoadedModel>)>> = Mutex::new(None);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((m, d, loaded)) = cache.as_ref() {
        if m == model && d == device {
            return Ok(loaded.clone());
        }
    }
    let choice: hearth_model::DeviceChoice = device.parse().map_err(EditError::Model)?;
    let loaded = Arc::new(hearth_model::load(model, choice).map_err(|e| EditError::Model(format!("{model}: {e}")))?);
    *cache = Some((model.to_string(), device.to_string(), loaded.clone()));
    Ok(loaded)
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
        let task = RewriteTask {
            instruction,
            path: &region.path,
            language,
            original: &source[region.start_byte..region.end_byte],
            attempt,
        };
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
    if text.ends_with('\n') || text.is_empty() { text.to_string() } else { format!("{text}\n") }
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

    #[test]
    fn chat_prompt_is_chatml_with_an_open_fence() {
        let p = PromptFormat::Chat.prompt(&task("def f():\n    pass\n"));
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

    #[test]
    fn plain_prompt_brackets_the_original_and_retries_say_why() {
        let mut t = task("def f():\n    pass");
        t.attempt = 2;
        let p = PromptFormat::Plain.prompt(&t);
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
