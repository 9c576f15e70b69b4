#!/usr/bin/env bash
# The long soak and overload runs against `hearth serve` (tests/server/soak.py describes them):
#
#   scripts/soak.sh [REQUESTS] [WAVES]     defaults: 10000 requests, 10 overload waves
#
# Builds if needed, then runs the soak (REQUESTS mixed requests, 20% cancelled mid-stream, 10%
# with expiring deadlines, RSS / fds / threads / KV sampled every second) and the overload run
# (WAVES bursts of 10x capacity). Results (JSON) go to build/soak.json and build/overload.json;
# exits 1 if a pass condition failed. Loopback only; both stop by themselves. SOAK_MAX_SECONDS
# bounds the soak in time as well (no request starts later; the result says how many ran).
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${1:-10000}
WAVES=${2:-10}
scripts/build.sh >/dev/null
scripts/fetch-model.sh >/dev/null
export HEARTH_BINARY_DIR=${HEARTH_BINARY_DIR:-$PWD/build}
status=0
scripts/venv-python.sh tests/server/soak.py soak --requests "$REQUESTS" \
  ${SOAK_MAX_SECONDS:+--max-seconds "$SOAK_MAX_SECONDS"} --json build/soak.json || status=1
scripts/venv-python.sh tests/server/soak.py overload --waves "$WAVES" --json build/overload.json || status=1
exit $status
