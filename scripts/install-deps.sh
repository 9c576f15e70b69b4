#!/usr/bin/env bash
# Installs exactly what the build and the tests need: Debian packages, and a project virtual
# environment (.venv, git-ignored; $HEARTH_VENV to move it) with the pinned pip packages and the
# Python client. The system Python is never modified (Debian's is "externally managed", PEP 668).
# Idempotent: when everything is present it only checks (a second or two) and changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: compilers and build tools, gRPC/protobuf, Abseil, yaml-cpp, GoogleTest,
# Google Benchmark, cpp-httplib (bench-serve's and `hearth health`'s HTTP client), prometheus-cpp
# (metrics registry and text exposition), prometheus (promtool + server for tests), Boost headers
# (Beast/Asio: the HTTP API and metrics server), nlohmann-json (HTTP APIs, Ollama manifests, JSON
# schemas), OpenSSL (TLS, API-key digests, sha256 of Ollama blobs; the openssl tool makes the
# TLS tests' CA), python3-venv (the project's Python environment), docker-compose (validates
# deploy/'s compose file in the tests).
DEB_PACKAGES=(
  build-essential cmake ninja-build pkg-config git unzip ca-certificates clang-format
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libyaml-cpp-dev libgtest-dev libgmock-dev libbenchmark-dev
  libcpp-httplib-dev libpcre2-dev prometheus prometheus-cpp-dev
  libboost-dev nlohmann-json3-dev libssl-dev openssl
  python3 python3-venv docker-compose
)

# scripts/fuzz.sh only (--fuzz): Debian's clang and its libFuzzer runtime.
if [ "${1:-}" = "--fuzz" ]; then
  DEB_PACKAGES+=(clang-14 libclang-rt-14-dev)
fi

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The project's Python environment: pinned test references (requirements-test.txt) and the
# client package (clients/python, rebuilt when it or the proto changes). scripts/venv-python.sh
# runs it; CTest, test.sh, run.sh and fetch-model.sh go through that.
VENV=${HEARTH_VENV:-$PWD/.venv}
if ! "$VENV/bin/python" -c "" 2>/dev/null; then
  echo "install-deps: creating the Python environment $VENV"
  rm -rf "$VENV"
  "${PYTHON:-python3}" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
if ! "$VPY" scripts/check-requirements.py requirements-test.txt 2>/dev/null; then
  echo "install-deps: installing pip packages from requirements-test.txt into $VENV"
  "$VPY" -m pip install -q --disable-pip-version-check -r requirements-test.txt
fi
client_stamp=$(cat proto/hearth/v1/hearth.proto clients/python/pyproject.toml clients/python/setup.py \
  clients/python/hearth_client/*.py | sha256sum | cut -c1-16)
if [ "$(cat "$VENV/.hearth-client" 2>/dev/null)" != "$client_stamp" ]; then
  echo "install-deps: installing the Python client (clients/python) into $VENV"
  "$VPY" -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps \
    --force-reinstall ./clients/python
  echo "$client_stamp" >"$VENV/.hearth-client"
fi
