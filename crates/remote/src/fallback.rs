//! [`WithFallback`]: the server first, and the in-process model while the server is down.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use hearth_base::CancelToken;
use hearth_decode::{DecodeError, GenerateParams, Generation, Generator};

/// How long after a failure requests go straight to the local model before the server is tried again.
pub const RETRY_AFTER: Duration = Duration::from_secs(5);

pub struct WithFallback {
    remote: Box<dyn Generator>,
    local: Box<dyn Generator>,
    down_at: Option<Instant>,
}

impl WithFallback {
    /// `remote` first (a [`RemoteGenerator`](crate::RemoteGenerator)), `local` while it is down.
    pub fn new(remote: Box<dyn Generator>, local: Box<dyn Generator>) -> Self {
        WithFallback { remote, local, down_at: None }
    }
}

impl Generator for WithFallback {
    /// A request that fails before the server sent any text is completed locally; one that fails
    /// after (its text half shown) returns the error, and the next request goes local.
    fn generate(
        &mut self,
        prompt: &[u32],
        params: &GenerateParams,
        cancel: &CancelToken,
        on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Generation, DecodeError> {
        if self.down_at.is_none_or(|at| at.elapsed() >= RETRY_AFTER) {
            let mut shown = false;
            let mut relay = |delta: &str| {
                shown = true;
                on_text(delta)
            };
            match self.remote.generate(prompt, params, cancel, &mut relay) {
                Err(DecodeError::Unavailable(why)) => {
                    self.down_at = Some(Instant::now());
                    if shown {
                        return Err(DecodeError::Unavailable(why));
                    }
                }
                other => {
                    if other.is_ok() {
                        self.down_at = None;
                    }
                    return other;
                }
            }
        }
        self.local.generate(prompt, params, cancel, on_text)
    }

    fn score(&mut self, context: &[u32], continuation: &[u32]) -> Result<Vec<f32>, DecodeError> {
        self.local.score(context, continuation)
    }

    fn set_prefix_reuse(&mut self, on: bool) {
        self.local.set_prefix_reuse(on);
    }

    /// Off, as for the server alone: a completion must not change with the path it took.
    fn supports_forced_prefix(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use hearth_decode::{Stats, StopReason};

    use super::*;

    /// Says `text`, then fails as an unreachable server when `fails`; counts its calls.
    struct Scripted {
        text: &'static str,
        fails: bool,
        calls: Arc<AtomicUsize>,
    }

    impl Generator for Scripted {
        fn generate(
            &mut self,
            _: &[u32],
            _: &GenerateParams,
            _: &CancelToken,
            on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
        ) -> Result<Generation, DecodeError> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            if !self.text.is_empty() {
                let _ = on_text(self.text);
            }
            if self.fails {
                return Err(DecodeError::Unavailable("down".into()));
            }
            Ok(Generation { tokens: vec![1], text: self.text.into(), stop_reason: StopReason::MaxTokens, stats: Stats::default() })
        }
    }

    fn pair(remote_text: &'static str, remote_fails: bool) -> (WithFallback, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let remote = Scripted { text: remote_text, fails: remote_fails, calls: calls.clone() };
        let local = Scripted { text: "local", fails: false, calls: Arc::default() };
        (WithFallback::new(Box::new(remote), Box::new(local)), calls)
    }

    fn run(g: &mut WithFallback) -> Result<String, DecodeError> {
        g.generate(&[1], &GenerateParams::default(), &CancelToken::new(), &mut |_| ControlFlow::Continue(())).map(|g| g.text)
    }

    #[test]
    fn a_server_that_fails_before_any_text_is_replaced_and_not_asked_again_at_once() {
        let (mut g, calls) = pair("", true);
        assert_eq!(run(&mut g).unwrap(), "local");
        assert_eq!(run(&mut g).unwrap(), "local");
        assert_eq!(calls.load(Ordering::Relaxed), 1, "within RETRY_AFTER the server is not asked");
        g.down_at = Some(Instant::now() - RETRY_AFTER);
        assert_eq!(run(&mut g).unwrap(), "local");
        assert_eq!(calls.load(Ordering::Relaxed), 2, "after RETRY_AFTER it is asked again");
    }

    #[test]
    fn a_failure_after_text_was_shown_is_an_error_and_an_answering_server_is_used() {
        let (mut g, _) = pair("half", true);
        assert!(matches!(run(&mut g), Err(DecodeError::Unavailable(_))));
        assert_eq!(run(&mut g).unwrap(), "local", "the next request goes local");
        let (mut g, calls) = pair("remote", false);
        assert_eq!(run(&mut g).unwrap(), "remote");
        assert_eq!(run(&mut g).unwrap(), "remote");
        assert_eq!(calls.load(Ordering::Relaxed), 2);
    }
}
