#!/usr/bin/env bash
# Configures (once) and builds Hearth into build/ (override with HEARTH_BUILD_DIR).
# Extra arguments go to the CMake configure step, e.g. -DHEARTH_CUDA=OFF.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${HEARTH_BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/build.ninja" ] || [ $# -gt 0 ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
fi
cmake --build "$BUILD_DIR" -j "${HEARTH_JOBS:-$(nproc)}"
