#!/usr/bin/env bash
# Runs the project's Python: the virtual environment scripts/install-deps.sh makes (.venv, or
# $HEARTH_VENV), which holds the pinned test dependencies and the Python client.
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${HEARTH_VENV:-$root/.venv}
if [ ! -x "$venv/bin/python" ]; then
  echo "venv-python: no Python environment at $venv; run scripts/install-deps.sh" >&2
  exit 127
fi
exec "$venv/bin/python" "$@"
