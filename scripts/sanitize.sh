#!/usr/bin/env bash
# Builds Hearth with a sanitizer in its own build folder and runs the unit and integration
# suites under it (the servers the integration tests start are the sanitized binary too).
#
#   scripts/sanitize.sh asan|ubsan|tsan|asan,ubsan [ctest arguments...]
#
#   asan   AddressSanitizer + LeakSanitizer      build-asan/
#   ubsan  UndefinedBehaviorSanitizer            build-ubsan/
#   tsan   ThreadSanitizer                       build-tsan/
#   asan,ubsan  both in one build                build-asan-ubsan/   (what CI runs, -L unit)
#
# Every finding aborts the process that hit it, so the test fails. Suppressions (each with its
# reason) are in scripts/sanitizers/. Extra arguments go to ctest, e.g. `-L unit` or
# `-R engine_test`. Environment: HEARTH_JOBS (build parallelism), HEARTH_TEST_JOBS (ctest -j),
# HEARTH_SANITIZE_TARGETS (build only these targets, below).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

MODE=${1:-}
[ $# -gt 0 ] && shift
case "$MODE" in
  asan) FLAGS="-fsanitize=address" ;;
  ubsan) FLAGS="-fsanitize=undefined -fno-sanitize-recover=all" ;;
  asan,ubsan | ubsan,asan)
    MODE=asan,ubsan
    FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all"
    ;;
  tsan) FLAGS="-fsanitize=thread" ;;
  *)
    echo "usage: scripts/sanitize.sh asan|ubsan|tsan|asan,ubsan [ctest args...]" >&2
    exit 2
    ;;
esac
BUILD_DIR=${HEARTH_BUILD_DIR:-build-${MODE/,/-}}
FLAGS="$FLAGS -fno-omit-frame-pointer -g"
LINK_FLAGS="$FLAGS"
CXX_LIBS=""

mkdir -p "$BUILD_DIR"
if [ "$MODE" = tsan ]; then
  # Debian's Abseil is not built with TSan: interpose its lock functions (see the shim's header).
  # Named by its source's hash: a changed shim changes the link lines, so ninja relinks.
  SHIM="$ROOT/$BUILD_DIR/tsan_absl_shim-$(sha256sum scripts/sanitizers/tsan_absl_shim.cc | cut -c1-12).o"
  if [ ! -f "$SHIM" ]; then
    rm -f "$ROOT/$BUILD_DIR"/tsan_absl_shim*.o
    c++ -std=c++20 -O1 $FLAGS -c scripts/sanitizers/tsan_absl_shim.cc -o "$SHIM"
  fi
  # The shim goes last on C++ link lines only (CMake's C compiler check links without
  # libstdc++ and Abseil).
  CXX_LIBS="$SHIM -labsl_synchronization -labsl_time -ldl"
fi

# Configured on every run: the flags may have changed.
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHEARTH_CUDA=OFF \
  -DHEARTH_BUILD_BENCH=OFF -DHEARTH_TEST_TIMEOUT_SCALE=$([ "$MODE" = tsan ] && echo 8 || echo 3) \
  -DCMAKE_C_FLAGS="$FLAGS" -DCMAKE_CXX_FLAGS="$FLAGS" \
  -DCMAKE_EXE_LINKER_FLAGS="$LINK_FLAGS" -DCMAKE_SHARED_LINKER_FLAGS="$LINK_FLAGS" \
  -DCMAKE_CXX_STANDARD_LIBRARIES="$CXX_LIBS" >/dev/null
# HEARTH_SANITIZE_TARGETS="a_test b_test": build only those (a focused run; pick the tests with
# ctest -R), not the whole tree.
# shellcheck disable=SC2086
cmake --build "$BUILD_DIR" -j "${HEARTH_JOBS:-$(nproc)}" ${HEARTH_SANITIZE_TARGETS:+--target $HEARTH_SANITIZE_TARGETS}
scripts/fetch-model.sh >/dev/null

SUPP="$ROOT/scripts/sanitizers"
# HEARTH_SANITIZER_OPTIONS is appended to each (e.g. halt_on_error=0:log_path=/tmp/tsan to
# collect every report of a run instead of stopping at the first).
EXTRA=${HEARTH_SANITIZER_OPTIONS:+:$HEARTH_SANITIZER_OPTIONS}
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_init_order=1:detect_stack_use_after_return=1$EXTRA"
export LSAN_OPTIONS="suppressions=$SUPP/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$SUPP/ubsan.supp$EXTRA"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$SUPP/tsan.supp$EXTRA"
# Sanitized binaries run 2-10x slower: let the tests' generous timeouts scale with it.
export HEARTH_TEST_SLOWDOWN=${HEARTH_TEST_SLOWDOWN:-$([ "$MODE" = tsan ] && echo 8 || echo 3)}

cd "$BUILD_DIR"
if [ $# -eq 0 ]; then set -- -L 'unit|integration'; fi
ctest --output-on-failure -j "${HEARTH_TEST_JOBS:-$(nproc)}" --timeout 3000 "$@"
