#!/usr/bin/env python3
"""Record reference renderings of real chat templates, for Hearth's Rust (minijinja) renderer.

Hearth renders each model's own Jinja chat template in Rust with minijinja (+ minijinja-contrib
pycompat). The output must be byte-identical to what Hugging Face transformers'
`tokenizer.apply_chat_template(...)` produces with Python jinja2. This script renders the chat
templates shipped in llama.cpp's source (models/templates/*.jinja) over a fixed set of
conversations like the ones Hearth's edit and agent paths send. It sets jinja2 up the same way
transformers does (see `make_environment`) and writes
crates/assist/tests/fixtures/chat_templates.json. The Rust test renders the same inputs and
compares.

Usage:
    python3 scripts/record-template-fixtures.py [TEMPLATES_DIR]          # (re)write the fixture
    python3 scripts/record-template-fixtures.py --check [TEMPLATES_DIR]  # exit 1 if it is stale

TEMPLATES_DIR defaults to ${HEARTH_ASSETS:-$HOME/.cache/hearth/assets}/llama.cpp-src/models/templates
(scripts/fetch-assets.sh unpacks that tree from the llama-cpp-python 0.3.36 sdist).
Needs python3 with jinja2 (`pip install jinja2`; transformers 5 requires >= 3.1.6, the version
recorded here); transformers itself is not needed. When written, every case was byte-identical
to transformers 5.24.0's apply_chat_template(..., tokenize=False) with its clock pinned likewise.

Deterministic on purpose: `strftime_now` returns a fixed date (FIXED_NOW, formatted in the C
locale), the inputs are literals below, and the cases come out in a fixed order. A template that
rejects a conversation (`raise_exception(...)`, or a Python error such as iterating over
`tools=None`) is recorded as {"error": message, "error_type": kind} instead of "rendered", so the
Rust side can check that it fails too.
"""

import copy
import datetime
import hashlib
import importlib.metadata
import json
import locale
import os
import sys
from pathlib import Path

import jinja2
import jinja2.ext
import jinja2.nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "crates/assist/tests/fixtures/chat_templates.json"
DEFAULT_TEMPLATES_DIR = (
    Path(os.environ.get("HEARTH_ASSETS") or Path.home() / ".cache/hearth/assets")
    / "llama.cpp-src/models/templates"
)

# What `strftime_now(fmt)` sees: transformers uses datetime.now(); we pin it.
FIXED_NOW = datetime.datetime(2024, 7, 26, 0, 0, 0)

# ---------------------------------------------------------------------------------------------
# Templates, with the special tokens that model family's tokenizer puts in `special_tokens_map`
# (transformers passes them to the template as variables). Only bos_token/eos_token are passed:
# none of these templates reads unk_token, pad_token, etc. Qwen-style tokenizers have no BOS
# (bos_token is null there, so transformers leaves it undefined); we pass "" and no Qwen template
# reads it.
#
# `variants` are extra keyword arguments (what apply_chat_template(..., **kwargs) forwards) that
# are also recorded, on the VARIANT_CONVERSATIONS only, besides the plain call without them.
# ---------------------------------------------------------------------------------------------
LLAMA3 = ("<|begin_of_text|>", "<|eot_id|>")
QWEN = ("", "<|im_end|>")
DEEPSEEK = ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>")
MISTRAL = ("<s>", "</s>")
GEMMA = ("<bos>", "<eos>")
GRANITE = ("<|end_of_text|>", "<|end_of_text|>")
THINKING = [{"enable_thinking": False}, {"enable_thinking": True}]

TEMPLATES = [
    # (file name, (bos_token, eos_token), variants)
    ("Qwen-Qwen2.5-7B-Instruct.jinja", QWEN, []),
    ("Qwen-Qwen3-0.6B.jinja", QWEN, THINKING),
    ("Qwen3-Coder.jinja", QWEN, []),
    ("Qwen3.5-4B.jinja", QWEN, THINKING),
    ("meta-llama-Llama-3.1-8B-Instruct.jinja", LLAMA3, []),
    ("meta-llama-Llama-3.2-3B-Instruct.jinja", LLAMA3, []),
    ("meta-llama-Llama-3.3-70B-Instruct.jinja", LLAMA3, []),
    ("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", DEEPSEEK, THINKING),
    ("deepseek-ai-DeepSeek-V3.1.jinja", DEEPSEEK, THINKING),
    ("mistralai-Mistral-Nemo-Instruct-2407.jinja", MISTRAL, []),
    ("unsloth-mistral-Devstral-Small-2507.jinja", MISTRAL, []),
    ("Mistral-Small-3.2-24B-Instruct-2506.jinja", MISTRAL, []),
    ("google-gemma-2-2b-it.jinja", GEMMA, []),
    ("google-gemma-4-31B-it.jinja", GEMMA, THINKING),
    ("ibm-granite-granite-3.3-2B-Instruct.jinja", GRANITE, []),
    ("ibm-granite-granite-4.0.jinja", GRANITE, []),
    ("openai-gpt-oss-120b.jinja", ("<|startoftext|>", "<|return|>"), [{"reasoning_effort": "low"}]),
    ("microsoft-Phi-3.5-mini-instruct.jinja", ("<s>", "<|endoftext|>"), []),
    ("NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja", ("<|begin_of_text|>", "<|im_end|>"), []),
    ("HuggingFaceTB-SmolLM3-3B.jinja", QWEN, THINKING),
]
VARIANT_CONVERSATIONS = ("edit", "tool_call_round")

# ---------------------------------------------------------------------------------------------
# Conversations. Contents stress escaping: both quote kinds, backslashes, non-ASCII (é, 日本, an
# astral-plane emoji), newlines, a tab, HTML-ish < > &, and Jinja-looking {{ }} / {% %} that must
# come out verbatim. Key order inside messages and tools is meaningful (`tojson` and `.items()`
# keep insertion order), so the Rust side must keep it too (minijinja "preserve_order"; tool arguments and
# parameters reach hearth_assist::chat as JSON text, serde_json::value::RawValue).
# ---------------------------------------------------------------------------------------------
CODE = r'''def greet(name: str) -> str:
    """Say "hello" to {{ name }}: café, 日本, 🦀."""
    sep = '\\'  # one backslash; "\n" stays escaped
    if name and len(name) < 80 and not name.startswith("<"):
        return 'Hello, ' + name + sep + "!"
    return "{% raw %}{{ nobody }}{% endraw %} & done"
'''

EDIT_SYSTEM = (
    "You rewrite code. Reply with the complete rewritten code in one fenced block and nothing else."
)
EDIT_USER = (
    "Rewrite `greet` in a.py to use an f-string; keep the docstring as it is.\n\n"
    "```python\n" + CODE + "```\n"
)
AGENT_SYSTEM = (
    "You are Hearth, a coding agent working in the user's repository. "
    "Look at the code with the tools before you answer."
)
AGENT_USER = 'Why does greet("é") in a.py print a backslash? Don\'t guess: read the file.'

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a range of lines from a file in the workspace.",
            "parameters": {
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Path relative to the workspace root."},
                    "start_line": {"type": "integer", "description": "First line to read (1-based)."},
                    "end_line": {"type": "integer", "description": "Last line to read (inclusive)."},
                },
                "required": ["path"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "search",
            "description": 'Search the workspace; returns lines as "path:line: text".',
            "parameters": {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "Text to find, e.g. `fn main` or 'café'."},
                },
                "required": ["query"],
            },
        },
    },
]

# The agent's own tools, as Hearth offers them (crates/assist/src/agent/tools.rs::tool_specs with
# one allowed command: `run`'s command is then an enum of it).
AGENT_COMMANDS = ["pytest -q"]


def agent_tools():
    specs = json.loads((REPO / "crates/assist/src/agent/tools.json").read_text())
    tools = []
    for spec in specs:
        if spec["name"] == "run":
            spec["parameters"] = {
                "type": "object",
                "properties": {
                    "command": {"type": "string", "enum": AGENT_COMMANDS, "description": "One of the allowed commands"}
                },
                "required": ["command"],
            }
        tools.append({"type": "function", "function": spec})
    return tools


AGENT_TOOLS = agent_tools()

# Mistral templates insist on 9-character alphanumeric tool call ids.
CALL_ID = "call1a2b3"
# What read_file returns: numbered lines, "N<TAB>text".
TOOL_RESULT = "".join(f"{n}\t{line}\n" for n, line in enumerate(CODE.splitlines(), start=1))

CONVERSATIONS = {
    "edit": {
        "messages": [
            {"role": "system", "content": EDIT_SYSTEM},
            {"role": "user", "content": EDIT_USER},
        ],
        "tools": None,
        "add_generation_prompt": True,
    },
    # Without a generation prompt, so the add_generation_prompt=false branches get covered too.
    "no_system": {
        "messages": [{"role": "user", "content": EDIT_USER}],
        "tools": None,
        "add_generation_prompt": False,
    },
    "multi_turn": {
        "messages": [
            {"role": "user", "content": "What does greet return for an empty name?\n\n```python\n" + CODE + "```"},
            # An earlier reply as a thinking model returns it: templates that drop old reasoning
            # split it off at </think> (str.split, .strip('\n') and friends).
            {
                "role": "assistant",
                "content": "<think>\nThe early return is skipped, so the last line runs.\n</think>\n\n"
                'It returns the literal string "{% raw %}{{ nobody }}{% endraw %} & done": '
                "the `{{ }}` are not a template here.",
            },
            {"role": "user", "content": "Make it return \"\" instead, and keep the '\\' separator."},
        ],
        "tools": None,
        "add_generation_prompt": True,
    },
    "tools": {
        "messages": [
            {"role": "system", "content": AGENT_SYSTEM},
            {"role": "user", "content": AGENT_USER},
        ],
        "tools": TOOLS,
        "add_generation_prompt": True,
    },
    # Hugging Face convention: `arguments` is a dict (templates that want a string must tojson it),
    # the assistant turn that only calls a tool has content "" (null breaks several templates).
    "tool_call_round": {
        "messages": [
            {"role": "system", "content": AGENT_SYSTEM},
            {"role": "user", "content": AGENT_USER},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": CALL_ID,
                        "type": "function",
                        "function": {
                            "name": "read_file",
                            "arguments": {"path": "a.py", "start_line": 1, "end_line": 20},
                        },
                    }
                ],
            },
            {"role": "tool", "tool_call_id": CALL_ID, "name": "read_file", "content": TOOL_RESULT},
        ],
        "tools": TOOLS,
        "add_generation_prompt": True,
    },
    # The agent's real tool list, and an edit call whose arguments hold code.
    "agent_tools": {
        "messages": [
            {"role": "system", "content": AGENT_SYSTEM},
            {"role": "user", "content": AGENT_USER},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": CALL_ID,
                        "type": "function",
                        "function": {
                            "name": "edit",
                            "arguments": {
                                "path": "a.py",
                                "search": "    sep = '\\\\'",
                                "replace": "    sep = \"/\"  # \"quoted\", {{ x }}",
                            },
                        },
                    }
                ],
            },
            {"role": "tool", "tool_call_id": CALL_ID, "name": "edit", "content": "edited a.py: 1 line(s) replaced by 1; it parses"},
        ],
        "tools": AGENT_TOOLS,
        "add_generation_prompt": True,
    },
}


# ---------------------------------------------------------------------------------------------
# The jinja2 environment, as transformers builds it
# (transformers/utils/chat_template_utils.py: _compile_jinja_template and render_jinja_template).
# ---------------------------------------------------------------------------------------------
class TemplateRaised(jinja2.exceptions.TemplateError):
    """What `raise_exception(msg)` throws. transformers raises a plain TemplateError(msg); the
    subclass only lets us tell a template's deliberate rejection from a Python runtime error."""


class GenerationTag(jinja2.ext.Extension):
    """transformers' AssistantTracker: `{% generation %}...{% endgeneration %}` renders its body
    unchanged (the tracking of assistant-token spans is only on with return_assistant_tokens_mask).
    None of the recorded templates uses the tag; it is here so that the environment is the same."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def raise_exception(message):
    raise TemplateRaised(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # transformers replaces jinja2's HTML-escaping tojson with a plain json.dumps.
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(format):
    return FIXED_NOW.strftime(format)


def make_environment():
    # transformers 5 also swaps in `namespace` and `dict` globals that refuse underscore-prefixed
    # names (a sandbox hardening); for these templates they behave like jinja2's own.
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[GenerationTag, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render(compiled, conversation, bos_token, eos_token, extra_kwargs):
    """One apply_chat_template(messages, tools=..., add_generation_prompt=..., tokenize=False,
    **extra_kwargs) call: transformers renders with messages, tools, documents and
    add_generation_prompt, plus {**tokenizer.special_tokens_map, **kwargs}."""
    # transformers >= 5 drops message keys whose value is None before rendering (and copies
    # reasoning under several names; no recorded message has reasoning).
    messages = [{k: v for k, v in m.items() if v is not None} for m in copy.deepcopy(conversation["messages"])]
    try:
        text = compiled.render(
            messages=messages,
            tools=copy.deepcopy(conversation["tools"]),
            documents=None,
            add_generation_prompt=conversation["add_generation_prompt"],
            **{"bos_token": bos_token, "eos_token": eos_token, **extra_kwargs},
        )
    except TemplateRaised as exc:
        return {"error": exc.message, "error_type": "raise_exception"}
    except Exception as exc:  # a Python-side failure inside the template (TypeError, UndefinedError, ...)
        return {"error": str(exc), "error_type": type(exc).__name__}
    return {"rendered": text}


def record(templates_dir):
    if not templates_dir.is_dir():
        sys.exit(f"record-template-fixtures: no folder {templates_dir} (scripts/fetch-assets.sh makes it)")
    missing = [name for name, _, _ in TEMPLATES if not (templates_dir / name).is_file()]
    if missing:
        sys.exit(f"record-template-fixtures: not in {templates_dir}: {', '.join(missing)}")
    env = make_environment()
    cases = []
    for name, (bos_token, eos_token), variants in TEMPLATES:
        raw = (templates_dir / name).read_bytes()
        source = raw.decode("utf-8")  # as bytes: no newline translation
        try:
            compiled = env.from_string(source)
        except jinja2.exceptions.TemplateSyntaxError as exc:
            compiled, syntax_error = None, {"error": str(exc), "error_type": "TemplateSyntaxError"}
        for conv_name, conversation in CONVERSATIONS.items():
            kwarg_sets = [{}] + (variants if conv_name in VARIANT_CONVERSATIONS else [])
            for extra_kwargs in kwarg_sets:
                case = {
                    "template": name,
                    "template_sha256": hashlib.sha256(raw).hexdigest(),
                    "conversation": conv_name,
                    "bos_token": bos_token,
                    "eos_token": eos_token,
                    "add_generation_prompt": conversation["add_generation_prompt"],
                    "extra_kwargs": extra_kwargs,
                }
                if compiled is None:
                    case.update(syntax_error)
                else:
                    case.update(render(compiled, conversation, bos_token, eos_token, extra_kwargs))
                cases.append(dict(sorted(case.items())))
    return {
        "generator": "scripts/record-template-fixtures.py",
        "jinja2": importlib.metadata.version("jinja2"),
        "templates_dir": "${HEARTH_ASSETS:-$HOME/.cache/hearth/assets}/llama.cpp-src/models/templates"
        " (llama.cpp from the llama-cpp-python 0.3.36 sdist)",
        "strftime_now": FIXED_NOW.isoformat(),
        "notes": [
            "Environment as transformers': sandboxed, trim_blocks and lstrip_blocks on, "
            "keep_trailing_newline off, autoescape off, loop controls (break/continue) enabled, "
            "{% generation %} renders its body.",
            "tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False) is "
            "Python's json.dumps: separators ', ' and ': ' (',' and ': ' with indent), keys in "
            "insertion order, non-ASCII verbatim, no HTML escaping of < > & '.",
            "strftime_now(fmt) formats the fixed instant in 'strftime_now' (C locale), e.g. "
            "'%d %b %Y' -> '26 Jul 2024', '%Y-%m-%d' -> '2024-07-26', '%B %d, %Y' -> 'July 26, 2024'.",
            "raise_exception(msg) aborts the render with msg.",
            "Variables: messages and tools from 'conversations' (tools is null, not undefined, "
            "when the conversation has none), documents = null, add_generation_prompt, bos_token, "
            "eos_token, then each key of extra_kwargs. As in transformers >= 5, a message key "
            "whose value is null would be dropped first (the recorded messages have none).",
            "A case has 'rendered', or 'error' + 'error_type': 'raise_exception' (a template's "
            "own rejection, the message is exact) or the Python exception class of a runtime "
            "failure (its message is Python's wording).",
        ],
        "conversations": {
            name: {"messages": conv["messages"], "tools": conv["tools"]} for name, conv in CONVERSATIONS.items()
        },
        "cases": cases,
    }


def main(argv):
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    if len(args) > 1 or any(a.startswith("-") for a in args):
        sys.exit("usage: python3 scripts/record-template-fixtures.py [--check] [TEMPLATES_DIR]")
    templates_dir = Path(args[0]) if args else DEFAULT_TEMPLATES_DIR
    locale.setlocale(locale.LC_TIME, "C")  # %b / %B in English whatever the user's locale
    text = json.dumps(record(templates_dir), ensure_ascii=False, indent=1) + "\n"
    if check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            sys.exit(f"record-template-fixtures: {OUTPUT.relative_to(REPO)} is stale; rerun without --check")
        print(f"{OUTPUT.relative_to(REPO)} is up to date")
        return
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(REPO)}: {len(text.encode())} bytes")


if __name__ == "__main__":
    main(sys.argv[1:])
