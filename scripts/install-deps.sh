#!/usr/bin/env bash
# Installs exactly what the build and the tests need: Debian packages and pinned pip packages.
# Idempotent: when everything is present it only checks (a second or two) and changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: compilers and build tools, gRPC/protobuf, Abseil, yaml-cpp, GoogleTest,
# Google Benchmark, cpp-httplib (bench-serve's HTTP client), prometheus-cpp (metrics registry and
# text exposition), prometheus (promtool + server for tests), Boost headers (Beast/Asio: the HTTP
# API and metrics server), nlohmann-json (HTTP APIs, Ollama manifests, JSON schemas), OpenSSL
# (TLS, API-key digests, sha256 of Ollama blobs; the openssl tool makes the TLS tests' CA).
DEB_PACKAGES=(
  build-essential cmake ninja-build pkg-config git unzip ca-certificates clang-format
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libyaml-cpp-dev libgtest-dev libgmock-dev libbenchmark-dev
  libcpp-httplib-dev libpcre2-dev prometheus prometheus-cpp-dev
  libboost-dev nlohmann-json3-dev libssl-dev openssl
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

# Pinned pip packages for the tests' independent references (see requirements-test.txt).
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" scripts/check-requirements.py requirements-test.txt 2>/dev/null; then
  echo "install-deps: installing pip packages from requirements-test.txt"
  "$PYTHON" -m pip install -q --disable-pip-version-check --root-user-action=ignore \
    -r requirements-test.txt
fi
