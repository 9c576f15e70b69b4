"""Shared fixtures of the `hearth serve` integration tests: start the real binary on a free
loopback port with the default model and a small KV cache, talk to it with grpcio."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import grpc
import pytest

SOURCE_DIR = os.environ.get("HEARTH_SOURCE_DIR",
                            os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BINARY_DIR = os.environ.get("HEARTH_BINARY_DIR", os.path.join(SOURCE_DIR, "build"))
DEFAULT_MODEL = os.environ.get(
    "HEARTH_DEFAULT_MODEL", os.path.join(SOURCE_DIR, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"))
HEARTH = os.path.join(BINARY_DIR, "hearth")

# The installed client package (scripts/install-deps.sh puts it into the project environment).
import hearth_client  # noqa: E402
from hearth_client import pb  # noqa: E402,F401

# Sanitizer builds (scripts/sanitize.sh) run several times slower: timeouts scale with this.
SLOW = float(os.environ.get("HEARTH_TEST_SLOWDOWN", "1"))

# Small and fast: 64 MiB of fp16 KV holds 2912 tokens of SmolLM2 (182 blocks of 16).
SMALL_SERVER = ["--kv-cache-bytes=64MiB", "--swap-space=0", "--threads=2"]


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(extra=None):
    """The environment without HEARTH_* settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("HEARTH_") or k in ("HEARTH_SOURCE_DIR", "HEARTH_BINARY_DIR")}
    env["HEARTH_MODEL"] = DEFAULT_MODEL
    env["HEARTH_HTTP_PORT"] = "0"  # any free port: servers of parallel tests must not clash
    env.update(extra or {})
    return env


class Server:
    """A running `hearth serve`; output lines (stdout + stderr) are collected in `lines`."""

    def __init__(self, args=(), env=None, ready_timeout=120, preexec_fn=None):
        # free_port() cannot reserve a port: a parallel test may bind it first. Such a start
        # fails naming the port ("cannot listen on"); try again with fresh ports.
        for attempt in range(3):
            if self._start(args, env, ready_timeout * SLOW, preexec_fn):
                break
            if attempt < 2 and "cannot listen on" in self.output():
                continue
            raise RuntimeError(f"hearth serve exited {self.proc.returncode} before listening:\n"
                               + self.output())
        # retries=0: the tests check the status codes the server sends.
        self.client = hearth_client.HearthClient(self.target, retries=0)

    def _start(self, args, env, ready_timeout, preexec_fn):
        """Starts the server; True once it listens, False when it exited before that."""
        self.port = free_port()
        self.target = f"127.0.0.1:{self.port}"
        # The metrics endpoint on its own free loopback port (env, so tests can override it).
        self.metrics_port = free_port()
        self.metrics_url = f"http://127.0.0.1:{self.metrics_port}"
        # The OpenAI / Ollama HTTP API likewise.
        self.http_port = free_port()
        self.http_url = f"http://127.0.0.1:{self.http_port}"
        env = {"HEARTH_METRICS_PORT": str(self.metrics_port),
               "HEARTH_METRICS_LISTEN_ADDRESS": "127.0.0.1",
               "HEARTH_HTTP_PORT": str(self.http_port),
               "HEARTH_HTTP_LISTEN_ADDRESS": "127.0.0.1", **(env or {})}
        cmd = [HEARTH, "serve", f"--listen-address=127.0.0.1:{self.port}", *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=clean_env(env), text=True, bufsize=1,
                                     preexec_fn=preexec_fn)
        self.lines = []
        self._ready = threading.Event()
        self._listening = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._ready.wait(ready_timeout):
            self.stop()
            raise RuntimeError("hearth serve did not start:\n" + self.output())
        if self._listening:
            return True
        # Its output ended before "gRPC listening on": it is exiting.
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.stop()
        self._reader.join(10)
        return False

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if "gRPC listening on" in line:
                self._listening = True
                self._ready.set()
        self._ready.set()

    def output(self):
        return "\n".join(self.lines)

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def wait(self, timeout=60):
        rc = self.proc.wait(timeout * SLOW)
        self._reader.join(5)
        return rc

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if hasattr(self, "client"):
            self.client.close()


@pytest.fixture(scope="module")
def server():
    """One server per test module with the small settings."""
    s = Server(SMALL_SERVER)
    yield s
    s.stop()


def resident_bytes(pid):
    """VmRSS of a process, in bytes (0 when unreadable)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def available_memory_bytes():
    """MemAvailable of /proc/meminfo, in bytes (0 when unreadable)."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def wait_kv_free(client, timeout=60.0):
    """Polls ModelInfo until no KV block is held; returns (seconds waited, last info), or
    (None, last info) after a generous `timeout` (tests wait for the event, never time it)."""
    timeout *= SLOW
    start = time.monotonic()
    while True:
        info = client.model_info()
        if (info.kv_cache_usage == 0 and info.kv_cache_free_blocks == info.kv_cache_total_blocks
                and info.num_requests_running == 0 and info.num_requests_waiting == 0):
            return time.monotonic() - start, info
        if time.monotonic() - start > timeout:
            return None, info
        time.sleep(0.01)


def run_cli(args, env=None, timeout=60):
    """Runs `hearth serve ARGS` expecting it to exit (config errors): (rc, output)."""
    p = subprocess.run([HEARTH, "serve", *args], capture_output=True, text=True,
                       env=clean_env(env), timeout=timeout * SLOW)
    return p.returncode, p.stdout + p.stderr
