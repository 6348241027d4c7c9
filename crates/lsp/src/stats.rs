//! The counters `hearth.stats` reports: what benchmarks read to compare settings.

use std::sync::atomic::{AtomicU64, Ordering};

use hearth_assist::completion::Completion;
use serde_json::{json, Value};

/// Counters for `hearth.stats`: what benchmarks read to compare settings.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    requests: AtomicU64,
    completed: AtomicU64,
    /// Requests whose decoding (or the wait for it) stopped on a cancelled token.
    cancelled: AtomicU64,
    empty: AtomicU64,
    prompt_tokens: AtomicU64,
    reused_prompt_tokens: AtomicU64,
    generated_tokens: AtomicU64,
    proposed: AtomicU64,
    accepted: AtomicU64,
    prefill_us: AtomicU64,
    decode_us: AtomicU64,
    /// Requests answered from a suggestion already made (not in `completed`, which counts decodes):
    /// typed through, or prefetched.
    typed_through: AtomicU64,
    prefetch_hits: AtomicU64,
    /// Prefetches that finished with a suggestion.
    prefetched: AtomicU64,
}

impl Stats {
    pub(crate) fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn empty(&self) {
        self.empty.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn cancelled(&self) {
        self.cancelled.fetch_add(1, Ordering::Relaxed);
    }

    /// A request answered from a kept suggestion, `typed` characters into it (0: prefetched).
    pub(crate) fn reused(&self, typed: usize) {
        let counter = if typed == 0 { &self.prefetch_hits } else { &self.typed_through };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn prefetched(&self) {
        self.prefetched.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record(&self, c: &Completion) {
        self.completed.fetch_add(1, Ordering::Relaxed);
        self.prompt_tokens.fetch_add(c.prompt_tokens as u64, Ordering::Relaxed);
        self.reused_prompt_tokens.fetch_add(c.reused_prompt_tokens as u64, Ordering::Relaxed);
        self.generated_tokens.fetch_add(c.generated_tokens as u64, Ordering::Relaxed);
        self.proposed.fetch_add(c.proposed as u64, Ordering::Relaxed);
        self.accepted.fetch_add(c.accepted as u64, Ordering::Relaxed);
        self.prefill_us.fetch_add((c.timings.prefill_ms * 1000.0) as u64, Ordering::Relaxed);
        self.decode_us.fetch_add((c.timings.decode_ms * 1000.0) as u64, Ordering::Relaxed);
    }

    pub(crate) fn to_json(&self) -> Value {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        json!({
            "requests": g(&self.requests),
            "completed": g(&self.completed),
            "cancelled": g(&self.cancelled),
            "empty": g(&self.empty),
            "promptTokens": g(&self.prompt_tokens),
            "reusedPromptTokens": g(&self.reused_prompt_tokens),
            "generatedTokens": g(&self.generated_tokens),
            "proposed": g(&self.proposed),
            "accepted": g(&self.accepted),
            "prefillMs": g(&self.prefill_us) as f64 / 1000.0,
            "decodeMs": g(&self.decode_us) as f64 / 1000.0,
            "typedThrough": g(&self.typed_through),
            "prefetchHits": g(&self.prefetch_hits),
            "prefetched": g(&self.prefetched),
        })
    }
}
