#!/usr/bin/env bash
# For GPU hosts: builds with CUDA forced on and runs the gpu-labelled tests, then prints the
# device summary. Assumes the build dependencies are installed (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${HEARTH_BUILD_DIR:-build-gpu}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DHEARTH_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES="${HEARTH_CUDA_ARCHS:-90}" >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target hearth cuda_device_test
"$BUILD_DIR/hearth" devices
(cd "$BUILD_DIR" && ctest -L gpu --output-on-failure)
