"""Several models in one `hearth serve` (issue 15): routing by name and alias over gRPC, the
OpenAI and the Ollama APIs (official grpcio / openai / ollama clients), lazy loading with the
load in the request's queue time, keep_alive unloading (RSS and hearth:model_loaded), swaps under
max_loaded_models=1 without leaks, unknown and corrupt models.

Models are made in the test: Q8_0 and Q4_K of the default model with `hearth quantize`, and two
tiny random models with `hearth synth-model` for the 100 swaps (fast to load). Every wait is for
an event with a generous timeout; nothing asserts a duration."""

import concurrent.futures
import os
import re
import subprocess
import time
import urllib.request

import grpc
import ollama
import openai
import pytest

from conftest import DEFAULT_MODEL, HEARTH, SLOW, Server, resident_bytes, run_cli

PROMPTS = ["The capital of France is", "Water boils at a temperature of",
           "The three primary colors are"]
MAX_TOKENS = 12


def run(*args):
    proc = subprocess.run([HEARTH, *map(str, args)], capture_output=True, text=True,
                          timeout=600 * SLOW)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("multimodel")
    paths = {"q8": d / "smol.Q8_0.gguf", "q4k": d / "smol.Q4_K.gguf",
             "tiny_a": d / "tiny-a.gguf", "tiny_b": d / "tiny-b.gguf",
             "corrupt": d / "corrupt.gguf"}
    run("quantize", DEFAULT_MODEL, paths["q8"], "--type", "q8_0", "--quiet")
    run("quantize", DEFAULT_MODEL, paths["q4k"], "--type", "q4_k", "--quiet")
    run("synth-model", paths["tiny_a"], "--seed", "1", "--quiet")
    run("synth-model", paths["tiny_b"], "--seed", "2", "--quiet")
    # A GGUF header that promises what the file does not hold.
    with open(DEFAULT_MODEL, "rb") as f:
        paths["corrupt"].write_bytes(f.read(1 << 16))
    return paths


def write_config(tmp_path, text):
    p = tmp_path / "serve.yaml"
    p.write_text(text)
    return p


def start(config, *extra):
    # HEARTH_MODEL (set by conftest for single-model tests) and `models:` exclude each other.
    return Server(["--config", str(config), "--kv-cache-bytes=64MiB", "--swap-space=0",
                   "--threads=2", *extra], env={"HEARTH_MODEL": ""})


def metrics(server):
    """{(name, frozenset(labels)): value} of the hearth:* series."""
    with urllib.request.urlopen(server.metrics_url + "/metrics", timeout=30 * SLOW) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        m = re.match(r'^(hearth:[a-z_]+)(\{(.*)\})? (\S+)$', line)
        if m:
            labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(3) or ""))
            out[(m.group(1), labels)] = float(m.group(4))
    return out


def metric(server, name, model, **labels):
    want = {("model_name", model), *labels.items()}
    return sum(v for (n, ls), v in metrics(server).items() if n == name and want <= ls)


def wait_for(cond, timeout=120):
    end = time.monotonic() + timeout * SLOW
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def greedy_grpc(server, model, prompt):
    c = server.client.complete(text=prompt, model=model, temperature=0, max_tokens=MAX_TOKENS,
                               timeout=300 * SLOW)
    return c[0].text


def greedy_openai(server, model, prompt):
    with openai.OpenAI(base_url=server.http_url + "/v1", api_key="unused", max_retries=0,
                       timeout=300 * SLOW) as client:
        r = client.completions.create(model=model, prompt=prompt, temperature=0,
                                      max_tokens=MAX_TOKENS)
        return r.choices[0].text


def served_alone(path):
    s = Server(["--kv-cache-bytes=64MiB", "--swap-space=0", "--threads=2"],
               env={"HEARTH_MODEL": str(path)})
    try:
        return {p: greedy_grpc(s, "", p) for p in PROMPTS}
    finally:
        s.stop()


def test_two_quantizations_route_by_name_and_match_served_alone(models, tmp_path):
    alone = {"letter": served_alone(models["q8"]), "telegram": served_alone(models["q4k"])}
    assert alone["letter"] != alone["telegram"], "the quantizations should differ somewhere"
    config = write_config(tmp_path, f"""
models:
  - name: letter
    model: {models['q8']}
    aliases: [analyst]
  - name: telegram
    model: {models['q4k']}
    aliases: [fast]
""")
    s = start(config)
    try:
        # Interleaved, concurrent: both models, both protocols, names and aliases.
        jobs = []
        for i in range(4):
            for name, alias in (("letter", "analyst"), ("telegram", "fast")):
                for p in PROMPTS:
                    jobs.append((greedy_grpc if i % 2 == 0 else greedy_openai,
                                 alias if i >= 2 else name, name, p))
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            futures = [(pool.submit(fn, s, model, p), canonical, p)
                       for fn, model, canonical, p in jobs]
            for f, canonical, p in futures:
                assert f.result() == alone[canonical][p], (canonical, p)
        # The default model is the first one.
        assert greedy_grpc(s, "", PROMPTS[0]) == alone["letter"][PROMPTS[0]]
        # Listings: every model, with the loaded flag and aliases.
        cards = s.client.list_models()
        assert [(c.name, c.loaded, list(c.aliases)) for c in cards] == [
            ("letter", True, ["analyst"]), ("telegram", True, ["fast"])]
        # (Q4_K of a 576-wide model falls back to Q4_1 where rows do not fit K blocks.)
        assert cards[0].quant_type == "Q8_0" and cards[1].quant_type != "Q8_0"
        assert s.client.model_info("fast").model.name == "telegram"
        with openai.OpenAI(base_url=s.http_url + "/v1", api_key="unused", max_retries=0) as oc:
            assert [m.id for m in oc.models.list().data] == ["letter", "telegram"]
            assert oc.models.retrieve("analyst").id == "analyst"
        tags = ollama.Client(host=s.http_url).list()
        assert [m.model for m in tags.models] == ["letter:latest", "telegram:latest"]
        # Per-model series.
        assert metric(s, "hearth:request_success_total", "telegram", protocol="openai") > 0
        assert metric(s, "hearth:model_loaded", "letter") == 1
    finally:
        s.stop()


def test_unknown_and_corrupt_models(models, tmp_path):
    config = write_config(tmp_path, f"""
models:
  - name: good
    model: {DEFAULT_MODEL}
  - name: broken
    model: {models['corrupt']}
    lazy: true
""")
    s = start(config)
    try:
        served = "'good', 'broken'"
        with pytest.raises(grpc.RpcError) as e:
            greedy_grpc(s, "nope", "hi")
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
        assert served in e.value.details(), e.value.details()
        with pytest.raises(openai.NotFoundError) as oe:
            greedy_openai(s, "nope", "hi")
        assert served in str(oe.value)
        with pytest.raises(ollama.ResponseError) as le:
            ollama.Client(host=s.http_url).generate(model="nope", prompt="hi")
        assert le.value.status_code == 404 and served in le.value.error
        # The corrupt file: a clear error for that request, twice (each retries the load) ...
        for _ in range(2):
            with pytest.raises(grpc.RpcError) as e:
                greedy_grpc(s, "broken", "hi")
            assert e.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "model 'broken' failed to load" in e.value.details(), e.value.details()
        with pytest.raises(openai.InternalServerError) as oe:
            greedy_openai(s, "broken", "hi")
        assert "failed to load" in str(oe.value)
        assert metric(s, "hearth:model_load_failures_total", "broken") >= 3
        # ... and the other model keeps serving.
        assert greedy_grpc(s, "good", PROMPTS[0])
        assert s.proc.poll() is None
    finally:
        s.stop()


def test_lazy_load_queue_time_and_keep_alive_unload(models, tmp_path):
    config = write_config(tmp_path, f"""
models:
  - name: resident
    model: {models['tiny_a']}
  - name: lazy
    model: {models['q8']}
    lazy: true
    keep_alive: 2s
""")
    s = start(config)
    try:
        assert metric(s, "hearth:model_loaded", "lazy") == 0
        assert [c.loaded for c in s.client.list_models()] == [True, False]
        rss_before = resident_bytes(s.proc.pid)
        c = s.client.complete(text=PROMPTS[0], model="lazy", temperature=0, max_tokens=4,
                              timeout=300 * SLOW)
        assert c[0].text and c[0].usage is not None
        load_seconds = metric(s, "hearth:model_load_duration_seconds_sum", "lazy")
        assert metric(s, "hearth:model_loads_total", "lazy") == 1
        # The request waited for the load: its queue time holds it.
        assert c[0].usage.queue_time_seconds >= load_seconds > 0, (c[0].usage, load_seconds)
        rss_loaded = resident_bytes(s.proc.pid)
        file_bytes = os.path.getsize(models["q8"])
        assert rss_loaded - rss_before > file_bytes // 2
        # keep_alive (2s) passes without a request: unloaded, memory returned.
        assert wait_for(lambda: metric(s, "hearth:model_unloads_total", "lazy", reason="idle") == 1)
        assert metric(s, "hearth:model_loaded", "lazy") == 0
        assert wait_for(lambda: rss_loaded - resident_bytes(s.proc.pid) > file_bytes // 2), (
            rss_loaded, resident_bytes(s.proc.pid))
        assert [c.loaded for c in s.client.list_models()] == [True, False]
        # The next request loads it again; Ollama's keep_alive 0 unloads it right after.
        r = ollama.Client(host=s.http_url).generate(model="lazy", prompt="Hi", keep_alive=0,
                                                    options={"num_predict": 2})
        assert r.done
        assert wait_for(lambda: metric(s, "hearth:model_unloads_total", "lazy",
                                       reason="requested") == 1)
    finally:
        s.stop()


def fds_and_threads(pid):
    return len(os.listdir(f"/proc/{pid}/fd")), len(os.listdir(f"/proc/{pid}/task"))


def test_one_model_budget_swaps_100_times_without_leaks(models, tmp_path):
    config = write_config(tmp_path, f"""
max_loaded_models: 1
models:
  - name: a
    model: {models['tiny_a']}
    lazy: true
  - name: b
    model: {models['tiny_b']}
    lazy: true
""")
    s = start(config)
    try:
        def one(i):
            name = "ab"[i % 2]
            if i % 4 < 2:
                out = greedy_grpc(s, name, "hello")
            else:
                out = greedy_openai(s, name, "hello")
            assert out is not None
            return name
        for i in range(2):  # both loaded once: the steady state to compare against
            one(i)
        before = fds_and_threads(s.proc.pid)
        for i in range(100):
            one(i)
        # Concurrent requests to both: they wait for each other's leases to drain.
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            assert sorted(pool.map(one, range(8))) == ["a"] * 4 + ["b"] * 4
        assert metric(s, "hearth:model_loads_total", "a") >= 50
        assert metric(s, "hearth:model_unloads_total", "b", reason="evicted") >= 50
        loaded = [c.name for c in s.client.list_models() if c.loaded]
        assert len(loaded) == 1
        assert wait_for(lambda: all(
            v == 0 for (n, _), v in metrics(s).items() if n == "hearth:kv_cache_usage_perc"))
        after = fds_and_threads(s.proc.pid)
        # A leak per swap would show as 100 more; allow gRPC's own small pool changes.
        assert after[0] <= before[0] + 4 and after[1] <= before[1] + 4, (before, after)
    finally:
        s.stop()


@pytest.mark.parametrize("yaml, message", [
    ("models:\n  - name: a\n    model: {m}\n  - name: a\n    model: {m}\n",
     "name 'a' is used twice"),
    ("models:\n  - name: a\n    model: {m}\n    colour: red\n", "'models[0].colour'"),
    ("models:\n  - name: a\n    model: {m}\n    lazy: true\n    keep_alive: soon\n",
     "'models[0].keep_alive'"),
    ("models:\n  - name: a\n    model: {m}\n    keep_alive: 5m\n", "only lazy models"),
    ("model: {m}\nmodels:\n  - {m}\n", "exclude each other"),
])
def test_config_errors_name_the_key(tmp_path, yaml, message):
    config = write_config(tmp_path, yaml.format(m=DEFAULT_MODEL))
    rc, out = run_cli(["--config", str(config)], env={"HEARTH_MODEL": ""})
    assert rc == 2 and message in out, out


def test_repeated_model_flag_serves_each(models):
    s = Server(["--model", str(models["tiny_a"]), "--model", str(models["tiny_b"]),
                "--kv-cache-bytes=64MiB", "--swap-space=0", "--threads=2"],
               env={"HEARTH_MODEL": ""})
    try:
        assert [c.name for c in s.client.list_models()] == ["tiny-a", "tiny-b"]
        assert greedy_grpc(s, "tiny-b", "x") is not None
    finally:
        s.stop()
