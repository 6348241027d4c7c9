//! Tool-call formats (`hearth_assist::agent::format`): the documented example outputs of each format parse to
//! the documented calls, malformed ones are rejected with a message the model can act on, `detect` reads the
//! real chat templates, `render_call` writes what those templates show for an earlier call, and rendering then
//! parsing gives the call back.
//!
//! Sources of the vectors: llama.cpp's `tests/test-chat.cpp` (in the test assets, `scripts/fetch-assets.sh`),
//! the templates in its `models/templates/`, Qwen's function-calling docs (QwenLM/Qwen2.5
//! `docs/source/framework/function_call.md`), Meta's `llama_models/llama3_1/prompt_format.md`
//! (meta-llama/llama-models) and vLLM's `llama_tool_parser.py`.

use expect_test::{expect, Expect};
use hearth_assist::agent::format::{AssistantTurn, ParsedCall, ToolFormat};
use hearth_assist::chat::{ChatTemplate, Conversation, FunctionCall, Message, RawValue, RenderOptions, ToolCall, ToolSpec};
use serde_json::{json, Map, Value};

use ToolFormat::{Hermes, Llama3Json, QwenXml};

fn tool(name: &str, parameters: Value) -> ToolSpec {
    let text = serde_json::to_string(&parameters).unwrap();
    ToolSpec { name: name.into(), description: format!("The {name} tool."), parameters: RawValue::from_string(text).unwrap() }
}

/// A tool from its schema's text (key order kept).
fn tool_text(name: &str, parameters: &str) -> ToolSpec {
    ToolSpec { name: name.into(), description: String::new(), parameters: RawValue::from_string(parameters.into()).unwrap() }
}

/// Our tools.
fn tools() -> Vec<ToolSpec> {
    vec![
        tool_text(
            "search",
            r#"{"type": "object", "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}}, "required": ["query"]}"#,
        ),
        tool_text(
            "read_file",
            r#"{"type": "object", "properties": {"path": {"type": "string"}, "start_line": {"type": "integer"}, "end_line": {"type": "integer"}}, "required": ["path"]}"#,
        ),
        tool_text(
            "edit",
            r#"{"type": "object", "properties": {"path": {"type": "string"}, "search": {"type": "string"}, "replace": {"type": "string"}}, "required": ["path", "search", "replace"]}"#,
        ),
    ]
}

/// test-chat.cpp's tools (`special_function_tool` and the others, same names and schemas).
fn llama_cpp_tools() -> Vec<ToolSpec> {
    let int = json!({"type": "integer"});
    let string = json!({"type": "string"});
    vec![
        tool("special_function", json!({"type": "object", "properties": {"arg1": int}, "required": ["arg1"]})),
        tool("special_function_with_opt", json!({"type": "object", "properties": {"arg1": int, "arg2": int}, "required": ["arg1"]})),
        tool("python", json!({"type": "object", "properties": {"code": string}, "required": ["code"]})),
        tool("html", json!({"type": "object", "properties": {"markup": string}, "required": ["markup"]})),
        tool("todo_list", json!({"type": "object", "properties": {"todos": {"type": "array"}}, "required": ["todos"]})),
        tool(
            "edit",
            json!({"type": "object", "properties": {"filename": string, "oldString": string, "newString": string},
                   "required": ["filename", "oldString", "newString"]}),
        ),
        tool(
            "tool_2req_4opt",
            json!({"type": "object", "properties": {"req1": string, "req2": int, "opt1": string, "opt2": int, "opt3": string, "opt4": int},
                   "required": ["req1", "req2"]}),
        ),
        tool("set_nullable_str", json!({"type": "object", "properties": {"name": {"type": ["string", "null"]}}, "required": ["name"]})),
        tool("set_nullable_str_nf", json!({"type": "object", "properties": {"name": {"type": ["null", "string"]}}, "required": ["name"]})),
        tool("set_nullable_int", json!({"type": "object", "properties": {"count": {"type": ["integer", "null"]}}, "required": ["count"]})),
        tool(
            "set_union",
            json!({"type": "object", "properties": {"value": {"type": ["string", "object"]}, "amount": {"type": ["string", "integer"]}},
                   "required": ["value", "amount"]}),
        ),
        tool("set_unit", json!({"type": "object", "properties": {"unit": {"enum": ["celsius", "fahrenheit"]}}, "required": ["unit"]})),
    ]
}

/// The two tools of Qwen's function-calling docs.
fn qwen_docs_tools() -> Vec<ToolSpec> {
    let unit = json!({"type": "string", "enum": ["celsius", "fahrenheit"]});
    vec![
        tool(
            "get_current_temperature",
            json!({"type": "object", "properties": {"location": {"type": "string"}, "unit": unit}, "required": ["location"]}),
        ),
        tool(
            "get_temperature_date",
            json!({"type": "object", "properties": {"location": {"type": "string"}, "date": {"type": "string"}, "unit": unit},
                   "required": ["location", "date"]}),
        ),
    ]
}

fn call(name: &str, arguments: Value) -> ParsedCall {
    let Value::Object(arguments) = arguments else { panic!("arguments must be an object") };
    ParsedCall { name: name.into(), arguments }
}

fn turn(content: &str, calls: Vec<ParsedCall>) -> AssistantTurn {
    AssistantTurn { content: content.into(), calls }
}

fn parse(format: ToolFormat, text: &str, tools: &[ToolSpec]) -> AssistantTurn {
    format.parse(text, tools).unwrap_or_else(|e| panic!("{format:?} rejected {text:?}: {e}"))
}

fn rejects(format: ToolFormat, text: &str, tools: &[ToolSpec], want: Expect) {
    match format.parse(text, tools) {
        Ok(turn) => panic!("{format:?} accepted {text:?} as {turn:?}"),
        Err(e) => want.assert_eq(&e.message),
    }
}

fn template(name: &str) -> String {
    let path = hearth_model::testing::llama_cpp_file(&format!("models/templates/{name}"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (run scripts/fetch-assets.sh)", path.display()))
}

// ---- Hermes ----

#[test]
fn hermes_documented_examples() {
    let tools = llama_cpp_tools();
    let arg1 = || call("special_function", json!({"arg1": 1}));
    // test-chat.cpp, NousResearch-Hermes-2-Pro (no newline before </tool_call>).
    let text = "<tool_call>\n{\"name\": \"special_function\", \"arguments\": {\"arg1\": 1}}</tool_call>";
    assert_eq!(parse(Hermes, text, &tools), turn("", vec![arg1()]));
    // test-chat.cpp, NousResearch-Hermes-2-Pro: content before the call.
    let text = "Hello, world!\nWhat's up?<tool_call>\n{\"name\": \"special_function\", \"arguments\": {\"arg1\": 1}}</tool_call>";
    assert_eq!(parse(Hermes, text, &tools), turn("Hello, world!\nWhat's up?", vec![arg1()]));
    // test-chat.cpp, MiMo-VL / Hermes 3 / Qwen 2.5.
    let text = "<tool_call>\n{\"name\": \"special_function\", \"arguments\": {\"arg1\": 1}}\n</tool_call>";
    assert_eq!(parse(Hermes, text, &tools), turn("", vec![arg1()]));
    // test-chat.cpp, Reka Edge: content, then a call; and two calls.
    let text = "Hello, world!\nWhat's up?\n<tool_call>\n{\"name\": \"special_function\", \"arguments\": {\"arg1\": 1}}\n</tool_call>";
    assert_eq!(parse(Hermes, text, &tools), turn("Hello, world!\nWhat's up?", vec![arg1()]));
    let text = "<tool_call>\n{\"name\": \"special_function\", \"arguments\": {\"arg1\": 1}}\n</tool_call>\n<tool_call>\n{\"name\": \"special_function_with_opt\", \"arguments\": {\"arg1\": 1, \"arg2\": 2}}\n</tool_call>";
    assert_eq!(parse(Hermes, text, &tools), turn("", vec![arg1(), call("special_function_with_opt", json!({"arg1": 1, "arg2": 2}))]));
    // test-chat.cpp: plain content.
    assert_eq!(parse(Hermes, "Hello, world!\nWhat's up?", &tools), turn("Hello, world!\nWhat's up?", vec![]));
}

#[test]
fn hermes_qwen_docs_examples() {
    let tools = qwen_docs_tools();
    // Qwen's function-calling docs, Hugging Face transformers: the output text of two parallel calls.
    let text = "<tool_call>\n{\"name\": \"get_current_temperature\", \"arguments\": {\"location\": \"San Francisco, CA, USA\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_temperature_date\", \"arguments\": {\"location\": \"San Francisco, CA, USA\", \"date\": \"2024-10-01\"}}\n</tool_call>";
    let want = turn(
        "",
        vec![
            call("get_current_temperature", json!({"location": "San Francisco, CA, USA"})),
            call("get_temperature_date", json!({"location": "San Francisco, CA, USA", "date": "2024-10-01"})),
        ],
    );
    assert_eq!(parse(Hermes, text, &tools), want);
    // Qwen-Agent's calls in the same docs carry the arguments as a JSON string; the docs' parser accepts both.
    let text = "<tool_call>\n{\"name\": \"get_current_temperature\", \"arguments\": \"{\\\"location\\\": \\\"San Francisco, California, United States\\\", \\\"unit\\\": \\\"celsius\\\"}\"}\n</tool_call>";
    let want = call("get_current_temperature", json!({"location": "San Francisco, California, United States", "unit": "celsius"}));
    assert_eq!(parse(Hermes, text, &tools), turn("", vec![want]));
}

#[test]
fn hermes_rejects_malformed_calls() {
    let tools = tools();
    rejects(
        Hermes,
        "<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.py\"}}",
        &tools,
        expect![[r#"tool call 1 is not closed: end it with </tool_call>"#]],
    );
    rejects(
        Hermes,
        "<tool_call>\n{\"name\": \"read_file\" \"arguments\": {}}\n</tool_call>",
        &tools,
        expect![[
            r#"tool call 1 is not valid JSON at line 1 column 22: expected `,` or `}`; write one JSON object: {"name": ..., "arguments": {...}}"#
        ]],
    );
    rejects(
        Hermes,
        "<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.py\"}\n</tool_call>",
        &tools,
        expect![[
            r#"tool call 1 is not valid JSON at line 2 column 1: expected `,` or `}`; write one JSON object: {"name": ..., "arguments": {...}}"#
        ]],
    );
    rejects(
        Hermes,
        "Let me look.\n<tool_call>\n{\"name\": \"serch\", \"arguments\": {\"query\": \"fn main\"}}\n</tool_call>",
        &tools,
        expect![[r#"tool call 1: `serch` is not a tool; the tools are: search, read_file, edit"#]],
    );
    rejects(
        Hermes,
        "<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"start_line\": 3}}\n</tool_call>",
        &tools,
        expect![[r#"tool call 1 to `read_file`: the required argument `path` is missing"#]],
    );
    rejects(
        Hermes,
        "<tool_call>\n{\"name\": \"edit\", \"arguments\": {\"path\": \"a.py\"}}\n</tool_call>",
        &tools,
        expect![[r#"tool call 1 to `edit`: the required arguments `search` and `replace` are missing"#]],
    );
    rejects(
        Hermes,
        "<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.py\", \"start_line\": \"10\"}}\n</tool_call>",
        &tools,
        expect![[r#"tool call 1 to `read_file`: the argument `start_line` must be an integer, not the string "10""#]],
    );
    rejects(
        Hermes,
        "<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"file\": \"a.py\"}}\n</tool_call>",
        &tools,
        expect![[
            r#"tool call 1 to `read_file`: `file` is not an argument of `read_file`; its arguments are: path, start_line, end_line; the required argument `path` is missing"#
        ]],
    );
    rejects(
        Hermes,
        "<tool_call>\n{\"name\": \"search\", \"arguments\": {\"query\": \"x\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"search\", \"arguments\": {\"query\": \"y\"}}}\n</tool_call>",
        &tools,
        expect![[r#"tool call 2 has text after its JSON object: `}`; end the call with </tool_call> right after the object"#]],
    );
    rejects(
        Hermes,
        "<tool_call>\n{\"name\": \"search\", \"parameters\": {\"query\": \"x\"}}\n</tool_call>",
        &tools,
        expect![[r#"tool call 1: write the arguments as "arguments": {"name": ..., "arguments": {...}}"#]],
    );
    rejects(
        Hermes,
        "<tool_call>\n{\"name\": \"search\", \"arguments\": [\"x\"]}\n</tool_call>",
        &tools,
        expect![[r#"tool call 1 to `search`: "arguments" must be a JSON object of the arguments, not an array"#]],
    );
    rejects(
        Hermes,
        "<tool_call>\nsearch(query=\"x\")\n</tool_call>",
        &tools,
        expect![[
            r#"tool call 1 is not valid JSON at line 1 column 1: expected value; write one JSON object: {"name": ..., "arguments": {...}}"#
        ]],
    );
    rejects(
        Hermes,
        "<tool_call>\n{\"arguments\": {\"query\": \"x\"}}\n</tool_call>",
        &tools,
        expect![[r#"tool call 1 has no "name" string; write {"name": ..., "arguments": {...}}"#]],
    );
    rejects(
        Hermes,
        "<tool_call>\n{\"name\": \"get_current_temperature\", \"arguments\": {\"location\": \"Paris\", \"unit\": \"kelvin\"}}\n</tool_call>",
        &qwen_docs_tools(),
        expect![[r#"tool call 1 to `get_current_temperature`: the argument `unit` must be one of "celsius", "fahrenheit", not "kelvin""#]],
    );
    rejects(
        Hermes,
        "<tool_call>\n{\"name\": \"search\", \"arguments\": {\"query\": \"x\"}}\n</tool_call>",
        &[],
        expect![[r#"tool call 1: `search` is not a tool; there are no tools"#]],
    );
}

// ---- Qwen3-Coder XML ----

#[test]
fn qwen_xml_documented_examples() {
    let tools = llama_cpp_tools();
    let arg1 = || call("special_function", json!({"arg1": 1}));
    let with_opt = || call("special_function_with_opt", json!({"arg1": 1, "arg2": 2}));
    let cases: Vec<(&str, AssistantTurn)> = vec![
        // test-chat.cpp, Qwen3-Coder: content only.
        ("Hello, world!\nWhat's up?", turn("Hello, world!\nWhat's up?", vec![])),
        // test-chat.cpp, Qwen3-Coder: one call.
        ("<tool_call>\n<function=special_function>\n<parameter=arg1>\n1\n</parameter>\n</function>\n</tool_call>", turn("", vec![arg1()])),
        // test-chat.cpp: "Some models skip the opening <tool_call> and go straight to <function=>".
        ("<function=special_function>\n<parameter=arg1>\n1\n</parameter>\n</function>\n</tool_call>", turn("", vec![arg1()])),
        // test-chat.cpp: the same after content (llama.cpp keeps "Let me call it.\n"; content is trimmed here).
        (
            "Let me call it.\n<function=special_function>\n<parameter=arg1>\n1\n</parameter>\n</function>\n</tool_call>",
            turn("Let me call it.", vec![arg1()]),
        ),
        // test-chat.cpp: "Only the first call may omit it".
        (
            "<function=special_function>\n<parameter=arg1>\n1\n</parameter>\n</function>\n</tool_call>\n<tool_call>\n<function=special_function_with_opt>\n<parameter=arg1>\n1\n</parameter>\n<parameter=arg2>\n2\n</parameter>\n</function>\n</tool_call>",
            turn("", vec![arg1(), with_opt()]),
        ),
        // test-chat.cpp: two calls.
        (
            "<tool_call>\n<function=special_function>\n<parameter=arg1>\n1\n</parameter>\n</function>\n</tool_call>\n<tool_call>\n<function=special_function_with_opt>\n<parameter=arg1>\n1\n</parameter>\n<parameter=arg2>\n2\n</parameter>\n</function>\n</tool_call>",
            turn("", vec![arg1(), with_opt()]),
        ),
        // test-chat.cpp: "Test with code content (multiline)".
        (
            "<tool_call>\n<function=python>\n<parameter=code>\ndef hello():\n    print(\"Hello, world!\")\n\nhello()\n</parameter>\n</function>\n</tool_call>",
            turn("", vec![call("python", json!({"code": "def hello():\n    print(\"Hello, world!\")\n\nhello()"}))]),
        ),
        // test-chat.cpp: "Test with code content (asian unicode chars)".
        (
            "<tool_call>\n<function=python>\n<parameter=code>\n格\n</parameter>\n</function>\n</tool_call>",
            turn("", vec![call("python", json!({"code": "格"}))]),
        ),
        // test-chat.cpp: "Test with HTML tag content".
        (
            "<tool_call>\n<function=html>\n<parameter=markup>\n<html>\n <head>\n  <title>Hello!</title>\n </head>\n</html>\n</parameter>\n</function>\n</tool_call>",
            turn("", vec![call("html", json!({"markup": "<html>\n <head>\n  <title>Hello!</title>\n </head>\n</html>"}))]),
        ),
        // test-chat.cpp: "Test with TODO list (array of objects)".
        (
            "<tool_call>\n<function=todo_list>\n<parameter=todos>\n[{\"item\": \"Check stuff\", \"selected\": false}, {\"item\": \"Prepare stuff\", \"selected\": true}]\n</parameter>\n</function>\n</tool_call>",
            turn(
                "",
                vec![call("todo_list", json!({"todos": [{"item": "Check stuff", "selected": false}, {"item": "Prepare stuff", "selected": true}]}))],
            ),
        ),
        // test-chat.cpp: "Test flexible required argument ordering".
        (
            "<tool_call>\n<function=edit>\n<parameter=newString>\n#include\n</parameter>\n<parameter=filename>\nfoo.c\n</parameter>\n<parameter=oldString>\n#iclunde\n</parameter>\n</function>\n</tool_call>",
            turn("", vec![call("edit", json!({"newString": "#include", "filename": "foo.c", "oldString": "#iclunde"}))]),
        ),
        // test-chat.cpp: tool_2req_4opt, required arguments in another order.
        (
            "<tool_call>\n<function=tool_2req_4opt>\n<parameter=req2>\n42\n</parameter>\n<parameter=req1>\nhello\n</parameter>\n<parameter=opt2>\n200\n</parameter>\n</function>\n</tool_call>",
            turn("", vec![call("tool_2req_4opt", json!({"req2": 42, "req1": "hello", "opt2": 200}))]),
        ),
        // test-chat.cpp: "nullable string type" (both orders), "nullable integer type", "nullable string given null".
        (
            "<tool_call>\n<function=set_nullable_str>\n<parameter=name>\nhello world\n</parameter>\n</function>\n</tool_call>",
            turn("", vec![call("set_nullable_str", json!({"name": "hello world"}))]),
        ),
        (
            "<tool_call>\n<function=set_nullable_str_nf>\n<parameter=name>\nhello world\n</parameter>\n</function>\n</tool_call>",
            turn("", vec![call("set_nullable_str_nf", json!({"name": "hello world"}))]),
        ),
        (
            "<tool_call>\n<function=set_nullable_int>\n<parameter=count>\n42\n</parameter>\n</function>\n</tool_call>",
            turn("", vec![call("set_nullable_int", json!({"count": 42}))]),
        ),
        (
            "<tool_call>\n<function=set_nullable_str>\n<parameter=name>\nnull\n</parameter>\n</function>\n</tool_call>",
            turn("", vec![call("set_nullable_str", json!({"name": null}))]),
        ),
        // test-chat.cpp: "unions with string".
        (
            "<tool_call>\n<function=set_union>\n<parameter=value>\n{\"a\": 1}\n</parameter>\n<parameter=amount>\n2 dollars\n</parameter>\n</function>\n</tool_call>",
            turn("", vec![call("set_union", json!({"value": {"a": 1}, "amount": "2 dollars"}))]),
        ),
        (
            "<tool_call>\n<function=set_union>\n<parameter=value>\n{not valid json\n</parameter>\n<parameter=amount>\n42\n</parameter>\n</function>\n</tool_call>",
            turn("", vec![call("set_union", json!({"value": "{not valid json", "amount": 42}))]),
        ),
        // test-chat.cpp: "enum without explicit type key".
        (
            "<tool_call>\n<function=set_unit>\n<parameter=unit>\ncelsius\n</parameter>\n</function>\n</tool_call>",
            turn("", vec![call("set_unit", json!({"unit": "celsius"}))]),
        ),
    ];
    for (text, want) in cases {
        assert_eq!(parse(QwenXml, text, &tools), want, "{text:?}");
    }
}

#[test]
fn qwen_xml_template_example() {
    // The format Qwen3-Coder.jinja's system prompt shows, verbatim.
    let example = "<tool_call>\n<function=example_function_name>\n<parameter=example_parameter_1>\nvalue_1\n</parameter>\n<parameter=example_parameter_2>\nvalue_2\n</parameter>\n</function>\n</tool_call>";
    assert!(template("Qwen3-Coder.jinja").contains(&example.replace('\n', "\\n")));
    let tools = [tool(
        "example_function_name",
        json!({"type": "object", "properties": {"example_parameter_1": {"type": "string"}, "example_parameter_2": {"type": "string"}}}),
    )];
    let want = call("example_function_name", json!({"example_parameter_1": "value_1", "example_parameter_2": "value_2"}));
    assert_eq!(parse(QwenXml, example, &tools), turn("", vec![want]));
    // The template writes a boolean argument with Python's `str()`; qwen3coder_tool_parser.py lowercases it.
    let tools = [tool("toggle", json!({"type": "object", "properties": {"enabled": {"type": "boolean"}}, "required": ["enabled"]}))];
    let text = "<tool_call>\n<function=toggle>\n<parameter=enabled>\nTrue\n</parameter>\n</function>\n</tool_call>";
    assert_eq!(parse(QwenXml, text, &tools), turn("", vec![call("toggle", json!({"enabled": true}))]));
}

#[test]
fn qwen_xml_rejects_malformed_calls() {
    let tools = tools();
    rejects(
        QwenXml,
        "<tool_call>\n<function=read_file>\n<parameter=path>\na.py\n</function>\n</tool_call>",
        &tools,
        expect![[r#"tool call 1 to `read_file`: the parameter `path` is not closed; end its value with </parameter>"#]],
    );
    rejects(
        QwenXml,
        "<tool_call>\n<function=edit>\n<parameter=path>\na.py\n<parameter=search>\nx\n</parameter>\n<parameter=replace>\ny\n</parameter>\n</function>\n</tool_call>",
        &tools,
        expect![[r#"tool call 1 to `edit`: the parameter `path` is not closed; end its value with </parameter>"#]],
    );
    rejects(
        QwenXml,
        "<tool_call>\n<function=read_file>\n<parameter=path>\na.py",
        &tools,
        expect![[r#"tool call 1 to `read_file`: the parameter `path` is not closed; end its value with </parameter>"#]],
    );
    rejects(
        QwenXml,
        "<tool_call>\n<function=read_file>\n<parameter=path>\na.py\n</parameter>\n",
        &tools,
        expect![[r#"tool call 1 to `read_file` is not closed: end it with </function> and </tool_call>"#]],
    );
    rejects(
        QwenXml,
        "<tool_call>\n<function=read_file>\n<parameter=path>\na.py\n</parameter>\n</function>",
        &tools,
        expect![[r#"tool call 1 to `read_file` is not closed: end it with </tool_call>"#]],
    );
    rejects(
        QwenXml,
        "<tool_call>\n<function=read_fil>\n<parameter=path>\na.py\n</parameter>\n</function>\n</tool_call>",
        &tools,
        expect![[r#"tool call 1: `read_fil` is not a tool; the tools are: search, read_file, edit"#]],
    );
    rejects(
        QwenXml,
        "<tool_call>\n<function=read_file>\n<parameter=path>\na.py\n</parameter>\n<parameter=line>\n3\n</parameter>\n</function>\n</tool_call>",
        &tools,
        expect![[r#"tool call 1 to `read_file`: `line` is not an argument of `read_file`; its arguments are: path, start_line, end_line"#]],
    );
    rejects(
        QwenXml,
        "<tool_call>\n<function=read_file>\n<parameter=path>\na.py\n</parameter>\n<parameter=start_line>\nten\n</parameter>\n</function>\n</tool_call>",
        &tools,
        expect![[r#"tool call 1 to `read_file`: the argument `start_line` must be an integer, not the string "ten""#]],
    );
    rejects(
        QwenXml,
        "<tool_call>\n<function=search>\n</function>\n</tool_call>",
        &tools,
        expect![[r#"tool call 1 to `search`: the required argument `query` is missing"#]],
    );
    rejects(
        QwenXml,
        "<tool_call>\n<function=search>\n<parameter=query>\na\n</parameter>\n<parameter=query>\nb\n</parameter>\n</function>\n</tool_call>",
        &tools,
        expect![[r#"tool call 1 to `search`: the argument `query` is given twice"#]],
    );
    rejects(
        QwenXml,
        "<tool_call>\n{\"name\": \"search\", \"arguments\": {\"query\": \"x\"}}\n</tool_call>",
        &tools,
        expect![[r#"tool call 1 does not start with <function=NAME>; write <tool_call>
<function=NAME>
<parameter=KEY>
VALUE
</parameter>
</function>
</tool_call>"#]],
    );
    rejects(
        QwenXml,
        "<tool_call>\n<function=search>\nquery: x\n</function>\n</tool_call>",
        &tools,
        expect![[
            r#"tool call 1 to `search`: unexpected text `query: x`; write each argument as <parameter=KEY>\nVALUE\n</parameter>, then </function>"#
        ]],
    );
}

// ---- Llama 3.x JSON ----

#[test]
fn llama_documented_examples() {
    // Meta's Llama 3.1 prompt format, "JSON based tool calling": the model's response (its schema types `n` and
    // `genre` as "object" yet the example answers strings; strings here).
    let trending = [tool(
        "trending_songs",
        json!({"type": "object", "properties": {"n": {"type": "string"}, "genre": {"type": "string"}}, "required": ["n"]}),
    )];
    let text = "<|python_tag|>{\n    \"type\": \"function\",\n    \"name\": \"trending_songs\",\n    \"parameters\": {\n        \"n\": \"10\",\n        \"genre\": \"all\"\n    }\n}";
    assert_eq!(parse(Llama3Json, text, &trending), turn("", vec![call("trending_songs", json!({"n": "10", "genre": "all"}))]));

    let tools = llama_cpp_tools();
    // The shape the Llama 3.1 / 3.2 / 3.3 templates ask for ("Respond in the format {"name": function name,
    // "parameters": dictionary of argument name and its value}") and show for an earlier call.
    let text = "{\"name\": \"special_function\", \"parameters\": {\"arg1\": 1}}";
    assert_eq!(parse(Llama3Json, text, &tools), turn("", vec![call("special_function", json!({"arg1": 1}))]));
    // test-chat.cpp, Llama 3.1 / 3.2 / 3.3: content with tools offered.
    assert_eq!(parse(Llama3Json, "Hello, world!\nWhat's up?", &tools), turn("Hello, world!\nWhat's up?", vec![]));
    // test-chat.cpp's `message_assist_json_content`: JSON that is not a call is content.
    let text = "{\n  \"response\": \"Hello, world!\\nWhat's up?\"\n}";
    assert_eq!(parse(Llama3Json, text, &tools), turn(text, vec![]));
    // vLLM's llama3_json parser: several calls separated by `;`.
    let text = "{\"name\": \"special_function\", \"parameters\": {\"arg1\": 1}}; {\"name\": \"special_function_with_opt\", \"parameters\": {\"arg1\": 1, \"arg2\": 2}}";
    let want = vec![call("special_function", json!({"arg1": 1})), call("special_function_with_opt", json!({"arg1": 1, "arg2": 2}))];
    assert_eq!(parse(Llama3Json, text, &tools), turn("", want));
    // Prose before `<|python_tag|>` is content.
    let text = "Here are some results: <|python_tag|>{\"name\": \"search\", \"parameters\": {\"query\": \"weather\"}}";
    assert_eq!(parse(Llama3Json, text, &self::tools()), turn("Here are some results:", vec![call("search", json!({"query": "weather"}))]));
}

#[test]
fn llama_rejects_malformed_calls() {
    let tools = tools();
    rejects(
        Llama3Json,
        "{\"name\": \"search\", \"parameters\": {\"query\": \"x\"}",
        &tools,
        expect![[
            r#"tool call 1 is not valid JSON at line 1 column 47: EOF while parsing an object; write one JSON object: {"name": ..., "parameters": {...}}"#
        ]],
    );
    rejects(
        Llama3Json,
        "{\"name\": \"search\", \"arguments\": {\"query\": \"x\"}}",
        &tools,
        expect![[r#"tool call 1: write the arguments as "parameters": {"name": ..., "parameters": {...}}"#]],
    );
    rejects(
        Llama3Json,
        "{\"name\": \"grep\", \"parameters\": {\"query\": \"x\"}}",
        &tools,
        expect![[r#"tool call 1: `grep` is not a tool; the tools are: search, read_file, edit"#]],
    );
    rejects(
        Llama3Json,
        "{\"name\": \"search\", \"parameters\": {\"query\": \"x\"}}\nI searched for x.",
        &tools,
        expect![[r#"tool call 1 is followed by text: `I searched for x.`; a tool call is the whole message (separate several with `;`)"#]],
    );
    rejects(
        Llama3Json,
        "{\"name\": \"search\", \"parameters\": {\"query\": \"x\", \"limit\": 2.5}}",
        &tools,
        expect![[r#"tool call 1 to `search`: the argument `limit` must be an integer, not the number 2.5"#]],
    );
    rejects(
        Llama3Json,
        "<|python_tag|>search.call(query=\"x\")",
        &tools,
        expect![[
            r#"tool call 1 is not valid JSON at line 1 column 1: expected value; write one JSON object: {"name": ..., "parameters": {...}}"#
        ]],
    );
}

// ---- detect and the real templates ----

#[test]
fn detect_reads_the_real_templates() {
    let cases = [
        ("Qwen-Qwen2.5-7B-Instruct.jinja", Hermes),
        ("Qwen-Qwen3-0.6B.jinja", Hermes),
        ("Qwen3-Coder.jinja", QwenXml),
        ("meta-llama-Llama-3.1-8B-Instruct.jinja", Llama3Json),
        ("meta-llama-Llama-3.2-3B-Instruct.jinja", Llama3Json),
        ("meta-llama-Llama-3.3-70B-Instruct.jinja", Llama3Json),
        ("NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja", Hermes),
        ("NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", Hermes),
        // No Gemma 3 template in the assets; Gemma 2's has no tool markers.
        ("google-gemma-2-2b-it.jinja", Hermes),
    ];
    for (name, want) in cases {
        assert_eq!(ToolFormat::detect(&template(name)), want, "{name}");
    }
    assert_eq!(ToolFormat::detect(""), Hermes);
}

/// What `name`'s template renders for an assistant turn that made `call` (arguments given as
/// `arguments_json(None)`), then a tool result.
fn rendered_history(name: &str, call: &ParsedCall) -> String {
    let source = template(name);
    let template = ChatTemplate::new(&source, "<s>", "</s>").unwrap();
    let tool_call = ToolCall {
        id: Some("call_1".into()),
        function: FunctionCall { name: call.name.clone(), arguments: RawValue::from_string(call.arguments_json(None)).unwrap() },
    };
    let conversation = Conversation {
        messages: vec![
            Message::new("user", "Read a.py"),
            Message { role: "assistant".into(), content: Some(String::new()), tool_calls: vec![tool_call], ..Message::default() },
            Message::tool_result("call_1", &call.name, "1: print('hi')"),
        ],
        tools: tools(),
    };
    template.render(&conversation, &RenderOptions::default()).unwrap()
}

#[test]
fn render_call_is_what_the_templates_show() {
    let read = call("read_file", json!({"path": "src/a.py", "start_line": 1, "end_line": 20}));
    let edit = call("edit", json!({"path": "a.py", "search": "print(\"hi\")\n", "replace": "print(\"héllo\")\n"}));
    let cases = [
        (Hermes, "Qwen-Qwen2.5-7B-Instruct.jinja"),
        (Hermes, "Qwen-Qwen3-0.6B.jinja"),
        (Hermes, "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja"),
        (QwenXml, "Qwen3-Coder.jinja"),
        (Llama3Json, "meta-llama-Llama-3.1-8B-Instruct.jinja"),
        (Llama3Json, "meta-llama-Llama-3.2-3B-Instruct.jinja"),
        (Llama3Json, "meta-llama-Llama-3.3-70B-Instruct.jinja"),
    ];
    for (format, name) in cases {
        for c in [&read, &edit] {
            let rendered = rendered_history(name, c);
            let text = format.render_call(c);
            assert!(rendered.contains(&text), "{name}: {text:?} is not in\n{rendered}");
        }
    }
    expect![[r#"
        <tool_call>
        {"name": "read_file", "arguments": {"end_line": 20, "path": "src/a.py", "start_line": 1}}
        </tool_call>"#]]
    .assert_eq(&Hermes.render_call(&read));
    expect![[r#"
        <tool_call>
        <function=edit>
        <parameter=path>
        a.py
        </parameter>
        <parameter=replace>
        print("héllo")

        </parameter>
        <parameter=search>
        print("hi")

        </parameter>
        </function>
        </tool_call>"#]]
    .assert_eq(&QwenXml.render_call(&edit));
    expect![[r#"{"name": "edit", "parameters": {"path": "a.py", "replace": "print(\"héllo\")\n", "search": "print(\"hi\")\n"}}"#]]
        .assert_eq(&Llama3Json.render_call(&edit));
}

#[test]
fn arguments_json_keeps_the_schema_order() {
    let tools = tools();
    let read = call("read_file", json!({"end_line": 20, "path": "src/a.py", "start_line": 1}));
    assert_eq!(read.arguments_json(Some(&tools[1])), r#"{"path": "src/a.py", "start_line": 1, "end_line": 20}"#);
    assert_eq!(read.arguments_json(None), r#"{"end_line": 20, "path": "src/a.py", "start_line": 1}"#);
}

// ---- Round trips ----

#[test]
fn render_then_parse_gives_the_call_back() {
    let tools = tools();
    let code = "fn main() {\n    let s = \"a \\\"quoted\\\" string\";\n\tprintln!(\"{s}\");\n}\n";
    let calls = [
        call("read_file", json!({"path": "src/main.rs", "start_line": 10, "end_line": 42})),
        call("search", json!({"query": "say \"hi\" — ünïcödé 日本語 🎉", "limit": 5})),
        call("edit", json!({"path": "src/main.rs", "search": code, "replace": code.replace("main", "start")})),
        call("edit", json!({"path": "a b/c.txt", "search": "\n\nleading and trailing newlines\n\n", "replace": ""})),
        call("edit", json!({"path": "x", "search": "<tool_call>{\"name\": 1}</tool_call> \\ back\\slash \r\n", "replace": "\n"})),
        call("search", json!({"query": "null"})),
        call("search", json!({"query": "  spaced  "})),
    ];
    for format in [Hermes, QwenXml, Llama3Json] {
        for c in &calls {
            let text = format.render_call(c);
            assert_eq!(parse(format, &text, &tools), turn("", vec![c.clone()]), "{format:?}: {text}");
            let with_prose = format!("I will look.\n{text}");
            let want = if format == Llama3Json { turn(&with_prose, vec![]) } else { turn("I will look.", vec![c.clone()]) };
            assert_eq!(parse(format, &with_prose, &tools), want, "{format:?}: {with_prose}");
        }
        // Several calls in one message.
        let text = if format == Llama3Json {
            calls.iter().map(|c| format.render_call(c)).collect::<Vec<_>>().join("; ")
        } else {
            calls.iter().map(|c| format.render_call(c)).collect::<Vec<_>>().join("\n")
        };
        assert_eq!(parse(format, &text, &tools), turn("", calls.to_vec()), "{format:?}");
    }
}

#[test]
fn round_trip_of_typed_values() {
    let tools = [tool(
        "configure",
        json!({"type": "object", "properties": {
            "enabled": {"type": "boolean"}, "ratio": {"type": "number"}, "count": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}}, "options": {"type": "object"},
            "note": {"type": ["string", "null"]}
        }}),
    )];
    let c = call(
        "configure",
        json!({"enabled": false, "ratio": 0.25, "count": -3, "tags": ["a", "b\"c"], "options": {"k": [1, {"z": null}]}, "note": null}),
    );
    for format in [Hermes, QwenXml, Llama3Json] {
        let text = format.render_call(&c);
        assert_eq!(parse(format, &text, &tools), turn("", vec![c.clone()]), "{format:?}: {text}");
    }
    expect![[r#"
        <tool_call>
        <function=configure>
        <parameter=count>
        -3
        </parameter>
        <parameter=enabled>
        False
        </parameter>
        <parameter=note>
        None
        </parameter>
        <parameter=options>
        {"k": [1, {"z": null}]}
        </parameter>
        <parameter=ratio>
        0.25
        </parameter>
        <parameter=tags>
        ["a", "b\"c"]
        </parameter>
        </function>
        </tool_call>"#]]
    .assert_eq(&QwenXml.render_call(&c));
    // Nested values are checked too.
    rejects(
        QwenXml,
        "<tool_call>\n<function=configure>\n<parameter=tags>\n[\"a\", 2]\n</parameter>\n</function>\n</tool_call>",
        &tools,
        expect![[r#"tool call 1 to `configure`: the argument `tags[1]` must be a string, not the number 2"#]],
    );
}

#[test]
fn arguments_map_is_sorted() {
    // The workspace's serde_json keeps maps sorted; `arguments_json` restores the schema's order.
    let turn =
        parse(Hermes, "<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a\", \"end_line\": 2}}\n</tool_call>", &tools());
    let keys: Vec<&String> = turn.calls[0].arguments.keys().collect();
    assert_eq!(keys, ["end_line", "path"]);
    let _: &Map<String, Value> = &turn.calls[0].arguments;
}
