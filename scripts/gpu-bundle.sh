#!/usr/bin/env bash
# Packs CUDA-built binaries with the shared libraries a bare GPU host may lack (Abseil, protobuf,
# gRPC, gtest, yaml-cpp, OpenSSL, ...; not glibc and not the CUDA libraries, which the GPU host
# has) into OUT_DIR/bin and OUT_DIR/lib, stripped. libstdc++ and libgcc_s go to
# OUT_DIR/lib-fallback, used only where the host's are older than this machine's (see
# scripts/gpu-run.sh). Used by scripts/gpu-check.sh --bundle.
# Usage: scripts/gpu-bundle.sh OUT_DIR BINARY...
set -euo pipefail
out=$1
shift
rm -rf "$out/bin" "$out/lib" "$out/lib-fallback"
mkdir -p "$out/bin" "$out/lib" "$out/lib-fallback"
for bin in "$@"; do
  cp "$bin" "$out/bin/"
  ldd "$bin" | awk '/=> \// {print $3}' | while read -r lib; do
    case "$(basename "$lib")" in
      libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|ld-linux*) ;;
      libstdc++.so*|libgcc_s.so*) cp -L -n "$lib" "$out/lib-fallback/" ;;
      libcu*|libnv*) ;;
      *) cp -L -n "$lib" "$out/lib/" ;;
    esac
  done
done
for f in "$out"/bin/* "$out"/lib/* "$out"/lib-fallback/*; do
  [ -f "$f" ] && strip --strip-unneeded "$f" 2>/dev/null || true
done
