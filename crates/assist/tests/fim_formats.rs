//! FIM prompts per family, token for token, on real vocabularies from llama.cpp's models/ (so that
//! every special token is one real id): each prompt Hearth builds must equal the family's documented
//! template, spelled out as text here and tokenized with its special tokens.
//!
//! DeepSeek-Coder's and StarCoder2's vocabularies have their FIM tokens. llama.cpp ships Qwen2's
//! vocabulary, whose slots 151646.. are padding; Qwen2.5-Coder's `tokenizer_config.json` fills
//! 151659..151664 with its FIM and repository tokens, and so does this test. CodeLlama's layout is
//! pinned on the SentencePiece fixture of hearth-model's tests; Codestral's and CodeGemma's, whose
//! vocabularies are not on the registries here, by the unit tests of `FimTokens::layout`.

use hearth_assist::completion::template::{ContextFile, Frame, Layout, Template};
use hearth_model::testing::{llama_cpp_vocab, QWEN25_CODER_TOKENS};
use hearth_model::{FimFormat, Tokenizer};

const PREFIX: &str = "def area(r):\n    return 3.14 * r";
const SUFFIX: &str = "\n\nprint(area(2))\n";
const CONTEXT_PATH: &str = "geometry/util.py";
const CONTEXT: &str = "def square(x):\n    return x * x\n";

/// Hearth's prompt for the fixed document, with or without context.
fn hearth_prompt(tok: &Tokenizer, bos: Option<u32>, with_context: bool) -> Vec<u32> {
    let fim = tok.fim_tokens().expect("FIM tokens in the vocabulary");
    let template = Template::new(Layout::Fim(fim), bos, "#");
    let files = [ContextFile { path: CONTEXT_PATH.into(), text: CONTEXT.into() }];
    let frame = Frame { repo_name: Some("shapes"), path: Some("geometry/main.py"), context: if with_context { &files } else { &[] } };
    let context = template.context_tokens(tok, &frame);
    template.render(&context, &[], &tok.encode(PREFIX), &tok.encode(SUFFIX))
}

/// The documented template, with `{P}`, `{S}` and `{C}` for the prefix, suffix and context file,
/// tokenized text segment by segment, special tokens by their spelling.
fn documented(tok: &Tokenizer, specials: &[&str], template: &str) -> Vec<u32> {
    for s in specials {
        let ids = tok.encode_special(s);
        assert_eq!(ids.len(), 1, "`{s}` is not one token: {ids:?}");
        assert_eq!(tok.token(ids[0]).as_deref(), Some(*s));
    }
    let text = template.replace("{P}", PREFIX).replace("{S}", SUFFIX).replace("{C}", CONTEXT.trim_end_matches('\n'));
    tok.encode_special(&text)
}

#[test]
fn qwen25_coder() {
    let tok = llama_cpp_vocab("qwen2", QWEN25_CODER_TOKENS);
    let fim = tok.fim_tokens().unwrap();
    assert_eq!(fim.format, FimFormat::Qwen);
    assert_eq!((fim.prefix, fim.suffix, fim.middle), (151659, 151661, Some(151660)));
    let specials = ["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|repo_name|>", "<|file_sep|>"];
    assert_eq!(hearth_prompt(&tok, None, false), documented(&tok, &specials, "<|fim_prefix|>{P}<|fim_suffix|>{S}<|fim_middle|>"));
    assert_eq!(
        hearth_prompt(&tok, None, true),
        documented(
            &tok,
            &specials,
            "<|repo_name|>shapes\n<|file_sep|>geometry/util.py\n{C}\n<|file_sep|>geometry/main.py\n<|fim_prefix|>{P}<|fim_suffix|>{S}<|fim_middle|>"
        )
    );
}

#[test]
fn starcoder2() {
    let tok = llama_cpp_vocab("starcoder", &[]);
    let fim = tok.fim_tokens().unwrap();
    assert_eq!(fim.format, FimFormat::StarCoder);
    let specials = ["<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<repo_name>", "<file_sep>"];
    assert_eq!(hearth_prompt(&tok, None, false), documented(&tok, &specials, "<fim_prefix>{P}<fim_suffix>{S}<fim_middle>"));
    // StarCoder2's repository format: `<repo_name>name<file_sep>path\ncode...`.
    assert_eq!(
        hearth_prompt(&tok, None, true),
        documented(
            &tok,
            &specials,
            "<repo_name>shapes<file_sep>geometry/util.py\n{C}\n<file_sep>geometry/main.py\n<fim_prefix>{P}<fim_suffix>{S}<fim_middle>"
        )
    );
}

#[test]
fn deepseek_coder() {
    let tok = llama_cpp_vocab("deepseek-coder", &[]);
    let fim = tok.fim_tokens().unwrap();
    assert_eq!(fim.format, FimFormat::DeepSeek);
    let bos = tok.token_id("<｜begin▁of▁sentence｜>").expect("DeepSeek's BOS");
    let specials = ["<｜begin▁of▁sentence｜>", "<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"];
    assert_eq!(
        hearth_prompt(&tok, Some(bos), false),
        documented(&tok, &specials, "<｜begin▁of▁sentence｜><｜fim▁begin｜>{P}<｜fim▁hole｜>{S}<｜fim▁end｜>")
    );
    // No file separator: context is a commented header and the text, at the head of the prefix.
    assert_eq!(
        hearth_prompt(&tok, Some(bos), true),
        documented(&tok, &specials, "<｜begin▁of▁sentence｜><｜fim▁begin｜># geometry/util.py\n{C}\n\n{P}<｜fim▁hole｜>{S}<｜fim▁end｜>")
    );
}
