"""The CPU container image, run with podman on a read-only root file system: starts as a
non-root user with no -dev package,
its HEALTHCHECK follows the configured metrics port, a generation over gRPC and a /metrics
scrape work through published ports, threads and the KV cache size follow the container's CPU
quota and 1 GiB memory limit (cache + weights fit, peak memory stays under the limit), and
SIGTERM mid-stream lets the stream complete and the container exit 0.

Opt-in (label container): deploy/test-image.sh builds the image and runs this file. Settings:
HEARTH_IMAGE (default localhost/hearth:cpu), HEARTH_PODMAN (the podman command, e.g.
"podman --runtime runc"), HEARTH_PODMAN_RUN_ARGS (extra `podman run` flags)."""

import os
import shlex
import socket
import subprocess
import time
import urllib.request

import pytest
from gguf import GGUFReader

import hearth_client

SOURCE_DIR = os.environ.get("HEARTH_SOURCE_DIR",
                            os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
IMAGE = os.environ.get("HEARTH_IMAGE", "localhost/hearth:cpu")
PODMAN = shlex.split(os.environ.get("HEARTH_PODMAN", "podman"))
RUN_ARGS = shlex.split(os.environ.get("HEARTH_PODMAN_RUN_ARGS", ""))
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_DIR = os.path.realpath(os.path.join(SOURCE_DIR, "models"))
LIMIT = 1 << 30
METRICS_PORT = 9555  # not the default 9464: the HEALTHCHECK must follow the configuration


def podman(*args, check=True, timeout=120):
    p = subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert p.returncode == 0, f"podman {' '.join(args)}: {p.stderr}"
    return p


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Container:
    def __init__(self):
        self.grpc_port, self.metrics_port = free_port(), free_port()
        self.name = f"hearth-image-test-{os.getpid()}"
        podman("rm", "-f", self.name, check=False)
        podman("run", "-d", "--name", self.name, "--read-only", *RUN_ARGS,
               "--memory", "1g", "--memory-swap", "1g", "--cpus", "1",
               "-e", f"HEARTH_METRICS_PORT={METRICS_PORT}",
               "-p", f"127.0.0.1:{self.grpc_port}:50051",
               "-p", f"127.0.0.1:{self.metrics_port}:{METRICS_PORT}",
               "-v", f"{MODEL_DIR}:/models:ro", IMAGE)
        self.target = f"127.0.0.1:{self.grpc_port}"

    def logs(self):
        p = podman("logs", self.name, check=False)
        return p.stdout + p.stderr

    def healthy(self):
        return podman("healthcheck", "run", self.name, check=False).returncode == 0

    def read(self, path):
        return podman("exec", self.name, "cat", path, check=False).stdout.strip()

    def remove(self):
        podman("rm", "-f", self.name, check=False)


@pytest.fixture(scope="module")
def container():
    if not os.environ.get("HEARTH_CONTAINER_TESTS"):
        pytest.skip("container tests are opt-in: deploy/test-image.sh")
    c = Container()
    try:
        deadline = time.monotonic() + 180
        while not c.healthy():
            assert time.monotonic() < deadline, c.logs()
            time.sleep(1)
        yield c
    finally:
        print(c.logs())
        c.remove()


def test_runs_as_non_root_without_dev_packages(container):
    assert podman("exec", container.name, "id", "-u").stdout.strip() == "10001"
    packages = podman("exec", container.name, "dpkg-query", "-W", "-f", "${Package}\n").stdout
    assert not [p for p in packages.split() if p.endswith("-dev")]
    health = podman("image", "inspect", IMAGE, "--format", "{{json .Config.Healthcheck}}").stdout
    assert '"hearth","health"' in health.replace(" ", "")


def test_healthcheck_follows_the_configured_port(container):
    # Healthy (fixture) although nothing listens on 9464 inside: hearth health read
    # HEARTH_METRICS_PORT like the server did.
    out = podman("exec", container.name, "hearth", "health").stdout
    assert f":{METRICS_PORT}/ready" in out
    assert podman("exec", container.name, "hearth", "health", "--metrics-port=9464",
                  check=False).returncode == 1


def test_generation_over_grpc_and_metrics_scrape(container):
    with hearth_client.HearthClient(container.target, timeout=120) as client:
        [c] = client.complete(text="The capital of France is", max_tokens=8, temperature=0)
        assert len(c.token_ids) == 8 and c.finish_reason == "length"
    with urllib.request.urlopen(f"http://127.0.0.1:{container.metrics_port}/metrics") as r:
        text = r.read().decode()
    tokens = [line for line in text.splitlines()
              if line.startswith("hearth:generation_tokens_total")]
    assert tokens and float(tokens[0].split()[-1]) >= 8
    assert "process_resident_memory_bytes" in text


def test_sizes_itself_to_the_container_limits(container):
    logs = container.logs()
    assert "cpus: 1 usable" in logs, logs  # --cpus 1: threads default to the quota
    assert "limit 1024 MiB" in logs, logs
    # KV cache + weights fit in the 1 GiB limit: per-token K/V bytes from the GGUF metadata
    # (fp16 K and V per layer), the weights as the file's size (and as much again for the
    # CPU backend's repacked copy).
    path = os.path.join(MODEL_DIR, MODEL_FILE)
    fields = GGUFReader(path).fields

    def meta(key):
        f = fields[key]
        return int(f.parts[f.data[0]][0])
    per_token = (2 * meta("llama.block_count") * meta("llama.attention.head_count_kv")
                 * (meta("llama.embedding_length") // meta("llama.attention.head_count")) * 2)
    with hearth_client.HearthClient(container.target, timeout=60) as client:
        kv_bytes = client.model_info().kv_cache_capacity_tokens * per_token
        weights = os.path.getsize(path)
        assert kv_bytes > 0 and kv_bytes + 2 * weights < LIMIT, (kv_bytes, weights)
        # Fill the cache with concurrent long prompts, then read the cgroup's peak usage.
        calls = [client.generate(token_ids=[100 + i] * 900, max_tokens=64, ignore_eos=True)
                 for i in range(8)]
        for call in calls:
            list(call)
    peak = container.read("/sys/fs/cgroup/memory/memory.max_usage_in_bytes") or \
        container.read("/sys/fs/cgroup/memory.peak")
    assert peak and int(peak) < LIMIT, peak


def test_sigterm_mid_stream_completes_the_stream_and_exits_0(container):
    with hearth_client.HearthClient(container.target, timeout=120, retries=0) as client:
        call = client.generate(text="Count slowly:", max_tokens=400, ignore_eos=True,
                               temperature=0)
        it = iter(call)
        first = next(it)
        podman("kill", "--signal", "TERM", container.name)
        rest = list(it)
    tokens = len(first.token_ids) + sum(len(m.token_ids) for m in rest)
    assert tokens == 400 and rest[-1].finish_reason == hearth_client.pb.FINISH_REASON_LENGTH
    code = podman("wait", container.name, timeout=120).stdout.strip()
    assert code == "0", container.logs()
    assert "received SIGTERM" in container.logs()
