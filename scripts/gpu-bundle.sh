#!/usr/bin/env bash
# Packs CUDA-built binaries and the shared libraries they need that a bare GPU host may lack
# (Abseil, protobuf, gRPC, gtest, ...; not glibc/libstdc++ and not the CUDA libraries, which the
# host has in /usr/local/cuda/lib64) into one folder with a runner script, so a GPU machine
# without compilers or Debian -dev packages can run the GPU checks. See scripts/gpu-check.sh.
# Usage: scripts/gpu-bundle.sh OUT_DIR BINARY...
#   OUT_DIR/run-gpu-tests.sh then runs every bundled *_test binary (--gtest_brief=1), every
#   bundled *_bench binary, `hearth devices` if bundled, and prints a summary table; exit status
#   0 only when every test binary passed.
set -euo pipefail
out=$1
shift
rm -rf "$out"
mkdir -p "$out/lib"
for bin in "$@"; do
  cp "$bin" "$out/"
  ldd "$bin" | awk '/=> \// {print $3}' | while read -r lib; do
    case "$(basename "$lib")" in
      libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|libgcc_s.so*|libstdc++.so*) ;;
      libcu*|libnv*) ;;
      *) cp -L -n "$lib" "$out/lib/" ;;
    esac
  done
done
# Symbols are not needed to run (gtest and the benches print their own names).
for f in "$out"/* "$out"/lib/*; do
  [ -f "$f" ] && strip --strip-unneeded "$f" 2>/dev/null || true
done
cat >"$out/run-gpu-tests.sh" <<'RUN'
#!/usr/bin/env bash
# Runs the bundled GPU checks: tests, then benches, then a summary table.
set -u
here=$(cd "$(dirname "$0")" && pwd)
export LD_LIBRARY_PATH="$here/lib:/usr/local/cuda/lib64:/usr/local/cuda/lib:${LD_LIBRARY_PATH:-}"
rc=0
summary=()
for bin in "$here"/*_test "$here"/*_bench; do
  [ -x "$bin" ] || continue
  missing=$(ldd "$bin" 2>/dev/null | grep "not found" || true)
  [ -n "$missing" ] && echo "== $(basename "$bin"): missing libraries:" && echo "$missing"
done
for t in "$here"/*_test; do
  [ -x "$t" ] || continue
  echo "== $(basename "$t")"
  out=$("$t" --gtest_brief=1 2>&1); trc=$?
  echo "$out"
  skipped=$(echo "$out" | sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' | head -1)
  if [ $trc -eq 0 ]; then status=PASS; else status="FAIL(rc=$trc)"; rc=1; fi
  summary+=("$(printf '%-28s %-12s %s' "$(basename "$t")" "$status" "skipped=${skipped:-0}")")
done
if [ -x "$here/hearth" ]; then
  echo "== hearth devices"
  "$here/hearth" devices || true
fi
for b in "$here"/*_bench; do
  [ -x "$b" ] || continue
  echo "== $(basename "$b")"
  "$b"; brc=$?
  [ $brc -eq 0 ] && status=OK || status="FAIL(rc=$brc)"
  summary+=("$(printf '%-28s %-12s' "$(basename "$b")" "$status")")
done
echo
echo "== summary"
printf '%s\n' "${summary[@]}"
exit $rc
RUN
chmod +x "$out/run-gpu-tests.sh"
du -sh "$out"
