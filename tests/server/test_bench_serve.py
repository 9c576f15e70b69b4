"""`hearth bench-serve` against a live `hearth serve`: the JSON report's accounting, its
percentiles recomputed with numpy from the per-request timings, and the KV cache left empty."""

import json
import subprocess

import numpy as np
import pytest

from conftest import DEFAULT_MODEL, HEARTH, wait_kv_free

KEYS = {"mode", "concurrency", "rate", "num_requests", "completed", "failed", "duration_s",
        "prompt_tokens", "output_tokens", "requests_per_s", "output_tokens_per_s",
        "total_tokens_per_s", "ttft_s", "itl_s", "tpot_s", "e2e_s", "errors", "requests"}


def bench(*args, timeout=120):
    p = subprocess.run([HEARTH, "bench-serve", *args], capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def check_dist(dist, values):
    values = np.asarray(values)
    assert dist["count"] == len(values)
    assert dist["p50"] <= dist["p90"] <= dist["p99"] <= dist["max"]
    for q in (50, 90, 99):
        assert dist[f"p{q}"] == pytest.approx(np.percentile(values, q), rel=1e-6, abs=1e-9)
    assert dist["mean"] == pytest.approx(values.mean(), rel=1e-6, abs=1e-9)


def test_closed_loop_report(server, tmp_path):
    out = tmp_path / "out.json"
    rc, stdout, err = bench("--address", server.target, "--concurrency", "4", "--num_requests",
                            "8", "--prompt_len", "8:24", "--output_len", "6", "--seed", "5",
                            "--json", str(out))
    assert rc == 0, stdout + err
    r = json.loads(out.read_text())
    assert KEYS <= set(r)
    assert (r["mode"], r["concurrency"], r["num_requests"]) == ("grpc", 4, 8)
    assert (r["completed"], r["failed"], r["errors"]) == (8, 0, [])
    assert r["output_tokens"] == 8 * 6
    reqs = r["requests"]
    assert [q["index"] for q in reqs] == list(range(8))
    assert all(q["ok"] and q["output_tokens"] == 6 and len(q["itl_s"]) == 5 for q in reqs)
    assert all(8 <= q["prompt_tokens"] <= 24 for q in reqs)
    assert r["prompt_tokens"] == sum(q["prompt_tokens"] for q in reqs)
    # Times: 0 <= ttft <= e2e; the gaps add up to (last token - first token) <= e2e - ttft.
    for q in reqs:
        assert 0 < q["ttft_s"] <= q["e2e_s"]
        assert sum(q["itl_s"]) <= q["e2e_s"] - q["ttft_s"] + 1e-6
    check_dist(r["ttft_s"], [q["ttft_s"] for q in reqs])
    check_dist(r["e2e_s"], [q["e2e_s"] for q in reqs])
    check_dist(r["itl_s"], [g for q in reqs for g in q["itl_s"]])
    duration = max(q["start_s"] + q["e2e_s"] for q in reqs)
    assert r["duration_s"] == pytest.approx(duration)
    assert r["output_tokens_per_s"] == pytest.approx(48 / duration, rel=1e-6)
    assert r["total_tokens_per_s"] == pytest.approx((48 + r["prompt_tokens"]) / duration, rel=1e-6)
    assert "output tokens/s" in stdout and "p99" in stdout
    waited, info = wait_kv_free(server.client)
    assert waited is not None, info


def test_open_loop_poisson(server, tmp_path):
    out = tmp_path / "open.json"
    rc, stdout, err = bench("--address", server.target, "--rate", "50", "--num_requests", "6",
                            "--prompt_len", "4:8", "--output_len", "2:4", "--seed", "3",
                            "--json", str(out))
    assert rc == 0, stdout + err
    r = json.loads(out.read_text())
    assert (r["mode"], r["concurrency"], r["rate"], r["completed"]) == ("grpc", 0, 50, 6)
    # Seeded Poisson arrivals: increasing, and each request sent at (not before) its arrival.
    arrivals = [q["arrival_s"] for q in r["requests"]]
    assert arrivals == sorted(arrivals) and arrivals[0] > 0 and len(set(arrivals)) == 6
    assert all(q["start_s"] >= q["arrival_s"] - 1e-6 for q in r["requests"])
    assert all(2 <= q["output_tokens"] <= 4 for q in r["requests"])
    assert r["output_tokens"] == sum(q["output_tokens"] for q in r["requests"])
    assert wait_kv_free(server.client)[0] is not None


def test_offline_mode_same_report(tmp_path):
    out = tmp_path / "offline.json"
    rc, stdout, err = bench("--offline", "--concurrency", "2", "--num_requests", "3",
                            "--prompt_len", "8", "--output_len", "4", "--json", str(out), "--",
                            f"--model={DEFAULT_MODEL}", "--kv-cache-bytes=64MiB", "--threads=2")
    assert rc == 0, stdout + err
    r = json.loads(out.read_text())
    assert (r["mode"], r["completed"], r["output_tokens"], r["prompt_tokens"]) == \
        ("offline", 3, 12, 24)


@pytest.mark.parametrize("args,message", [
    (["--concurrency", "0"], "--concurrency must be in [1, 1024]"),
    (["--rate", "2", "--concurrency", "2"], "give --concurrency (closed loop) or --rate"),
    (["--prompt_len", "9:3"], "--prompt_len: want MIN:MAX"),
    (["--output_len", "x"], "--output_len: want MIN:MAX"),
    (["--frob"], "unknown flag --frob"),
    (["--", "--threads=2"], "serve flags after -- need --offline"),
])
def test_bad_flags(args, message):
    rc, _, err = bench(*args)
    assert rc == 2 and message in err, err


def test_unreachable_server():
    rc, _, err = bench("--address", "127.0.0.1:1", "--num_requests", "1")
    assert rc == 1 and "ModelInfo on 127.0.0.1:1 failed: UNAVAILABLE" in err, err
