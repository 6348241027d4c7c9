//! SentencePiece ("llama") GGUF tokenizers against sentencepiece itself: the fixture
//! (`fixtures/make_spm_fixture.py`) holds a trained SPM BPE vocabulary as GGUF metadata and the
//! ids sentencepiece gives for varied code text; Hearth must rebuild the same tokenizer from the
//! GGUF alone.

use std::path::PathBuf;

use candle_core::quantized::gguf_file;
use hearth_model::Tokenizer;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn load() -> Tokenizer {
    let path = fixture("spm-tokenizer.gguf");
    let mut file = std::fs::File::open(&path).unwrap();
    let content = gguf_file::Content::read(&mut file).unwrap();
    Tokenizer::from_gguf(&content, &path).unwrap()
}

fn expected() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("spm-tokenizer.json")).unwrap()).unwrap()
}

#[test]
fn encodes_like_sentencepiece() {
    let tok = load();
    let cases = expected()["cases"].as_array().unwrap().clone();
    assert!(cases.len() >= 15);
    let mut wrong = Vec::new();
    for case in &cases {
        let text = case["text"].as_str().unwrap();
        let want: Vec<u32> = case["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        let got = tok.encode(text);
        if got != want {
            wrong.push(format!("{text:?}\n  sentencepiece {want:?}\n  hearth        {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{} of {} texts differ:\n{}", wrong.len(), cases.len(), wrong.join("\n"));
}

#[test]
fn decodes_like_sentencepiece() {
    let tok = load();
    for case in expected()["cases"].as_array().unwrap() {
        let ids: Vec<u32> = case["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        assert_eq!(tok.decode(&ids), case["decoded"].as_str().unwrap(), "ids {ids:?}");
    }
}

#[test]
fn byte_fallback_covers_text_outside_the_vocabulary() {
    let tok = load();
    // U+2028 is not in the training text: its three UTF-8 bytes come out as <0xE2> <0x80> <0xA8>.
    let ids = tok.encode("\u{2028}");
    let pieces: Vec<String> = ids.iter().map(|&i| tok.token(i).unwrap()).collect();
    assert!(pieces.ends_with(&["<0xE2>".to_string(), "<0x80>".to_string(), "<0xA8>".to_string()]), "{pieces:?}");
    assert_eq!(tok.decode(&ids), "\u{2028}");
}

#[test]
fn codellama_fim_tokens_resolve() {
    let tok = load();
    let fim = tok.fim_tokens().expect("▁<PRE>/▁<SUF>/▁<MID> are in the vocabulary");
    let want = &expected()["fim"];
    assert_eq!(fim.prefix as u64, want["▁<PRE>"].as_u64().unwrap());
    assert_eq!(fim.suffix as u64, want["▁<SUF>"].as_u64().unwrap());
    assert_eq!(fim.middle.map(u64::from), want["▁<MID>"].as_u64());
    assert_eq!(fim.format, hearth_model::FimFormat::CodeLlama);
    assert_eq!(tok.default_eos(), vec![2, want["▁<EOT>"].as_u64().unwrap() as u32], "</s> and ▁<EOT> end generation");
}
