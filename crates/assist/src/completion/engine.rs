//! The completer: a loaded model behind a mutex, and the path of one completion request through
//! retrieval, prompt building, decoding (hearth-decode, with prefix reuse and lookup speculation) and
//! post-processing.

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Instant;

use hearth_base::CancelToken;
use hearth_decode::{DecodeError, Engine, GenerateParams, Generator, Sampling, Speculation, StopConditions};
use hearth_model::{LoadedModel, ModelInfo, Tokenizer};

use super::budget::prompt_limit;
use super::context::{ContextQuery, ContextSource, Snippet};
use super::postprocess::Surroundings;
use super::prompt::{self, Prompt};
use super::template::{line_comment_for, ContextFile, Layout, Template};
use super::{Completion, CompletionError, CompletionOptions, CompletionRequest, Healing, Timings};

/// Which model to load, as settings name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadSpec {
    /// Folder, `.gguf` file or Hugging Face id.
    pub model: String,
    pub draft: Option<String>,
    /// `auto`, `cpu`, `cuda`, `cuda:N` or `metal`.
    pub device: String,
}

/// Bytes of text after the cursor that post-processing looks at.
const SUFFIX_LOOKAHEAD: usize = 4096;

/// Completes code with one model. Requests take turns on the engine; a cancelled request gives it up
/// at the next token.
pub struct Completer {
    engine: Mutex<Box<dyn Generator>>,
    tokenizer: Arc<Tokenizer>,
    info: ModelInfo,
    /// FIM in the family's format, or left to right for models without FIM training.
    layout: Layout,
    bos: Option<u32>,
    context: RwLock<Option<Arc<dyn ContextSource>>>,
    warning: Option<String>,
    draft_name: Option<String>,
    /// Whether the generator can force the first tokens (token healing).
    heals: bool,
}

/// A prompt and what it was built from.
/// The retrieved context of one prompt (see [`Completer::prompt_context`]).
#[derive(Clone, Debug)]
pub struct PromptContext {
    pub snippets: Vec<Snippet>,
    /// Prompt tokens the snippets take (with their path headers).
    pub tokens: usize,
    /// Tokens retrieval was allowed.
    pub cap: usize,
    pub retrieve_ms: f64,
}

struct Built {
    prompt: Prompt,
    template: Template,
    snippets: Vec<Snippet>,
    retrieve_ms: f64,
}

impl From<DecodeError> for CompletionError {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::Cancelled => CompletionError::Cancelled,
            DecodeError::Model(m) => CompletionError::Model(m),
            DecodeError::Unavailable(why) => CompletionError::Unavailable(why),
            other => CompletionError::Decode(other.to_string()),
        }
    }
}

impl Completer {
    pub fn new(target: &LoadedModel, draft: Option<&LoadedModel>) -> Result<Completer, CompletionError> {
        let layout = match target.info.fim.clone() {
            Some(fim) => Layout::Fim(fim),
            None => {
                tracing::info!("{} has no fill-in-the-middle tokens: completing left to right from the prefix", target.info.name);
                Layout::LeftToRight
            }
        };
        let engine = Engine::new(target, draft)?;
        let mut completer =
            Completer::with_generator(target.tokenizer.clone(), target.info.clone(), Box::new(engine), target.warning.clone());
        completer.layout = layout;
        completer.draft_name = draft.map(|d| d.info.name.clone());
        Ok(completer)
    }

    /// A completer whose tokens come from `generator` (e.g. a model on a server), with the model's
    /// own tokenizer and facts, loaded locally, for the prompt.
    pub fn with_generator(tokenizer: Arc<Tokenizer>, info: ModelInfo, generator: Box<dyn Generator>, warning: Option<String>) -> Completer {
        let layout = match info.fim.clone() {
            Some(fim) => Layout::Fim(fim),
            None => Layout::LeftToRight,
        };
        Completer {
            heals: generator.supports_forced_prefix(),
            engine: Mutex::new(generator),
            tokenizer,
            bos: info.bos_id.filter(|_| info.add_bos),
            info,
            layout,
            context: RwLock::new(None),
            warning,
            draft_name: None,
        }
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// A warning from loading (e.g. a GPU asked for but missing).
    pub fn warning(&self) -> Option<String> {
        self.warning.clone()
    }

    /// e.g. `tiny-coder (gguf q8_0, cpu)`.
    pub fn describe(&self) -> String {
        let draft = self.draft_name.as_ref().map(|d| format!(", draft {d}")).unwrap_or_default();
        format!("{} ({}, {}{draft})", self.info.name, self.info.format, self.info.device)
    }

    pub fn set_context_source(&self, source: Option<Arc<dyn ContextSource>>) {
        *self.context.write().unwrap_or_else(|p| p.into_inner()) = source;
    }

    /// Turns KV prefix reuse across requests on or off.
    pub fn set_prefix_reuse(&self, on: bool) {
        self.lock_engine().set_prefix_reuse(on);
    }

    fn lock_engine(&self) -> MutexGuard<'_, Box<dyn Generator>> {
        self.engine.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Completes at the cursor of `request`.
    pub fn complete(
        &self,
        request: &CompletionRequest,
        options: &CompletionOptions,
        cancel: &CancelToken,
    ) -> Result<Completion, CompletionError> {
        let start = Instant::now();
        check_offset(request)?;
        let built = self.build(request, options, cancel)?;
        let prompt_ms = ms(start) - built.retrieve_ms;
        let text = request.text;
        let line_start = text[..request.offset].rfind('\n').map_or(0, |i| i + 1);
        let mut suffix_end = (request.offset + SUFFIX_LOOKAHEAD).min(text.len());
        while !text.is_char_boundary(suffix_end) {
            suffix_end -= 1;
        }
        let surroundings = Surroundings {
            line_prefix: &text[line_start..request.offset],
            suffix: &text[request.offset..suffix_end],
            multiline: options.multiline,
        };
        let mut prompt_ids = built.prompt.ids.clone();
        let forced_prefix = self.heal(options, &mut prompt_ids, &built.prompt, surroundings.line_prefix).unwrap_or_default();
        let params = GenerateParams {
            max_tokens: options.max_tokens,
            sampling: Sampling::Greedy,
            stop: StopConditions {
                token_ids: Vec::new(),
                strings: if options.multiline { Vec::new() } else { vec!["\n".into()] },
                special_tokens: true,
            },
            speculation: Speculation { draft: options.draft, lookup: options.lookup, ..Speculation::default() },
            lookup_sources: self.lookup_sources(request, &built),
            copy_source: Vec::new(),
            forced_prefix,
        };
        let queued = Instant::now();
        let mut engine = self.lock_engine();
        let queue_ms = ms(queued);
        cancel.check()?;
        let mut raw = String::new();
        let mut on_text = |delta: &str| {
            raw.push_str(delta);
            if delta.contains('\n') && surroundings.end_of(&raw, false).is_some() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        let generation = engine.generate(&prompt_ids, &params, cancel, &mut on_text)?;
        drop(engine);
        let stats = &generation.stats;
        Ok(Completion {
            text: surroundings.finish(&generation.text),
            raw: generation.text.clone(),
            prompt_tokens: stats.prompt_tokens,
            reused_prompt_tokens: stats.reused_prompt_tokens,
            generated_tokens: generation.tokens.len(),
            proposed: stats.proposed,
            accepted: stats.accepted,
            stop_reason: serde_json::to_value(generation.stop_reason).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
            context: built.snippets,
            prompt: String::new(),
            timings: Timings {
                queue_ms,
                retrieve_ms: built.retrieve_ms,
                prompt_ms,
                prefill_ms: stats.prompt_secs * 1000.0,
                decode_ms: stats.decode_secs * 1000.0,
                total_ms: ms(start),
            },
        })
    }

    /// The prompt (readable) and the snippets that a completion at the cursor would use.
    pub fn preview(&self, request: &CompletionRequest, options: &CompletionOptions, cancel: &CancelToken) -> (String, Vec<Snippet>) {
        if check_offset(request).is_err() {
            return (String::new(), Vec::new());
        }
        match self.build(request, options, cancel) {
            Ok(built) => (built.template.display(self.tokenizer.as_ref(), &built.prompt.ids), built.snippets),
            Err(_) => (String::new(), Vec::new()),
        }
    }

    /// The text token healing would take off the prompt at the cursor (and make the model spell first).
    pub fn healed_text(&self, request: &CompletionRequest, options: &CompletionOptions) -> Option<String> {
        check_offset(request).ok()?;
        let built = self.build(request, options, &CancelToken::new()).ok()?;
        let line_start = request.text[..request.offset].rfind('\n').map_or(0, |i| i + 1);
        self.heal(options, &mut built.prompt.ids.clone(), &built.prompt, &request.text[line_start..request.offset])
    }

    fn heal(&self, options: &CompletionOptions, ids: &mut Vec<u32>, prompt: &Prompt, line_prefix: &str) -> Option<String> {
        let on = match options.healing {
            Healing::On => true,
            Healing::Off => false,
            Healing::Auto => matches!(self.layout, Layout::LeftToRight),
        };
        if on && self.heals {
            heal(&self.tokenizer, ids, prompt, line_prefix)
        } else {
            None
        }
    }

    /// The prompt ids a completion at the cursor would decode after.
    pub fn prompt_ids(&self, request: &CompletionRequest, options: &CompletionOptions) -> Result<Vec<u32>, CompletionError> {
        check_offset(request)?;
        Ok(self.build(request, options, &CancelToken::new())?.prompt.ids)
    }

    /// What retrieval puts into the prompt for the request: the snippets the prompt carries, the
    /// tokens they take, the cap retrieval was given, and how long it took.
    pub fn prompt_context(&self, request: &CompletionRequest, options: &CompletionOptions) -> Result<PromptContext, CompletionError> {
        check_offset(request)?;
        let built = self.build(request, options, &CancelToken::new())?;
        let limit = prompt_limit(options.context_budget, self.info.max_positions, options.max_tokens);
        Ok(PromptContext {
            cap: options.budget.context_cap(limit.saturating_sub(built.template.fixed_len())),
            tokens: built.prompt.split.context,
            snippets: built.snippets,
            retrieve_ms: built.retrieve_ms,
        })
    }

    /// Log-probabilities of `continuation` after `prompt`, teacher-forced.
    pub fn score(&self, prompt: &[u32], continuation: &[u32]) -> Result<Vec<f32>, CompletionError> {
        Ok(self.lock_engine().score(prompt, continuation)?)
    }

    fn build(&self, request: &CompletionRequest, options: &CompletionOptions, cancel: &CancelToken) -> Result<Built, CompletionError> {
        let language = request.language.or_else(|| request.path.and_then(|p| p.rsplit('.').next())).unwrap_or("");
        let template = Template::new(self.layout.clone(), self.bos, line_comment_for(language));
        let limit = prompt_limit(options.context_budget, self.info.max_positions, options.max_tokens);
        let started = Instant::now();
        let snippets = match (options.retrieval, self.context.read().unwrap_or_else(|p| p.into_inner()).clone()) {
            (true, Some(source)) => {
                let query = ContextQuery { path: request.path, text: request.text, offset: request.offset, language: request.language };
                let cap = options.budget.context_cap(limit.saturating_sub(template.fixed_len()));
                source.retrieve(&query, cap, cancel)
            }
            _ => Vec::new(),
        };
        let retrieve_ms = ms(started);
        cancel.check()?;
        let files: Vec<ContextFile> = snippets.iter().map(|s| ContextFile { path: s.path.clone(), text: s.text.clone() }).collect();
        let prompt = prompt::build(self.tokenizer.as_ref(), &template, request, &files, limit, &options.budget);
        let used: Vec<Snippet> =
            snippets.into_iter().filter(|s| prompt.context.iter().any(|f| f.path == s.path && f.text == s.text)).collect();
        Ok(Built { prompt, template, snippets: used, retrieve_ms })
    }

    /// Token streams the lookup proposer may copy from: the text after the cursor and the snippets
    /// (the prompt itself is searched by the engine).
    fn lookup_sources(&self, request: &CompletionRequest, built: &Built) -> Vec<Vec<u32>> {
        let mut sources: Vec<Vec<u32>> = built.snippets.iter().map(|s| self.tokenizer.encode(&s.text)).collect();
        let mut end = (request.offset + SUFFIX_LOOKAHEAD).min(request.text.len());
        while !request.text.is_char_boundary(end) {
            end -= 1;
        }
        if built.prompt.split.suffix > 0 {
            sources.push(self.tokenizer.encode(&request.text[request.offset..end]));
        }
        sources
    }
}

/// Token healing: takes the prefix's last token off `ids` and returns its text, when the cursor's
/// line ends in a word character or a blank and that token is plain text within the line.
fn heal(tokenizer: &Tokenizer, ids: &mut Vec<u32>, prompt: &Prompt, line_prefix: &str) -> Option<String> {
    let last = line_prefix.chars().next_back()?;
    if !(last.is_alphanumeric() || last == '_' || last == ' ' || last == '\t') || prompt.split.prefix == 0 || prompt.prefix_end == 0 {
        return None;
    }
    let id = ids[prompt.prefix_end - 1];
    if tokenizer.is_special(id) {
        return None;
    }
    let text = std::str::from_utf8(tokenizer.token_bytes(id)).ok()?.to_string();
    if text.is_empty() || text.contains('\n') || !line_prefix.ends_with(text.as_str()) {
        return None;
    }
    ids.remove(prompt.prefix_end - 1);
    Some(text)
}

fn check_offset(request: &CompletionRequest) -> Result<(), CompletionError> {
    if request.offset > request.text.len() || !request.text.is_char_boundary(request.offset) {
        return Err(CompletionError::BadOffset { offset: request.offset, len: request.text.len() });
    }
    Ok(())
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}
