"""SIGTERM: health flips to NOT_SERVING first, new requests get UNAVAILABLE, in-flight streams
complete within the grace period (or end with FINISH_REASON_ABORT + UNAVAILABLE "server
shutting down" after it), and the process exits 0."""

import concurrent.futures
import signal
import threading
import time

import grpc
import pytest

from conftest import SMALL_SERVER, Server, pb
from hearth_client import build_request


def start_streams(server, count, max_tokens):
    """Starts `count` streams; returns (futures, an event set once each has a first token)."""
    started = threading.Barrier(count + 1, timeout=60)
    req = build_request(text="Tell me about the sea.", temperature=0, max_tokens=max_tokens,
                        ignore_eos=True)

    def run():
        msgs = []
        it = iter(server.client.generate(req, timeout=120))
        try:
            msgs.append(next(it))
        finally:
            started.wait()
        try:
            for m in it:
                msgs.append(m)
            return grpc.StatusCode.OK, "", msgs
        except grpc.RpcError as e:
            return e.code(), e.details(), msgs

    pool = concurrent.futures.ThreadPoolExecutor(count)
    futures = [pool.submit(run) for _ in range(count)]
    started.wait()
    return pool, futures


def test_sigterm_drains_streams():
    s = Server(SMALL_SERVER + ["--shutdown-grace-period=60s"])
    try:
        pool, futures = start_streams(s, 16, max_tokens=48)
        s.signal(signal.SIGTERM)
        deadline = time.monotonic() + 60
        while s.client.health() != "NOT_SERVING":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert s.client.health("hearth.v1.Hearth") == "NOT_SERVING"
        assert sum(f.done() for f in futures) < 16  # flipped while streams were running
        with pytest.raises(grpc.RpcError) as e:
            list(s.client.generate(text="hi", max_tokens=2, timeout=10))
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "shutting down" in e.value.details()
        for f in futures:
            code, details, msgs = f.result(120)
            assert code == grpc.StatusCode.OK, details
            assert msgs[-1].finish_reason == pb.FINISH_REASON_LENGTH
            assert sum(len(m.token_ids) for m in msgs) == 48
        pool.shutdown()
        assert s.wait(60) == 0
        assert any("received SIGTERM" in line for line in s.lines), s.output()
    finally:
        s.stop()


def test_short_grace_aborts_long_streams():
    s = Server(SMALL_SERVER + ["--shutdown-grace-period=500ms"])
    try:
        pool, futures = start_streams(s, 4, max_tokens=1000)
        s.signal(signal.SIGTERM)
        for f in futures:
            code, details, msgs = f.result(60)
            assert code == grpc.StatusCode.UNAVAILABLE, details
            assert details == "server shutting down"
            assert msgs[-1].finish_reason == pb.FINISH_REASON_ABORT
            assert sum(len(m.token_ids) for m in msgs) < 1000
        pool.shutdown()
        assert s.wait(60) == 0
    finally:
        s.stop()


def test_sigint_idle_exits_zero():
    s = Server(SMALL_SERVER)
    s.signal(signal.SIGINT)
    assert s.wait(30) == 0
    assert any("stopped" in line for line in s.lines), s.output()
