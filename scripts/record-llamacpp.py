#!/usr/bin/env python3
"""Records llama.cpp's outputs as the fixtures Hearth's model tests compare against.

CI does not build llama.cpp: it reads what this script committed. Run it again when a fixture's
inputs change (the texts below, a synthesized model's generator):

    bash scripts/fetch-assets.sh && bash scripts/build-llamacpp.sh
    python3 scripts/record-llamacpp.py [gemma3-tokens] [gemma3-greedy] [synthetic]

It drives scripts/llamacpp/hearth-ref (built by build-llamacpp.sh) and writes under
crates/model/tests/fixtures/.
"""

import glob
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASSETS = os.environ.get("HEARTH_ASSETS", os.path.expanduser("~/.cache/hearth/assets"))
LLAMA = os.environ.get("HEARTH_LLAMA_CPP", os.path.expanduser("~/.cache/hearth/llama.cpp"))
REF = os.path.join(LLAMA, "build", "bin", "hearth-ref")
FIXTURES = os.path.join(REPO, "crates", "model", "tests", "fixtures")
GEMMA = os.path.join(ASSETS, "gemma-3-270m-q4_k_m.gguf")


def run_ref(model, cases, *args):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(cases, f)
        path = f.name
    try:
        out = subprocess.run([REF, "--model", model, "--cases", path, *args], check=True, capture_output=True)
    finally:
        os.unlink(path)
    return json.loads(out.stdout)


def write(name, value):
    path = os.path.join(FIXTURES, name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {os.path.relpath(path, REPO)}")


def vocab_texts():
    """Every case of llama.cpp's own tokenizer tests, as test-tokenizer-0 splits them."""
    sep = "\n__ggml_vocab_test__\n"
    texts = []
    for inp in sorted(glob.glob(os.path.join(ASSETS, "llama.cpp-src", "models", "ggml-vocab-*.gguf.inp"))):
        raw = open(inp, encoding="utf-8").read()
        parts = raw.split(sep)
        if raw.endswith(sep):
            parts.pop()
        texts.extend(parts)
    return list(dict.fromkeys(texts))


# Code as an editor sends it: indentation runs, tabs, CRLF, a cut mid-word, special tokens spelled
# in text (which must stay text), and FIM-token spellings of other families.
CODE_TEXTS = [
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n",
    "fn main() {\n\tlet xs: Vec<u32> = (0..10).collect();\n\tprintln!(\"{:?}\", xs);\n}\n",
    "import { readFile } from 'node:fs/promises';\r\nconst text = await readFile(path, 'utf8');\r\n",
    "class ThreadPoolExecutor(_base.Exe",
    "        self._work_queue = queue.SimpleQueue()\n        ",
    "<start_of_turn>user\nhi<end_of_turn>\n<bos><eos><pad>",
    "<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|><|file_sep|>",
    "    \n        \n\n\n\n  x  =  1 \t\t \n",
    "SELECT name, count(*) FROM users WHERE email LIKE '%@example.com' GROUP BY 1;",
    "# -*- coding: utf-8 -*-\n\"\"\"Docstring with ünïcödé, 日本語 and emoji 🦀.\"\"\"\n",
]


def gemma3_tokens():
    texts = vocab_texts() + CODE_TEXTS
    cases = [{"name": str(i), "text": t} for i, t in enumerate(texts)]
    out = run_ref(GEMMA, cases, "--threads", "1", "--n-predict", "0", "--logits", "none", "--top", "0")
    bos = out["bos_id"] if out["add_bos"] else None
    rows = []
    for text, case in zip(texts, out["cases"]):
        ids = case["prompt_ids"]
        if bos is not None and ids[:1] == [bos]:
            ids = ids[1:]
        rows.append({"text": text, "ids": ids})
    write("gemma3-tokens.json", {
        "generator": "scripts/record-llamacpp.py gemma3-tokens",
        "llama_cpp": out["llama_cpp"],
        "model": os.path.basename(GEMMA),
        "note": "llama.cpp's tokenizer with add_special = false, parse_special = false",
        "cases": rows,
    })


# Greedy continuations of the real model: code and prose, each 32 tokens.
GREEDY_PROMPTS = [
    ("python-fib", "def fibonacci(n):"),
    ("python-class", "class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, item):\n"),
    ("python-import", "import os\nimport sys\n\n\ndef main():\n    path = sys.argv[1]\n    if not os.path.exists(path):\n"),
    ("rust-fn", "fn parse_line(line: &str) -> Option<(String, u32)> {\n    let (name, count) = line.split_once(':')?;\n"),
    ("js-fetch", "async function getJson(url) {\n  const response = await fetch(url);\n"),
    ("c-loop", "#include <stdio.h>\n\nint main(void) {\n    for (int i = 0; i < 10; i++) {\n"),
    ("sql", "-- users who signed up this year\nSELECT"),
    ("prose-france", "The capital of France is"),
    ("prose-recipe", "To make a cup of tea, first"),
    ("prose-history", "In 1969, the Apollo 11 mission"),
    ("prose-list", "Three reasons to write tests:\n1."),
    ("prose-mid-word", "The quick brown fox jum"),
]


# llama.cpp's CPU attention kernels: its default (flash attention, f16 KV cache), the plain kernel
# with the same cache, and the plain kernel with an f32 cache, the closest to Hearth's arithmetic.
KERNELS = [("fa-f16", "on", "f16"), ("f16", "off", "f16"), ("f32", "off", "f32")]


def gemma3_greedy():
    cases = [{"name": n, "text": t} for n, t in GREEDY_PROMPTS]
    runs = {}
    for name, fa, kv in KERNELS:
        runs[name] = run_ref(GEMMA, cases, "--threads", "1,2", "--n-predict", "32", "--logits", "last", "--top", "10",
                             "--flash-attn", fa, "--kv-type", kv)
    first = runs[KERNELS[0][0]]
    rows = []
    for i, (name, text) in enumerate(GREEDY_PROMPTS):
        prompt_ids = first["cases"][i]["prompt_ids"]
        assert all(runs[k]["cases"][i]["prompt_ids"] == prompt_ids for k, _, _ in KERNELS)
        row = {"name": name, "text": text, "prompt_ids": prompt_ids, "runs": []}
        for kernel, _, _ in KERNELS:
            for r in runs[kernel]["cases"][i]["runs"]:
                row["runs"].append({
                    "kernel": kernel,
                    "threads": r["threads"],
                    "generated_ids": r["generated_ids"],
                    "generated_text": r["generated_text"],
                    "stop": r["stop"],
                    "top": r["top"],
                })
        rows.append(row)
    write("gemma3-greedy.json", {
        "generator": "scripts/record-llamacpp.py gemma3-greedy",
        "llama_cpp": first["llama_cpp"],
        "model": os.path.basename(GEMMA),
        "note": "greedy, up to 32 new tokens, CPU, no repacking, 1 and 2 threads; kernels: "
                + ", ".join(f"{k} (flash attention {fa}, {kv} KV cache)" for k, fa, kv in KERNELS),
        "cases": rows,
    })


# Random-weight models of the families that cannot be downloaded, synthesized by Hearth with a
# fixed seed (the test synthesizes the same files and checks their hash before comparing).
SYNTHETIC = [("test-qwen3", "gguf-f32"), ("test-qwen3", "q8_0"), ("test-qwen3moe", "gguf-f32"),
             ("test-qwen3moe", "q8_0"), ("test-gemma3", "gguf-f32")]
SEED = 7
# The logits kept per position: every 61st id of the 4096-token vocabulary (the whole rows would
# make a 12 MB fixture; random weights spread the error evenly over the vocabulary).
SAMPLED_IDS = list(range(0, 4096, 61))
# Token ids of tiny-coder's vocabulary: long enough to outgrow test-gemma3's window of 8.
SYNTHETIC_PROMPTS = [
    ("short", [1, 318, 2050, 7, 120, 11, 3, 14, 290, 2]),
    ("long", [(i * 977 + 13) % 4000 + 7 for i in range(40)]),
]


def hearth_bin():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/hearth/target"))
    subprocess.run(["cargo", "build", "-q", "-p", "hearth-cli"], cwd=REPO, check=True,
                   env={**os.environ, "CARGO_TARGET_DIR": target})
    return os.path.join(target, "debug", "hearth")


def synthetic():
    import xxhash  # pip install xxhash: the same xxh3-64 the Rust test computes
    hearth = hearth_bin()
    tokenizer = os.path.join(os.environ.get("HEARTH_SHARED", os.path.join(REPO, "..", "shared")),
                             "models", "tiny-coder", "tokenizer.json")
    cases = [{"name": n, "ids": ids} for n, ids in SYNTHETIC_PROMPTS]
    models = []
    with tempfile.TemporaryDirectory() as tmp:
        for shape, fmt in SYNTHETIC:
            out = subprocess.run([hearth, "models", "synthesize", "--shape", shape, "--format", fmt, "--seed", str(SEED),
                                  "--tokenizer", tokenizer, "--out", os.path.join(tmp, f"{shape}-{fmt}")],
                                 check=True, capture_output=True, text=True).stdout.strip()
            digest = xxhash.xxh3_64_hexdigest(open(out, "rb").read())
            ref = run_ref(out, cases, "--threads", "1", "--n-predict", "0", "--logits", "all", "--top", "0",
                          "--flash-attn", "off", "--kv-type", "f32")
            models.append({
                "shape": shape,
                "format": fmt,
                "xxh3": digest,
                "cases": [{"name": c["name"], "prompt_ids": c["prompt_ids"],
                           "logits": [[row[i] for i in SAMPLED_IDS] for row in c["runs"][0]["logits"]]}
                          for c in ref["cases"]],
            })
            print(f"{shape} {fmt}: {digest}")
    write("synthetic-logits.json", {
        "generator": "scripts/record-llamacpp.py synthetic",
        "llama_cpp": ref["llama_cpp"],
        "seed": SEED,
        "tokenizer": "tiny-coder's tokenizer.json",
        "note": "logits of sampled_ids at every prompt position; CPU, flash attention off, f32 KV cache",
        "sampled_ids": SAMPLED_IDS,
        "models": models,
    })


def main():
    if not os.path.exists(REF):
        sys.exit(f"{REF} not found: run scripts/build-llamacpp.sh")
    if not os.path.exists(GEMMA):
        sys.exit(f"{GEMMA} not found: run scripts/fetch-assets.sh")
    jobs = {"gemma3-tokens": gemma3_tokens, "gemma3-greedy": gemma3_greedy, "synthetic": synthetic}
    for name in sys.argv[1:] or list(jobs):
        jobs[name]()


if __name__ == "__main__":
    main()
