//! One model plus one KV cache that remembers which tokens it holds, so a new sequence only
//! pays for what differs from the last one (prefix reuse across keystrokes).

use std::sync::Arc;

use hearth_model::fit::PREFILL_CHUNK;
use hearth_model::{Deferred, KvCache, Logits, ModelError, Tensor, Transformer};

pub struct Session {
    model: Arc<Transformer>,
    cache: KvCache,
    /// The tokens whose keys and values are in `cache`, in order.
    tokens: Vec<u32>,
    pub reuse_prefix: bool,
}

impl Session {
    pub fn new(model: Arc<Transformer>, capacity: usize) -> Result<Self, ModelError> {
        let cache = model.new_cache(capacity)?;
        Ok(Session { model, cache, tokens: Vec::new(), reuse_prefix: true })
    }

    pub fn capacity(&self) -> usize {
        self.cache.capacity()
    }

    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// Makes the cache hold exactly `tokens`, reusing the longest common prefix with what it
    /// holds. Returns how many tokens were reused. No logits are produced.
    pub fn sync(&mut self, tokens: &[u32]) -> Result<usize, ModelError> {
        let keep = if self.reuse_prefix { common_prefix(&self.tokens, tokens) } else { 0 };
        self.rollback(keep);
        for chunk in tokens[keep..].chunks(PREFILL_CHUNK) {
            self.model.prefill(chunk, &mut self.cache)?;
            self.tokens.extend_from_slice(chunk);
        }
        Ok(keep)
    }

    /// Runs `tokens` after the cached ones and returns F32 logits for each: `[n, vocab]`.
    pub fn step(&mut self, tokens: &[u32]) -> Result<Tensor, ModelError> {
        let logits = self.model.forward(tokens, &mut self.cache, Logits::All)?;
        self.tokens.extend_from_slice(tokens);
        Ok(logits)
    }

    /// Runs `tokens` after the cached ones, like [`Session::step`], and leaves their logits to be
    /// asked for row by row ([`Pending::rows`]).
    pub fn step_deferred(&mut self, tokens: &[u32]) -> Result<Pending, ModelError> {
        let pass = self.model.forward_deferred(tokens, &mut self.cache)?;
        self.tokens.extend_from_slice(tokens);
        Ok(Pending { model: self.model.clone(), pass })
    }

    /// Forgets every cached position from `len` on (O(1)).
    pub fn rollback(&mut self, len: usize) {
        self.cache.truncate(len);
        self.tokens.truncate(len);
    }
}

pub fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// A step whose logits are computed on demand, for the rows a caller reaches.
pub struct Pending {
    model: Arc<Transformer>,
    pass: Deferred,
}

impl Pending {
    /// F32 logits `[rows.len(), vocab]` of some of the step's positions.
    pub fn rows(&self, rows: std::ops::Range<usize>) -> Result<Tensor, ModelError> {
        self.model.logits(&self.pass, rows)
    }
}
