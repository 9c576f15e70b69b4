#!/usr/bin/env bash
# Runs every fuzz target (fuzz/) with libFuzzer for SECONDS each (default 60), two at a time.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     targets: gguf tokenizer chat_template config
#                                             generate_request http_request (default: all)
#
# Builds build-fuzz/ with Debian's clang-14 (-DHEARTH_FUZZ=ON: ASan + UBSan + libFuzzer), starts
# each target from its committed seeds (fuzz/corpus/<target>/) plus what earlier runs found
# (build-fuzz/corpus/<target>/, not committed), and writes crashing inputs to
# build-fuzz/crashes/<target>/. Prints per target the executions, coverage (cov: edges, ft:
# features) and corpus size; exits 1 if any target found a crash, a leak or a timeout. A
# crash becomes a regression case by copying its input into fuzz/corpus/<target>/ (the CTest
# replay runs it in CI) once fixed.
# Environment: HEARTH_FUZZ_JOBS (targets at once, default 2), HEARTH_JOBS (build parallelism).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
[ $# -gt 0 ] && shift
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(gguf tokenizer chat_template config generate_request http_request)
BUILD_DIR=build-fuzz

scripts/install-deps.sh --fuzz
scripts/fetch-model.sh >/dev/null
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  CC=clang-14 CXX=clang++-14 cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DHEARTH_CUDA=OFF -DHEARTH_BUILD_BENCH=OFF -DHEARTH_FUZZ=ON >/dev/null
fi
cmake --build "$BUILD_DIR" -j "${HEARTH_JOBS:-$(nproc)}" --target "${TARGETS[@]/%/_fuzz}"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export HEARTH_DEFAULT_MODEL=${HEARTH_DEFAULT_MODEL:-$PWD/models/SmolLM2-135M-Instruct.Q4_1.gguf}

run_one() {
  local t=$1
  mkdir -p "$BUILD_DIR/corpus/$t" "$BUILD_DIR/crashes/$t"
  "$BUILD_DIR/fuzz/${t}_fuzz" "$BUILD_DIR/corpus/$t" "fuzz/corpus/$t" \
    -max_total_time="$SECONDS_EACH" -timeout=20 -rss_limit_mb=3072 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$BUILD_DIR/crashes/$t/" \
    >"$BUILD_DIR/fuzz-$t.log" 2>&1
}

status=0
pids=()
names=()
for t in "${TARGETS[@]}"; do
  run_one "$t" &
  pids+=($!)
  names+=("$t")
  if [ ${#pids[@]} -ge "${HEARTH_FUZZ_JOBS:-2}" ]; then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done

printf '%-18s %12s %10s %8s %8s %8s\n' target executions exec/s cov ft corpus
for t in "${TARGETS[@]}"; do
  log="$BUILD_DIR/fuzz-$t.log"
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo ?)
  rate=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo ?)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(echo "$last" | grep -oE 'cov: [0-9]+' | grep -oE '[0-9]+' || echo ?)
  ft=$(echo "$last" | grep -oE 'ft: [0-9]+' | grep -oE '[0-9]+' || echo ?)
  corp=$(echo "$last" | grep -oE 'corp: [0-9]+' | grep -oE '[0-9]+' || echo ?)
  printf '%-18s %12s %10s %8s %8s %8s\n' "$t" "$runs" "$rate" "$cov" "$ft" "$corp"
  if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error:|fuzz invariant broken' "$log"; then
    echo "  FINDING in $t: see $log and $BUILD_DIR/crashes/$t/" >&2
    status=1
  fi
done
exit $status
