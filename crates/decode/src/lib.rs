//! Decoding on top of hearth-model: greedy and seeded sampling, stop conditions, streaming text,
//! prefix reuse across calls, and speculative decoding that never changes the output.

mod constraint;
mod proposer;
mod sampling;
mod session;
mod text;

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Instant;

use hearth_base::{CancelToken, Cancelled};
use hearth_model::{LoadedModel, ModelError, ModelInfo, Tensor, Tokenizer};

pub use constraint::{pick, Constraint};
pub use proposer::{CopySource, DraftModel, ExternalText, Lookup, LookupThenDraft, Proposal, Proposer};
pub use sampling::{argmax, Sampler, Sampling};
pub use session::{common_prefix, Pending, Session};
pub use text::TextStream;

/// The largest verification window (pending token + proposals); quantized GPU kernels stay on
/// their fast path up to 8 rows.
pub const MAX_WINDOW: usize = 8;

/// The largest verification window when the output copies [`GenerateParams::copy_source`]: a
/// rewrite that changes little is checked in long runs, at prompt-processing speed. Under 32 rows,
/// where candle's Q4_K kernel changes to AMX tiles that round otherwise than a one-row step.
pub const MAX_COPY_WINDOW: usize = 31;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("cancelled")]
    Cancelled,
    #[error("empty prompt: at least one token is needed")]
    EmptyPrompt,
    #[error("the prompt has {prompt} tokens but the model's context holds {capacity}")]
    PromptTooLong { prompt: usize, capacity: usize },
    #[error("the draft model does not share the target's tokenizer ({0})")]
    DraftMismatch(String),
    #[error(
        "the model computed {bad} non-finite logits (NaN or infinity): its weights are corrupt or overflow; re-download or re-convert it"
    )]
    NonFinite { bad: usize },
    /// The model's server cannot be reached or did not answer in time (a remote backend).
    #[error("{0}")]
    Unavailable(String),
    /// The model's server answered, but not with a generation.
    #[error("{0}")]
    Backend(String),
    #[error("{0} is not available with this backend")]
    Unsupported(&'static str),
    #[error("no token of the vocabulary continues the constrained output")]
    NoAllowedToken,
}

/// What turns a prompt into tokens: the in-process [`Engine`], or a model on a server
/// (hearth-remote). The caller builds the prompt; the generator applies `params`' stop rules.
pub trait Generator: Send {
    /// Generates after `prompt`. `on_text` receives text as it is produced and may stop early.
    fn generate(
        &mut self,
        prompt: &[u32],
        params: &GenerateParams,
        cancel: &CancelToken,
        on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Generation, DecodeError>;

    /// Log-probabilities of `continuation` after `context`, teacher-forced.
    fn score(&mut self, _context: &[u32], _continuation: &[u32]) -> Result<Vec<f32>, DecodeError> {
        Err(DecodeError::Unsupported("scoring"))
    }

    /// Turns prefix reuse across calls on or off, where the generator keeps a cache.
    fn set_prefix_reuse(&mut self, _on: bool) {}

    /// Whether `GenerateParams::forced_prefix` (token healing) is honoured.
    fn supports_forced_prefix(&self) -> bool {
        true
    }

    /// Generates under `constraint` (see [`Constraint`]); without speculation while it is active.
    fn generate_constrained(
        &mut self,
        _prompt: &[u32],
        _params: &GenerateParams,
        _constraint: &mut dyn Constraint,
        _cancel: &CancelToken,
        _on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Generation, DecodeError> {
        Err(DecodeError::Unsupported("constrained decoding"))
    }
}

/// A generation's tokens as they come, whatever produces them: stop tokens, stop strings, the
/// caller's `on_text` and `max_tokens`, applied in that order.
pub struct Emitter<'a> {
    stop_ids: Vec<u32>,
    stream: TextStream,
    max_tokens: usize,
    tokens: Vec<u32>,
    on_text: &'a mut dyn FnMut(&str) -> ControlFlow<()>,
}

impl<'a> Emitter<'a> {
    pub fn new(stop_ids: Vec<u32>, stream: TextStream, max_tokens: usize, on_text: &'a mut dyn FnMut(&str) -> ControlFlow<()>) -> Self {
        Emitter { stop_ids, stream, max_tokens, tokens: Vec::new(), on_text }
    }

    /// Adds one token; `Some(why)` when the generation ends with it.
    pub fn push(&mut self, id: u32) -> Option<StopReason> {
        if self.stop_ids.contains(&id) {
            return Some(StopReason::StopToken);
        }
        self.tokens.push(id);
        let (delta, hit_stop) = self.stream.push(id);
        if !delta.is_empty() && (self.on_text)(&delta).is_break() {
            return Some(StopReason::Caller);
        }
        if hit_stop {
            return Some(StopReason::StopString);
        }
        (self.tokens.len() >= self.max_tokens).then_some(StopReason::MaxTokens)
    }

    /// Adds the token that completes a constrained output: kept even if it is a stop token.
    pub fn push_final(&mut self, id: u32) {
        self.tokens.push(id);
        let (delta, _) = self.stream.push(id);
        if !delta.is_empty() {
            let _ = (self.on_text)(&delta);
        }
    }

    /// Hands text that did not come as tokens (a server that answers with text) to `on_text`.
    pub fn text(&mut self, delta: &str) -> Option<StopReason> {
        (!delta.is_empty() && (self.on_text)(delta).is_break()).then_some(StopReason::Caller)
    }

    /// Tokens kept so far.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The tokens and their text.
    pub fn finish(self) -> (Vec<u32>, String) {
        (self.tokens, self.stream.into_text())
    }
}

/// The tokens that end a generation under `stop`: its own, and with `special_tokens` the model's
/// end-of-sequence tokens and every special token.
pub fn stop_ids(stop: &StopConditions, eos_ids: &[u32], tokenizer: &Tokenizer) -> Vec<u32> {
    let mut ids = stop.token_ids.clone();
    if stop.special_tokens {
        ids.extend(eos_ids);
        ids.extend(tokenizer.special_ids());
    }
    ids
}

impl From<Cancelled> for DecodeError {
    fn from(_: Cancelled) -> Self {
        DecodeError::Cancelled
    }
}

impl From<candle_core::Error> for DecodeError {
    fn from(e: candle_core::Error) -> Self {
        DecodeError::Model(e.into())
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct StopConditions {
    pub token_ids: Vec<u32>,
    pub strings: Vec<String>,
    /// Also stop on the model's end-of-sequence tokens and on any special token.
    pub special_tokens: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Speculation {
    pub draft: bool,
    pub lookup: bool,
    /// Upper bound on the verification window, at most [`MAX_WINDOW`].
    pub max_window: usize,
}

impl Default for Speculation {
    fn default() -> Self {
        Speculation { draft: false, lookup: false, max_window: MAX_WINDOW }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct GenerateParams {
    pub max_tokens: usize,
    pub sampling: Sampling,
    pub stop: StopConditions,
    pub speculation: Speculation,
    /// Extra token streams (e.g. retrieved snippets) for the lookup proposer.
    pub lookup_sources: Vec<Vec<u32>>,
    /// The tokens the output mostly repeats (a rewrite's region, as the model would write it
    /// unchanged). With `speculation.lookup`, proposals follow it ([`CopySource`]) in windows of up
    /// to [`MAX_COPY_WINDOW`] that double while the output copies; empty: none.
    pub copy_source: Vec<u32>,
    /// Token healing: text the output must begin with, because the caller took the tokens that
    /// spelled it off the end of the prompt. The first tokens are constrained to spell it (or to
    /// extend it), without speculation; it is not part of the returned text, and stop strings are
    /// looked for only after it.
    pub forced_prefix: String,
}

impl Default for GenerateParams {
    fn default() -> Self {
        GenerateParams {
            max_tokens: 64,
            sampling: Sampling::Greedy,
            stop: StopConditions { special_tokens: true, ..Default::default() },
            speculation: Speculation::default(),
            lookup_sources: Vec::new(),
            copy_source: Vec::new(),
            forced_prefix: String::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    MaxTokens,
    StopToken,
    StopString,
    Caller,
    ContextFull,
    /// A [`Constraint`] was satisfied.
    Constraint,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Stats {
    pub prompt_tokens: usize,
    /// Prompt tokens whose KV entries were reused from the previous call.
    pub reused_prompt_tokens: usize,
    /// Seconds until the first new token was known (prompt processing plus one step).
    pub prompt_secs: f64,
    /// Seconds spent after the first token.
    pub decode_secs: f64,
    /// Target forward passes after prefill.
    pub steps: usize,
    pub proposed: usize,
    pub accepted: usize,
}

impl Stats {
    pub fn acceptance_rate(&self) -> f64 {
        if self.proposed == 0 {
            0.0
        } else {
            self.accepted as f64 / self.proposed as f64
        }
    }

    /// Tokens produced per target step (1.0 without speculation).
    pub fn mean_accepted_length(&self, generated: usize) -> f64 {
        if self.steps == 0 {
            0.0
        } else {
            generated as f64 / self.steps as f64
        }
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Generation {
    pub tokens: Vec<u32>,
    pub text: String,
    pub stop_reason: StopReason,
    pub stats: Stats,
}

/// A target model (and optional draft) with their caches. Keeps the KV cache between calls:
/// a prompt that shares a prefix with the previous one only pays for the rest.
/// `Send`, not `Sync`: one request at a time.
pub struct Engine {
    target: Session,
    tokenizer: Arc<Tokenizer>,
    info: ModelInfo,
    draft: Option<DraftModel>,
    external: ExternalText,
    window: usize,
}

impl Engine {
    pub fn new(target: &LoadedModel, draft: Option<&LoadedModel>) -> Result<Self, DecodeError> {
        let capacity = target.info.max_positions.min(hearth_model::fit::DEFAULT_CACHE_POSITIONS);
        Self::with_capacity(target, draft, capacity)
    }

    /// `capacity` bounds the KV cache (and so the prompt plus the new tokens).
    pub fn with_capacity(target: &LoadedModel, draft: Option<&LoadedModel>, capacity: usize) -> Result<Self, DecodeError> {
        let draft = match draft {
            Some(d) => {
                check_same_tokenizer(&target.tokenizer, &d.tokenizer)?;
                Some(DraftModel::new(d, capacity.min(d.info.max_positions))?)
            }
            None => None,
        };
        Ok(Engine {
            target: Session::new(target.model.clone(), capacity)?,
            tokenizer: target.tokenizer.clone(),
            info: target.info.clone(),
            draft,
            external: ExternalText::new(),
            window: 4,
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn tokenizer(&self) -> &Arc<Tokenizer> {
        &self.tokenizer
    }

    /// Positions the KV cache holds: the prompt plus new tokens must fit.
    pub fn capacity(&self) -> usize {
        self.target.capacity()
    }

    /// Turns prefix reuse across calls on or off (off: every call recomputes its whole prompt).
    pub fn set_prefix_reuse(&mut self, on: bool) {
        self.target.reuse_prefix = on;
        if let Some(d) = &mut self.draft {
            d.set_prefix_reuse(on);
        }
    }

    /// Generates after `prompt`. `on_text` receives text as it is produced and may stop early.
    pub fn generate(
        &mut self,
        prompt: &[u32],
        params: &GenerateParams,
        cancel: &CancelToken,
        on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Generation, DecodeError> {
        self.generate_with(prompt, params, None, cancel, on_text)
    }

    /// [`Engine::generate`] under `constraint`: while it is active, one token per step, the best
    /// allowed one ([`pick`]); it ends the generation when it is finished.
    pub fn generate_constrained(
        &mut self,
        prompt: &[u32],
        params: &GenerateParams,
        constraint: &mut dyn Constraint,
        cancel: &CancelToken,
        on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Generation, DecodeError> {
        self.generate_with(prompt, params, Some(constraint), cancel, on_text)
    }

    fn generate_with(
        &mut self,
        prompt: &[u32],
        params: &GenerateParams,
        mut constraint: Option<&mut dyn Constraint>,
        cancel: &CancelToken,
        on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Generation, DecodeError> {
        let start = Instant::now();
        let Some((&last, head)) = prompt.split_last() else { return Err(DecodeError::EmptyPrompt) };
        let capacity = self.target.capacity();
        if prompt.len() >= capacity {
            return Err(DecodeError::PromptTooLong { prompt: prompt.len(), capacity });
        }
        cancel.check()?;
        let reused = self.target.sync(head)?;
        cancel.check()?;

        let stop_ids = self.stop_ids(&params.stop);
        let stream = TextStream::new(self.tokenizer.clone(), params.stop.strings.clone()).after(&params.forced_prefix);
        let mut out = Emitter::new(stop_ids, stream, params.max_tokens, on_text);
        let mut forced: &[u8] = params.forced_prefix.as_bytes();
        let mut sampler = Sampler::new(params.sampling.clone());
        self.external.clear();
        for src in &params.lookup_sources {
            self.external.feed(src.clone());
        }
        let spec = &params.speculation;
        let max_window = spec.max_window.clamp(1, MAX_WINDOW);
        let mut copy = (spec.lookup && !params.copy_source.is_empty()).then(|| CopySource::new(params.copy_source.clone()));
        // Copying starts long: a rewrite that changes nothing is verified in a few steps.
        let mut copy_window = MAX_COPY_WINDOW / 2;
        let mut stats = Stats { prompt_tokens: prompt.len(), reused_prompt_tokens: reused, ..Default::default() };
        let mut context = prompt.to_vec();
        let mut pending = last;
        let mut first_token_at = None;
        let stop_reason = 'outer: loop {
            cancel.check()?;
            let remaining = params.max_tokens.saturating_sub(out.len());
            if remaining == 0 {
                break StopReason::MaxTokens;
            }
            let room = capacity - self.target.tokens().len();
            if room == 0 {
                break StopReason::ContextFull;
            }
            // A constraint sees every token before the next is chosen: no speculation under one.
            let k = if forced.is_empty() && constraint.is_none() {
                self.window.min(max_window - 1).min(remaining - 1).min(room - 1)
            } else {
                0
            };
            let copied = match &mut copy {
                Some(c) if k > 0 => c.propose(&context, (copy_window - 1).min(remaining - 1).min(room - 1)),
                _ => Vec::new(),
            };
            let copying = copied.len() >= 2;
            let proposal = if copying {
                Proposal { tokens: copied, dists: None }
            } else if k > 0 && (spec.lookup || (spec.draft && self.draft.is_some())) {
                self.propose(&context, k, spec, &mut sampler)?
            } else {
                Proposal::default()
            };
            let base = self.target.tokens().len();
            let mut input = Vec::with_capacity(1 + proposal.tokens.len());
            input.push(pending);
            input.extend_from_slice(&proposal.tokens);
            let step = self.target.step_deferred(&input)?;
            // Logits of some of the step's rows; a broken model file shows in the first step's first row.
            let first = first_token_at.is_none();
            let rows = |r: std::ops::Range<usize>| -> Result<Tensor, DecodeError> {
                let logits = step.rows(r.clone())?;
                if first && r.start == 0 {
                    check_finite(&logits)?;
                }
                Ok(logits)
            };
            let restricted = constraint.as_deref().filter(|c| c.active());
            let (accepted, next) = if let Some(c) = restricted {
                let row: Vec<f32> = rows(0..1)?.get(0)?.to_vec1()?;
                (0, pick(&row, c, &self.tokenizer, &mut sampler)?)
            } else if forced.is_empty() {
                verify(rows, FIRST_HEAD_CHUNK, &proposal, &mut sampler)?
            } else {
                let next = self.constrained(&rows(0..1)?, forced, &mut sampler)?;
                let bytes = self.tokenizer.token_bytes(next);
                forced = if forced.starts_with(bytes) { &forced[bytes.len()..] } else { &[] };
                (0, next)
            };
            self.target.rollback(base + 1 + accepted);
            stats.steps += 1;
            stats.proposed += proposal.tokens.len();
            stats.accepted += accepted;
            if copying {
                copy_window = adapt_copy_window(copy_window, accepted, proposal.tokens.len());
            } else {
                self.adapt_window(accepted, proposal.tokens.len(), max_window);
            }
            first_token_at.get_or_insert_with(Instant::now);

            for &t in proposal.tokens[..accepted].iter().chain(std::iter::once(&next)) {
                if let Some(c) = constraint.as_deref_mut() {
                    c.advance(self.tokenizer.token_bytes(t));
                    if c.finished() {
                        out.push_final(t);
                        break 'outer StopReason::Constraint;
                    }
                }
                if let Some(reason) = out.push(t) {
                    break 'outer reason;
                }
                context.push(t);
            }
            pending = next;
        };
        let first = first_token_at.unwrap_or_else(Instant::now);
        stats.prompt_secs = (first - start).as_secs_f64();
        stats.decode_secs = first.elapsed().as_secs_f64();
        let (tokens, text) = out.finish();
        Ok(Generation { tokens, text, stop_reason, stats })
    }

    /// Log-probabilities of each `continuation` token after `context` (teacher forcing).
    pub fn score(&mut self, context: &[u32], continuation: &[u32]) -> Result<Vec<f32>, DecodeError> {
        let Some((&last, head)) = context.split_last() else { return Err(DecodeError::EmptyPrompt) };
        if continuation.is_empty() {
            return Ok(Vec::new());
        }
        let needed = context.len() + continuation.len();
        if needed > self.target.capacity() {
            return Err(DecodeError::PromptTooLong { prompt: needed, capacity: self.target.capacity() });
        }
        self.target.sync(head)?;
        let mut input = vec![last];
        input.extend_from_slice(&continuation[..continuation.len() - 1]);
        let rows: Vec<Vec<f32>> = self.target.step(&input)?.to_vec2()?;
        Ok(rows.iter().zip(continuation).map(|(row, &t)| log_softmax_at(row, t as usize)).collect())
    }

    /// The next token when the output must still spell `forced`: the best (or a sampled) token
    /// whose bytes begin with `forced` or are a start of it. Special tokens never qualify.
    fn constrained(&self, logits: &Tensor, forced: &[u8], sampler: &mut Sampler) -> Result<u32, DecodeError> {
        let mut row: Vec<f32> = logits.get(0)?.to_vec1()?;
        let mut any = false;
        for (id, x) in row.iter_mut().enumerate() {
            let bytes = self.tokenizer.token_bytes(id as u32);
            let fits =
                !bytes.is_empty() && !self.tokenizer.is_special(id as u32) && (bytes.starts_with(forced) || forced.starts_with(bytes));
            if fits {
                any = true;
            } else {
                *x = f32::NEG_INFINITY;
            }
        }
        if !any {
            // No token spells it (cannot happen for text the tokenizer produced): decode freely.
            row = logits.get(0)?.to_vec1()?;
        }
        Ok(if sampler.is_greedy() { argmax(&row) } else { sampler.draw(&sampler.probs(&row)) })
    }

    fn stop_ids(&self, stop: &StopConditions) -> Vec<u32> {
        stop_ids(stop, &self.info.eos_ids, &self.tokenizer)
    }

    fn propose(&mut self, context: &[u32], k: usize, spec: &Speculation, sampler: &mut Sampler) -> Result<Proposal, DecodeError> {
        if spec.lookup {
            let p = Lookup::both(self.external.clone()).propose(context, k, sampler)?;
            if p.tokens.len() >= 2.min(k) || !spec.draft {
                return Ok(p);
            }
        }
        match &mut self.draft {
            Some(d) if spec.draft => Ok(d.propose(context, k, sampler)?),
            _ => Ok(Proposal::default()),
        }
    }

    /// Grow the window after a fully accepted proposal, shrink it after a mostly rejected one.
    fn adapt_window(&mut self, accepted: usize, proposed: usize, max_window: usize) {
        if proposed == 0 {
            return;
        }
        if accepted == proposed {
            self.window = (self.window + 1).min(max_window - 1).max(1);
        } else if accepted * 2 < proposed {
            self.window = self.window.saturating_sub(1).max(1);
        }
    }
}

/// Doubles the copy window after a fully accepted proposal, halves it after a mostly rejected one.
fn adapt_copy_window(window: usize, accepted: usize, proposed: usize) -> usize {
    if accepted == proposed {
        (window * 2).min(MAX_COPY_WINDOW)
    } else if accepted * 2 < proposed {
        (window / 2).max(2)
    } else {
        window
    }
}

/// The first logits of a request must be finite: NaN or infinite weights would otherwise give an
/// empty completion without a word.
fn check_finite(logits: &Tensor) -> Result<(), DecodeError> {
    let row: Vec<f32> = logits.get(0)?.to_vec1()?;
    // -inf is a masked token (a logit soft-cap or bias may produce it); NaN and +inf are not.
    let bad = row.iter().filter(|x| x.is_nan() || **x == f32::INFINITY).count();
    if bad > 0 {
        return Err(DecodeError::NonFinite { bad });
    }
    Ok(())
}

/// Rows of a verification step projected at once: its first chunk, doubled for each next one. The
/// output head is the largest matmul of a small model and a window's rows past the first rejected
/// proposal are thrown away, so rows are projected only as far as the proposal holds.
const FIRST_HEAD_CHUNK: usize = 8;

/// Checks a proposal against the target's logits (`[1 + k, vocab]`). Returns how many proposed
/// tokens are accepted and the token that follows them. Greedy: a proposal survives while it
/// equals the argmax. Sampling: rejection sampling, so tokens follow the target's distribution.
/// The rows are read in order (`rows` gives the logits of a range of them), each chunk,
/// `first_chunk` rows and then twice the last, asked for only when every proposal before it held.
fn verify(
    rows: impl Fn(std::ops::Range<usize>) -> Result<Tensor, DecodeError>,
    first_chunk: usize,
    proposal: &Proposal,
    sampler: &mut Sampler,
) -> Result<(usize, u32), DecodeError> {
    let k = proposal.tokens.len();
    let (mut start, mut chunk) = (0, first_chunk.max(1));
    loop {
        let end = (start + chunk).min(k + 1);
        let logits = rows(start..end)?;
        if let Some(found) = verify_rows(&logits, start, proposal, sampler)? {
            return Ok(found);
        }
        (start, chunk) = (end, 2 * chunk);
    }
}

/// [`verify`] over the logits of rows `start..` of a step: the accepted length and the next token
/// once a proposal is rejected or the last row is reached, `None` when every row here accepted.
fn verify_rows(logits: &Tensor, start: usize, proposal: &Proposal, sampler: &mut Sampler) -> Result<Option<(usize, u32)>, DecodeError> {
    let k = proposal.tokens.len();
    let end = start + logits.dim(0)?;
    if sampler.is_greedy() {
        let best: Vec<u32> = logits.argmax(1)?.to_vec1()?;
        let held = proposal.tokens[start..].iter().zip(&best).take_while(|(p, b)| p == b).count();
        let accepted = start + held;
        return Ok((accepted < end).then(|| (accepted, best[held])));
    }
    let rows: Vec<Vec<f32>> = logits.to_vec2()?;
    for i in start..end.min(k) {
        let d = proposal.tokens[i] as usize;
        let p = sampler.probs(&rows[i - start]);
        let q_d = proposal.dists.as_ref().map(|q| q[i][d]).unwrap_or(1.0);
        if q_d > 0.0 && sampler.uniform() < (p[d] / q_d).min(1.0) {
            continue;
        }
        // Rejected: draw from the normalised residual max(0, p - q).
        let mut residual: Vec<f32> = match &proposal.dists {
            Some(q) => p.iter().zip(&q[i]).map(|(a, b)| (a - b).max(0.0)).collect(),
            None => {
                let mut r = p.clone();
                r[d] = 0.0;
                r
            }
        };
        if residual.iter().sum::<f32>() <= 0.0 {
            residual = p;
        }
        sampling::normalize(&mut residual);
        return Ok(Some((i, sampler.draw(&residual))));
    }
    if end <= k {
        return Ok(None);
    }
    let p = sampler.probs(&rows[k - start]);
    Ok(Some((k, sampler.draw(&p))))
}

fn log_softmax_at(row: &[f32], i: usize) -> f32 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = row.iter().map(|&x| ((x - max) as f64).exp()).sum::<f64>().ln() as f32 + max;
    row[i] - lse
}

fn check_same_tokenizer(a: &Tokenizer, b: &Tokenizer) -> Result<(), DecodeError> {
    let probe = "def main():\n    return {'key': [1, 2.5]}  # ünïcode\n";
    if a.encode(probe) != b.encode(probe) {
        return Err(DecodeError::DraftMismatch("they encode the same text differently".into()));
    }
    for id in [0u32, 1, 2, 3, 100, 1000] {
        if a.token(id) != b.token(id) {
            return Err(DecodeError::DraftMismatch(format!("token {id} differs")));
        }
    }
    Ok(())
}

impl Generator for Engine {
    fn generate(
        &mut self,
        prompt: &[u32],
        params: &GenerateParams,
        cancel: &CancelToken,
        on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Generation, DecodeError> {
        Engine::generate(self, prompt, params, cancel, on_text)
    }

    fn score(&mut self, context: &[u32], continuation: &[u32]) -> Result<Vec<f32>, DecodeError> {
        Engine::score(self, context, continuation)
    }

    fn set_prefix_reuse(&mut self, on: bool) {
        Engine::set_prefix_reuse(self, on)
    }

    fn generate_constrained(
        &mut self,
        prompt: &[u32],
        params: &GenerateParams,
        constraint: &mut dyn Constraint,
        cancel: &CancelToken,
        on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Generation, DecodeError> {
        Engine::generate_constrained(self, prompt, params, constraint, cancel, on_text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_model::Device;
    use std::cell::Cell;

    /// Logits of `n` rows over 40 tokens, each row's best token `best[i]`.
    fn logits(best: &[u32]) -> Tensor {
        let vocab = 40;
        let data: Vec<f32> = best
            .iter()
            .enumerate()
            .flat_map(|(i, &b)| (0..vocab).map(move |t| if t == b { 4.0 } else { ((i * 7 + t as usize * 13) % 11) as f32 / 5.0 }))
            .collect();
        Tensor::from_vec(data, (best.len(), vocab as usize), &Device::Cpu).unwrap()
    }

    /// Rows projected when verification asks for chunks from `first_chunk` on and ends at `row`.
    fn chunk_end(first_chunk: usize, row: usize, n: usize) -> usize {
        let (mut end, mut chunk) = (first_chunk, first_chunk);
        while end <= row {
            chunk *= 2;
            end += chunk;
        }
        end.min(n)
    }

    #[test]
    fn chunked_verification_equals_one_pass_and_stops_at_the_rejection() {
        // The model's choices over a 20-row window; the proposal agrees up to row 5.
        let best: Vec<u32> = (0..20).map(|i| (i * 3 % 40) as u32).collect();
        let mut tokens: Vec<u32> = best[..19].to_vec();
        tokens[5] = 39;
        let all = logits(&best);
        let proposal = Proposal { tokens, dists: None };
        let samplings = [Sampling::Greedy, Sampling::Sample { temperature: 1.0, top_k: None, top_p: None, seed: 7 }];
        for sampling in samplings {
            let one_pass = verify(|r| Ok(all.narrow(0, r.start, r.len())?), 64, &proposal, &mut Sampler::new(sampling.clone())).unwrap();
            assert!(one_pass.0 <= 5, "{sampling:?}: {one_pass:?}");
            for first_chunk in [1, 3, 8] {
                let projected = Cell::new(0);
                let rows = |r: std::ops::Range<usize>| {
                    projected.set(projected.get() + r.len());
                    Ok(all.narrow(0, r.start, r.len())?)
                };
                let chunked = verify(rows, first_chunk, &proposal, &mut Sampler::new(sampling.clone())).unwrap();
                assert_eq!(chunked, one_pass, "{sampling:?}, first chunk {first_chunk}");
                assert_eq!(projected.get(), chunk_end(first_chunk, one_pass.0, 20), "{sampling:?}, first chunk {first_chunk}");
                assert!(projected.get() < 20);
            }
        }
        // Greedy: accepted up to the changed row, whose own choice comes next.
        let greedy = verify(|r| Ok(all.narrow(0, r.start, r.len())?), 1, &proposal, &mut Sampler::new(Sampling::Greedy)).unwrap();
        assert_eq!(greedy, (5, best[5]));
        // A proposal the model agrees with throughout: every row read, the last one's choice next.
        let full = Proposal { tokens: best[..19].to_vec(), dists: None };
        let got = verify(|r| Ok(all.narrow(0, r.start, r.len())?), 3, &full, &mut Sampler::new(Sampling::Greedy)).unwrap();
        assert_eq!(got, (19, best[19]));
    }
}
