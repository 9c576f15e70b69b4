#!/usr/bin/env bash
# The one prepared script for GPU checks. Two steps, because the build machine has nvcc but no
# GPU and the lent GPU machine has the CUDA 13 driver/runtime but no compiler or -dev packages:
#
#   1. on the build machine:   scripts/gpu-check.sh --bundle [OUT_DIR=.gpu]
#        configures build-cuda (HEARTH_CUDA=ON, archs $HEARTH_CUDA_ARCHS or 80;89;90), builds
#        cuda_device_test, cuda_matmul_test, cuda_host_decode_test and cuda_matmul_bench, and
#        packs them with scripts/gpu-bundle.sh (binaries + non-system, non-CUDA shared libraries:
#        about 8 MB). HEARTH_BUNDLE_HEARTH=1 adds the hearth binary (for `hearth devices`), which
#        brings gRPC, protobuf and OpenSSL along: about 30 MB.
#   2. on the GPU machine:     scripts/gpu-check.sh            (or directly .gpu/run-gpu-tests.sh)
#        runs the bundle: every *_test with --gtest_brief=1, `hearth devices`, the matmul bench
#        table, then a PASS/FAIL summary. Exit status 0 when every test passed.
#
# On a GPU machine that does have the toolchain, `scripts/gpu-check.sh --build-and-run` does both.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${HEARTH_BUILD_DIR:-build-cuda}
TARGETS=(cuda_device_test cuda_matmul_test cuda_host_decode_test cuda_matmul_bench)
BINARIES=("$BUILD_DIR/tests/engine/cuda_device_test" "$BUILD_DIR/tests/engine/cuda/cuda_matmul_test"
  "$BUILD_DIR/tests/engine/cuda/cuda_host_decode_test" "$BUILD_DIR/bench/cuda/cuda_matmul_bench")
if [ "${HEARTH_BUNDLE_HEARTH:-0}" = 1 ]; then
  TARGETS+=(hearth)
  BINARIES+=("$BUILD_DIR/hearth")
fi

build() {
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DHEARTH_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES="${HEARTH_CUDA_ARCHS:-80;89;90}" >/dev/null
  cmake --build "$BUILD_DIR" -j "$(nproc)" --target "${TARGETS[@]}"
}

case "${1:-}" in
  --bundle)
    build
    scripts/gpu-bundle.sh "${2:-.gpu}" "${BINARIES[@]}"
    ;;
  --build-and-run)
    build
    scripts/gpu-bundle.sh "$BUILD_DIR/gpu-bundle" "${BINARIES[@]}"
    exec "$BUILD_DIR/gpu-bundle/run-gpu-tests.sh"
    ;;
  "")
    if [ ! -x .gpu/run-gpu-tests.sh ]; then
      echo "no bundle at .gpu/: run 'scripts/gpu-check.sh --bundle' on the build machine" >&2
      exit 2
    fi
    exec .gpu/run-gpu-tests.sh
    ;;
  *)
    echo "usage: scripts/gpu-check.sh [--bundle [OUT_DIR] | --build-and-run]" >&2
    exit 2
    ;;
esac
