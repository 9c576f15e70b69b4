"""Faults around `hearth serve` (issue 16): the model file truncated, overwritten or replaced
while serving; the gRPC or metrics port taken; a full disk for every file Hearth writes; the
KV cache allocation failing; a client that stops reading its stream (back-pressure)."""

import os
import resource
import shutil
import signal
import socket
import subprocess
import time

import grpc
import pytest

from conftest import (DEFAULT_MODEL, HEARTH, SLOW, SMALL_SERVER, Server, available_memory_bytes,
                      clean_env, free_port, run_cli, wait_kv_free)
from hearth_client import HearthClient, build_request

SANITIZED = any(k in os.environ for k in ("ASAN_OPTIONS", "TSAN_OPTIONS"))


def greedy(client, text="The capital of France is"):
    return client.complete(text=text, temperature=0, max_tokens=24, ignore_eos=True,
                           timeout=120 * SLOW)[0].token_ids


# --- the model file changes under the server ------------------------------------------------

def test_model_truncated_or_overwritten_while_serving(tmp_path):
    # Default model_load: copy. Probe finding 5: this was SIGBUS (exit 135) with mmap.
    model = tmp_path / "model.gguf"
    shutil.copyfile(DEFAULT_MODEL, model)
    s = Server(SMALL_SERVER + [f"--model={model}"])
    try:
        before = greedy(s.client)
        os.truncate(model, 10 << 20)
        assert greedy(s.client) == before
        with open(model, "r+b") as f:  # `cp other.gguf model.gguf`: same inode, new bytes
            f.write(b"\0" * (10 << 20))
        assert greedy(s.client, "Once upon a time") == greedy(s.client, "Once upon a time")
        assert greedy(s.client) == before
        os.unlink(model)
        assert greedy(s.client) == before
        assert s.proc.poll() is None
        s.signal(signal.SIGTERM)
        assert s.wait(60) == 0
    finally:
        s.stop()


def test_mmap_mode_survives_a_replacement_by_rename(tmp_path):
    # With model_load: mmap the documented way to update a served file is a rename.
    model = tmp_path / "model.gguf"
    shutil.copyfile(DEFAULT_MODEL, model)
    s = Server(SMALL_SERVER + [f"--model={model}", "--model-load=mmap"])
    try:
        before = greedy(s.client)
        replacement = tmp_path / "new.gguf"
        replacement.write_bytes(b"\0" * (1 << 20))
        os.rename(replacement, model)
        assert greedy(s.client) == before
        assert s.proc.poll() is None
    finally:
        s.stop()


# --- ports taken ---------------------------------------------------------------------------

def taken_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock, sock.getsockname()[1]


def test_grpc_port_taken_exits_1_naming_it():
    sock, port = taken_port()
    try:
        rc, out = run_cli([f"--listen-address=127.0.0.1:{port}", "--metrics-enabled=false",
                           "--kv-cache-bytes=64MiB"], timeout=120)
    finally:
        sock.close()
    assert rc == 1, out
    assert f"cannot listen on 127.0.0.1:{port}" in out and "listen_address" in out, out
    assert "listening on" not in out


def test_metrics_port_taken_exits_1_naming_it():
    sock, port = taken_port()
    try:
        rc, out = run_cli(["--listen-address=127.0.0.1:0", "--metrics-listen-address=127.0.0.1",
                           f"--metrics-port={port}", "--kv-cache-bytes=64MiB"], timeout=120)
    finally:
        sock.close()
    assert rc == 1, out
    assert f"127.0.0.1:{port}" in out and "metrics listener: cannot listen on" in out, out
    assert "listening on 127" not in out


# --- a full disk ---------------------------------------------------------------------------

def test_full_disk_for_every_output(server_for_outputs):
    s = server_for_outputs
    with open("/dev/full", "w") as full:
        p = subprocess.run([HEARTH, "generate", f"--model={DEFAULT_MODEL}", "--prompt=Hello",
                            "--max_tokens=64", "--kv_cache_mb=64"], stdout=full,
                           stderr=subprocess.PIPE, text=True, env=clean_env(),
                           timeout=120 * SLOW)
        assert p.returncode == 1 and "No space left on device" in p.stderr, p.stderr
        p = subprocess.run([HEARTH, "client", "generate", "--address", s.target, "--max_tokens",
                            "64", "--ignore_eos", "--prompt", "Hello"], stdout=full,
                           stderr=subprocess.PIPE, text=True, env=clean_env(),
                           timeout=120 * SLOW)
        assert p.returncode == 1 and "No space left on device" in p.stderr, p.stderr
    p = subprocess.run([HEARTH, "bench-serve", "--address", s.target, "--num_requests", "2",
                        "--concurrency", "2", "--prompt_len", "8", "--output_len", "4",
                        "--json", "/dev/full"], capture_output=True, text=True, env=clean_env(),
                       timeout=300 * SLOW)
    assert p.returncode != 0 and "cannot write /dev/full" in p.stderr, p.stdout + p.stderr
    waited, info = wait_kv_free(s.client)
    assert waited is not None, info


@pytest.fixture(scope="module")
def server_for_outputs():
    s = Server(SMALL_SERVER)
    yield s
    s.stop()


def test_serve_logging_to_a_full_disk_keeps_serving():
    port = free_port()
    with open("/dev/full", "w") as full:
        proc = subprocess.Popen([HEARTH, "serve", f"--listen-address=127.0.0.1:{port}",
                                 "--metrics-enabled=false", *SMALL_SERVER], stdout=full,
                                stderr=full, env=clean_env())
    try:
        with HearthClient(f"127.0.0.1:{port}") as client:
            grpc.channel_ready_future(client.channel).result(timeout=120 * SLOW)
            assert len(greedy(client)) == 24
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60 * SLOW) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --- the KV cache cannot be allocated -------------------------------------------------------

def limit_address_space():
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


@pytest.mark.skipif(SANITIZED, reason="sanitizers reserve terabytes of address space")
@pytest.mark.skipif(available_memory_bytes() < (6 << 30),
                    reason="a 5 GiB KV cache must pass the sizing check (memory available)")
def test_kv_allocation_failure_is_an_error_not_a_crash():
    # A size the sizing check accepts (PlanKvCache refuses more than the memory available, with
    # exit 2) but the 4 GiB address-space limit makes the allocation itself fail.
    p = subprocess.run([HEARTH, "serve", "--listen-address=127.0.0.1:0",
                        "--metrics-enabled=false", "--kv-cache-bytes=5GiB", "--swap-space=0"],
                       capture_output=True, text=True, env=clean_env(),
                       preexec_fn=limit_address_space, timeout=120)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "cannot allocate the KV cache" in p.stderr, p.stderr
    p = subprocess.run([HEARTH, "generate", f"--model={DEFAULT_MODEL}", "--prompt=hi",
                        "--kv_cache_mb=5120"], capture_output=True, text=True,
                       env=clean_env(), preexec_fn=limit_address_space, timeout=120)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "cannot allocate the KV cache" in p.stderr, p.stderr


# --- a client that stops reading -------------------------------------------------------------

def test_client_that_stops_reading_is_aborted_with_resource_exhausted():
    s = Server(SMALL_SERVER + ["--max-stream-buffer-bytes=64KiB"])
    # Its own connection, without BDP probing: the HTTP/2 window stays at its initial 64 KiB.
    channel = grpc.insecure_channel(s.target, options=[("grpc.http2.bdp_probe", 0)])
    try:
        generate = channel.unary_stream("/hearth.v1.Hearth/Generate",
                                        request_serializer=lambda r: r.SerializeToString(),
                                        response_deserializer=lambda b: b)
        # ~450 bytes per token with 20 top logprobs: far more than window + buffer.
        request = build_request(text="Tell me a story.", temperature=0, max_tokens=2500,
                                ignore_eos=True, logprobs=20)
        call = generate(request, timeout=600 * SLOW)
        # Not reading: the server aborts the request once 64 KiB are queued for us, freeing
        # its KV blocks while the client still reads nothing.
        deadline = time.monotonic() + 300 * SLOW
        while s.client.model_info().num_requests_running == 0:
            assert time.monotonic() < deadline, "the request never started"
            time.sleep(0.005)
        waited, info = wait_kv_free(s.client, timeout=300)
        assert waited is not None, info
        received = 0
        with pytest.raises(grpc.RpcError) as e:
            for message in call:
                received += len(message)
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e.value.details()
        assert "not reading" in e.value.details()
        assert received < 2500 * 400
        # The server serves on, and a reading client gets everything.
        assert len(greedy(s.client)) == 24
    finally:
        channel.close()
        s.stop()


def test_http_client_that_stops_reading_is_aborted_too():
    """The bound is the shared OutputChannel's: an OpenAI stream whose client stops reading is
    aborted the same way (its KV freed), and ends with an in-stream error once read again."""
    s = Server(["--kv-cache-bytes=256MiB", "--swap-space=0", "--threads=2",
                "--max-stream-buffer-bytes=64KiB"])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # A small receive window. The server's kernel send buffer still takes up to 4 MiB
        # (net.ipv4.tcp_wmem), about 2500 tokens of this stream: 4 samples outgrow it.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", s.http_port))
        body = ('{"prompt": "Tell me a story.", "max_tokens": 2500, "temperature": 0, '
                '"ignore_eos": true, "logprobs": 20, "n": 4, "stream": true}')
        sock.sendall((f"POST /v1/completions HTTP/1.1\r\nHost: x\r\n"
                      f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                      f"\r\n{body}").encode())
        deadline = time.monotonic() + 300 * SLOW
        while s.client.model_info().num_requests_running == 0:
            assert time.monotonic() < deadline, "the request never started"
            time.sleep(0.005)
        # Not reading: the request is aborted and its KV blocks freed.
        waited, info = wait_kv_free(s.client, timeout=300)
        assert waited is not None, info
        sock.settimeout(120 * SLOW)
        received = b""
        while not received.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            received += chunk
        assert b"not reading its stream" in received, received[-2000:]
        # The server serves on.
        assert len(greedy(s.client)) == 24
    finally:
        sock.close()
        s.stop()
