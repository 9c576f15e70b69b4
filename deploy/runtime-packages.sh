#!/bin/sh
# Prints the Debian packages that own the shared libraries BINARY loads (one per line), so the
# image's runtime stage installs exactly those and no -dev package. Libraries no package owns
# (the CUDA toolkit's) are left out; the Dockerfile copies them itself.
# Usage: deploy/runtime-packages.sh BINARY
set -eu
missing=$(ldd "$1" | grep "not found" || true)
if [ -n "$missing" ]; then
  echo "runtime-packages: $1 has unresolved libraries:" >&2
  echo "$missing" >&2
  exit 1
fi
# dpkg knows a file by the path its package ships, which after Debian's /usr merge may differ
# from the one ldd resolves: ask for the path as loaded, resolved, and with /usr moved.
for lib in $(ldd "$1" | awk '/=> \// {print $3}'); do
  real=$(readlink -f "$lib")
  for path in "$lib" "$real" "${real#/usr}" "/usr$lib"; do
    if owner=$(dpkg -S "$path" 2>/dev/null); then
      echo "${owner%%:*}"
      break
    fi
  done
done | sort -u
