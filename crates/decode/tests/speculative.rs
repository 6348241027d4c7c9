//! Speculative decoding on the real tiny models: exactly the tokens of plain greedy decoding,
//! cache rollback equal to a fresh run, seeded sampling, and the target's distribution kept.

use std::ops::ControlFlow;

use hearth_base::CancelToken;
use hearth_decode::{DecodeError, Engine, GenerateParams, Sampling, Speculation, StopConditions};
use hearth_model::testing::{model_path, shared_dir};
use hearth_model::{load, DeviceChoice, LoadedModel};

fn target() -> LoadedModel {
    load(&model_path("tiny-coder"), DeviceChoice::Cpu).unwrap()
}

fn draft() -> LoadedModel {
    load(&model_path("tiny-coder-draft"), DeviceChoice::Cpu).unwrap()
}

/// FIM prompts as the eval protocol builds them: the last 200 prefix tokens, the first 100 suffix tokens.
fn fim_prompts(m: &LoadedModel, n: usize) -> Vec<Vec<u32>> {
    let text = std::fs::read_to_string(shared_dir().join("eval/fim-dev.jsonl")).unwrap();
    text.lines()
        .take(n)
        .map(|line| {
            let case: serde_json::Value = serde_json::from_str(line).unwrap();
            m.fim_window(case["prefix"].as_str().unwrap(), case["suffix"].as_str().unwrap(), 200, 100).unwrap()
        })
        .collect()
}

fn params(max_tokens: usize, draft: bool, lookup: bool) -> GenerateParams {
    GenerateParams {
        max_tokens,
        stop: StopConditions { special_tokens: true, ..Default::default() },
        speculation: Speculation { draft, lookup, ..Default::default() },
        ..Default::default()
    }
}

fn run(engine: &mut Engine, prompt: &[u32], p: &GenerateParams) -> hearth_decode::Generation {
    engine.generate(prompt, p, &CancelToken::new(), &mut |_| ControlFlow::Continue(())).unwrap()
}

#[test]
fn every_proposer_reproduces_plain_greedy_exactly() {
    let (t, d) = (target(), draft());
    let prompts = fim_prompts(&t, 60);
    let mut plain = Engine::new(&t, None).unwrap();
    let mut spec = Engine::new(&t, Some(&d)).unwrap();
    let (mut accepted, mut proposed) = ([0usize; 3], [0usize; 3]);
    for prompt in &prompts {
        let want = run(&mut plain, prompt, &params(32, false, false));
        assert_eq!(want.stats.proposed, 0);
        for (i, (use_draft, use_lookup)) in [(true, false), (false, true), (true, true)].into_iter().enumerate() {
            let got = run(&mut spec, prompt, &params(32, use_draft, use_lookup));
            assert_eq!(got.tokens, want.tokens, "draft={use_draft} lookup={use_lookup}");
            assert_eq!(got.text, want.text);
            accepted[i] += got.stats.accepted;
            proposed[i] += got.stats.proposed;
        }
    }
    // The proposers must actually have been exercised, with some accepted and some rejected.
    for i in 0..3 {
        assert!(accepted[i] > 0 && accepted[i] < proposed[i], "proposer {i}: {}/{}", accepted[i], proposed[i]);
    }
}

#[test]
fn copying_a_source_reproduces_plain_greedy_in_fewer_steps() {
    let t = target();
    let prompts = fim_prompts(&t, 30);
    let mut plain = Engine::new(&t, None).unwrap();
    let mut copying = Engine::new(&t, None).unwrap();
    let (mut plain_steps, mut copy_steps, mut generated) = (0, 0, 0);
    for (i, prompt) in prompts.iter().enumerate() {
        let want = run(&mut plain, prompt, &params(48, false, false));
        // The source is the answer with a change in its middle (as a rewrite's region is), or an
        // unrelated text: either way the output must not change.
        let source: Vec<u32> = if i % 3 == 2 {
            prompt[..prompt.len() / 2].to_vec()
        } else {
            let mut s = want.tokens.clone();
            let mid = s.len() / 2;
            s.splice(mid..(mid + 2).min(s.len()), [prompt[0], prompt[1], prompt[2]]);
            s
        };
        let p = GenerateParams { copy_source: source, ..params(48, false, true) };
        let got = run(&mut copying, prompt, &p);
        assert_eq!(got.tokens, want.tokens, "prompt {i}");
        assert_eq!(got.text, want.text);
        plain_steps += want.stats.steps;
        copy_steps += got.stats.steps;
        generated += want.tokens.len();
    }
    assert!(copy_steps * 2 < plain_steps, "copying took {copy_steps} steps, plain {plain_steps} for {generated} tokens");
}

#[test]
fn rollback_and_prefix_reuse_equal_a_fresh_run() {
    let t = target();
    let prompts = fim_prompts(&t, 3);
    let p = params(24, false, true);
    let fresh = run(&mut Engine::new(&t, None).unwrap(), &prompts[0], &p);

    let mut engine = Engine::new(&t, None).unwrap();
    run(&mut engine, &prompts[1], &p);
    run(&mut engine, &prompts[2], &p);
    // A prompt that extends the cached one by a few tokens reuses the shared prefix.
    let again = run(&mut engine, &prompts[0], &p);
    assert_eq!(again.tokens, fresh.tokens);
    let longer: Vec<u32> = prompts[0].iter().chain(&fresh.tokens[..3]).copied().collect();
    let resumed = run(&mut engine, &longer, &p);
    assert!(resumed.stats.reused_prompt_tokens >= prompts[0].len() - 1, "{:?}", resumed.stats);
    let resumed_fresh = run(&mut Engine::new(&t, None).unwrap(), &longer, &p);
    assert_eq!(resumed.tokens, resumed_fresh.tokens);

    engine.set_prefix_reuse(false);
    let no_reuse = run(&mut engine, &longer, &p);
    assert_eq!(no_reuse.stats.reused_prompt_tokens, 0);
    assert_eq!(no_reuse.tokens, resumed_fresh.tokens);
}

fn sampled(seed: u64, max_tokens: usize, draft: bool) -> GenerateParams {
    GenerateParams { sampling: Sampling::Sample { temperature: 1.0, top_k: None, top_p: None, seed }, ..params(max_tokens, draft, false) }
}

#[test]
fn same_seed_same_text_and_stop_strings_cut() {
    let t = target();
    let prompt = &fim_prompts(&t, 1)[0];
    let mut engine = Engine::new(&t, None).unwrap();
    let a = run(&mut engine, prompt, &sampled(7, 40, false));
    let b = run(&mut engine, prompt, &sampled(7, 40, false));
    let c = run(&mut engine, prompt, &sampled(8, 40, false));
    assert_eq!(a.tokens, b.tokens);
    assert_ne!(a.tokens, c.tokens, "different seeds should give different samples");

    let mut p = params(48, false, false);
    p.stop.strings = vec!["\n".into()];
    let g = run(&mut engine, prompt, &p);
    assert!(!g.text.contains('\n'), "{:?}", g.text);
}

#[test]
fn cancellation_stops_between_steps() {
    let t = target();
    let prompt = &fim_prompts(&t, 1)[0];
    let mut engine = Engine::new(&t, None).unwrap();
    let cancel = CancelToken::new();
    let mut seen = 0;
    let err = engine
        .generate(prompt, &params(48, false, false), &cancel, &mut |_| {
            seen += 1;
            if seen == 2 {
                cancel.cancel();
            }
            ControlFlow::Continue(())
        })
        .unwrap_err();
    assert!(matches!(err, DecodeError::Cancelled), "{err}");
    assert_eq!(seen, 2);
    assert!(matches!(
        engine.generate(&[], &params(4, false, false), &CancelToken::new(), &mut |_| ControlFlow::Continue(())),
        Err(DecodeError::EmptyPrompt)
    ));
}

/// Rejection sampling must leave the target's distribution unchanged. Compare the first two
/// sampled tokens of plain and draft-speculative sampling with a chi-square two-sample test.
#[test]
fn speculative_sampling_keeps_the_target_distribution() {
    let (t, d) = (target(), draft());
    let prompt = &fim_prompts(&t, 5)[4];
    let n = 3000;
    let mut plain = Engine::new(&t, None).unwrap();
    let mut spec = Engine::new(&t, Some(&d)).unwrap();
    let mut counts: [std::collections::HashMap<(usize, u32), [f64; 2]>; 1] = [Default::default()];
    let mut spec_accepted = 0;
    for seed in 0..n {
        let a = run(&mut plain, prompt, &sampled(seed, 2, false));
        let b = run(&mut spec, prompt, &sampled(seed + 1_000_000, 2, true));
        spec_accepted += b.stats.accepted;
        for (pos, tok) in a.tokens.iter().enumerate() {
            counts[0].entry((pos, *tok)).or_default()[0] += 1.0;
        }
        for (pos, tok) in b.tokens.iter().enumerate() {
            counts[0].entry((pos, *tok)).or_default()[1] += 1.0;
        }
    }
    assert!(spec_accepted > 0, "the draft was never accepted: the test would not exercise rejection sampling");
    for pos in 0..2 {
        // Bins with enough mass, the rest pooled; chi-square for two samples of equal size.
        let mut bins: Vec<[f64; 2]> = Vec::new();
        let mut tail = [0.0; 2];
        for ((p, _), c) in counts[0].iter().filter(|((p, _), _)| *p == pos) {
            let _ = p;
            if c[0] + c[1] >= 20.0 {
                bins.push(*c)
            } else {
                tail[0] += c[0];
                tail[1] += c[1];
            }
        }
        bins.push(tail);
        let chi2: f64 = bins.iter().filter(|c| c[0] + c[1] > 0.0).map(|c| (c[0] - c[1]).powi(2) / (c[0] + c[1])).sum();
        let dof = bins.len() as f64 - 1.0;
        // Wilson–Hilferty approximation of the chi-square 99.9% quantile.
        let z = 3.09;
        let crit = dof * (1.0 - 2.0 / (9.0 * dof) + z * (2.0 / (9.0 * dof)).sqrt()).powi(3);
        assert!(chi2 < crit, "position {pos}: chi2 {chi2:.1} over {dof} dof exceeds {crit:.1}");
        assert!(dof >= 3.0, "position {pos}: the distribution is too peaked for a meaningful test");
    }
}
