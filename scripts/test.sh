#!/usr/bin/env bash
# The whole test suite: installs what is missing (Debian packages, the .venv Python environment),
# builds, fetches the default model, runs CTest (Python tests run in .venv).
# Extra arguments go to ctest (e.g. -L unit, -R Gguf).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
scripts/fetch-model.sh
BUILD_DIR=${HEARTH_BUILD_DIR:-build}
cd "$BUILD_DIR"
ctest --output-on-failure -j "${HEARTH_TEST_JOBS:-$(nproc)}" "$@"
