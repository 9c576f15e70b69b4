"""A mixture of experts served end to end: `hearth serve` on a tiny synthetic Mixtral-layout
model (8 experts, top-2, Q8_0; tests/engine/model/synthetic_models.py) generates, ModelInfo reports
the parameter count and the active (per-token) count, and `hearth devices --model` prints the
same; both counted here from the GGUF file with the gguf package."""

import os
import re
import subprocess
import sys

import pytest
from gguf import GGUFReader

from conftest import HEARTH, SMALL_SERVER, Server, clean_env

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../engine/model"))
import synthetic_models as sm  # noqa: E402

SPEC = sm.Spec("served_moe", "llama", sm.Q.Q8_0, ffn=256, experts=8, experts_used=2,
               tokenizer=True, seed=31)


def counts(path):
    """(total, active) parameters: every tensor; all but 6 of the 8 experts' slices per layer."""
    reader = GGUFReader(path)
    total = sum(int(t.n_elements) for t in reader.tensors)
    experts = sum(int(t.n_elements) for t in reader.tensors if re.search(r"ffn_\w+_exps", t.name))
    return total, total - experts * (SPEC.experts - SPEC.experts_used) // SPEC.experts


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("moe") / "served_moe.gguf")
    sm.write_model(path, SPEC)
    return path


def test_serve_generates_and_reports_active_parameters(model):
    total, active = counts(model)
    assert active < total / 2  # 2 of 8 experts: most parameters are idle per token
    s = Server(SMALL_SERVER, env={"HEARTH_MODEL": model})
    try:
        info = s.client.model_info()
        assert info.model.architecture == "llama" and info.model.quant_type == "Q8_0"
        assert info.parameter_count == total
        assert info.active_parameter_count == active
        tokens = [t for m in s.client.generate(token_ids=[1, 300 - 7, 42, 77], max_tokens=12,
                                               temperature=0, ignore_eos=True)
                  for t in m.token_ids]
        assert len(tokens) == 12 and all(0 <= t < SPEC.vocab for t in tokens)
    finally:
        s.stop()


def test_devices_reports_total_and_active_parameters(model):
    total, active = counts(model)
    p = subprocess.run([HEARTH, "devices", "--model", model], capture_output=True, text=True,
                       env=clean_env(), timeout=60)
    assert p.returncode == 0, p.stderr
    line = next(l for l in p.stdout.splitlines() if "parameters:" in l)
    numbers = [int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*(?= \()", line)]
    assert numbers == [total, active], line
    assert "2 of 8 experts per token" in line
    bad = subprocess.run([HEARTH, "devices", "--model", model + ".missing"], capture_output=True,
                         text=True, env=clean_env(), timeout=60)
    assert bad.returncode == 1 and ".missing" in bad.stderr
