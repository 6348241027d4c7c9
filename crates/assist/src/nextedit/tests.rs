//! The formats' prompts on a rename of a parameter, their windows, and reading answers back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use expect_test::expect;

use super::format::{build, lines_around};
use super::*;

const BEFORE: &str =
    "import os\n\n\ndef greet(nme, greeting):\n    message = f\"{greeting}, {nme}!\"\n    print(message)\n    return nme\n";

/// The user renamed `nme` to `name` in the signature, with the cursor after it.
fn renamed() -> (String, Vec<EditEvent>, usize) {
    let after = BEFORE.replacen("greet(nme", "greet(name", 1);
    let mut history = EditHistory::new();
    history.opened("hello.py", &Arc::from(BEFORE));
    history.changed("hello.py", &Arc::from(BEFORE), &Arc::from(after.as_str()), Instant::now());
    let cursor = after.find("name,").unwrap() + 4;
    (after, history.events(), cursor)
}

fn context() -> Vec<ContextFile> {
    vec![ContextFile { path: "util.py".into(), text: "def shout(text):\n    return text.upper()\n".into() }]
}

#[test]
fn sweep_prompt_is_run_model_py_s_layout() {
    let (text, events, cursor) = renamed();
    let context = context();
    let input = NextEditInput { path: "hello.py", text: &text, cursor, events: &events, context: &context };
    let prompt = build(NextEditFormat::Sweep, &input, None).unwrap();
    expect![[r#"
        <|file_sep|>util.py
        def shout(text):
            return text.upper()

        <|file_sep|>original/hello.py
        import os


        def greet(nme, greeting):
            message = f"{greeting}, {nme}!"
            print(message)
            return nme
        <|file_sep|>current/hello.py
        import os


        def greet(name, greeting):
            message = f"{greeting}, {nme}!"
            print(message)
            return nme
        <|file_sep|>updated/hello.py"#]]
    .assert_eq(&prompt.text());
    assert_eq!(prompt.segments.iter().filter(|s| **s == Segment::Special(FILE_SEP)).count(), 4);
    assert_eq!(&text[prompt.window.clone()], text.trim_end());
    // The answer starts on a new line and ends before the next `<|file_sep|>`.
    let answer = format!("\n{}\n", text.trim_end().replace("{nme}", "{name}").replace("return nme", "return name"));
    assert_eq!(prompt.parse(&answer).unwrap(), text.trim_end().replace("nme", "name"));
    assert_eq!(prompt.unchanged, format!("\n{}\n", text.trim_end()));
}

/// The example of `sweepai/sweep-next-edit-1.5B`'s model card (`run_model.py`), byte for byte: an
/// older edit as a diff block, the latest (the import) as `original/` against `current/`.
#[test]
fn sweep_prompt_reproduces_the_model_card_example() {
    let utils = "def get_time_of_day():\n    from datetime import datetime\n    hour = datetime.now().hour\n    if hour < 12:\n        return \"morning\"\n    elif hour < 18:\n        return \"afternoon\"\n    else:\n        return \"evening\"\n";
    let v0 = "def greet():\n    print(\"Hello!\")\n\ngreet(\"Alice\")\n";
    let v1 = "def greet(name):\n    print(f\"Hello, {name}!\")\n\ngreet(\"Alice\")\n";
    let v2 = format!("from utils import get_time_of_day\n\n{v1}");
    let mut history = EditHistory::new();
    let t0 = Instant::now();
    history.changed("greet.py", &Arc::from(v0), &Arc::from(v1), t0);
    history.changed("greet.py", &Arc::from(v1), &Arc::from(v2.as_str()), t0 + Duration::from_secs(5));
    let events = history.events();
    assert_eq!(events.len(), 2, "the import is a second edit, away from the first");
    let context = vec![ContextFile { path: "utils.py".into(), text: utils.into() }];
    let input = NextEditInput { path: "greet.py", text: &v2, cursor: v2.find("print").unwrap(), events: &events, context: &context };
    let prompt = build(NextEditFormat::Sweep, &input, None).unwrap();
    let model_card = "<|file_sep|>utils.py\ndef get_time_of_day():\n    from datetime import datetime\n    hour = datetime.now().hour\n    if hour < 12:\n        return \"morning\"\n    elif hour < 18:\n        return \"afternoon\"\n    else:\n        return \"evening\"\n\n<|file_sep|>greet.py.diff\noriginal:\ndef greet():\n    print(\"Hello!\")\nupdated:\ndef greet(name):\n    print(f\"Hello, {name}!\")\n<|file_sep|>original/greet.py\ndef greet(name):\n    print(f\"Hello, {name}!\")\n\ngreet(\"Alice\")\n<|file_sep|>current/greet.py\nfrom utils import get_time_of_day\n\ndef greet(name):\n    print(f\"Hello, {name}!\")\n\ngreet(\"Alice\")\n<|file_sep|>updated/greet.py";
    assert_eq!(prompt.text(), model_card);
}

#[test]
fn zeta_prompt_is_the_training_notebook_s_layout() {
    let (text, events, cursor) = renamed();
    let input = NextEditInput { path: "hello.py", text: &text, cursor, events: &events, context: &[] };
    let prompt = build(NextEditFormat::Zeta, &input, None).unwrap();
    // Spelled out: the diff's blank context lines are a lone space, which a snapshot would lose.
    let want = concat!(
        "### Instruction:\nYou are a code completion assistant and your task is to analyze user edits and then rewrite an excerpt ",
        "that the user provides, suggesting the appropriate edits within the excerpt, taking into account the cursor location.\n\n",
        "### User Edits:\n\n",
        "User edited \"hello.py\":\n```diff\n@@ -1,7 +1,7 @@\n import os\n \n \n-def greet(nme, greeting):\n+def greet(name, greeting):\n",
        "     message = f\"{greeting}, {nme}!\"\n     print(message)\n     return nme\n\n```\n\n",
        "### User Excerpt:\n\n",
        "```hello.py\n<|start_of_file|>\n<|editable_region_start|>\nimport os\n\n\ndef greet(name<|user_cursor_is_here|>, greeting):\n",
        "    message = f\"{greeting}, {nme}!\"\n    print(message)\n    return nme\n<|editable_region_end|>\n```\n\n",
        "### Response:\n\n",
    );
    assert_eq!(prompt.text(), want);
    let answer = format!("<|editable_region_start|>\n{}\n", text.trim_end().replace("nme", "name"));
    assert_eq!(prompt.parse(&answer).unwrap(), text.trim_end().replace("nme", "name"));
    assert_eq!(prompt.parse("no region here"), None);
}

#[test]
fn chat_prompt_renders_through_the_model_s_template() {
    let (text, events, cursor) = renamed();
    let template = ChatTemplate::new(
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
        "",
        "<|im_end|>",
    )
    .unwrap();
    let input = NextEditInput { path: "hello.py", text: &text, cursor, events: &events, context: &[] };
    let prompt = build(NextEditFormat::Chat, &input, Some(&template)).unwrap();
    let rendered = prompt.text();
    assert!(rendered.starts_with("<|im_start|>system\nYou predict a programmer's next edit."), "{rendered}");
    assert!(rendered.contains("-def greet(nme, greeting):\n+def greet(name, greeting):\n"));
    assert!(rendered.contains("<|editable_region_start|>\nimport os\n\n\ndef greet(name<|user_cursor_is_here|>, greeting):"));
    assert!(rendered.ends_with("<|im_end|>\n<|im_start|>assistant\n```\n"), "{rendered}");
    // The user turn is plain text: the code could spell a special token.
    assert!(matches!(&prompt.segments[1], Segment::Text(t) if t.starts_with("My recent edits")));
    assert_eq!(prompt.parse("import os\n\n\ndef greet(name):\n```").unwrap(), "import os\n\n\ndef greet(name):");
    // Markers the model repeats are not code.
    let echoed = "<|user_cursor_is_here|>\n<|editable_region_start|>\nimport os\n\n\ndef greet(name<|user_cursor_is_here|>):\n<|editable_region_end|>\n```";
    assert_eq!(prompt.parse(echoed).unwrap(), "import os\n\n\ndef greet(name):");
    // A model that starts the region over has ended its rewrite there; a leading marker is not that.
    let again = "<|editable_region_start|>\nimport os\n\n\ndef greet(name):\n<|editable_region_start|>\nimport os\n";
    let at = prompt.restart_at(again).unwrap();
    assert_eq!(prompt.parse(&again[..at]).unwrap(), "import os\n\n\ndef greet(name):");
    assert_eq!(prompt.restart_at(echoed), None);
    assert!(prompt.stop_strings.iter().any(|s| s == "<|editable_region_end|>"));
    assert!(build(NextEditFormat::Chat, &input, None).is_err());
}

#[test]
fn windows_are_whole_lines_around_the_cursor() {
    let text: String = (0..40).map(|i| format!("line {i}\n")).collect();
    let cursor = text.find("line 20").unwrap() + 3;
    let w = lines_around(&text, cursor, 10, 10);
    assert!(text[w.clone()].starts_with("line 10\n") && text[w.clone()].ends_with("line 30"), "{:?}", &text[w]);
    let w = lines_around(&text, 2, 10, 10);
    assert!(text[w.clone()].starts_with("line 0\n") && text[w].ends_with("line 10"));
    // At the end of a file without a newline, and in an empty file.
    assert_eq!(lines_around("a\nb", 3, 10, 10), 0..3);
    assert_eq!(lines_around("", 0, 10, 10), 0..0);
}

#[test]
fn the_original_window_takes_back_the_latest_edit_only_where_it_falls() {
    let (text, events, cursor) = renamed();
    let input = NextEditInput { path: "hello.py", text: &text, cursor, events: &events, context: &[] };
    let prompt = build(NextEditFormat::Sweep, &input, None).unwrap().text();
    assert!(prompt.contains("<|file_sep|>original/hello.py\nimport os\n\n\ndef greet(nme, greeting):"));
    // An edit of another file leaves the window as it is.
    let other = vec![EditEvent { path: "other.py".into(), hunk: events[0].hunk.clone() }];
    let input = NextEditInput { events: &other, ..input };
    let prompt = build(NextEditFormat::Sweep, &input, None).unwrap().text();
    assert!(prompt.contains("<|file_sep|>original/hello.py\nimport os\n\n\ndef greet(name, greeting):"));
}

#[test]
fn formats_follow_the_model() {
    use NextEditFormat::*;
    assert_eq!(NextEditFormat::for_model("sweep-next-edit-1.5b.q8_0", false, true), Sweep);
    assert_eq!(NextEditFormat::for_model("zeta-Q4_K_M", true, true), Zeta);
    assert_eq!(NextEditFormat::for_model("Qwen2.5-Coder-7B-Instruct", true, true), Chat);
    assert_eq!(NextEditFormat::for_model("qwen2.5-coder-1.5b", true, true), Sweep);
    assert_eq!(NextEditFormat::for_model("gemma-3-270m", true, false), Zeta);
    assert_eq!("zeta".parse::<NextEditFormat>(), Ok(Zeta));
    assert!("fim".parse::<NextEditFormat>().is_err());
}
