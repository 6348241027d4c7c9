//! The prompt's token budget: how many tokens go to retrieved context, the prefix and the suffix,
//! and, unless the user sets it, how large it is on this machine ([`AdaptiveBudget`]).

/// How the prompt budget is shared.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BudgetPolicy {
    /// Most of the available tokens that retrieved context may take.
    pub max_context_share: f32,
    /// Share of what context leaves that goes to the suffix (the prefix gets the rest).
    pub suffix_share: f32,
    /// Give tokens that a short prefix or suffix leaves unused to the other side.
    pub rebalance: bool,
    /// Start the prefix at a line boundary that moves in steps of this many bytes, so that consecutive
    /// keystrokes share the prompt's head and its KV cache. 0 cuts exactly `prefix` tokens.
    pub prefix_quantum: usize,
}

impl Default for BudgetPolicy {
    /// The server's policy: a short suffix (in fill-in-the-middle order it follows the prefix, so it is
    /// recomputed on every keystroke) and a prefix start that stays put while the user types.
    fn default() -> Self {
        BudgetPolicy { max_context_share: 0.35, suffix_share: 0.15, rebalance: true, prefix_quantum: 256 }
    }
}

impl BudgetPolicy {
    /// The reference evaluation protocol: a fixed 2:1 cut, exactly the last/first tokens.
    pub fn reference() -> Self {
        BudgetPolicy { max_context_share: 0.35, suffix_share: 1.0 / 3.0, rebalance: false, prefix_quantum: 0 }
    }
}

/// Token counts for each part of a prompt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Split {
    pub context: usize,
    pub prefix: usize,
    pub suffix: usize,
}

/// Prompt tokens a request may use: the configured budget, capped so that the prompt plus the new
/// tokens fit in the model's window (the tiny model was trained on 384 positions).
pub fn prompt_limit(context_budget: usize, max_positions: usize, max_tokens: usize) -> usize {
    context_budget.min(max_positions.saturating_sub(max_tokens))
}

impl BudgetPolicy {
    /// Most tokens retrieved context may take out of `available` (the limit less the template's fixed tokens).
    pub fn context_cap(&self, available: usize) -> usize {
        (available as f32 * self.max_context_share.clamp(0.0, 1.0)) as usize
    }

    /// Splits what context left between prefix and suffix, 2:1, given how many tokens each side has.
    pub fn split(&self, available: usize, context: usize, prefix_len: usize, suffix_len: usize) -> Split {
        let rest = available.saturating_sub(context);
        let suffix_cap = ((rest as f32 * self.suffix_share.clamp(0.0, 1.0)).round() as usize).min(rest);
        let prefix_cap = rest - suffix_cap;
        let mut prefix = prefix_len.min(prefix_cap);
        let mut suffix = suffix_len.min(suffix_cap);
        if self.rebalance {
            prefix = prefix_len.min(rest - suffix);
            suffix = suffix_len.min(rest - prefix);
        }
        Split { context, prefix, suffix }
    }
}

/// The default context budget from the measured prompt speed: a slow machine gets a smaller prompt
/// rather than no suggestion. A prompt computed from scratch (a file switch, new context) should
/// take about [`AdaptiveBudget::TARGET_SECS`]; typing in place reuses most of it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AdaptiveBudget {
    tokens_per_sec: Option<f64>,
    announced: Option<usize>,
}

impl AdaptiveBudget {
    /// Seconds a prompt computed from scratch may take. Most keystrokes reuse the prompt's head, and
    /// a smaller prompt costs suggestions (Gemma 3 on fim-dev: edit similarity 0.553 at 1,024 tokens,
    /// 0.518 at 512, 0.501 at 256), so only a machine that needs longer than this gets less.
    pub const TARGET_SECS: f64 = 4.0;
    /// The smallest budget: the cursor's own lines still fit.
    pub const MIN: usize = 256;
    /// Prompts this short say little about the speed (per-call overhead dominates).
    const MIN_SAMPLE: usize = 32;
    /// Weight of the newest sample in the running mean.
    const ALPHA: f64 = 0.3;

    /// Counts a prompt of which `computed` tokens took `secs` (those reused from the cache not counted).
    pub fn observe(&mut self, computed: usize, secs: f64) {
        if computed < Self::MIN_SAMPLE || secs <= 0.0 || !secs.is_finite() {
            return;
        }
        let speed = computed as f64 / secs;
        self.tokens_per_sec = Some(match self.tokens_per_sec {
            Some(mean) => mean + Self::ALPHA * (speed - mean),
            None => speed,
        });
    }

    /// Prompt tokens a second, as measured so far.
    pub fn tokens_per_sec(&self) -> Option<f64> {
        self.tokens_per_sec
    }

    /// The budget for this machine, at most `ceiling` (the default or the cap); `ceiling` until measured.
    pub fn budget(&self, ceiling: usize) -> usize {
        match self.tokens_per_sec {
            Some(speed) => ((speed * Self::TARGET_SECS) as usize).clamp(Self::MIN.min(ceiling), ceiling),
            None => ceiling,
        }
    }

    /// Whether `budget` is worth telling the user: the first one, or a quarter away from the last told.
    pub fn announce(&mut self, budget: usize) -> bool {
        let worth = self.announced.is_none_or(|last| budget.abs_diff(last) * 4 >= last);
        if worth {
            self.announced = Some(budget);
        }
        worth
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_protocol_cut_is_200_and_100() {
        let fixed = BudgetPolicy::reference();
        assert_eq!(fixed.split(300, 0, 5000, 5000), Split { context: 0, prefix: 200, suffix: 100 });
        assert_eq!(fixed.split(300, 0, 5000, 7), Split { context: 0, prefix: 200, suffix: 7 });
        assert_eq!(fixed.split(300, 0, 50, 5000), Split { context: 0, prefix: 50, suffix: 100 });
    }

    #[test]
    fn rebalancing_gives_unused_tokens_to_the_other_side() {
        let policy = BudgetPolicy { rebalance: true, ..BudgetPolicy::reference() };
        assert_eq!(policy.split(300, 0, 5000, 7), Split { context: 0, prefix: 293, suffix: 7 });
        assert_eq!(policy.split(300, 0, 50, 5000), Split { context: 0, prefix: 50, suffix: 250 });
        assert_eq!(policy.split(300, 90, 5000, 5000), Split { context: 90, prefix: 140, suffix: 70 });
        assert_eq!(BudgetPolicy::default().split(300, 0, 5000, 5000), Split { context: 0, prefix: 255, suffix: 45 });
        assert_eq!(policy.split(300, 400, 10, 10), Split { context: 400, prefix: 0, suffix: 0 });
    }

    #[test]
    fn limit_leaves_room_for_new_tokens() {
        assert_eq!(prompt_limit(1024, 384, 64), 320);
        assert_eq!(prompt_limit(303, 384, 48), 303);
        assert_eq!(prompt_limit(1024, 32, 64), 0);
    }

    #[test]
    fn the_adaptive_budget_follows_the_measured_prompt_speed() {
        let mut b = AdaptiveBudget::default();
        assert_eq!(b.budget(1024), 1024, "unmeasured: the default");
        b.observe(10, 0.5);
        assert_eq!(b.tokens_per_sec(), None, "too short to count");
        b.observe(300, 2.0); // 150 tok/s: four seconds hold 600 tokens
        assert_eq!(b.budget(1024), 600);
        assert!(b.announce(600));
        b.observe(3000, 1.0); // faster now: the mean moves toward it
        let faster = b.budget(1024);
        assert!(faster > 600 && faster <= 1024, "{faster}");
        assert!(b.announce(faster));
        assert!(!b.announce(faster + 1), "a small change is not told again");
        for _ in 0..20 {
            b.observe(100, 10.0); // very slow: never below the floor
        }
        assert_eq!(b.budget(1024), AdaptiveBudget::MIN);
        assert_eq!(b.budget(128), 128, "nor above a smaller ceiling");
    }
}
