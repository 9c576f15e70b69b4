"""Hearth's quantizers against gguf-py 0.19 (the independent reference).

- Q4_0, Q4_1, Q8_0, F16, BF16: gguf.quants.quantize implements them; Hearth's bytes must be
  identical, on data chosen to hit the rounding edges (exact .5 ties, zeros, blocks of one
  value, tiny and huge magnitudes, real weights from the default model).
- Q4_K, Q5_K, Q6_K: gguf-py 0.19 only dequantizes them. Hearth's blocks are decoded by
  gguf.quants.dequantize (an independent decoder, so a wrong packing shows up as a large
  error) and the error must be within the type's expected bound.
"""
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q
from gguf import GGUFReader
from gguf.quants import dequantize, quantize

BINARY_DIR = Path(os.environ.get("HEARTH_BINARY_DIR", "build"))
MODEL = Path(os.environ.get("HEARTH_DEFAULT_MODEL", "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
TOOL = BINARY_DIR / "tests" / "engine" / "quant" / "quantize_tool"


def hearth_quantize(x, qtype, tmp_path):
    assert TOOL.exists(), f"{TOOL} not built (cmake --build <dir> --target quantize_tool)"
    x = np.ascontiguousarray(x, dtype=np.float32)
    src, dst = tmp_path / "in.f32", tmp_path / "out.bin"
    x.tofile(src)
    subprocess.run([str(TOOL), qtype.name, str(x.shape[-1]), str(src), str(dst)], check=True,
                   timeout=120)
    return np.fromfile(dst, dtype=np.uint8)


def datasets():
    rng = np.random.default_rng(1234)
    yield "gaussian", rng.standard_normal((64, 512)).astype(np.float32)
    yield "uniform", rng.uniform(-3, 3, (16, 512)).astype(np.float32)
    # Values on a grid of halves: x / d lands exactly on .5 for many elements (ties).
    yield "half_grid", (rng.integers(-16, 17, (16, 512)) * 0.5).astype(np.float32)
    yield "quarter_grid", (rng.integers(-60, 61, (16, 512)) * 0.25).astype(np.float32)
    z = rng.standard_normal((8, 512)).astype(np.float32)
    z[:, :64] = 0.0            # all-zero blocks
    z[:, 64:96] = 1.5          # constant blocks
    z[:, 96:128] = -2.0
    z[:, 128:160] *= 1e-6      # tiny
    z[:, 160:192] *= 1e4       # huge for fp16 scales
    yield "edges", z
    yield "positive", np.abs(rng.standard_normal((8, 512))).astype(np.float32)


def model_rows():
    """Real weights: a few rows of the default model's tensors, dequantized by gguf-py."""
    reader = GGUFReader(MODEL)
    by_name = {t.name: t for t in reader.tensors}
    rows = []
    for name in ["blk.0.attn_q.weight", "blk.3.ffn_down.weight", "token_embd.weight"]:
        w = np.asarray(dequantize(by_name[name].data, by_name[name].tensor_type), np.float32)
        w = w.reshape(-1, w.shape[-1])
        cols = w.shape[-1] // 256 * 256
        rows.append(w[:64, :cols] if cols == w.shape[-1] else w[:64, :256])
    return rows


EXACT_TYPES = [Q.Q4_0, Q.Q4_1, Q.Q8_0, Q.F16, Q.BF16]


@pytest.mark.parametrize("qtype", EXACT_TYPES, ids=lambda t: t.name)
def test_bytes_equal_gguf_py(qtype, tmp_path):
    cases = list(datasets()) + [(f"model{i}", r) for i, r in enumerate(model_rows())]
    for name, x in cases:
        want = np.asarray(quantize(x, qtype)).view(np.uint8).ravel()
        got = hearth_quantize(x, qtype, tmp_path)
        assert got.size == want.size, f"{name}: {got.size} bytes, gguf-py {want.size}"
        bad = np.flatnonzero(got != want)
        assert bad.size == 0, (f"{qtype.name} {name}: {bad.size} of {got.size} bytes differ, "
                               f"first at byte {bad[0]}: ours {got[bad[0]]} gguf-py {want[bad[0]]}")


# Relative RMS error bound per type on Gaussian rows (the C++ quantize_test has the same
# table with its reasoning).
K_BOUNDS = {Q.Q4_K: 0.079, Q.Q5_K: 0.040, Q.Q6_K: 0.0195}


@pytest.mark.parametrize("qtype", list(K_BOUNDS), ids=lambda t: t.name)
def test_k_quants_decode_with_gguf_py_within_bound(qtype, tmp_path):
    rng = np.random.default_rng(99)
    x = rng.standard_normal((128, 1024)).astype(np.float32)
    blocks = hearth_quantize(x, qtype, tmp_path).reshape(128, -1)
    y = np.asarray(dequantize(blocks, qtype), np.float32).reshape(x.shape)
    rel = np.sqrt(np.mean((x - y) ** 2) / np.mean(x ** 2))
    assert rel < K_BOUNDS[qtype], f"{qtype.name}: relative RMS error {rel:.4f}"
    # Per block, no value is off by more than a few of its sub-block's steps (a wrong nibble
    # or scale packing would put whole sub-blocks far off).
    worst = np.max(np.abs(x - y)) / np.sqrt(np.mean(x ** 2))
    assert worst < 0.5, f"{qtype.name}: worst element error {worst:.3f} of the rms"


@pytest.mark.parametrize("qtype", list(K_BOUNDS), ids=lambda t: t.name)
def test_k_quants_real_weights(qtype, tmp_path):
    for i, x in enumerate(model_rows()):
        blocks = hearth_quantize(x, qtype, tmp_path).reshape(x.shape[0], -1)
        y = np.asarray(dequantize(blocks, qtype), np.float32).reshape(x.shape)
        rel = np.sqrt(np.mean((x - y) ** 2) / np.mean(x ** 2))
        # Real weights are heavier-tailed than a Gaussian; allow 1.5x the Gaussian bound.
        assert rel < 1.5 * K_BOUNDS[qtype], f"{qtype.name} model rows {i}: {rel:.4f}"
