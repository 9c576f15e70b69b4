#!/usr/bin/env bash
# The one prepared GPU check. The build machine has nvcc but no GPU; the lent GPU machine has the
# CUDA 13 driver and runtime but no -dev packages (it cannot build Hearth). So:
#
#   1. here:   scripts/gpu-check.sh --bundle [OUT_DIR=.gpu]
#        builds build-gpu/ (HEARTH_CUDA=ON, sm_$HEARTH_CUDA_ARCHS, default 90) and packs into
#        OUT_DIR/hearth-gpu.tar.xz: the binaries (hearth, cuda_device_test, cuda_matmul_test,
#        cuda_ops_test, cuda_conformance_test, cuda_model_bench) with their libraries
#        (scripts/gpu-bundle.sh), the cut of the default model (its first 4 layers, token_embd
#        requantized to Q4_0 to travel; scripts/cuda-test-models.py), the gguf Python package
#        and the scripts that write the synthetic models there, and scripts/gpu-run.sh. Then it
#        checks the bundle here: its size (< 60 MiB) and that every binary starts and says
#        "no CUDA device" cleanly.
#   2. there:  scripts/gpu-check.sh      (the device tool: carry [".gpu"], timeout_s 540)
#        unpacks the bundle to /tmp and runs it (scripts/gpu-run.sh): tests, the 8B benchmark,
#        serve + bench-serve; logs in $OUT; ONE table at the end. Under 8 minutes.
#
# `scripts/gpu-check.sh --verify [OUT_DIR]` repeats step 1's checks on an existing bundle.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${HEARTH_BUILD_DIR:-build-gpu}
TARGETS=(hearth cuda_device_test cuda_matmul_test cuda_ops_test cuda_conformance_test
  cuda_model_bench)
BINARIES=("$BUILD_DIR/hearth" "$BUILD_DIR/tests/engine/cuda_device_test"
  "$BUILD_DIR/tests/engine/cuda/cuda_matmul_test" "$BUILD_DIR/tests/engine/cuda/cuda_ops_test"
  "$BUILD_DIR/tests/engine/cuda/cuda_conformance_test" "$BUILD_DIR/bench/cuda/cuda_model_bench")
MAX_BYTES=$((60 * 1024 * 1024))

build() {
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DHEARTH_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES="${HEARTH_CUDA_ARCHS:-90}" >/dev/null
  cmake --build "$BUILD_DIR" -j "$(nproc)" --target "${TARGETS[@]}"
}

# Unpacks OUT_DIR's bundle to a temporary folder and runs every binary here (no GPU).
verify() {
  local out=$1 tmp fails=0
  local bytes
  bytes=$(du -cb "$out" | tail -1 | cut -f1)
  echo "bundle: $out, $((bytes / 1024 / 1024)) MiB (limit $((MAX_BYTES / 1024 / 1024)) MiB)"
  [ "$bytes" -le "$MAX_BYTES" ] || { echo "FAIL: bundle too large"; fails=1; }
  tmp=$(mktemp -d)
  tar -C "$tmp" -xJf "$out/hearth-gpu.tar.xz"
  local b=$tmp/hearth-gpu
  export LD_LIBRARY_PATH="$b/lib:/usr/local/cuda/lib64:/usr/local/cuda/lib"
  check() {  # expected-rc expected-text cmd...
    local want_rc=$1 want=$2 o rc
    shift 2
    o=$("$@" 2>&1) && rc=0 || rc=$?
    if [ "$rc" = "$want_rc" ] && echo "$o" | grep -qi -- "$want"; then
      printf 'ok    %-34s rc %s, says "%s"\n' "$(basename "$1") ${2:-}" "$rc" "$want"
    else
      printf 'FAIL  %-34s rc %s (want %s, "%s"):\n%s\n' "$(basename "$1")" "$rc" "$want_rc" \
        "$want" "$(echo "$o" | tail -5)"
      fails=1
    fi
  }
  for t in cuda_device_test cuda_matmul_test cuda_ops_test cuda_conformance_test; do
    check 0 "no CUDA device\|no usable device\|SKIPPED" "$b/bin/$t" --gtest_brief=1
  done
  check 0 "no CUDA device" "$b/bin/cuda_model_bench" --model "$b/models/cut.gguf"
  check 0 "no usable device" "$b/bin/hearth" devices
  check 2 "cuda:0 is not available" "$b/bin/hearth" serve --model="$b/models/cut.gguf" \
    --device=cuda --listen-address=127.0.0.1:0 --metrics-enabled=false
  PYTHONPATH="$b/py" python3 "$b/py/cuda-test-models.py" "$tmp/models" --no-cut >/dev/null &&
    echo "ok    synthetic models written by the bundled gguf package" ||
    { echo "FAIL  synthetic models"; fails=1; }
  rm -rf "$tmp"
  return $fails
}

case "${1:-}" in
  --bundle)
    out=${2:-.gpu}
    build
    stage=$(mktemp -d)
    b=$stage/hearth-gpu
    scripts/gpu-bundle.sh "$b" "${BINARIES[@]}"
    python3 scripts/cuda-test-models.py "$b/models" --no-synthetic --embd-type Q4_0
    mkdir -p "$b/py"
    cp -r "$(python3 -c 'import gguf, os; print(os.path.dirname(gguf.__file__))')" "$b/py/gguf"
    rm -rf "$b/py/gguf/__pycache__" "$b/py/gguf/scripts"
    cp scripts/cuda-test-models.py tests/engine/model/synthetic_models.py "$b/py/"
    cp scripts/gpu-run.sh "$b/run.sh"
    rm -rf "$out"
    mkdir -p "$out"
    tar -C "$stage" -cf - hearth-gpu | xz -T0 -6 >"$out/hearth-gpu.tar.xz"
    cat >"$out/run.sh" <<'RUN'
#!/usr/bin/env bash
# Unpacks the bundle next to this script into /tmp and runs it (see scripts/gpu-check.sh).
set -eu
rm -rf /tmp/hearth-gpu
tar -C /tmp -xJf "$(dirname "$0")/hearth-gpu.tar.xz"
exec /tmp/hearth-gpu/run.sh
RUN
    chmod +x "$out/run.sh"
    rm -rf "$stage"
    verify "$out"
    ;;
  --verify)
    verify "${2:-.gpu}"
    ;;
  "")
    if [ ! -x .gpu/run.sh ]; then
      echo "no bundle at .gpu/: run 'scripts/gpu-check.sh --bundle' on the build machine" >&2
      exit 2
    fi
    exec .gpu/run.sh
    ;;
  *)
    echo "usage: scripts/gpu-check.sh [--bundle [OUT_DIR] | --verify [OUT_DIR]]" >&2
    exit 2
    ;;
esac
