#!/usr/bin/env bash
# Makes (once) a stock Debian 12 root with debootstrap, from Debian packages only, and prints
# its path. Variant minbase: Debian's "required" packages, what the debian:12-slim image holds
# (no python3, no compilers, no ca-certificates), so whatever our scripts need must be
# installed by them. With --import NAME it is also imported into podman as image NAME (once).
# Used by scripts/fresh-debian-check.sh and deploy/test-image.sh. Needs root and debootstrap.
#   HEARTH_DEBIAN_ROOT    where the root lives (default /var/tmp/hearth-debian12/root)
#   HEARTH_DEBIAN_MIRROR  Debian mirror (default http://deb.debian.org/debian)
set -euo pipefail
root=${HEARTH_DEBIAN_ROOT:-/var/tmp/hearth-debian12/root}
mirror=${HEARTH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
if [ ! -x "$root/bin/bash" ]; then
  command -v debootstrap >/dev/null || { echo "debian12-root: apt-get install debootstrap" >&2; exit 1; }
  tmp="$root.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$(dirname "$root")"
  echo "debian12-root: debootstrap bookworm (minbase) into $root" >&2
  if ! debootstrap --variant=minbase bookworm "$tmp" "$mirror" >"$tmp.log" 2>&1; then
    tail -n 20 "$tmp.log" >&2
    exit 1
  fi
  # The security and updates suites, as a Debian install has them.
  cat >"$tmp/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES
  rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp.log"
  mv "$tmp" "$root"
fi
if [ "${1:-}" = "--import" ]; then
  image=${2:?--import needs an image name}
  if ! podman image exists "$image"; then
    echo "debian12-root: podman import $root as $image" >&2
    tar -C "$root" -c . | podman import -q --change 'CMD ["/bin/bash"]' - "$image" >/dev/null
  fi
fi
echo "$root"
