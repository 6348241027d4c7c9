//! Token healing in the engine, on the real tiny model: with the prompt's last token taken off and
//! its text forced, the first new tokens spell that text (or extend it), the returned text starts
//! after it, a stop string inside it does not stop decoding, and speculation leaves the output as it is.

use std::ops::ControlFlow;

use hearth_base::CancelToken;
use hearth_decode::{Engine, GenerateParams, Speculation, StopConditions};
use hearth_model::testing::model_path;
use hearth_model::{load, DeviceChoice};

#[test]
fn forced_prefix_is_spelled_first_and_left_out_of_the_text() {
    let m = load(&model_path("tiny-coder"), DeviceChoice::Cpu).unwrap();
    let text = "import os\n\n\ndef read_config(path):\n    with open(path) as f:\n        ret";
    let mut prompt = m.tokenizer.encode(text);
    let last = prompt.pop().unwrap();
    let forced = String::from_utf8(m.tokenizer.token_bytes(last).to_vec()).unwrap();
    assert!(!forced.is_empty() && text.ends_with(&forced), "{forced:?}");
    let mut engine = Engine::new(&m, None).unwrap();
    for speculate in [false, true] {
        let params = GenerateParams {
            max_tokens: 12,
            // A stop string inside the forced text must not end decoding there.
            stop: StopConditions { strings: vec![forced.clone()], special_tokens: true, ..Default::default() },
            speculation: Speculation { lookup: speculate, ..Default::default() },
            forced_prefix: forced.clone(),
            ..Default::default()
        };
        let mut streamed = String::new();
        let g = engine
            .generate(&prompt, &params, &CancelToken::new(), &mut |t| {
                streamed.push_str(t);
                ControlFlow::Continue(())
            })
            .unwrap();
        let spelled: Vec<u8> = g.tokens.iter().flat_map(|&t| m.tokenizer.token_bytes(t).to_vec()).collect();
        assert!(spelled.starts_with(forced.as_bytes()), "{:?} does not start with {forced:?}", String::from_utf8_lossy(&spelled));
        assert_eq!(format!("{forced}{}", g.text), m.tokenizer.decode(&g.tokens)[..forced.len() + g.text.len()]);
        assert_eq!(streamed, g.text, "streamed text is the returned text");
        assert!(!g.text.is_empty(), "{:?} {:?}", g.text, m.tokenizer.decode(&g.tokens));
    }
    // Without healing the same prompt (last token kept) decodes differently only in where it starts.
    let plain = engine
        .generate(&m.tokenizer.encode(text), &GenerateParams { max_tokens: 4, ..Default::default() }, &CancelToken::new(), &mut |_| {
            ControlFlow::Continue(())
        })
        .unwrap();
    assert!(!plain.tokens.is_empty());
}
