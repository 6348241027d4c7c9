#!/usr/bin/env bash
# Keystroke to suggestion through a remote backend against the same model in process: llama-server
# (built from the llama-cpp-python sdist, scripts/build-llamacpp.sh --server) serves MODEL on a
# loopback port, and `hearth bench typing` replays the same typing session through `hearth serve`
# twice a round, once with a `[backend]` config file and once without, alternating.
#
#   scripts/bench-remote.sh [MODEL.gguf]     default: ../shared's tiny-coder Q8_0 GGUF
# Env: HEARTH_BIN (default: the release build), ROUNDS (2), THREADS (llama-server's, 2).
# Prints a table row per run and the per-request overhead; the JSON reports stay in $OUT (a temp dir).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hearth/target}"
shared="${HEARTH_SHARED:-$(cd "$repo/.." && pwd)/shared}"
model="${1:-$shared/models/gguf/tiny-coder-q8_0.gguf}"
bin="${HEARTH_BIN:-$CARGO_TARGET_DIR/release/hearth}"
rounds="${ROUNDS:-2}"
[ -f "$model" ] || { echo "bench-remote: no model file $model" >&2; exit 1; }
[ -x "$bin" ] || cargo build --locked --release -p hearth-cli
eval "$(bash scripts/build-llamacpp.sh --server | grep '^LLAMA_SERVER=')"
OUT="${OUT:-$(mktemp -d)}"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
# --no-repack: on AMX CPUs llama.cpp's repacked Q8_0 kernel dies with SIGILL (BENCHMARKS.md).
"$LLAMA_SERVER" -m "$model" --host 127.0.0.1 --port "$port" -np 1 -t "${THREADS:-2}" --no-webui --no-repack \
  >"$OUT/llama-server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
up=0
for _ in $(seq 100); do
  if curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1; then up=1; break; fi
  kill -0 "$server" 2>/dev/null || break
  sleep 0.2
done
if [ "$up" != 1 ]; then
  tail -n 20 "$OUT/llama-server.log" >&2
  echo "bench-remote: llama-server did not come up on port $port (log: $OUT/llama-server.log)" >&2
  exit 1
fi
printf '[backend]\nkind = "llama-server"\nurl = "http://127.0.0.1:%s"\n' "$port" >"$OUT/remote.toml"
: >"$OUT/none.toml"
# "typing": the replay BENCHMARKS.md's latency table uses (320 keys, 40 ms apart). "spaced": 30 keys
# 600 ms apart, so that every request finishes alone and the per-request overhead shows: hearth's time
# per completion against llama-server's own time per task (its log).
for round in $(seq "$rounds"); do
  for pace in typing spaced; do
    for mode in local remote; do
      config="$OUT/none.toml"
      [ "$mode" = remote ] && config="$OUT/remote.toml"
      keys=(--keystrokes 320 --interval-ms 40)
      [ "$pace" = spaced ] && keys=(--keystrokes 30 --interval-ms 600)
      start_line="$(wc -l <"$OUT/llama-server.log")"
      HEARTH_CONFIG="$config" "$bin" bench typing --files 8 --reuse-only "${keys[@]}" --model "$model" \
        --cases "$shared/eval/fim-dev.jsonl" --json >"$OUT/$pace-$mode-$round.json"
      tail -n +"$((start_line + 1))" "$OUT/llama-server.log" >"$OUT/$pace-$mode-$round.server.log"
    done
  done
done
python3 - "$OUT" "$rounds" <<'PY'
import json, re, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])

def task_ms(log):
    """llama-server's time per task, launch to release (its log stamps minutes.seconds.ms.us)."""
    stamp = lambda t: (lambda m, s, ms, us: m * 60 + s + ms / 1e3 + us / 1e6)(*map(int, t.split(".")))
    launched, spans = {}, []
    for line in log.splitlines():
        m = re.match(r"(\S+) I slot\s+(launch_slot_|release): id\s+\d+ \| task (\d+)", line)
        if m and m.group(2) == "launch_slot_":
            launched[m.group(3)] = stamp(m.group(1))
        elif m and m.group(3) in launched:
            spans.append((stamp(m.group(1)) - launched.pop(m.group(3))) * 1e3)
    return spans

print("| pace, backend, round | completed | p50 ms | p90 ms | p99 ms | prompt tokens computed / completion | llama-server ms / task, median (tasks) |")
print("|---|---|---|---|---|---|---|")
for r in range(1, rounds + 1):
    for pace in ("typing", "spaced"):
        for mode in ("local", "remote"):
            run = json.load(open(f"{out}/{pace}-{mode}-{r}.json"))["runs"][0]
            spans = task_ms(open(f"{out}/{pace}-{mode}-{r}.server.log").read())
            server = f"{statistics.median(spans):.1f} ({len(spans)})" if spans else "-"
            print(f"| {pace}, {mode}, {r} | {run['withItems']} of {run['keystrokes']} | {run['p50Ms']:.1f} | {run['p90Ms']:.1f} "
                  f"| {run['p99Ms']:.1f} | {run['promptTokensComputedPerCompletion']:.1f} | {server} |")
print(f"reports: {out}")
PY
