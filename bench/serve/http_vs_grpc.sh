#!/usr/bin/env bash
# The HTTP API's cost: the same 32-stream workload through OpenAI streaming HTTP
# (`hearth bench-serve --openai`, POST /v1/completions with SSE) and through gRPC
# (`hearth bench-serve`), against one `hearth serve`, alternating gRPC, HTTP, gRPC, HTTP ...
# ROUNDS times so machine noise hits both alike. Prints output tokens/s and TTFT p50 / mean
# side by side per round and the HTTP / gRPC ratio of the means.
#
#   bench/serve/http_vs_grpc.sh [BUILD_DIR]   (default build/; reports in $OUT, default
#                                              BUILD_DIR/bench_http_out)
#
# Environment: NUM_REQUESTS (default 64), ROUNDS (default 3), HEARTH_MODEL.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
HEARTH=$BUILD/hearth
MODEL=${HEARTH_MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
NUM_REQUESTS=${NUM_REQUESTS:-64}
ROUNDS=${ROUNDS:-3}
OUT=${OUT:-$BUILD/bench_http_out}
mkdir -p "$OUT"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ADDRESS=127.0.0.1:$(free_port)
HTTP_PORT=$(free_port)
env -u HEARTH_MODEL "$HEARTH" serve --model="$MODEL" --listen-address="$ADDRESS" \
  --http-listen-address=127.0.0.1 --http-port="$HTTP_PORT" --metrics-listen-address=127.0.0.1 \
  --metrics-port="$(free_port)" --max-num-seqs=32 --max-num-batched-tokens=1024 \
  --kv-cache-bytes=1GiB --swap-space=0 --threads=2 --log-level=warning >"$OUT/serve.log" 2>&1 &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null; wait $SERVER_PID 2>/dev/null || true' EXIT
for _ in $(seq 600); do
  "$HEARTH" client health --address "$ADDRESS" --deadline_ms 500 >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$OUT/serve.log"; exit 1; }
  sleep 0.1
done

WORKLOAD="--address $ADDRESS --num_requests $NUM_REQUESTS --prompt_len 64 --output_len 128 \
--seed 0 --concurrency 32"
# Warm the weights and caches once through each path (not measured).
# shellcheck disable=SC2086
"$HEARTH" bench-serve $WORKLOAD --num_requests 8 >/dev/null
# shellcheck disable=SC2086
"$HEARTH" bench-serve $WORKLOAD --num_requests 8 --openai "http://127.0.0.1:$HTTP_PORT" >/dev/null

summary() {  # $1 = json report -> "tok/s ttft_p50_ms ttft_mean_ms"
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))
print("%.1f %.1f %.1f" % (r["output_tokens_per_s"], 1e3*r["ttft_s"]["p50"], 1e3*r["ttft_s"]["mean"]))' "$1"
}
printf "%-6s %-5s %12s %14s %15s\n" round api "output tok/s" "TTFT p50 (ms)" "TTFT mean (ms)"
for r in $(seq "$ROUNDS"); do
  for api in grpc openai; do
    extra=""
    [ "$api" = openai ] && extra="--openai http://127.0.0.1:$HTTP_PORT"
    # shellcheck disable=SC2086
    "$HEARTH" bench-serve $WORKLOAD $extra --json "$OUT/${api}_$r.json" >"$OUT/${api}_$r.txt"
    read -r tps p50 mean <<<"$(summary "$OUT/${api}_$r.json")"
    printf "%-6s %-5s %12s %14s %15s\n" "$r" "$api" "$tps" "$p50" "$mean"
  done
done
python3 - "$OUT" "$ROUNDS" <<'PY'
import json, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def mean(api, key):
    vals = []
    for r in range(1, rounds + 1):
        rep = json.load(open(f"{out}/{api}_{r}.json"))
        vals.append(rep["output_tokens_per_s"] if key == "tps" else rep["ttft_s"]["mean"])
    return sum(vals) / len(vals)
for key, name in (("tps", "output tokens/s"), ("ttft", "TTFT mean")):
    g, h = mean("grpc", key), mean("openai", key)
    print(f"{name}: gRPC {g:.4g}, HTTP {h:.4g}, HTTP / gRPC = {h / g:.3f}")
PY
