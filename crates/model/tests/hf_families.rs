//! Llama and StarCoder2 against Hugging Face transformers: the fixtures
//! (`fixtures/make_hf_fixtures.py`) are tiny random-weight checkpoints saved by transformers'
//! own model classes, with float64 logits at every prompt position and greedy continuations.
//! Hearth loads the folders through its real loader and must reproduce both.

use std::path::PathBuf;

use hearth_model::{testing, Logits};

const TOLERANCE: f32 = 1e-4;

fn check_family(name: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    let expected: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    // float64 references: the cache keeps F32, not the default F16.
    let model = testing::load_f32_kv(dir.to_str().unwrap()).unwrap();
    let cases = expected["cases"].as_array().unwrap();
    assert!(cases.len() >= 3);
    let mut worst = 0f32;
    for case in cases {
        let ids = |v: &serde_json::Value| -> Vec<u32> { v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect() };
        let prompt = ids(&case["prompt"]);

        let mut cache = model.new_cache(64).unwrap();
        let logits = model.model.forward(&prompt, &mut cache, Logits::All).unwrap().to_vec2::<f32>().unwrap();
        let want = case["logits"].as_array().unwrap();
        assert_eq!(logits.len(), want.len());
        for (pos, (got, want)) in logits.iter().zip(want).enumerate() {
            for (tok, (g, w)) in got.iter().zip(want.as_array().unwrap()).enumerate() {
                let diff = (g - w.as_f64().unwrap() as f32).abs();
                worst = worst.max(diff);
                assert!(diff <= TOLERANCE, "{name}: prompt of {} tokens, position {pos}, token {tok}: {g} vs {w}", prompt.len());
            }
        }

        // Greedy continuation, one token per step through the KV cache.
        let mut next = argmax(logits.last().unwrap());
        let mut greedy = vec![next];
        while greedy.len() < ids(&case["greedy"]).len() {
            let step = model.model.forward(&[next], &mut cache, Logits::Last).unwrap().to_vec2::<f32>().unwrap();
            next = argmax(&step[0]);
            greedy.push(next);
        }
        assert_eq!(greedy, ids(&case["greedy"]), "{name}: greedy continuation of {prompt:?}");
    }
    eprintln!("{name}: largest logit difference {worst:.2e}");
}

fn argmax(v: &[f32]) -> u32 {
    v.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i as u32).unwrap()
}

#[test]
fn llama_matches_transformers() {
    check_family("tiny-llama");
}

#[test]
fn starcoder2_matches_transformers() {
    check_family("tiny-starcoder2");
}
