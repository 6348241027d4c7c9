//! Next-edit prompts on real vocabularies, and predictions with real models.
//!
//! Sweep's format needs `<|file_sep|>` as one id: on Qwen2.5-Coder's vocabulary (llama.cpp's Qwen2
//! vocabulary with the tokens Qwen2.5-Coder adds) every one is 151664, and the prompt's ids are those
//! of its text tokenized as Hugging Face does, special tokens split first. Zeta's markers are plain
//! text. Gemma 3's vocabulary has no `<|file_sep|>`, which the Sweep format names. With tiny-coder and
//! Gemma 3, a prediction with speculation equals one without, in fewer steps.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hearth_assist::nextedit::{
    ContextFile, EditHistory, NextEditFormat, NextEditInput, NextEditOptions, NextEditPredictor, Outcome, Segment, FILE_SEP,
};
use hearth_base::CancelToken;
use hearth_model::testing::{gemma3_path, llama_cpp_vocab, model_path, QWEN25_CODER_TOKENS};
use hearth_model::{load, load_tokenizer, DeviceChoice};

/// A function whose parameter the user just renamed in its signature, with the cursor after it;
/// the uses below still have the old name.
const BEFORE: &str = "import sys\n\n\ndef report(values, out):\n    total = sum(values)\n    out.write(f\"{len(values)} values\\n\")\n    out.write(f\"total {total}\\n\")\n    for v in values:\n        out.write(f\"  {v}\\n\")\n    return total\n\n\nreport([1, 2, 3], sys.stdout)\n";

fn renamed() -> (String, Vec<hearth_assist::nextedit::EditEvent>, usize) {
    let after = BEFORE.replacen("report(values,", "report(numbers,", 1);
    let mut history = EditHistory::new();
    history.opened("stats.py", &Arc::from(BEFORE));
    let t0 = Instant::now();
    // The user deleted `values` and typed `numbers`, a keystroke at a time.
    let at = BEFORE.find("values,").unwrap();
    let mut text = BEFORE.to_string();
    let mut before: Arc<str> = Arc::from(text.as_str());
    text.replace_range(at..at + "values".len(), "");
    for (i, c) in "numbers".chars().enumerate() {
        let now: Arc<str> = Arc::from(text.as_str());
        history.changed("stats.py", &before, &now, t0 + Duration::from_millis(100 * i as u64));
        before = now;
        text.insert(at + i, c);
    }
    history.changed("stats.py", &before, &Arc::from(text.as_str()), t0 + Duration::from_millis(800));
    assert_eq!(text, after);
    let events = history.events();
    assert_eq!(events.len(), 1, "{events:?}");
    (after, events, at + "numbers".len())
}

fn context() -> Vec<ContextFile> {
    vec![ContextFile { path: "fmt.py".into(), text: "def line(label, value):\n    return f\"{label}: {value}\"\n".into() }]
}

#[test]
fn sweep_on_qwen25_coder_s_vocabulary_has_one_id_per_file_sep() {
    let tok = llama_cpp_vocab("qwen2", QWEN25_CODER_TOKENS);
    let (text, events, cursor) = renamed();
    let context = context();
    let input = NextEditInput { path: "stats.py", text: &text, cursor, events: &events, context: &context };
    let prompt = hearth_assist::nextedit::format::build(NextEditFormat::Sweep, &input, None).unwrap();
    let ids = prompt.ids(&tok, None).unwrap();
    let file_sep = tok.encode_special(FILE_SEP);
    assert_eq!(file_sep, [151664]);
    assert_eq!(ids.iter().filter(|&&id| id == 151664).count(), 4, "context file, original/, current/, updated/");
    // As Hugging Face tokenizes the prompt's text: special tokens split first, the rest as text.
    assert_eq!(ids, tok.encode_special(&prompt.text()));
    assert!(prompt.text().ends_with("<|file_sep|>updated/stats.py"));
    assert_eq!(prompt.unchanged_ids(&tok).unwrap().last(), Some(&151664), "the copy source ends where the answer does");
    // Code that spells a special token stays text.
    let tricky = text.replace("import sys", "import sys  # <|file_sep|>");
    let input = NextEditInput { text: &tricky, cursor: cursor + 15, ..input };
    let prompt = hearth_assist::nextedit::format::build(NextEditFormat::Sweep, &input, None).unwrap();
    assert_eq!(prompt.ids(&tok, None).unwrap().iter().filter(|&&id| id == 151664).count(), 4);
}

#[test]
fn zeta_markers_are_plain_text_and_sweep_needs_file_sep() {
    let qwen = llama_cpp_vocab("qwen2", QWEN25_CODER_TOKENS);
    let gemma = load_tokenizer(&gemma3_path().display().to_string()).unwrap().tokenizer;
    let (text, events, cursor) = renamed();
    let input = NextEditInput { path: "stats.py", text: &text, cursor, events: &events, context: &[] };
    let zeta = hearth_assist::nextedit::format::build(NextEditFormat::Zeta, &input, None).unwrap();
    assert!(matches!(zeta.segments.as_slice(), [Segment::Text(_)]));
    for tok in [&qwen, &gemma] {
        let ids = zeta.ids(tok, None).unwrap();
        assert!(ids.iter().all(|&id| !tok.is_special(id)), "no special token in Zeta's prompt");
        assert!(tok.encode("<|editable_region_start|>").len() > 1);
    }
    assert_eq!(qwen.encode("<|editable_region_start|>"), [27, 91, 43646, 20627, 4906, 91, 29]);
    let sweep = hearth_assist::nextedit::format::build(NextEditFormat::Sweep, &input, None).unwrap();
    let err = sweep.ids(&gemma, None).unwrap_err();
    assert!(err.contains("<|file_sep|>") && err.contains("zeta or chat"), "{err}");
}

/// Predicts with and without speculation: the same rewrite, in fewer target steps.
fn same_with_and_without_speculation(model: &str, format: NextEditFormat) -> (hearth_assist::nextedit::NextEdit, usize) {
    let target = load(model, DeviceChoice::Cpu).unwrap();
    let mut predictor = NextEditPredictor::new(&target, None).unwrap();
    let (text, events, cursor) = renamed();
    let context = context();
    let input = NextEditInput { path: "stats.py", text: &text, cursor, events: &events, context: &context };
    let cancel = CancelToken::new();
    let plain = predictor.predict(format, &input, &NextEditOptions { speculate: false }, &cancel).unwrap();
    let fast = predictor.predict(format, &input, &NextEditOptions { speculate: true }, &cancel).unwrap();
    assert_eq!(fast.rewritten, plain.rewritten, "{model}");
    assert_eq!((fast.outcome, &fast.edits), (plain.outcome, &plain.edits));
    assert_eq!(plain.stats.steps, plain.stats.generated_tokens, "one token a step without speculation");
    assert!(fast.stats.steps < plain.stats.steps, "{model}: {:?} vs {:?}", fast.stats, plain.stats);
    // The edits turn the window into its rewrite.
    if fast.outcome == Outcome::Edit {
        let mut edited = text.clone();
        for e in fast.edits.iter().rev() {
            edited.replace_range(e.range.clone(), &e.new_text);
        }
        assert_eq!(edited, format!("{}{}{}", &text[..fast.window.start], fast.rewritten, &text[fast.window.end..]));
    }
    (fast, plain.stats.steps)
}

#[test]
fn tiny_coder_predicts_the_same_with_speculation_in_fewer_steps() {
    let model = model_path("tiny-coder");
    let (edit, plain_steps) = same_with_and_without_speculation(&model, NextEditFormat::Sweep);
    eprintln!(
        "tiny-coder sweep: {:?}, {} steps for {} tokens (plain {plain_steps})",
        edit.outcome, edit.stats.steps, edit.stats.generated_tokens
    );
}

#[test]
fn gemma3_predicts_the_same_with_speculation_in_fewer_steps() {
    let model = gemma3_path().display().to_string();
    let (edit, plain_steps) = same_with_and_without_speculation(&model, NextEditFormat::Zeta);
    eprintln!(
        "gemma 3 zeta: {:?} {:?}, {} steps for {} tokens (plain {plain_steps})",
        edit.outcome, edit.edits, edit.stats.steps, edit.stats.generated_tokens
    );
}

#[test]
fn the_oldest_edits_of_other_files_make_room_when_the_prompt_does_not_fit() {
    let target = load(&model_path("tiny-coder"), DeviceChoice::Cpu).unwrap();
    let mut predictor = NextEditPredictor::new(&target, None).unwrap();
    let (text, mut events, cursor) = renamed();
    // Earlier edits of other files, each a few dozen tokens: all of them do not fit 384 positions.
    let mut history = EditHistory::new();
    for i in 0..8 {
        let path = format!("other{i}.py");
        let before: Arc<str> = Arc::from(format!("def helper_{i}(a, b):\n    return a + b\n").as_str());
        let after: Arc<str> = Arc::from(format!("def helper_{i}(a, b, c):\n    return a + b + c\n").as_str());
        history.opened(&path, &before);
        history.changed(&path, &before, &after, Instant::now() + Duration::from_secs(2 * i));
    }
    let mut all = history.events();
    all.append(&mut events);
    let input = NextEditInput { path: "stats.py", text: &text, cursor, events: &all, context: &[] };
    let edit = predictor.predict(NextEditFormat::Sweep, &input, &NextEditOptions::default(), &CancelToken::new()).unwrap();
    assert!(edit.history_edits < all.len() && edit.history_edits >= 1, "{} of {}", edit.history_edits, all.len());
    assert!(edit.prompt.contains("original/stats.py\nimport sys"), "{}", edit.prompt);
    assert!(edit.prompt.contains("def report(values, out):") && edit.prompt.contains("def report(numbers, out):"));
    // The newest of the other files' edits stay; the oldest went first.
    assert!(edit.prompt.contains("other7.py") && !edit.prompt.contains("other0.py"), "{}", edit.prompt);
}
