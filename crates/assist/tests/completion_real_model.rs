//! The completion path on the real tiny-coder model from `../shared/models`: prompts identical to the
//! reference implementation's, greedy output matching it, prefix reuse across keystrokes, cancellation.

use std::path::PathBuf;

use hearth_assist::completion::{BudgetPolicy, Completer, CompletionError, CompletionOptions, CompletionRequest};
use hearth_base::CancelToken;

fn shared() -> PathBuf {
    std::env::var_os("HEARTH_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")))
}

fn completer() -> Completer {
    let model = shared().join("models/tiny-coder");
    let loaded = hearth_model::load(model.to_str().unwrap(), hearth_model::DeviceChoice::Cpu).expect("tiny-coder in ../shared/models");
    Completer::new(&loaded, None).unwrap()
}

fn request<'a>(text: &'a str, offset: usize) -> CompletionRequest<'a> {
    CompletionRequest { text, offset, path: Some("demo.py"), language: Some("python"), repo_name: None }
}

#[test]
fn reference_prompts_and_greedy_first_lines() {
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(shared().join("eval/reference-dev.json")).unwrap()).unwrap();
    let completer = completer();
    // Nothing is cut: these prompts fit the window with 24 new tokens.
    let options = CompletionOptions {
        max_tokens: 24,
        context_budget: 384,
        budget: BudgetPolicy { rebalance: true, prefix_quantum: 0, ..BudgetPolicy::reference() },
        retrieval: false,
        ..CompletionOptions::default()
    };
    let cases = reference["cases"].as_array().unwrap();
    let mut same_first_line = 0;
    for case in cases {
        let (prefix, suffix) = (case["prefix"].as_str().unwrap(), case["suffix"].as_str().unwrap());
        let text = format!("{prefix}{suffix}");
        let req = request(&text, prefix.len());
        let expected_ids: Vec<u32> = case["prompt_ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        assert_eq!(completer.prompt_ids(&req, &options).unwrap(), expected_ids, "prompt of {}", case["id"]);
        let completion = completer.complete(&req, &options, &CancelToken::new()).unwrap();
        let first = |s: &str| s.split('\n').next().unwrap_or("").to_string();
        same_first_line += usize::from(first(&completion.raw) == first(case["reference"].as_str().unwrap()));
    }
    // F32 agrees with the float64 reference except near-ties (one known case).
    assert!(same_first_line + 1 >= cases.len(), "{same_first_line} of {} first lines match", cases.len());
}

#[test]
fn typing_reuses_the_prompt_head_and_cancellation_stops_decoding() {
    let completer = completer();
    let options = CompletionOptions { retrieval: false, ..CompletionOptions::default() };
    let mut text: String = (0..120).map(|i| format!("def helper_{i}(value):\n    return value * {i}\n\n")).collect();
    text.push_str("def total(values):\n    result = 0\n    for v in values:\n        result += \n    return result\n");
    let mut cursor = text.find("result += ").unwrap() + "result += ".len();
    let first = completer.complete(&request(&text, cursor), &options, &CancelToken::new()).unwrap();
    assert_eq!(first.reused_prompt_tokens, 0);
    let mut reused = 0;
    let mut computed = 0;
    for ch in "helper_3(v)".chars() {
        text.insert(cursor, ch);
        cursor += 1;
        let c = completer.complete(&request(&text, cursor), &options, &CancelToken::new()).unwrap();
        reused += c.reused_prompt_tokens;
        computed += c.prompt_tokens - c.reused_prompt_tokens;
    }
    assert!(reused > 5 * computed, "reused {reused} computed {computed}");

    let cancel = CancelToken::new();
    cancel.cancel();
    assert!(matches!(completer.complete(&request(&text, cursor), &options, &cancel), Err(CompletionError::Cancelled)));
    // A bad offset is an error, not a panic.
    assert!(matches!(
        completer.complete(&request(&text, text.len() + 1), &options, &CancelToken::new()),
        Err(CompletionError::BadOffset { .. })
    ));
}
