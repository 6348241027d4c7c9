//! Real vocabularies of every family Hearth claims, against llama.cpp's own tokenizer test vectors
//! (`models/ggml-vocab-*.gguf` with `.inp`/`.out` in llama.cpp's source): every case must give
//! llama.cpp's ids exactly, and decode back to its text.

use std::path::Path;

use hearth_model::testing::{gemma3_path, llama_cpp_file};
use hearth_model::Tokenizer;

/// The cases of one vocabulary: (text, ids), split as llama.cpp's `test-tokenizer-0` splits them.
fn vectors(vocab: &str) -> Vec<(String, Vec<u32>)> {
    let base = llama_cpp_file(&format!("models/ggml-vocab-{vocab}.gguf"));
    let inp = std::fs::read_to_string(base.with_extension("gguf.inp")).expect("vocabulary test inputs");
    let out = std::fs::read_to_string(base.with_extension("gguf.out")).expect("vocabulary test outputs");
    let mut texts: Vec<&str> = inp.split("\n__ggml_vocab_test__\n").collect();
    if inp.ends_with("\n__ggml_vocab_test__\n") {
        texts.pop(); // the C++ reader stops at the end instead of reading an empty last case
    }
    let ids: Vec<Vec<u32>> = out.lines().map(|l| l.split_whitespace().map(|t| t.parse().expect("an id")).collect()).collect();
    assert_eq!(texts.len(), ids.len(), "{vocab}: inputs and outputs differ in count");
    texts.into_iter().map(String::from).zip(ids).collect()
}

fn tokenizer(path: &Path) -> Tokenizer {
    Tokenizer::from_gguf_file(path).unwrap_or_else(|e| panic!("{e}"))
}

fn check(vocab: &str) {
    let tok = tokenizer(&llama_cpp_file(&format!("models/ggml-vocab-{vocab}.gguf")));
    let cases = vectors(vocab);
    assert!(cases.len() >= 40, "{vocab}: only {} cases", cases.len());
    let mut wrong = Vec::new();
    for (text, want) in &cases {
        let got = tok.encode(text);
        if &got != want {
            wrong.push(format!("{text:?}\n    llama.cpp {want:?}\n    hearth    {got:?}"));
        } else if tok.decode(want) != *text {
            wrong.push(format!("{text:?} decodes to {:?}", tok.decode(want)));
        } else {
            // Token healing reads each token's bytes: together they spell the text (after the
            // space a SentencePiece vocabulary may put in front).
            let bytes: Vec<u8> = want.iter().flat_map(|&id| tok.token_bytes(id).to_vec()).collect();
            let spelled = String::from_utf8_lossy(&bytes);
            if spelled != *text && spelled.strip_prefix(' ') != Some(text.as_str()) {
                wrong.push(format!("{text:?}: token bytes spell {spelled:?}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{vocab}: {} of {} cases differ:\n{}", wrong.len(), cases.len(), wrong.join("\n"));
}

#[test]
fn qwen2() {
    check("qwen2");
}

#[test]
fn qwen35() {
    check("qwen35");
}

#[test]
fn deepseek_coder() {
    check("deepseek-coder");
}

#[test]
fn starcoder() {
    check("starcoder");
}

#[test]
fn llama_bpe() {
    check("llama-bpe");
}

#[test]
fn llama_spm() {
    check("llama-spm");
}

#[test]
fn phi_3() {
    check("phi-3");
}

#[test]
fn gemma_4() {
    check("gemma-4");
}

#[test]
fn refact() {
    check("refact");
}

/// Gemma 3's own vocabulary (in the real model file) on the same texts. llama.cpp has no vectors
/// for it, so the expected ids are recorded from llama.cpp's tokenizer by scripts/record-llamacpp.sh.
#[test]
fn gemma3_matches_recorded_llama_cpp_ids() {
    let tok = tokenizer(&gemma3_path());
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gemma3-tokens.json"))
            .expect("tests/fixtures/gemma3-tokens.json"),
    )
    .unwrap();
    let mut wrong = Vec::new();
    let cases = fixture["cases"].as_array().unwrap();
    assert!(cases.len() >= 50);
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let want: Vec<u32> = case["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        let got = tok.encode(text);
        if got != want {
            wrong.push(format!("{text:?}\n    llama.cpp {want:?}\n    hearth    {got:?}"));
        } else if tok.decode(&want) != text {
            wrong.push(format!("{text:?} decodes to {:?}", tok.decode(&want)));
        }
    }
    assert!(wrong.is_empty(), "gemma3: {} of {} cases differ:\n{}", wrong.len(), cases.len(), wrong.join("\n"));
}
