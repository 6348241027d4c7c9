//! Prompt building: cut the text around the cursor to the token budget and fill the template.
//!
//! Editors send whole files (hundreds of KB). Tokenizing all of it on every keystroke would cost more
//! than decoding, so each side is tokenized from a window around the cursor (`hearth_model::window`)
//! that grows until it holds the tokens the budget asks for plus a margin, and the kept tokens are
//! those of tokenizing the whole text and cutting. The server's prefix starts instead on a line
//! boundary on a grid of bytes (`aligned_tail_tokens`), so that while the user types the prompt's
//! head stays the same and its KV cache is reused.

use super::budget::{BudgetPolicy, Split};
use super::codec::Codec;
use super::template::{ContextFile, Frame, Template};
use super::CompletionRequest;

/// Bytes per token assumed when placing an aligned prefix start (low, so the first try rarely overflows).
const ALIGNED_BYTES_PER_TOKEN: usize = 4;

/// A prompt ready for decoding, with what went into it.
#[derive(Clone, Debug, Default)]
pub struct Prompt {
    pub ids: Vec<u32>,
    /// Index in `ids` just after the prefix's last token.
    pub prefix_end: usize,
    pub split: Split,
    /// The retrieved files that fit, in prompt order.
    pub context: Vec<ContextFile>,
}

/// The last at most `cap` tokens of `text`, as if all of it were tokenized.
pub fn tail_tokens(codec: &dyn Codec, text: &str, cap: usize) -> Vec<u32> {
    hearth_model::window::tail_tokens(&|t| codec.encode(t), text, cap)
}

/// The first at most `cap` tokens of `text`, as if all of it were tokenized.
pub fn head_tokens(codec: &dyn Codec, text: &str, cap: usize) -> Vec<u32> {
    hearth_model::window::head_tokens(&|t| codec.encode(t), text, cap)
}

/// At most `cap` tokens from the end of `text`, starting at a line boundary chosen on a grid of
/// `quantum` bytes: while text is appended, the start stays put until the tokens outgrow `cap`, so
/// consecutive prompts share their head.
pub fn aligned_tail_tokens(codec: &dyn Codec, text: &str, cap: usize, quantum: usize) -> Vec<u32> {
    if cap == 0 {
        return Vec::new();
    }
    let quantum = quantum.max(1);
    let mut anchor = text.len().saturating_sub(cap * ALIGNED_BYTES_PER_TOKEN) / quantum * quantum;
    loop {
        let start = if anchor == 0 { 0 } else { line_start_from(text, anchor) };
        let ids = codec.encode(&text[start..]);
        if ids.len() <= cap || start >= text.len() {
            return ids;
        }
        anchor += quantum;
    }
}

/// First line start at or after byte `at` (or `at` itself, rounded up to a char, in a line without breaks).
fn line_start_from(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at += 1;
    }
    if text[..at].ends_with('\n') {
        return at;
    }
    match text[at..].find('\n') {
        Some(nl) if at + nl + 1 < text.len() => at + nl + 1,
        _ => at,
    }
}

/// Builds the prompt for `input` within `limit` tokens, fitting as many of `context` (best first) as the
/// policy allows.
pub fn build(
    codec: &dyn Codec,
    template: &Template,
    input: &CompletionRequest,
    context: &[ContextFile],
    limit: usize,
    policy: &BudgetPolicy,
) -> Prompt {
    let header = template.header_tokens(codec, input.path);
    let available = limit.saturating_sub(template.fixed_len() + header.len());
    let (context_ids, used) = fit_context(codec, template, input, context, policy.context_cap(available));
    let rest = available - context_ids.len();
    let prefix = tail_tokens(codec, &input.text[..input.offset], rest);
    let suffix = if template.has_suffix() { head_tokens(codec, &input.text[input.offset..], rest) } else { Vec::new() };
    // Left to right, the prefix gets everything the context leaves.
    let policy = &if template.has_suffix() { *policy } else { BudgetPolicy { suffix_share: 0.0, ..*policy } };
    let mut split = policy.split(available, context_ids.len(), prefix.len(), suffix.len());
    let prefix = if policy.prefix_quantum > 0 {
        let aligned = aligned_tail_tokens(codec, &input.text[..input.offset], split.prefix, policy.prefix_quantum);
        split.prefix = aligned.len();
        aligned
    } else {
        prefix[prefix.len() - split.prefix..].to_vec()
    };
    let suffix = &suffix[..split.suffix];
    let ids = template.render(&context_ids, &header, &prefix, suffix);
    let prefix_end = template.prefix_end(ids.len(), suffix.len());
    Prompt { ids, prefix_end, split, context: used }
}

/// Context tokens within `cap`: files that do not fit are skipped, and no context at all when even the
/// frame around them does not fit.
fn fit_context(
    codec: &dyn Codec,
    template: &Template,
    input: &CompletionRequest,
    context: &[ContextFile],
    cap: usize,
) -> (Vec<u32>, Vec<ContextFile>) {
    if context.is_empty() || cap == 0 {
        return (Vec::new(), Vec::new());
    }
    let frame = Frame { repo_name: input.repo_name, path: input.path, context };
    let (head, files, tail) = template.context_parts(codec, &frame);
    let mut total = head.len() + tail.len();
    let mut ids = head;
    let mut used = Vec::new();
    for (file, file_ids) in context.iter().zip(files) {
        if total + file_ids.len() <= cap {
            total += file_ids.len();
            ids.extend(file_ids);
            used.push(file.clone());
        }
    }
    if used.is_empty() {
        return (Vec::new(), Vec::new());
    }
    ids.extend(tail);
    (ids, used)
}

#[cfg(test)]
mod tests {
    use expect_test::{expect, Expect};

    use super::*;
    use crate::completion::codec::CharCodec;
    use crate::completion::template::Layout;
    use hearth_model::{FimFormat, FimTokens};

    /// Found by the load test (crates/cli/tests/load.rs): a window edge inside a multi-byte character.
    #[test]
    fn windows_never_cut_inside_a_character() {
        let text = "é🙂x\n🙂🙂(y = 1)\n".repeat(40);
        for cap in [1, 7, 30, 64, 100, 300] {
            for quantum in [1, 3, 64, 256] {
                assert!(aligned_tail_tokens(&CharCodec, &text, cap, quantum).len() <= cap);
            }
            assert!(tail_tokens(&CharCodec, &text, cap).len() <= cap);
        }
    }

    const QWEN: FimTokens =
        FimTokens { format: FimFormat::Qwen, prefix: 1, suffix: 3, middle: Some(2), pad: None, file_sep: Some(6), repo_name: Some(5) };
    const PLAIN: FimTokens = FimTokens { format: FimFormat::DeepSeek, file_sep: None, repo_name: None, ..QWEN };

    /// `fixture` holds `$0` at the cursor; context files follow `//- path` lines after a `---` line.
    fn check(specials: FimTokens, limit: usize, policy: BudgetPolicy, fixture: &str, expect: Expect) {
        check_layout(Layout::Fim(specials), limit, policy, fixture, expect)
    }

    fn check_layout(layout: Layout, limit: usize, policy: BudgetPolicy, fixture: &str, expect: Expect) {
        let (doc, files) = fixture.split_once("---\n").unwrap_or((fixture, ""));
        let offset = doc.find("$0").expect("fixture needs $0");
        let text = doc.replacen("$0", "", 1);
        let context: Vec<ContextFile> = files
            .split("//- ")
            .filter(|f| !f.is_empty())
            .map(|f| {
                let (path, text) = f.split_once('\n').unwrap();
                ContextFile { path: path.to_string(), text: text.to_string() }
            })
            .collect();
        let template = Template::new(layout, None, "#");
        let input = CompletionRequest { language: None, text: &text, offset, path: Some("pkg/main.py"), repo_name: Some("demo") };
        let prompt = build(&CharCodec, &template, &input, &context, limit, &policy);
        let split = prompt.split;
        let shown = template.display(&CharCodec, &prompt.ids);
        let actual =
            format!("context {} prefix {} suffix {} total {}\n{shown}", split.context, split.prefix, split.suffix, prompt.ids.len());
        expect.assert_eq(&actual);
    }

    const FIXED: BudgetPolicy = BudgetPolicy { max_context_share: 0.5, suffix_share: 1.0 / 3.0, rebalance: false, prefix_quantum: 0 };
    const REBALANCE: BudgetPolicy = BudgetPolicy { rebalance: true, ..FIXED };

    #[test]
    fn everything_fits() {
        check(
            QWEN,
            100,
            FIXED,
            "def add(a, b):\n    return $0\n\nprint(add(1, 2))\n",
            expect![[r#"
                context 0 prefix 26 suffix 19 total 48
                <|fim_prefix|>def add(a, b):
                    return <|fim_suffix|>

                print(add(1, 2))
                <|fim_middle|>"#]],
        );
    }

    #[test]
    fn fixed_split_cuts_prefix_from_the_left_and_suffix_from_the_right() {
        check(
            QWEN,
            3 + 15,
            FIXED,
            "import os\nx = os.path.$0join(a, b)\nprint(x)\n",
            expect![[r#"
                context 0 prefix 10 suffix 5 total 18
                <|fim_prefix|>= os.path.<|fim_suffix|>join(<|fim_middle|>"#]],
        );
    }

    #[test]
    fn rebalancing_gives_a_short_suffix_budget_to_the_prefix() {
        check(
            QWEN,
            3 + 15,
            REBALANCE,
            "import os\nx = os.path.$0\n",
            expect![[r#"
                context 0 prefix 14 suffix 1 total 18
                <|fim_prefix|>s
                x = os.path.<|fim_suffix|>
                <|fim_middle|>"#]],
        );
    }

    #[test]
    fn repo_level_format_with_context_that_fits() {
        check(
            QWEN,
            3 + 120,
            REBALANCE,
            "from util import helper\nhelper($0)\n---\n//- pkg/util.py\ndef helper(x):\n    pass\n//- pkg/big.py\nthis file is much too long to fit into the context budget of the prompt at all\n",
            expect![[r#"
                context 56 prefix 31 suffix 2 total 92
                <|repo_name|>demo
                <|file_sep|>pkg/util.py
                def helper(x):
                    pass
                <|file_sep|>pkg/main.py
                <|fim_prefix|>from util import helper
                helper(<|fim_suffix|>)
                <|fim_middle|>"#]],
        );
    }

    #[test]
    fn models_without_file_separators_get_commented_fragments() {
        check(
            PLAIN,
            3 + 80,
            REBALANCE,
            "helper($0)\n---\n//- pkg/util.py\ndef helper(x): pass\n",
            expect![[r#"
                context 35 prefix 7 suffix 2 total 47
                <|fim_prefix|># pkg/util.py
                def helper(x): pass

                helper(<|fim_suffix|>)
                <|fim_middle|>"#]],
        );
    }

    #[test]
    fn left_to_right_prompts_carry_the_path_and_commented_context_but_no_suffix() {
        check_layout(
            Layout::LeftToRight,
            160,
            REBALANCE,
            "from util import helper\nhelper($0)\nprint(1)\n---\n//- pkg/util.py\ndef helper(x):\n    pass\n",
            expect![[r#"
                context 58 prefix 31 suffix 0 total 103
                # context from pkg/util.py:
                # def helper(x):
                #     pass
                #
                # pkg/main.py
                from util import helper
                helper("#]],
        );
    }

    #[test]
    fn aligned_prefix_keeps_its_start_while_typing() {
        let mut text: String = (0..300).map(|i| format!("value_{i} = compute({i})\n")).collect();
        let policy = BudgetPolicy { prefix_quantum: 64, ..REBALANCE };
        let template = Template::new(Layout::Fim(QWEN), None, "#");
        let mut previous: Option<Vec<u32>> = None;
        let mut restarts = 0;
        for ch in "result = total + other_value(42)".chars() {
            text.push(ch);
            let input = CompletionRequest { language: None, text: &text, offset: text.len(), path: None, repo_name: None };
            let prompt = build(&CharCodec, &template, &input, &[], 3 + 120, &policy);
            // Between the cap less one quantum and one line, and the cap.
            assert!(prompt.split.prefix <= 120 && prompt.split.prefix > 120 - 64 - 26, "{}", prompt.split.prefix);
            let ids = prompt.ids;
            if let Some(prev) = &previous {
                let common = prev.iter().zip(&ids).take_while(|(a, b)| a == b).count();
                if common < prev.len() - 3 {
                    restarts += 1;
                }
            }
            previous = Some(ids);
        }
        assert!(restarts <= 1, "{restarts} restarts");
        let exact = build(
            &CharCodec,
            &template,
            &CompletionRequest { language: None, text: &text, offset: text.len(), path: None, repo_name: None },
            &[],
            123,
            &REBALANCE,
        );
        assert_eq!(exact.split.prefix, 120);
    }

    #[test]
    fn windows_match_whole_text_tokenization_on_long_text() {
        let text: String = (0..2000).map(|i| format!("line {i} of a long file\n")).collect();
        let all = CharCodec.encode(&text);
        assert_eq!(tail_tokens(&CharCodec, &text, 200), all[all.len() - 200..]);
        assert_eq!(head_tokens(&CharCodec, &text, 100), all[..100]);
        assert_eq!(tail_tokens(&CharCodec, "short", 200), CharCodec.encode("short"));
        let unicode = "é".repeat(5000);
        assert_eq!(head_tokens(&CharCodec, &unicode, 7).len(), 7);
        assert_eq!(tail_tokens(&CharCodec, &unicode, 7).len(), 7);
    }
}
