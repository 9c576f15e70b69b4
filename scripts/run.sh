#!/usr/bin/env bash
# Installs what is missing, builds, fetches the default model and starts Hearth on it.
# Extra arguments go to the hearth command.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
scripts/fetch-model.sh
exec build/hearth devices "$@"
