"""`hearth serve`'s Prometheus metrics, checked from outside: a concurrent load (good and bad
requests) through grpcio, then a scrape of /metrics that promtool accepts and whose counters and
histogram counts agree with what the clients received; every metric the Grafana dashboard
queries is in the scrape; /health and /ready follow the serving state; metrics.enabled=false
closes the port; a real Prometheus (deploy/ configuration) scrapes the server and answers PromQL
for the generation token rate and the TTFT p99."""

import concurrent.futures
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import grpc
import pytest

from conftest import SMALL_SERVER, SOURCE_DIR, Server, free_port, pb
from hearth_client import FinishReason, HearthClient, build_request

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")


def http_get(url, timeout=10):
    """(status, body) of a GET; HTTP errors are returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode(), r.headers.get("Content-Type")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers.get("Content-Type")


def scrape(server):
    status, body, ctype = http_get(server.metrics_url + "/metrics")
    assert status == 200, body
    assert ctype == "text/plain; version=0.0.4; charset=utf-8"
    return body


def parse(text):
    """{(name, frozenset(labels)): value} of every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, line
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def total(samples, name, **want):
    """Sum of the samples of `name` whose labels include `want`."""
    return sum(v for (n, labels), v in samples.items()
               if n == name and all((k, w) in labels for k, w in want.items()))


GOOD = [dict(text=f"Count from {i} to {i + 20}:", max_tokens=4 + i, temperature=0.0)
        for i in range(16)]
# (request kwargs, expected code); each is refused before it reaches the engine.
BAD = [
    (dict(text="hi", temperature=-1.0), grpc.StatusCode.INVALID_ARGUMENT),
    (dict(text="hi", max_tokens=100000), grpc.StatusCode.INVALID_ARGUMENT),
    (dict(token_ids=[49152]), grpc.StatusCode.INVALID_ARGUMENT),
    (dict(text="hi", model="gpt-9"), grpc.StatusCode.NOT_FOUND),
]


def run_load(target):
    """Runs GOOD and BAD concurrently (one channel per request); returns (completions, codes)."""
    def one(kwargs):
        with HearthClient(target, timeout=120, retries=0) as c:
            try:
                return c.complete(build_request(**kwargs))[0]
            except grpc.RpcError as e:
                return e.code()
    with concurrent.futures.ThreadPoolExecutor(len(GOOD) + len(BAD)) as pool:
        results = list(pool.map(one, GOOD + [kw for kw, _ in BAD]))
    completions, codes = results[:len(GOOD)], results[len(GOOD):]
    for c in completions:
        assert not isinstance(c, grpc.StatusCode), c
    assert codes == [code for _, code in BAD]
    return completions, codes


@pytest.fixture(scope="module")
def server():
    s = Server(SMALL_SERVER)
    yield s
    s.stop()


def test_scrape_passes_promtool(server):
    if PROMTOOL is None:
        pytest.skip("promtool not installed (Debian package prometheus)")
    run_load(server.target)
    text = scrape(server)
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    # Exit 1 is a parse error; 3 means lint findings. The one finding we accept is the linter's
    # rule against ':' in names (the vLLM-style hearth: prefix; see docs/METRICS.md).
    assert p.returncode in (0, 3), p.stdout + p.stderr
    findings = [l for l in (p.stdout + p.stderr).splitlines() if l.strip()]
    other = [l for l in findings if not l.endswith("metric names should not contain ':'")]
    assert other == [], "\n".join(other)
    # And the harness can fail: a broken line is rejected.
    bad = subprocess.run([PROMTOOL, "check", "metrics"], input=text + "hearth:x{\n",
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 1


def test_counters_agree_with_clients(server):
    before = parse(scrape(server))
    completions, _ = run_load(server.target)
    after = parse(scrape(server))

    def delta(name, **labels):
        return total(after, name, **labels) - total(before, name, **labels)

    gen = sum(len(c.token_ids) for c in completions)
    prompt = sum(c.usage.prompt_tokens for c in completions)
    n = len(completions)
    assert gen == sum(c.usage.completion_tokens for c in completions)
    assert delta("hearth:generation_tokens_total") == gen
    assert delta("hearth:prompt_tokens_total") == prompt
    assert delta("hearth:request_success_total") == n
    n_length = sum(c.finish_reason == FinishReason.LENGTH for c in completions)
    assert delta("hearth:request_success_total", finished_reason="length") == n_length
    assert delta("hearth:request_success_total", finished_reason="stop") == n - n_length
    for code in ("INVALID_ARGUMENT", "NOT_FOUND", "RESOURCE_EXHAUSTED", "INTERNAL"):
        want = sum(c.name == code for _, c in BAD)
        assert delta("hearth:request_failure_total", code=code) == want, code
    assert delta("hearth:request_failure_total") == len(BAD)
    # Histograms: one TTFT per sample, one ITL per later token, token histograms sum to totals.
    assert delta("hearth:time_to_first_token_seconds_count") == n
    assert delta("hearth:inter_token_latency_seconds_count") == gen - n
    for h in ("e2e_request_latency_seconds", "request_queue_time_seconds",
              "request_prefill_time_seconds", "request_decode_time_seconds",
              "request_prompt_tokens", "request_generation_tokens"):
        assert delta(f"hearth:{h}_count") == n, h
    assert delta("hearth:request_generation_tokens_sum") == gen
    assert delta("hearth:request_prompt_tokens_sum") == prompt
    # The server's per-request TTFT and queue time (in each client's Usage) are the observations.
    ttft = sum(c.usage.time_to_first_token_seconds for c in completions)
    queue = sum(c.usage.queue_time_seconds for c in completions)
    assert delta("hearth:time_to_first_token_seconds_sum") == pytest.approx(ttft, rel=1e-6)
    assert delta("hearth:request_queue_time_seconds_sum") == pytest.approx(queue, rel=1e-6,
                                                                           abs=1e-9)
    # +Inf bucket == count; buckets cumulative.
    buckets = sorted(((float(dict(l)["le"]), v) for (nm, l), v in after.items()
                      if nm == "hearth:time_to_first_token_seconds_bucket"))
    assert buckets[-1] == (float("inf"), total(after, "hearth:time_to_first_token_seconds_count"))
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:]))
    # Engine steps ran every computed token; prefix-cache hits never exceed queries.
    assert delta("hearth:iteration_tokens_sum") >= gen
    assert 0 <= delta("hearth:prefix_cache_hits_total") <= delta("hearth:prefix_cache_queries_total")
    # Idle again: gauges back to zero.
    assert total(after, "hearth:num_requests_running") == 0
    assert total(after, "hearth:num_requests_waiting") == 0
    assert total(after, "hearth:kv_cache_usage_perc") == 0
    info = [dict(l) for (nm, l), v in after.items() if nm == "hearth:build_info" and v == 1]
    assert len(info) == 1
    assert info[0]["quant_type"] == "Q4_1" and info[0]["block_size"] == "16"
    assert info[0]["num_gpu_blocks"] == "182" and info[0]["backend"] == "cpu"
    assert info[0]["kv_cache_dtype"] == "f16"
    assert info[0]["model_name"] == "SmolLM2-135M-Instruct.Q4_1"
    assert total(after, "process_resident_memory_bytes") > 50e6
    # Every hearth: series carries the model_name label.
    for (nm, labels) in after:
        if nm.startswith("hearth:"):
            assert dict(labels).get("model_name") == "SmolLM2-135M-Instruct.Q4_1", nm


def dashboard_metric_names():
    with open(os.path.join(SOURCE_DIR, "deploy", "grafana", "dashboards", "hearth.json")) as f:
        dash = json.load(f)
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    exprs += [v["query"]["query"] for v in dash["templating"]["list"] if v["type"] == "query"]
    names = set()
    for e in exprs:
        names.update(re.findall(r"\b((?:hearth:|process_)[a-zA-Z0-9_:]*)", e))
    return names


def test_dashboard_metrics_are_scraped(server):
    names = dashboard_metric_names()
    assert len(names) >= 12, names
    scraped = {nm for nm, _ in parse(scrape(server))}
    missing = sorted(names - scraped)
    assert missing == [], missing


def test_health_and_ready_follow_serving_state():
    s = Server(SMALL_SERVER + ["--shutdown-grace-period=20s"])
    try:
        assert http_get(s.metrics_url + "/health")[:2] == (200, "ok\n")
        assert http_get(s.metrics_url + "/ready")[:2] == (200, "ok\n")
        # A long stream in flight keeps the server draining after SIGTERM.
        call = s.client.generate(text="Tell a long story.", max_tokens=400, temperature=0.0,
                                 ignore_eos=True)
        next(iter(call))
        s.signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        health = ready = None
        while time.monotonic() < deadline:
            health, ready = http_get(s.metrics_url + "/health"), http_get(s.metrics_url + "/ready")
            if health[0] == 503:
                break
            time.sleep(0.05)
        assert health[0] == 503 and "NOT_SERVING" in health[1], health
        assert ready[0] == 503, ready
        call.cancel()
        assert s.wait(60) == 0
    finally:
        s.stop()


def test_metrics_disabled_closes_the_port():
    s = Server(SMALL_SERVER + ["--metrics-enabled=false"])
    try:
        s.client.complete(text="hi", max_tokens=2, temperature=0.0)
        assert not any("metrics on" in line for line in s.lines)
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(s.metrics_url + "/metrics", timeout=2)
    finally:
        s.stop()


def prom_query(base, query):
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": query})
    status, body, _ = http_get(url)
    assert status == 200, body
    data = json.loads(body)
    assert data["status"] == "success", data
    return data["data"]["result"]


@pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not installed")
def test_real_prometheus_scrapes_and_answers_promql(server, tmp_path):
    with open(os.path.join(SOURCE_DIR, "deploy", "prometheus", "prometheus.yml")) as f:
        cfg = f.read()
    assert 'targets: ["hearth:9464"]' in cfg and "scrape_interval: 5s" in cfg
    cfg = cfg.replace('targets: ["hearth:9464"]', f'targets: ["127.0.0.1:{server.metrics_port}"]')
    cfg = cfg.replace("scrape_interval: 5s", "scrape_interval: 1s")
    (tmp_path / "prometheus.yml").write_text(cfg)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    prom = subprocess.Popen(
        [PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        def poll(cond, what, timeout=30):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                assert prom.poll() is None, prom.stderr.read()
                try:
                    value = cond()
                    if value:
                        return value
                except (urllib.error.URLError, ConnectionError):
                    pass
                time.sleep(0.25)
            pytest.fail(f"timed out waiting for {what}")

        poll(lambda: http_get(base + "/-/ready")[0] == 200, "prometheus ready")
        poll(lambda: [r for r in prom_query(base, 'up{job="hearth"}') if r["value"][1] == "1"],
             "first successful scrape")
        run_load(server.target)
        rate = poll(lambda: [r for r in prom_query(
            base, "sum(rate(hearth:generation_tokens_total[30s]))") if float(r["value"][1]) > 0],
            "a positive generation token rate")
        assert float(rate[0]["value"][1]) > 0
        p99 = poll(lambda: [r for r in prom_query(
            base, "histogram_quantile(0.99, sum by (le) "
                  "(rate(hearth:time_to_first_token_seconds_bucket[30s])))")
            if 0 < float(r["value"][1]) < 60], "a TTFT p99")
        assert 0 < float(p99[0]["value"][1]) < 60
    finally:
        prom.terminate()
        try:
            prom.wait(15)
        except subprocess.TimeoutExpired:
            prom.kill()
            prom.wait()
