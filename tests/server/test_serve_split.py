"""`hearth serve` with its layers split over CPU stages: the same greedy tokens as the unsplit
server, ModelInfo and the metrics report each stage and the capacity set by the smallest one,
and a split that does not cover the layers stops the server with exit code 2 naming the key."""

import re
import urllib.request

import pytest

from conftest import SMALL_SERVER, Server, run_cli

PROMPTS = ["The capital of France is", "def fibonacci(n):", "Once upon a time", "1, 2, 3, 5, 8,"]
# One block of 16 tokens of fp16 K/V over n layers of SmolLM2 (3 K/V heads x 64).
def block_bytes(layers):
    return layers * 2 * 16 * 192 * 2


def greedy(server, prompt):
    return [t for m in server.client.generate(text=prompt, max_tokens=24, temperature=0)
            for t in m.token_ids]


@pytest.fixture(scope="module")
def unsplit():
    s = Server(SMALL_SERVER)
    yield s
    s.stop()


def test_split_serves_the_unsplit_tokens(unsplit):
    split = Server([*SMALL_SERVER, "--devices=cpu:0-3:threads=1,cpu:4-20,cpu:21-29:threads=1"])
    try:
        for prompt in PROMPTS:
            assert greedy(split, prompt) == greedy(unsplit, prompt), prompt
        info = split.client.model_info()
        assert [(s.device, s.first_layer, s.last_layer) for s in info.stages] == [
            ("cpu", 0, 3), ("cpu", 4, 20), ("cpu", 21, 29)]
        assert info.kv_cache_total_blocks == 182  # 64 MiB over all 30 layers, as unsplit
        assert [s.kv_cache_bytes for s in info.stages] == [
            182 * block_bytes(n) for n in (4, 17, 9)]
        assert any("model SmolLM2-135M-Instruct.Q4_1 on cpu[0-3] + cpu[4-20] + cpu[21-29]" in line
                   for line in split.lines), split.output()
    finally:
        split.stop()


def test_a_stage_budget_sets_the_capacity():
    s = Server(["--swap-space=0", "--threads=2", "--devices=cpu:0-9:memory=40MiB,cpu:10-29"])
    try:
        info = s.client.model_info()
        first, second = info.stages
        assert first.limits_capacity and not second.limits_capacity
        blocks = first.kv_available_bytes // block_bytes(10)
        assert 0 < blocks < 1000
        assert info.kv_cache_total_blocks == blocks
        assert info.kv_cache_capacity_tokens == 16 * blocks
        assert first.kv_cache_bytes == blocks * block_bytes(10)
        assert second.kv_cache_bytes == blocks * block_bytes(20)
        # The metrics say the same.
        text = urllib.request.urlopen(s.metrics_url + "/metrics", timeout=10).read().decode()
        m = re.search(r'hearth:build_info\{[^}]*num_gpu_blocks="(\d+)"', text)
        assert m and int(m.group(1)) == blocks, text[:2000]
        # And it serves.
        assert len(greedy(s, PROMPTS[0])) == 24
    finally:
        s.stop()


@pytest.mark.parametrize("devices,message", [
    ("cpu:0-9,cpu:11-29", "starts at layer 11, expected 10"),
    ("cpu:0-30", "past the model's last layer 29"),
    ("cuda:0:0-29", "cuda:0, which this host does not have"),
    ("cpu:0-9:memory=1MiB,cpu:10-29", "its weights take"),
])
def test_bad_splits_exit_2_naming_the_key(devices, message):
    rc, out = run_cli([*SMALL_SERVER, f"--devices={devices}"])
    assert rc == 2, out
    assert "devices" in out and message in out, out
