#!/usr/bin/env bash
# Installs what is missing, builds, fetches the default model and starts Hearth on it.
# Extra arguments go to the hearth command.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
scripts/fetch-model.sh
# Until the gRPC server lands, the main job is an interactive chat on the default model.
if [ $# -eq 0 ]; then set -- generate --chat --stats; fi
exec build/hearth "$@"
