#!/usr/bin/env bash
# Installs what is missing, builds, fetches the default model and starts `hearth serve` on it.
# Extra arguments replace the command, e.g. `scripts/run.sh generate --chat`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
scripts/fetch-model.sh
# With no arguments: serve the default model over gRPC (Ctrl-C drains and stops it).
if [ $# -eq 0 ]; then set -- serve; fi
exec build/hearth "$@"
