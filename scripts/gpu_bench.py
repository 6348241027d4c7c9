#!/usr/bin/env python3
"""The GPU half of scripts/gpu-bench.sh: runs on the device machine (stdlib only).

Stages, each sized for one 10-minute device call:
  tiny  GPU-vs-CPU greedy agreement (F32), speculative == plain on the GPU, tiny-model figures
  1.5b  random-weight Qwen2.5-Coder-1.5B (bf16, q8_0, q4_k) and a 0.5B-shaped draft (bf16)
  7b    random-weight Qwen2.5-Coder-7B (bf16, q8_0, q4_k)
Writes $OUT/<stage>.json (every raw figure) and $OUT/<stage>.md (the table rows), and prints both.
"""

import json
import os
import subprocess
import sys
import time

HEARTH = os.environ.get("HEARTH_BIN", "/tmp/hearth-gpu/hearth")
PACK = os.environ.get("HEARTH_PACK", "/tmp/hearth-gpu")  # unpacked .gpu/ contents
WORK = os.environ.get("HEARTH_WORK", "/tmp/hearth-models")
OUT = os.environ.get("OUT", "/tmp/hearth-out")
CASES = int(os.environ.get("HEARTH_BENCH_CASES", "50"))  # fim-dev cases for the agreement checks
# Nominal HBM bandwidth (bytes/s): H100 SXM 3.35 TB/s, H200 4.8 TB/s.
NOMINAL_BW = {"H100": 3.35e12, "H200": 4.8e12}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def run(args, timeout=300, check=True):
    log("$ " + " ".join(args))
    t = time.time()
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    log(f"  ({time.time() - t:.1f} s, rc {p.returncode})")
    if p.stderr.strip():
        log("  " + p.stderr.strip()[-2000:].replace("\n", "\n  "))
    if check and p.returncode != 0:
        raise RuntimeError(f"{args[:3]} failed with rc {p.returncode}")
    return p


def gpu_facts():
    try:
        q = run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"], check=False)
        name = q.stdout.strip()
    except OSError:
        name = "no nvidia-smi (dry run: `--device cuda` falls back to the CPU)"
    nominal = next((bw for k, bw in NOMINAL_BW.items() if k in name), None)
    measured = None
    try:  # device-to-device copy through PyTorch: (read + write) bytes / time
        code = (
            "import torch,time;n=2**30;a=torch.empty(n,dtype=torch.uint8,device='cuda');b=torch.empty_like(a)\n"
            "for _ in range(3): b.copy_(a)\n"
            "torch.cuda.synchronize();t=time.time()\n"
            "for _ in range(20): b.copy_(a)\n"
            "torch.cuda.synchronize();print(2*n*20/(time.time()-t))"
        )
        measured = float(run(["python3", "-c", code], timeout=120).stdout.strip())
    except Exception as e:  # noqa: BLE001 - the figure is optional
        log(f"bandwidth measurement failed: {e}")
    return {"gpu": name, "nominal_bw": nominal, "measured_copy_bw": measured}


def weight_bytes(spec):
    if os.path.isfile(spec):
        return os.path.getsize(spec)
    return sum(os.path.getsize(os.path.join(spec, f)) for f in os.listdir(spec) if f.endswith(".safetensors"))


def synthesize(shape, fmt, seed=0):
    out = os.path.join(WORK, f"{shape}-{fmt}")
    p = run([HEARTH, "models", "synthesize", "--shape", shape, "--format", fmt, "--out", out, "--seed", str(seed),
             "--tokenizer", os.path.join(PACK, "tokenizer.json")], timeout=400)
    return p.stdout.strip().splitlines()[-1]


def bench(model, device="cuda", draft=None, prompt_tokens=2048, gen_tokens=128, repeats=3, extra=(), timeout=240):
    args = [HEARTH, "bench", "decode", "--model", model, "--device", device, "--json",
            "--prompt-tokens", str(prompt_tokens), "--gen-tokens", str(gen_tokens), "--repeats", str(repeats)]
    if draft:
        args += ["--draft", draft]
    args += list(extra)
    try:
        return json.loads(run(args, timeout=timeout).stdout)
    except Exception as e:  # noqa: BLE001 - one failing model must not lose the others' figures
        return {"error": str(e)}


def spec_bench(model, **kw):
    """Plain, draft = target (acceptance 100%) and n-gram lookup on the copy task, plus verify costs."""
    return bench(model, draft=model, extra=["--lookup", "--copy-task", "--verify-windows", "1,2,4,8"], **kw)


def expected_speedup(alpha, k, verify_ratio, draft_ratio=0.0):
    """Tokens per unit time vs plain decoding for a window of k proposals accepted i.i.d. with
    probability alpha: (1 - alpha^(k+1)) / (1 - alpha) tokens per step, each step costing
    verify_ratio (cost of verifying k relative to 1) plus k draft steps."""
    tokens = (1 - alpha ** (k + 1)) / (1 - alpha) if alpha < 1 else k + 1
    return tokens / (verify_ratio + k * draft_ratio)


def row(label, fmt, r, facts, wbytes, draft_ratio=None):
    if "error" in r:
        return f"| {label} | {fmt} | failed: {r['error'][:80]} |" + " |" * 9
    dec = r["decode_tokens_per_second"]
    pre = r["prompt_tokens_per_second"]
    bw = facts.get("nominal_bw")
    roof = f"{100 * wbytes * dec / bw:.0f}%" if bw else "?"
    mbw = facts.get("measured_copy_bw")
    roof_m = f"{100 * wbytes * dec / mbw:.0f}%" if mbw else "?"
    v = r.get("verify", {})
    rel = lambda k: v.get(f"k{k}", {}).get("relative")  # noqa: E731
    fmt_rel = lambda x: f"{x:.2f}x" if x else "-"  # noqa: E731
    sp = r.get("speculative", {})
    d = sp.get("draft", {})
    lk = sp.get("lookup", {})
    est = "-"
    if rel(4):
        est = f"{expected_speedup(0.7, 4, rel(4)):.2f}x"
    return (
        f"| {label} | {fmt} | {dec:.1f} | {roof} / {roof_m} | {pre:.0f} ({r['prompt_tokens']}) | "
        f"{r['time_to_first_token_ms_8_token_prompt']:.1f} / {1e3 * r['prompt_tokens'] / pre:.0f} | "
        f"{fmt_rel(rel(4))} | {fmt_rel(rel(8))} | "
        f"{d.get('tokens_per_second', 0):.1f} ({d.get('tokens_per_target_step', 0):.2f}/step) | "
        f"{lk.get('tokens_per_second', 0):.1f} (acc {lk.get('acceptance_rate', 0):.2f}) | {est} |"
    )


HEADER = (
    "| model | format | decode tok/s | roofline (nominal / measured copy BW) | prefill tok/s (prompt) | "
    "TTFT ms (8-token / full prompt) | verify 4 vs 1 | verify 8 vs 1 | spec draft=target tok/s | "
    "lookup, copy task tok/s | est. lookup speedup α=0.7 k=4 |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


def stage_tiny(facts):
    tiny = os.path.join(PACK, "tiny-coder-f32.gguf")
    draft = os.path.join(PACK, "tiny-coder-draft-f32.gguf")
    cases = os.path.join(PACK, "fim-dev-60.jsonl")
    result = {"facts": facts}

    def fim(device, draft_model=None):
        args = [HEARTH, "eval", "fim", cases, "--model", tiny, "--device", device, "--limit", str(CASES), "--json"]
        if draft_model:
            args += ["--draft", draft_model]
        return json.loads(run(args, timeout=300).stdout)["perCase"]

    cpu, gpu, gpu_draft = fim("cpu"), fim("cuda"), fim("cuda", draft)
    same = lambda a, b: sum(x["got"] == y["got"] for x, y in zip(a, b))  # noqa: E731
    nll_diff = max([abs(x["nll"] - y["nll"]) for x, y in zip(cpu, gpu) if x.get("nll") is not None and y.get("nll") is not None] or [float("nan")])
    result["greedy_gpu_equals_cpu"] = f"{same(cpu, gpu)}/{len(cpu)}"
    result["max_nll_diff_gpu_vs_cpu"] = nll_diff
    result["draft_equals_plain_gpu"] = f"{same(gpu, gpu_draft)}/{len(gpu)}"
    # n-gram lookup exactness through `hearth generate` (token ids) on the first cases.
    ok = 0
    lines = [json.loads(l) for l in open(cases) if l.strip()][: min(8, CASES)]
    for c in lines:
        base = [HEARTH, "generate", "--model", tiny, "--device", "cuda", "--fim-prefix=" + c["prefix"][-600:],
                "--fim-suffix=" + c["suffix"][:300], "--max-tokens", "48", "--json"]
        plain = json.loads(run(base, timeout=60).stdout)["token_ids"]
        look = json.loads(run(base + ["--lookup"], timeout=60).stdout)["token_ids"]
        both = json.loads(run(base + ["--lookup", "--draft", draft], timeout=60).stdout)["token_ids"]
        ok += plain == look == both
    result["lookup_and_draft_equal_plain_gpu"] = f"{ok}/{len(lines)}"
    # The tiny models hold 384 positions, so their prefill figure uses 300 tokens, not 2k.
    result["tiny_f32"] = spec_bench(tiny, prompt_tokens=300, gen_tokens=64, repeats=5)
    result["tiny_f32_draft"] = bench(tiny, draft=draft, prompt_tokens=300, gen_tokens=64, repeats=5,
                                     extra=["--lookup", "--copy-task"])
    result["tiny_f32_cpu"] = bench(tiny, device="cpu", prompt_tokens=300, gen_tokens=64, repeats=3)
    rows = [
        row("tiny-coder (6.8M)", "gguf f32", result["tiny_f32"], facts, weight_bytes(tiny)),
        row("tiny-coder, CPU", "gguf f32", result["tiny_f32_cpu"], facts, weight_bytes(tiny)),
    ]
    d = result["tiny_f32_draft"].get("speculative", {})
    notes = [
        f"- GPU greedy == CPU greedy (F32, fim-dev cases): {result['greedy_gpu_equals_cpu']}; max |NLL diff| {nll_diff:.2e}",
        f"- GPU speculative (tiny draft) == plain: {result['draft_equals_plain_gpu']}; lookup and lookup+draft == plain: {result['lookup_and_draft_equal_plain_gpu']}",
        "- tiny draft on the copy task: " + ", ".join(f"{k} {v.get('tokens_per_second', 0):.0f} tok/s (acc {v.get('acceptance_rate', 0):.2f})" for k, v in d.items()),
    ]
    return result, rows, notes


def stage_model(facts, shape, formats, draft_shape=None):
    result = {"facts": facts}
    rows = []
    for fmt in formats:
        t = time.time()
        path = synthesize(shape, fmt)
        result[f"synthesize_{fmt}_s"] = time.time() - t
        r = spec_bench(path, timeout=300)
        result[fmt] = r
        result[f"{fmt}_weight_bytes"] = weight_bytes(path)
        rows.append(row(shape + " (random)", fmt, r, facts, weight_bytes(path)))
        subprocess.run(["rm", "-rf", os.path.dirname(path) if path.endswith(".gguf") else path])
        with open(os.path.join(OUT, "partial.json"), "w") as f:  # comes back even if the call runs out of time
            json.dump(result, f, indent=1)
    notes = []
    if draft_shape:
        dpath = synthesize(draft_shape, "bf16", seed=1)
        r = bench(dpath, extra=["--verify-windows", "1"], timeout=200)
        result["draft_" + draft_shape] = r
        rows.append(row(draft_shape + " (random draft)", "bf16", r, facts, weight_bytes(dpath)))
        if "bf16" in result and "error" not in result["bf16"] and "error" not in r:
            ratio = result["bf16"]["decode_tokens_per_second"] / r["decode_tokens_per_second"]
            v4 = result["bf16"].get("verify", {}).get("k4", {}).get("relative")
            result["draft_step_cost_vs_target"] = ratio
            if v4:
                notes.append(
                    f"- {draft_shape} draft step costs {ratio:.2f} of a {shape} bf16 step; estimated draft speedup at "
                    f"acceptance 0.7, k=4: {expected_speedup(0.7, 4, v4, ratio):.2f}x (computed from the measured costs)"
                )
    return result, rows, notes


def main():
    stage = sys.argv[1] if len(sys.argv) > 1 else "tiny"
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(WORK, exist_ok=True)
    facts = gpu_facts()
    log(json.dumps(facts))
    if stage == "tiny":
        result, rows, notes = stage_tiny(facts)
    elif stage == "1.5b":
        result, rows, notes = stage_model(facts, "qwen2.5-coder-1.5b", ["bf16", "q8_0", "q4_k"], "qwen2.5-coder-0.5b")
    elif stage == "7b":
        result, rows, notes = stage_model(facts, "qwen2.5-coder-7b", ["bf16", "q8_0", "q4_k"])
    elif stage.startswith("custom:"):  # a small shape, to try the plumbing anywhere
        result, rows, notes = stage_model(facts, stage, ["bf16", "q8_0", "q4_k"], stage)
    else:
        sys.exit(f"unknown stage {stage}: tiny, 1.5b, 7b or custom:H:L:HEADS:KV:INTER:VOCAB")
    bw = facts.get("measured_copy_bw")
    md = [f"GPU: {facts['gpu']}; nominal HBM {facts.get('nominal_bw') or 0:.3g} B/s; measured copy "
          f"{bw or 0:.3g} B/s", "", HEADER] + rows + [""] + notes
    text = "\n".join(md)
    name = stage.replace(":", "_")
    with open(os.path.join(OUT, f"{name}.json"), "w") as f:
        json.dump(result, f, indent=1)
    with open(os.path.join(OUT, f"{name}.md"), "w") as f:
        f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
