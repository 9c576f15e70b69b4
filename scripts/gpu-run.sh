#!/usr/bin/env bash
# The GPU machine's half of scripts/gpu-check.sh: runs inside the unpacked bundle (bin/, lib/,
# lib-fallback/, models/, py/) and prints ONE table at the end. Budget: under 8 minutes.
#
#   1. libraries: the bundle's, then wherever libcudart / libcublas 13 are on this machine
#   2. models: the synthetic conformance models (gguf package, bundled) now; the Llama-3-8B-
#      shaped Q4_K model in the background (`hearth synth-model`, else the Python fallback)
#   3. tests: cuda_device_test, cuda_matmul_test, cuda_ops_test, cuda_conformance_test (its
#      rows: one per synthetic model, mixtures of experts included, and a "moe batch" row per
#      MoE model: 32 sequences together vs each alone, bitwise)
#   4. cuda_model_bench on the 8B model (decode 1..256, prefill 2048, both GEMM modes)
#   5. `hearth serve` on the GPU + `hearth bench-serve` at 32 and 128 streams
#
# Logs go to $OUT (the device tool brings them back): gpu-check.log (everything) and
# table.txt. Exit status 0 when every test passed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-/tmp/hearth-gpu-out}
work=${HEARTH_GPU_WORK:-/tmp/hearth-gpu-work}
mkdir -p "$out" "$work/models"
log=$out/gpu-check.log
table=$out/table.txt
: >"$log"
: >"$table"
t0=$(date +%s)
rc=0

row() { echo "TABLE|$1|$2|$3|$4|$5" >>"$table"; }
elapsed() { echo $(($(date +%s) - t0)); }
note() { echo "== [$(elapsed) s] $*" | tee -a "$log"; }

# ---- 1. Libraries ----------------------------------------------------------------------------
libs="$here/lib"
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets/x86_64-linux/lib; do
  [ -d "$d" ] && libs="$libs:$d"
done
for name in libcudart.so.13 libcublas.so.13 libcublasLt.so.13; do
  if ! LD_LIBRARY_PATH="$libs" ldd "$here/bin/cuda_device_test" 2>/dev/null | grep -q "$name => /"; then
    found=$(find /usr/local /opt /usr/lib /usr/lib64 -name "$name" 2>/dev/null | head -1)
    [ -n "$found" ] && libs="$libs:$(dirname "$found")"
  fi
done
export LD_LIBRARY_PATH="$libs:${LD_LIBRARY_PATH:-}"
# Debian 12's libstdc++ (bundled aside) only when this machine's is older.
if "$here/bin/hearth" version 2>&1 | grep -q "GLIBCXX\|CXXABI"; then
  export LD_LIBRARY_PATH="$here/lib-fallback:$LD_LIBRARY_PATH"
  note "using the bundled libstdc++"
fi
missing=$(for b in "$here"/bin/*; do ldd "$b" 2>/dev/null | grep "not found"; done | sort -u)
if [ -n "$missing" ]; then
  note "missing libraries:"; echo "$missing" | tee -a "$log"
  row setup libraries "$(echo "$missing" | tr '\n' ' ')" "" FAIL
  rc=1
fi
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm --format=csv \
  >>"$log" 2>&1 || true
"$here/bin/hearth" devices 2>&1 | tee -a "$log"

# ---- 2. Models -------------------------------------------------------------------------------
# HEARTH_GPU_8B: an existing 8B-shaped model instead of writing one (and the settings below let
# the script run end to end on a machine without a GPU, to check the script itself).
serve_device=${HEARTH_GPU_SERVE_DEVICE:-cuda}
streams=${HEARTH_GPU_STREAMS:-32 128}
cp "$here/models/cut.gguf" "$work/models/cut.gguf"
model8b=${HEARTH_GPU_8B:-$work/models/llama8b-q4k.gguf}
if [ -n "${HEARTH_GPU_8B:-}" ]; then
  echo "given (HEARTH_GPU_8B)" >"$work/synth.how"
  : >"$work/synth.log"
  true &
elif "$here/bin/hearth" synth-model --help >/dev/null 2>&1; then
  echo "hearth synth-model --preset llama3-8b --type q4_k" >"$work/synth.how"
  "$here/bin/hearth" synth-model "$model8b" --preset llama3-8b --type q4_k --threads 12 --quiet \
    >"$work/synth.log" 2>&1 &
else
  echo "the Python fallback (vocab 49152: the cut model's tokenizer)" >"$work/synth.how"
  PYTHONPATH="$here/py" python3 "$here/py/cuda-test-models.py" "$work/models" --no-synthetic \
    --no-cut --llama8b "$model8b" >"$work/synth.log" 2>&1 &
fi
synth_pid=$!
note "synthetic conformance models"
PYTHONPATH="$here/py" python3 "$here/py/cuda-test-models.py" "$work/models" --no-cut \
  >>"$log" 2>&1 || row setup "synthetic models" "python3 + gguf failed (see log)" "" FAIL
export HEARTH_CUDA_MODELS=$work/models

# ---- 3. Tests --------------------------------------------------------------------------------
run_test() {  # name timeout [env...]
  local name=$1 limit=$2
  note "$name"
  local o
  o=$(timeout "$limit" "$here/bin/$name" --gtest_brief=1 2>&1)
  local trc=$?
  echo "$o" >>"$log"
  echo "$o" | grep "^TABLE|" >>"$table"
  local passed skipped failed
  passed=$(echo "$o" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | head -1)
  skipped=$(echo "$o" | sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' | head -1)
  failed=$(echo "$o" | grep "^\[  FAILED  \] " | grep -v "listed below" | sed 's/^\[  FAILED  \] //' |
    sed 's/ (.*//' | sort -u | tr '\n' ' ')
  local status=PASS
  [ "${passed:-0}" = 0 ] && status="NOTHING RAN"
  [ $trc -ne 0 ] && status="FAIL(rc=$trc)" && rc=1
  [ $trc -eq 124 ] && status="TIMEOUT(${limit}s)"
  row tests "$name" "passed ${passed:-0}, skipped ${skipped:-0}${failed:+, failed: $failed}" \
    "rc 0" "$status"
}
run_test cuda_device_test 60
run_test cuda_matmul_test 120
run_test cuda_ops_test 150
run_test cuda_conformance_test 260

# ---- 4. Benchmarks on the 8B-shaped model ----------------------------------------------------
note "waiting for the 8B model"
wait $synth_pid
cat "$work/synth.log" >>"$log"
if [ -s "$model8b" ]; then
  row bench "8B model" "$(du -h "$model8b" | cut -f1) from $(cat "$work/synth.how" 2>/dev/null)" \
    "" "-"
  note "cuda_model_bench"
  timeout 200 "$here/bin/cuda_model_bench" --model "$model8b" 2>&1 | tee -a "$log" |
    grep "^TABLE|" >>"$table"
  [ "${PIPESTATUS[0]}" -ne 0 ] && row bench cuda_model_bench "rc ${PIPESTATUS[0]}" "" FAIL

  # ---- 5. The served path ------------------------------------------------------------------
  note "hearth serve + bench-serve"
  "$here/bin/hearth" serve --model="$model8b" --device="$serve_device" \
    --listen-address=127.0.0.1:50777 --max-num-seqs=256 --max-num-batched-tokens=4096 \
    --max-model-len=1024 --kv-cache-memory-fraction=0.5 --metrics-enabled=false \
    >"$work/serve.log" 2>&1 &
  serve_pid=$!
  ready=0
  for _ in $(seq 1 90); do
    if "$here/bin/hearth" bench-serve --address 127.0.0.1:50777 --num_requests 1 \
      --output_len 2 >/dev/null 2>&1; then
      ready=1
      break
    fi
    kill -0 $serve_pid 2>/dev/null || break
    sleep 2
  done
  if [ $ready = 1 ]; then
    for c in $streams; do
      n=$((c * 4))
      o=$(timeout 120 "$here/bin/hearth" bench-serve --address 127.0.0.1:50777 --concurrency "$c" \
        --num_requests $n --prompt_len 128 --output_len 128 --warmup 8 2>&1)
      brc=$?
      echo "$o" >>"$log"
      tps=$(echo "$o" | sed -n 's/.*output tokens\/s \([0-9.]*\).*/\1/p' | head -1)
      failed=$(echo "$o" | sed -n 's/.* \([0-9]*\) failed in .*/\1/p' | head -1)
      ttft=$(echo "$o" | sed -n 's/^ *ttft *ms *mean *\([0-9.]*\) *p50 *\([0-9.]*\).*/\1 \/ \2/p' | head -1)
      itl=$(echo "$o" | sed -n 's/^ *itl *ms *mean *\([0-9.]*\) *p50 *\([0-9.]*\).*/\1 \/ \2/p' | head -1)
      status=-
      [ $brc -ne 0 ] || [ "${failed:-1}" != 0 ] && status="FAIL(rc=$brc)"
      row serve "bench-serve $c streams, $n x (128 in, 128 out)" \
        "${tps:-?} output tok/s, ${failed:-?} failed" "TTFT ${ttft:-?} ms, ITL ${itl:-?} ms (mean / p50)" \
        "$status"
    done
  else
    row serve "hearth serve --device $serve_device" "did not come up (serve.log in the log)" "" FAIL
  fi
  kill $serve_pid 2>/dev/null
  wait $serve_pid 2>/dev/null
  cat "$work/serve.log" >>"$log"
else
  row bench "8B model" "not written (see log)" "" FAIL
fi

# ---- The table -------------------------------------------------------------------------------
note "done"
echo
echo "== hearth GPU check, $(elapsed) s, $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)"
echo "section     check                                         result  [reference]  status"
awk -F'|' '{ printf "%-11s %-45s %s%s  %s\n", $2, $3, $4, ($5 == "" ? "" : "  [" $5 "]"), $6 }' \
  "$table"
exit $rc
