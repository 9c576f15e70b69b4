#!/usr/bin/env bash
# Packs the CUDA-built binaries and the shared libraries they need that a bare GPU host may
# lack (Abseil, protobuf, gRPC, ...; not glibc and not the CUDA libraries, which the host has)
# into one folder, so a GPU machine without Debian's -dev packages can run the gpu tests.
# Usage: scripts/gpu-bundle.sh OUT_DIR BINARY...
set -euo pipefail
out=$1
shift
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
cat >"$out/run-gpu-tests.sh" <<'RUN'
#!/usr/bin/env bash
# Runs every bundled gtest binary with the bundled libraries first on the library path.
set -u
here=$(cd "$(dirname "$0")" && pwd)
export LD_LIBRARY_PATH="$here/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
rc=0
for t in "$here"/*_test; do "$t" --gtest_brief=1 || rc=1; done
[ -x "$here/hearth" ] && "$here/hearth" devices
exit $rc
RUN
chmod +x "$out/run-gpu-tests.sh"
du -sh "$out"
