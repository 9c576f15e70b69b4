#!/usr/bin/env bash
# Scale-out on one host: aggregate output tokens/s of `hearth bench-serve` against one replica
# (--threads 2) and against three replicas (--threads 1 each) on loopback ports, both using the
# whole 2-core machine; rounds alternate (1, 3, 1, 3, ...) so drift cancels. Then one more
# three-replica run during which replica 2 gets SIGTERM mid-load: failed requests must be 0.
#
#   bench/serve/scale_out.sh [BUILD_DIR]      (default build/; JSON reports in $OUT)
#
# Environment: ROUNDS (default 2), NUM_REQUESTS (default 96), CONCURRENCY (default 24),
# SINGLE_THREADS (the single replica's threads, default 2; 3 gives it as many runnable threads
# as the three replicas have, the fair comparison on a machine shared with other load).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
HEARTH=$BUILD/hearth
ROUNDS=${ROUNDS:-2}
NUM_REQUESTS=${NUM_REQUESTS:-96}
CONCURRENCY=${CONCURRENCY:-24}
OUT=${OUT:-$BUILD/scale_out_out}
mkdir -p "$OUT"
WORKLOAD="--num_requests $NUM_REQUESTS --concurrency $CONCURRENCY --prompt_len 64 --output_len 128 --seed 0 --warmup 4"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

start() {  # N THREADS -> sets ADDRESSES; replicas' pids in pids[]
  local n=$1 threads=$2 base=$((58300 + RANDOM % 500 * 4))
  ADDRESSES=""
  pids=()
  for i in $(seq 1 "$n"); do
    "$HEARTH" serve --listen-address "127.0.0.1:$((base + i))" --metrics-port "$((base + 100 + i))" \
      --threads "$threads" --kv-cache-bytes 512MiB --swap-space 0 --max-num-seqs 32 \
      --shutdown-grace-period 60s >"$OUT/replica$i.log" 2>&1 &
    pids+=($!)
    ADDRESSES+="${ADDRESSES:+,}127.0.0.1:$((base + i))"
  done
  for i in $(seq 1 "$n"); do
    until grep -q "listening on" "$OUT/replica$i.log"; do
      if ! kill -0 "${pids[$((i - 1))]}" 2>/dev/null; then
        echo "replica $i did not start:" >&2
        tail -n 3 "$OUT/replica$i.log" >&2
        exit 1
      fi
      sleep 0.2
    done
  done
}
tokps() { "${PYTHON:-python3}" -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.1f %d" % (d["output_tokens_per_s"], d["failed"]))' "$1"; }

for r in $(seq 1 "$ROUNDS"); do
  for n in 1 3; do
    threads=$([ "$n" = 1 ] && echo "${SINGLE_THREADS:-2}" || echo 1)
    start "$n" "$threads"
    "$HEARTH" bench-serve --address "$ADDRESSES" $WORKLOAD --json "$OUT/r${r}_n$n.json" >/dev/null
    cleanup
    read -r tps failed < <(tokps "$OUT/r${r}_n$n.json")
    echo "round $r: $n replica(s) x $threads thread(s): $tps output tokens/s, $failed failed"
  done
done

start 3 1
"$HEARTH" bench-serve --address "$ADDRESSES" $WORKLOAD --json "$OUT/drain.json" >/dev/null &
bench=$!
sleep 5
kill -TERM "${pids[1]}"
wait "${pids[1]}" && drained=0 || drained=$?
wait "$bench" || true
read -r tps failed < <(tokps "$OUT/drain.json")
echo "drain: replica 2 SIGTERM at 5 s (exit $drained, $(grep -o 'draining [0-9]* streams' "$OUT/replica2.log")): $tps output tokens/s, $failed failed of $NUM_REQUESTS"
