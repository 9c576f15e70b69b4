"""Hostile and careless HTTP clients: malformed JSON, wrong types, oversized bodies and headers,
slow senders (on the API and the metrics port), a bounded fuzz loop of random bodies, clients
that disconnect mid-stream (their KV blocks are freed), the request timeout, and the connection
bound. Each gets its documented status, and the server keeps serving."""

import json
import random
import socket
import threading
import time
import urllib.request

import pytest

from conftest import SMALL_SERVER, Server, wait_kv_free

MAX_BODY = 64 * 1024


@pytest.fixture(scope="module")
def server():
    s = Server(SMALL_SERVER + [f"--http-max-body-bytes={MAX_BODY}", "--http-max-header-bytes=8K"])
    yield s
    s.stop()


def post(url, body, headers=None, timeout=300):
    """(status, parsed JSON body or raw text)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def raw_http(port, data, timeout=30):
    """Sends raw bytes, returns the response bytes (until the server closes or 64 KiB)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while len(out) < 65536:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out and b"Content-Length" not in out:
                break
            if b"\r\n\r\n" in out:
                head, _, body = out.partition(b"\r\n\r\n")
                length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                if len(body) >= length:
                    break
        return out


def status_of(response):
    return int(response.split(b" ", 2)[1])


def still_serving(server):
    status, body = post(server.http_url + "/v1/completions",
                        {"prompt": "Hello", "max_tokens": 2, "temperature": 0})
    assert status == 200, body
    assert body["usage"]["completion_tokens"] == 2


@pytest.mark.parametrize("body,word", [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "JSON object"),
    (b'{"prompt": 5}', "prompt"),
    (b'{"prompt": "hi", "max_tokens": "ten"}', "max_tokens"),
    (b'{"prompt": "hi", "temperature": [1]}', "temperature"),
    (b'{"prompt": "hi", "stream": "yes"}', "stream"),
    (b'{"prompt": "hi", "stop": [1]}', "stop[0]"),
    (b'{"prompt": "hi", "seed": 1.5}', "seed"),
    (b"[" * 60000, "nested"),
    (b'{"prompt": "\xff\xfe"}', "JSON"),
])
def test_malformed_bodies_are_400(server, body, word):
    status, err = post(server.http_url + "/v1/completions", body)
    assert status == 400, err
    assert word in err["error"]["message"], err
    status, err = post(server.http_url + "/api/generate", body)
    assert status == 400 and isinstance(err["error"], str)
    still_serving(server)


def test_oversized_body_is_413_and_not_read(server):
    status, err = post(server.http_url + "/v1/completions",
                       {"prompt": "x" * (MAX_BODY + 10), "max_tokens": 1})
    assert status == 413, err
    assert str(MAX_BODY) in err["error"]["message"]
    # Declared far beyond the limit: answered from the header, without waiting for the body.
    resp = raw_http(server.http_port, b"POST /api/chat HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Length: 300000000\r\n\r\n{")
    assert status_of(resp) == 413 and b'"error"' in resp
    still_serving(server)


def test_oversized_headers_are_431(server):
    resp = raw_http(server.http_port, b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: " +
                    b"a" * 20000 + b"\r\n\r\n")
    assert status_of(resp) == 431
    resp = raw_http(server.http_port, b"GARBAGE\r\n\r\n")
    assert status_of(resp) == 400
    still_serving(server)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_slow_clients_do_not_block_others(server):
    """Sockets that dribble one header byte at a time, on the API and the metrics port, while
    other clients are served; a slow sender is dropped after the header deadline."""
    stop = threading.Event()
    sockets = []
    for port in (server.http_port, server.metrics_port):
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", port), timeout=300)
            s.sendall(b"G")
            sockets.append(s)

    def dribble():
        for _ in range(40):  # bounded: at most ~20 s
            if stop.wait(0.5):
                return
            for s in sockets:
                try:
                    s.sendall(b"E")
                except OSError:
                    pass
    t = threading.Thread(target=dribble, daemon=True)
    t.start()
    try:
        for _ in range(3):
            still_serving(server)
            for path in ("/metrics", "/ready", "/health"):
                with urllib.request.urlopen(server.metrics_url + path, timeout=30) as r:
                    assert r.status == 200
        # The header deadline (10 s) closes the dribblers: recv sees EOF (or a reset).
        closed = 0
        for s in sockets[:4]:
            s.settimeout(60)
            try:
                closed += s.recv(1) == b""
            except (ConnectionResetError, socket.timeout):
                closed += 1
        assert closed == 4
    finally:
        stop.set()
        t.join()
        for s in sockets:
            s.close()


def test_huge_post_to_metrics_port_is_refused_without_reading(server):
    before = rss_kib(server.proc.pid)
    with socket.create_connection(("127.0.0.1", server.metrics_port), timeout=300) as s:
        s.sendall(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 300000000\r\n\r\n")
        sent = 0
        chunk = b"x" * (1 << 20)
        try:
            for _ in range(64):  # up to 64 MB, until the server stops reading
                s.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        s.settimeout(30)
        try:
            resp = s.recv(4096)
        except (ConnectionResetError, socket.timeout):
            resp = b""
    assert resp == b"" or status_of(resp) == 413
    assert rss_kib(server.proc.pid) - before < 32 * 1024  # not buffered
    with urllib.request.urlopen(server.metrics_url + "/metrics", timeout=30) as r:
        assert r.status == 200


def random_body(rng):
    kind = rng.randrange(5)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(200)))
    valid = {"model": "", "prompt": "hi", "max_tokens": 2, "messages": [{"role": "user",
             "content": "x"}], "options": {"num_predict": 2}, "stream": False}
    values = [None, True, -1, 0, 2 ** 70, 1e308, float("nan"), "", "x" * 50, [], {}, [1, "a"],
              {"a": [1]}, -2.5, "\u0000", [[1, 2]], 17]
    body = dict(valid)
    for _ in range(rng.randrange(1, 6)):
        key = rng.choice(["model", "prompt", "max_tokens", "messages", "options", "stream", "n",
                          "temperature", "top_p", "top_k", "stop", "seed", "logprobs",
                          "top_logprobs", "stream_options", "min_p", "num_predict", "raw",
                          "max_completion_tokens", "presence_penalty", "best_of", "echo"])
        body[key] = rng.choice(values)
    text = json.dumps(body, allow_nan=True)
    if kind == 1 and text:
        i = rng.randrange(len(text))
        text = text[:i] + rng.choice(["{", "]", '"', ",", "\\", ""]) + text[i + 1:]
    return text.encode()


def test_fuzzed_bodies_get_documented_statuses(server):
    rng = random.Random(1234)
    paths = ["/v1/completions", "/v1/chat/completions", "/api/generate", "/api/chat",
             "/tokenize", "/detokenize", "/api/show"]
    seen = {}
    for i in range(300):
        path = rng.choice(paths)
        status, body = post(server.http_url + path, random_body(rng))
        seen[status] = seen.get(status, 0) + 1
        assert status in (200, 400, 404), (path, status, body)
        if status != 200:
            assert "error" in body, body
    assert seen.get(400, 0) > 100
    still_serving(server)
    assert wait_kv_free(server.client, timeout=300)[0] is not None


def open_stream(port, path, body):
    """Starts a streaming POST on a raw socket; returns it after the first body bytes arrive."""
    s = socket.create_connection(("127.0.0.1", port), timeout=300)
    data = json.dumps(body).encode()
    s.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: "
              b"application/json\r\nContent-Length: " + str(len(data)).encode() + b"\r\n\r\n" +
              data)
    got = b""
    while got.count(b"data:") < 3 and got.count(b'"done"') < 3:
        chunk = s.recv(4096)
        assert chunk, got
        got += chunk
    assert b"200 OK" in got
    return s


@pytest.mark.parametrize("path,body", [
    ("/v1/completions", {"prompt": "Once upon a time", "max_tokens": 2000, "ignore_eos": True,
                         "stream": True}),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Tell a story"}],
                              "max_tokens": 2000, "ignore_eos": True, "stream": True, "n": 2}),
    ("/api/generate", {"model": "M", "prompt": "Tell a story", "options": {"num_predict": 2000}}),
])
def test_disconnect_mid_stream_frees_kv(server, path, body):
    if "model" in body:
        body["model"] = server.client.list_models()[0].name
    s = open_stream(server.http_port, path, body)
    info = server.client.model_info()
    assert info.num_requests_running >= 1 and info.kv_cache_usage > 0
    s.close()
    waited, info = wait_kv_free(server.client, timeout=300)
    assert waited is not None, info
    still_serving(server)


def test_request_timeout():
    s = Server(SMALL_SERVER + ["--http-request-timeout=1s"])
    try:
        body = {"prompt": "Once upon a time", "max_tokens": 2500, "ignore_eos": True}
        status, err = post(s.http_url + "/v1/completions", body)
        assert status == 504 and "timed out" in err["error"]["message"], err
        status, err = post(s.http_url + "/api/generate",
                           {"model": s.client.list_models()[0].name, "prompt": "x", "raw": True,
                            "stream": False, "options": {"num_predict": 2500, "temperature": 0}})
        assert status in (200, 504)  # a short answer can finish (EOS) before the timeout
        req = urllib.request.Request(s.http_url + "/v1/completions",
                                     data=json.dumps({**body, "stream": True}).encode())
        with urllib.request.urlopen(req, timeout=300) as r:
            events = [line for line in r.read().decode().split("\n\n") if line]
        assert "timed out" in events[-2] and events[-1] == "data: [DONE]"
        assert wait_kv_free(s.client, timeout=300)[0] is not None
    finally:
        s.stop()


def test_connection_bound():
    s = Server(SMALL_SERVER + ["--http-max-connections=4"])
    try:
        idle = [socket.create_connection(("127.0.0.1", s.http_port)) for _ in range(4)]
        deadline = time.monotonic() + 30  # until the server has accepted the four
        while True:
            resp = raw_http(s.http_port, b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
            if status_of(resp) == 503 or time.monotonic() > deadline:
                break
        assert status_of(resp) == 503 and b"too many connections" in resp
        for c in idle:
            c.close()
        deadline = time.monotonic() + 30
        while True:
            resp = raw_http(s.http_port, b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
            if status_of(resp) == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert status_of(resp) == 200
    finally:
        s.stop()


def test_queue_full_is_429():
    s = Server(SMALL_SERVER + ["--max-num-seqs=1", "--max-waiting-requests=1"])
    try:
        body = {"prompt": "Once upon a time", "max_tokens": 16, "ignore_eos": True}
        results = []

        def one():
            results.append(post(s.http_url + "/v1/completions", body))
        threads = [threading.Thread(target=one) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        statuses = sorted(status for status, _ in results)
        assert 200 in statuses and 429 in statuses, statuses
        assert set(statuses) <= {200, 429}
        err = next(b for st, b in results if st == 429)
        assert err["error"]["type"] == "rate_limit_error"
        assert "max_waiting_requests" in err["error"]["message"]
        status, err = post(s.http_url + "/api/generate",
                           {"model": s.client.list_models()[0].name, "prompt": "x"})
        assert status in (200, 429)
    finally:
        s.stop()


def test_drain_finishes_streams_and_refuses_new_ones():
    import signal
    s = Server(SMALL_SERVER + ["--shutdown-grace-period=600s"])
    try:
        body = {"prompt": "Once upon a time", "max_tokens": 48, "ignore_eos": True,
                "stream": True}
        sock = open_stream(s.http_port, "/v1/completions", body)
        s.signal(signal.SIGTERM)
        deadline = time.monotonic() + 60
        while not any("draining" in line for line in s.lines):
            assert time.monotonic() < deadline, s.output()
            time.sleep(0.05)
        status, err = post(s.http_url + "/v1/completions", {"prompt": "hi", "max_tokens": 2})
        assert status == 503 and "shutting down" in err["error"]["message"]
        status, err = post(s.http_url + "/api/chat", {"model": "m", "messages": []})
        assert status == 503 and "shutting down" in err["error"]
        # The stream in flight runs to its end.
        got = b""
        sock.settimeout(120)
        while b"data: [DONE]" not in got:
            chunk = sock.recv(65536)
            assert chunk, got[-200:]
            got += chunk
        assert got.count(b'"finish_reason":"length"') == 1
        sock.close()
        assert s.wait(60) == 0
    finally:
        s.stop()
