#!/usr/bin/env bash
# Checks the README's promise: on a fresh Debian 12 machine, as root, `scripts/run.sh` (until
# it serves) and then `scripts/test.sh` pass. Builds a stock Debian 12 root with debootstrap
# (scripts/debian12-root.sh: minbase, Debian packages only), copies the committed tree (git
# archive HEAD: no build/, models/ or .venv) into a scratch copy of it, and runs the two
# commands there in a chroot, with network (Debian mirror, PyPI). Prints pass/fail with timings;
# exit 0 only when both passed. Needs root and debootstrap. Takes 30-60 minutes on 2 cores.
#   HEARTH_FRESH_DIR   scratch directory (default /var/tmp/hearth-fresh-check; replaced)
#   HEARTH_FRESH_KEEP  1: leave the scratch root for inspection
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "fresh-debian-check: run as root (chroot, mounts)" >&2; exit 2; }
pristine=$(scripts/debian12-root.sh)
work=${HEARTH_FRESH_DIR:-/var/tmp/hearth-fresh-check}
root=$work/root
log=$work/log
cleanup() {
  for m in dev/pts dev sys proc; do umount -l "$root/$m" 2>/dev/null || true; done
  if [ "${HEARTH_FRESH_KEEP:-0}" != 1 ]; then rm -rf "$root"; fi
}
rm -rf "$work"
mkdir -p "$work" "$log"
trap cleanup EXIT
cp -a "$pristine" "$root"
mkdir -p "$root/root/hearth"
git archive HEAD | tar -x -C "$root/root/hearth"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# The network the chroot shares may intercept TLS with its own certificate authority (as this
# development machine's does): hand the host's CA bundle to pip and Python inside, so that
# HTTPS to the package index verifies as it does on the host. Nothing else of the host enters.
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/host-ca-bundle.crt"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
# chroot execs env, env execs bash, and `exec` in the command replaces bash: a command started
# with `"${in_root[@]}" "exec X" &` is process $! itself, so signals reach it.
in_root=(chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb
  PIP_CERT=/etc/host-ca-bundle.crt SSL_CERT_FILE=/etc/host-ca-bundle.crt
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /bin/bash -c)

results=()
status=0
# 1. scripts/run.sh: installs, builds, fetches the model, serves. Passes once it listens; then
#    SIGTERM must drain and stop it with exit code 0.
start=$(date +%s)
"${in_root[@]}" "cd /root/hearth && exec scripts/run.sh" >"$log/run.log" 2>&1 &
pid=$!
until grep -q "listening on" "$log/run.log" || ! kill -0 "$pid" 2>/dev/null; do sleep 2; done
if grep -q "listening on" "$log/run.log"; then
  served=$(( $(date +%s) - start ))
  kill -TERM "$pid"
  if wait "$pid"; then  # hearth serve itself: drained and exited
    results+=("PASS  scripts/run.sh   serving after ${served} s, stopped with exit 0 on SIGTERM")
  else
    results+=("FAIL  scripts/run.sh   served after ${served} s but exited $? on SIGTERM")
    status=1
  fi
else
  wait "$pid" || true
  results+=("FAIL  scripts/run.sh   exited before serving after $(( $(date +%s) - start )) s")
  status=1
  tail -n 30 "$log/run.log"
fi
# 2. scripts/test.sh: the whole suite (packages, build and model are there by now).
start=$(date +%s)
if "${in_root[@]}" "cd /root/hearth && scripts/test.sh" >"$log/test.log" 2>&1; then
  results+=("PASS  scripts/test.sh  $(grep -o '[0-9]*% tests passed.*' "$log/test.log" | tail -1) in $(( $(date +%s) - start )) s")
else
  results+=("FAIL  scripts/test.sh  after $(( $(date +%s) - start )) s: $(grep -o '[0-9]*% tests passed.*' "$log/test.log" | tail -1)")
  status=1
  grep -A30 "tests FAILED" "$log/test.log" | head -40 || tail -n 30 "$log/test.log"
fi
echo "fresh-debian-check on $(cat "$pristine/etc/debian_version") (debootstrap minbase), logs in $log:"
printf '  %s\n' "${results[@]}"
exit $status
