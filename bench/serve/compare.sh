#!/usr/bin/env bash
# The service layer's cost: the same workload on the engine in process (`hearth bench-serve
# --offline`) and through `hearth serve` + gRPC (`hearth bench-serve`), same engine settings,
# same machine, interleaved ROUNDS times; then a concurrency sweep through the server.
#
#   bench/serve/compare.sh [BUILD_DIR]        (default build/; reports go to $OUT, default BUILD_DIR/bench_serve_out)
#
# Environment: NUM_REQUESTS (comparison, default 64), ROUNDS (default 2), SWEEP ("1 8 32 64";
# empty skips it), HEARTH_MODEL (default the default model).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
HEARTH=$BUILD/hearth
MODEL=${HEARTH_MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
NUM_REQUESTS=${NUM_REQUESTS:-64}
ROUNDS=${ROUNDS:-2}
SWEEP=${SWEEP-1 8 32 64}
OUT=${OUT:-$BUILD/bench_serve_out}
mkdir -p "$OUT"
rm -f "$OUT/rounds.txt"
touch "$OUT/rounds.txt"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Engine settings shared by both sides (hearth serve flags; the offline side parses the same).
engine_flags() {  # $1 = max_num_seqs
  echo "--model=$MODEL --max-num-seqs=$1 --max-num-batched-tokens=1024 --kv-cache-bytes=1GiB \
--swap-space=0 --threads=2"
}
WORKLOAD="--num_requests $NUM_REQUESTS --prompt_len 64 --output_len 128 --seed 0 --concurrency 32 --warmup 4"

SERVER_PID=
start_server() {  # $@ = serve flags; sets ADDRESS
  local port log
  port=$(free_port)
  log="$OUT/serve.log"
  ADDRESS=127.0.0.1:$port
  env -u HEARTH_MODEL "$HEARTH" serve --listen-address="$ADDRESS" --metrics-listen-address=127.0.0.1 \
    --metrics-port="$(free_port)" --log-level=warning "$@" >"$log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 600); do
    "$HEARTH" client health --address "$ADDRESS" --deadline_ms 500 >/dev/null 2>&1 && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log"; return 1; }
    sleep 0.1
  done
  echo "server did not start" >&2; return 1
}
stop_server() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" && wait "$SERVER_PID" || true
  SERVER_PID=
}
trap stop_server EXIT

tokps() { python3 -c 'import json,sys; print("%.1f" % json.load(open(sys.argv[1]))["output_tokens_per_s"])' "$1"; }

echo "== service layer vs offline engine: $NUM_REQUESTS requests, prompt 64, output 128, concurrency 32, max_num_seqs 32"
# shellcheck disable=SC2086
run_offline() {
  "$HEARTH" bench-serve --offline $WORKLOAD --json "$OUT/offline_$1.json" -- $(engine_flags 32) \
    >"$OUT/offline_$1.txt"
}
run_served() {
  start_server $(engine_flags 32)
  "$HEARTH" bench-serve --address "$ADDRESS" $WORKLOAD --json "$OUT/grpc_$1.json" >"$OUT/grpc_$1.txt"
  stop_server
}
# Odd rounds run offline first, even rounds served first, so drift in the machine's load does
# not favour one side.
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then run_offline "$r"; run_served "$r"; else run_served "$r"; run_offline "$r"; fi
  off=$(tokps "$OUT/offline_$r.json"); srv=$(tokps "$OUT/grpc_$r.json")
  python3 -c "import sys; o,s=map(float,sys.argv[1:]); print(f'round $r: offline {o:.1f} output tok/s, served {s:.1f} output tok/s, served/offline {s/o:.3f} (cost {100*(1-s/o):+.1f}%)')" "$off" "$srv"
  echo "$off $srv" >>"$OUT/rounds.txt"
done
python3 - "$OUT/rounds.txt" <<'PY'
import statistics, sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
if not rows:
    sys.exit(0)
ratios = [s / o for o, s in rows]
o, s = (sum(c) / len(rows) for c in zip(*rows))
print(f"{len(rows)} rounds: median served/offline {statistics.median(ratios):.3f}, "
      f"geometric mean {statistics.geometric_mean(ratios):.3f}, "
      f"mean tok/s offline {o:.1f} served {s:.1f}")
PY

if [ -n "$SWEEP" ]; then
  echo "== served concurrency sweep (max_num_seqs 64; requests = max(4, 2 x concurrency), prompt 64, output 128)"
  # shellcheck disable=SC2046
  start_server $(engine_flags 64)
  printf '%-11s %10s %10s %10s %10s %10s %10s %10s\n' concurrency "out tok/s" "ttft p50" "ttft p90" \
    "ttft p99" "itl p50" "itl p90" "itl p99"
  for c in $SWEEP; do
    n=$(( 2 * c > 4 ? 2 * c : 4 ))
    "$HEARTH" bench-serve --address "$ADDRESS" --concurrency "$c" --num_requests "$n" \
      --prompt_len 64 --output_len 128 --seed 1 --warmup 2 --json "$OUT/sweep_$c.json" >"$OUT/sweep_$c.txt"
    python3 - "$OUT/sweep_$c.json" "$c" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ms = lambda d, k: 1e3 * r[d][k]
print(f"{sys.argv[2]:<11} {r['output_tokens_per_s']:10.1f} {ms('ttft_s','p50'):8.0f}ms {ms('ttft_s','p90'):8.0f}ms "
      f"{ms('ttft_s','p99'):8.0f}ms {ms('itl_s','p50'):8.1f}ms {ms('itl_s','p90'):8.1f}ms {ms('itl_s','p99'):8.1f}ms")
PY
  done
  stop_server
fi
