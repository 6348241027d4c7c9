//! Speculative proposers behind one trait: a draft model, n-gram lookup over the prompt and the
//! text so far, and lookup over text that callers feed (for instance retrieved snippets).

use std::sync::{Arc, Mutex};

use hearth_model::{LoadedModel, ModelError};

use crate::sampling::Sampler;
use crate::session::Session;

/// Tokens proposed to follow the context. `dists[i]` is the distribution token `i` was drawn
/// from (needed for exact rejection sampling); `None` means each token was chosen outright.
#[derive(Clone, Debug, Default)]
pub struct Proposal {
    pub tokens: Vec<u32>,
    pub dists: Option<Vec<Vec<f32>>>,
}

pub trait Proposer: Send {
    fn name(&self) -> &'static str;
    /// Up to `max` tokens likely to follow `context` (the prompt and everything generated so far).
    fn propose(&mut self, context: &[u32], max: usize, sampler: &mut Sampler) -> Result<Proposal, ModelError>;
}

/// Token streams fed by callers; cheap to clone and share with the proposer.
#[derive(Clone, Default, Debug)]
pub struct ExternalText(Arc<Mutex<Vec<Vec<u32>>>>);

impl ExternalText {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn feed(&self, tokens: Vec<u32>) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(tokens);
    }

    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// Prompt-lookup decoding: find the latest earlier occurrence of the context's last n tokens
/// and propose what followed it.
pub struct Lookup {
    search_context: bool,
    external: Option<ExternalText>,
    max_ngram: usize,
    min_ngram: usize,
}

impl Lookup {
    /// Lookup over the prompt and the generated text.
    pub fn in_context() -> Self {
        Lookup { search_context: true, external: None, max_ngram: 4, min_ngram: 1 }
    }

    /// Lookup over caller-fed text only.
    pub fn external(source: ExternalText) -> Self {
        Lookup { search_context: false, external: Some(source), max_ngram: 4, min_ngram: 2 }
    }

    /// Lookup over both.
    pub fn both(source: ExternalText) -> Self {
        Lookup { external: Some(source), ..Self::in_context() }
    }
}

impl Proposer for Lookup {
    fn name(&self) -> &'static str {
        "lookup"
    }

    fn propose(&mut self, context: &[u32], max: usize, _: &mut Sampler) -> Result<Proposal, ModelError> {
        let guard = self.external.as_ref().map(|e| e.0.lock().unwrap_or_else(|e| e.into_inner()));
        let external: &[Vec<u32>] = guard.as_deref().map(Vec::as_slice).unwrap_or(&[]);
        for n in (self.min_ngram..=self.max_ngram.min(context.len())).rev() {
            let key = &context[context.len() - n..];
            // The context itself, excluding the trailing occurrence, latest match first.
            if self.search_context {
                if let Some(found) = find_last(&context[..context.len() - 1], key) {
                    let start = found + n;
                    let tokens: Vec<u32> = context[start..].iter().take(max).copied().collect();
                    if !tokens.is_empty() {
                        return Ok(Proposal { tokens, dists: None });
                    }
                }
            }
            for src in external {
                if let Some(found) = find_last(src, key) {
                    let tokens: Vec<u32> = src[found + n..].iter().take(max).copied().collect();
                    if !tokens.is_empty() {
                        return Ok(Proposal { tokens, dists: None });
                    }
                }
            }
        }
        Ok(Proposal::default())
    }
}

fn find_last(hay: &[u32], key: &[u32]) -> Option<usize> {
    if key.is_empty() || hay.len() < key.len() {
        return None;
    }
    (0..=hay.len() - key.len()).rev().find(|&i| &hay[i..i + key.len()] == key)
}

/// Proposals for an output that mostly repeats a known text (a rewrite of a region): what follows in
/// that text, from the place the output's tail aligns with. The alignment nearest to where the output
/// should be, had it copied everything since the last call, wins, so repeated lines do not derail it;
/// after a change the output re-aligns on its next matching tokens.
pub struct CopySource {
    source: Vec<u32>,
    /// The source position expected next.
    at: usize,
    /// The context's length at the previous call (`None` before the first).
    seen: Option<usize>,
}

/// The longest key [`CopySource`] aligns on.
const COPY_KEY: usize = 8;

impl CopySource {
    pub fn new(source: Vec<u32>) -> Self {
        CopySource { source, at: 0, seen: None }
    }

    /// Up to `max` tokens of the source after the output's alignment (none when it does not align).
    /// `context` is the prompt and the output so far; the first call proposes the source's start.
    pub fn propose(&mut self, context: &[u32], max: usize) -> Vec<u32> {
        let aligned = match self.seen {
            None => Some(0),
            Some(seen) => {
                let expected = self.at + context.len().saturating_sub(seen);
                let found = self.align(context, expected);
                self.at = expected.min(self.source.len());
                found
            }
        };
        self.seen = Some(context.len());
        let Some(p) = aligned else { return Vec::new() };
        self.at = p;
        self.source[p..].iter().take(max).copied().collect()
    }

    /// The source position right after the longest tail of `context` found in the source, nearest to
    /// `expected` (ties go forward).
    fn align(&self, context: &[u32], expected: usize) -> Option<usize> {
        for n in (1..=COPY_KEY.min(context.len())).rev() {
            let key = &context[context.len() - n..];
            let best = (0..=self.source.len().saturating_sub(n))
                .filter(|&i| self.source.get(i..i + n) == Some(key))
                .map(|i| i + n)
                .min_by_key(|&p| (p.abs_diff(expected), p < expected));
            if best.is_some() {
                return best;
            }
        }
        None
    }
}

/// A smaller model with the same tokenizer proposes tokens autoregressively.
pub struct DraftModel {
    session: Session,
}

impl DraftModel {
    pub fn new(draft: &LoadedModel, capacity: usize) -> Result<Self, ModelError> {
        Ok(DraftModel { session: Session::new(draft.model.clone(), capacity)? })
    }

    pub fn set_prefix_reuse(&mut self, on: bool) {
        self.session.reuse_prefix = on;
    }
}

impl Proposer for DraftModel {
    fn name(&self) -> &'static str {
        "draft"
    }

    fn propose(&mut self, context: &[u32], max: usize, sampler: &mut Sampler) -> Result<Proposal, ModelError> {
        let Some((&last, head)) = context.split_last() else { return Ok(Proposal::default()) };
        if context.len() + max > self.session.capacity() {
            return Ok(Proposal::default());
        }
        self.session.sync(head)?;
        let greedy = sampler.is_greedy();
        let (mut tokens, mut dists) = (Vec::with_capacity(max), Vec::new());
        let mut input = last;
        for _ in 0..max {
            let row: Vec<f32> = self.session.step(&[input])?.squeeze(0)?.to_vec1()?;
            let next = if greedy {
                crate::sampling::argmax(&row)
            } else {
                let q = sampler.probs(&row);
                let t = sampler.draw(&q);
                dists.push(q);
                t
            };
            tokens.push(next);
            input = next;
        }
        Ok(Proposal { tokens, dists: (!greedy).then_some(dists) })
    }
}

/// Cheap lookup first; the draft model when lookup finds fewer than two tokens.
pub struct LookupThenDraft {
    pub lookup: Lookup,
    pub draft: DraftModel,
}

impl Proposer for LookupThenDraft {
    fn name(&self) -> &'static str {
        "lookup+draft"
    }

    fn propose(&mut self, context: &[u32], max: usize, sampler: &mut Sampler) -> Result<Proposal, ModelError> {
        let p = self.lookup.propose(context, max, sampler)?;
        if p.tokens.len() >= 2.min(max) {
            return Ok(p);
        }
        self.draft.propose(context, max, sampler)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::Sampling;

    #[test]
    fn lookup_proposes_what_followed_the_latest_match() {
        let mut s = Sampler::new(Sampling::Greedy);
        let ctx = [1, 2, 3, 9, 1, 2, 3, 7, 8, 5, 1, 2, 3];
        let p = Lookup::in_context().propose(&ctx, 3, &mut s).unwrap();
        assert_eq!(p.tokens, vec![7, 8, 5]);
        let src = ExternalText::new();
        src.feed(vec![40, 41, 42, 43]);
        let p = Lookup::external(src).propose(&[5, 41, 42], 4, &mut s).unwrap();
        assert_eq!(p.tokens, vec![43]);
        assert!(Lookup::in_context().propose(&[1, 2, 3], 4, &mut s).unwrap().tokens.is_empty());
    }

    #[test]
    fn copy_source_follows_the_output_through_repeats_and_changes() {
        // The source repeats `7 8 9`; the output copies, changes 5 into 50 51, then copies on.
        let source = vec![1, 7, 8, 9, 2, 7, 8, 9, 5, 6, 7, 8, 9, 3];
        let mut copy = CopySource::new(source);
        let prompt = vec![100, 101];
        assert_eq!(copy.propose(&prompt, 3), vec![1, 7, 8], "nothing generated: the source's start");
        let mut out = prompt.clone();
        out.extend([1, 7, 8, 9, 2, 7]);
        assert_eq!(copy.propose(&out, 3), vec![8, 9, 5], "the second `7`, not the first or third");
        out.extend([8, 9, 50, 51]);
        assert!(copy.propose(&out, 3).is_empty(), "50 51 are not in the source");
        out.push(6);
        assert_eq!(copy.propose(&out, 4), vec![7, 8, 9, 3], "re-aligned after the change");
    }
}
