#!/usr/bin/env bash
# Builds the CPU image from deploy/Dockerfile with podman on a local Debian 12 base (made with
# debootstrap and imported, since no registry may be reachable) and runs tests/deploy/
# test_image.py against it; then prints the image sizes. Needs root, podman, debootstrap and
# the project environment (scripts/install-deps.sh) and model (scripts/fetch-model.sh).
#   --cuda   also build the CUDA image (needs HEARTH_CUDA_TOOLKIT_IMAGE: an image with the
#            toolkit in /usr/local/cuda, e.g. nvidia/cuda:12.6.3-devel-ubuntu22.04)
# Podman quirks of the host are detected: where crun cannot run (cgroup v1/v2 hybrid) or the
# default ulimits exceed the host's hard limits, runc and lower ulimits are used, and the
# error that forced it is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
base=localhost/hearth-debian12:bookworm
scripts/debian12-root.sh --import "$base" >/dev/null

podman_cmd=(podman)
limits=()
if ! err=$(podman run --rm "$base" true 2>&1); then
  echo "test-image: 'podman run' fails here: $err" >&2
  podman_cmd=(podman --runtime runc)
  limits=(--ulimit nofile=1024:1024 --ulimit nproc=4096:4096)
  if ! err=$("${podman_cmd[@]}" run --rm "${limits[@]}" "$base" true 2>&1); then
    echo "test-image: podman cannot run containers on this host: $err" >&2
    exit 1
  fi
  echo "test-image: using ${podman_cmd[*]} ${limits[*]}" >&2
fi

build() {  # TARGET TAG [build args...]
  local target=$1 tag=$2
  shift 2
  local start=$(date +%s)
  "${podman_cmd[@]}" build --format docker -f deploy/Dockerfile --target "$target" \
    --build-arg BASE_IMAGE="$base" "${limits[@]}" "$@" -t "$tag" . >"/tmp/hearth-image-$target.log" 2>&1 \
    || { tail -n 30 "/tmp/hearth-image-$target.log"; exit 1; }
  echo "test-image: built $tag in $(( $(date +%s) - start )) s"
}
build cpu localhost/hearth:cpu
if [ "${1:-}" = "--cuda" ]; then
  build cuda localhost/hearth:cuda --build-arg CUDA_TOOLKIT_IMAGE="${HEARTH_CUDA_TOOLKIT_IMAGE:?}" \
    ${HEARTH_CUDA_CMAKE_ARGS:+--build-arg CUDA_CMAKE_ARGS="$HEARTH_CUDA_CMAKE_ARGS"}
fi

HEARTH_CONTAINER_TESTS=1 HEARTH_IMAGE=localhost/hearth:cpu HEARTH_PODMAN="${podman_cmd[*]}" \
  HEARTH_PODMAN_RUN_ARGS="${limits[*]}" HEARTH_SOURCE_DIR="$PWD" \
  scripts/venv-python.sh -m pytest -q -p no:cacheprovider tests/deploy/test_image.py
"${podman_cmd[@]}" images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "hearth(-debian12)?:" || true
