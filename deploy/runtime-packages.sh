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
# from the one ldd resolves: ask for the path as loaded, resolved, and with /usr moved. One dpkg
# call for all of them (each call reads dpkg's whole database: seconds on a loaded machine).
paths=$(for lib in $(ldd "$1" | awk '/=> \// {print $3}'); do
  real=$(readlink -f "$lib")
  printf '%s\n' "$lib" "$real" "${real#/usr}" "/usr$lib"
done | sort -u)
# Paths no package owns (the CUDA toolkit's, and the /usr-merge aliases) make dpkg exit 1.
# shellcheck disable=SC2086
{ dpkg -S $paths 2>/dev/null || true; } | sed -n 's/^\([^:]*\):.*/\1/p' | sort -u
