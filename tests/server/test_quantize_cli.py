"""`hearth quantize` on the default model, checked with gguf-py (the independent reader,
dequantizers and quantizers).

The default model is Q4_1/Q8_0, so the F32 "source" here is its lossless dequantization
(`--type f32`, itself checked bit for bit against gguf-py's dequantize). From it:
  q8_0 / q4_0 / q4_1: every quantized tensor's bytes equal gguf.quants.quantize of the F32
                      tensor (gguf-py implements these types);
  q4_k / q5_k / q6_k: gguf-py can only dequantize them: each K tensor decodes within the type's
                      error bound; fallback tensors (576-wide rows) equal gguf-py's bytes.
Every output keeps the source's metadata (general.file_type updated), follows the tensor-type
rules of engine/convert/quantize_plan.h, and loads and generates in Hearth. (Thread-count
invariance and the rules on other shapes are tests/engine/convert/quantize_plan_test.cc.)
"""
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q
from gguf import GGUFReader, GGUFValueType
from gguf.quants import dequantize, quantize

from conftest import DEFAULT_MODEL, HEARTH

FILE_TYPE = {"f32": 0, "q8_0": 7, "q4_0": 2, "q4_1": 3, "q4_k": 14, "q5_k": 16, "q6_k": 18}
TARGET = {"q8_0": Q.Q8_0, "q4_0": Q.Q4_0, "q4_1": Q.Q4_1, "q4_k": Q.Q4_K, "q5_k": Q.Q5_K,
          "q6_k": Q.Q6_K}
FALLBACK = {Q.Q4_K: Q.Q4_1, Q.Q5_K: Q.Q8_0, Q.Q6_K: Q.Q8_0}
# Relative RMS error bounds of the K types on these weights (Gaussian-row bounds of
# tests/engine/quant/quantize_test.cc, x1.5 for heavier-tailed real weights).
K_BOUND = {Q.Q4_K: 0.12, Q.Q5_K: 0.06, Q.Q6_K: 0.03}
SAMPLE = ["blk.0.attn_q.weight", "blk.0.ffn_down.weight",
          "blk.7.attn_v.weight", "blk.29.ffn_up.weight", "blk.29.ffn_down.weight"]


def run_quantize(*args, check=True):
    proc = subprocess.run([HEARTH, "quantize", *map(str, args)], capture_output=True, text=True,
                          timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def fields(reader):
    out = {}
    for key, f in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        if f.types[0] == GGUFValueType.ARRAY:
            out[key] = (tuple(f.types), [bytes(f.parts[i]) for i in f.data])
        else:
            out[key] = (tuple(f.types), bytes(f.parts[f.data[0]]))
    return out


def as_f32(tensor):
    return np.asarray(dequantize(tensor.data, tensor.tensor_type), np.float32).reshape(
        tensor.data.shape[:-1] + (-1,))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("quantize")


@pytest.fixture(scope="module")
def f32(workdir):
    out = workdir / "f32.gguf"
    proc = run_quantize(DEFAULT_MODEL, out, "--type", "f32")
    # Dequantizing a quantized source is lossless: no requantization warning.
    assert "warning" not in proc.stderr
    return out


@pytest.fixture(scope="module")
def outputs(workdir, f32):
    paths = {}
    for name in TARGET:
        paths[name] = workdir / f"{name}.gguf"
        run_quantize(f32, paths[name], "--type", name, "--quiet")
    return paths


def test_f32_is_the_exact_dequantization(f32):
    src, out = GGUFReader(DEFAULT_MODEL), GGUFReader(f32)
    want, got = fields(src), fields(out)
    assert list(got) == list(want)  # same keys, same order
    for key in want:
        if key == "general.file_type":
            assert out.fields[key].parts[-1][0] == 0
        else:
            assert got[key] == want[key], key
    assert [t.name for t in out.tensors] == [t.name for t in src.tensors]
    for s, o in zip(src.tensors, out.tensors):
        assert o.tensor_type == Q.F32, o.name
        assert list(o.shape) == list(s.shape), o.name
        np.testing.assert_array_equal(np.asarray(o.data).ravel(), as_f32(s).ravel(), o.name)


def expected_type(name, shape, target):
    """The rules of engine/convert/quantize_plan.h for SmolLM2 (tied embeddings)."""
    if len(shape) < 2:
        return Q.F32
    cols = int(shape[0])
    if name == "token_embd.weight":  # the LM head (tied): Q6_K, or Q8_0 for 576-wide rows
        return Q.Q8_0 if cols % 256 else (Q.Q8_0 if target == Q.Q8_0 else Q.Q6_K)
    if target in FALLBACK and cols % 256:
        return FALLBACK[target]
    return target


@pytest.mark.parametrize("name", list(TARGET))
def test_types_metadata_and_values(name, f32, outputs):
    target = TARGET[name]
    src, out = GGUFReader(f32), GGUFReader(outputs[name])
    want, got = fields(src), fields(out)
    assert [k for k in got if k in want] == list(want)  # every key kept, in order
    assert set(got) - set(want) <= {"general.quantization_version"}
    for key in want:
        if key != "general.file_type":
            assert got[key] == want[key], key
    assert out.fields["general.file_type"].parts[-1][0] == FILE_TYPE[name]
    assert out.fields["general.quantization_version"].parts[-1][0] == 2
    by_name = {t.name: t for t in src.tensors}
    seen = set()
    for t in out.tensors:
        want_type = expected_type(t.name, t.shape, target)
        assert t.tensor_type == want_type, f"{t.name}: {t.tensor_type.name} != {want_type.name}"
        seen.add(t.tensor_type)
        # The byte / error checks on a sample (token_embd, 28M values, is Q8_0 in every output:
        # checked once).
        sampled = t.name in SAMPLE or (t.name == "token_embd.weight" and name == "q8_0")
        if not sampled and len(t.shape) >= 2:
            continue
        x = np.asarray(by_name[t.name].data, np.float32)
        if t.tensor_type in (Q.F32, Q.Q8_0, Q.Q4_0, Q.Q4_1):
            ref = np.asarray(quantize(x, t.tensor_type)).view(np.uint8).ravel()
            assert np.array_equal(np.asarray(t.data).view(np.uint8).ravel(), ref), t.name
        else:
            y = as_f32(t)
            rel = np.sqrt(np.mean((x - y) ** 2) / np.mean(x ** 2))
            assert rel < K_BOUND[t.tensor_type], f"{t.name}: relative RMS error {rel:.4f}"
    if target in FALLBACK:
        assert target in seen and FALLBACK[target] in seen  # ffn_down (1536) vs 576-wide rows


@pytest.mark.parametrize("name", ["q4_k", "q6_k", "q8_0"])
def test_hearth_loads_and_generates(name, outputs):
    proc = subprocess.run([HEARTH, "generate", "--model", str(outputs[name]), "--prompt",
                           "The capital of France is", "--temperature", "0", "--max_tokens", "8"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.strip()) > len("The capital of France is"), proc.stdout


def test_requantizing_warns_and_progress_is_reported(workdir):
    out = workdir / "requant.gguf"
    proc = run_quantize(DEFAULT_MODEL, out, "--type", "q8_0")
    assert "warning" in proc.stderr and "re-quantized" in proc.stderr, proc.stderr
    assert "Q4_1" in proc.stderr
    # Not a terminal: a progress line per 10%, ending at 100%.
    assert "100%  272/272" in proc.stderr
    assert "wrote" in proc.stdout
    out.unlink()


def test_pure_and_overrides(workdir, f32):
    proc = run_quantize(f32, workdir / "x.gguf", "--type", "q4_0", "--pure", "--dry-run")
    assert "token_embd.weight" in proc.stdout
    line = next(l for l in proc.stdout.splitlines() if l.startswith("token_embd.weight"))
    assert "-> Q4_0" in line, line
    proc = run_quantize(f32, workdir / "x.gguf", "--type", "q4_0", "--token-embedding-type=q8_0",
                        "--dry-run")
    line = next(l for l in proc.stdout.splitlines() if l.startswith("token_embd.weight"))
    assert "-> Q8_0" in line and "--token-embedding-type" in line, line
    assert not (workdir / "x.gguf").exists()  # --dry-run writes nothing


def test_errors(workdir, f32):
    cases = [
        ([workdir / "missing.gguf", workdir / "o.gguf", "--type", "q4_k"], 1, "missing.gguf"),
        ([f32, workdir / "o.gguf", "--type", "q3_k"], 2, "q4_k"),  # lists the valid types
        ([f32, workdir / "o.gguf"], 2, "--type is required"),
        ([f32, "--type", "q4_k"], 2, "IN.gguf and OUT.gguf"),
        ([f32, workdir / "o.gguf", "--type", "q4_k", "--bogus"], 2, "unknown flag --bogus"),
        ([f32, workdir / "o.gguf", "--type", "q4_k", "--threads", "0"], 2, "--threads"),
        ([f32, workdir / "no-such-dir" / "o.gguf", "--type", "q4_k"], 1, "no-such-dir"),
        ([f32, f32, "--type", "q4_k"], 1, "is the input file"),
    ]
    not_gguf = workdir / "not.gguf"
    not_gguf.write_bytes(b"this is not a gguf file at all" * 10)
    cases.append(([not_gguf, workdir / "o.gguf", "--type", "q4_k"], 1, "magic"))
    for args, code, message in cases:
        proc = run_quantize(*args, check=False)
        assert proc.returncode == code, (args, proc.stderr)
        assert message in proc.stderr, (args, proc.stderr)
        assert not (workdir / "o.gguf").exists()
    assert not list(workdir.glob("*.tmp")), "a failed run left its temporary file"
    # The input survives a refused in-place run.
    assert GGUFReader(f32).tensors[0].tensor_type == Q.F32
