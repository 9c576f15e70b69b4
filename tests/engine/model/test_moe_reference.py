"""Mixtures of experts: the C++ forward pass (tests/engine/model/forward_dump) on tiny synthetic
Mixtral-layout llama files and a qwen2moe one (synthetic_models.MOE_SPECS: 4 or 8 experts, top-2,
F32 / Q8_0 / Q4_K / Q6_K, the 3-D and the per-expert tensor layouts) against the independent
NumPy reference (reference_forward.py, whose MoE is written from the published routing rule).

The three parts of the dense synthetic models' test (test_forward_reference.py), its bounds:
  1. f32 activation precision vs the float64 reference: argmax at every prompt position and the
     greedy continuation identical, logits within SYNTH_F32_BOUND.
  2. q8 precision (float32 K/V) vs the reference emulating the 8-bit activation scheme.
  3. q8 with the default fp16 K/V vs the emulating reference storing fp16 K/V.
A routing decision is as discrete as an argmax: where two implementations pick different experts
for a token, its output moves by a whole expert's contribution. That is why q8 is compared with
the reference emulating its 8-bit activations (the same router logits to ~1e-6, so the same
routes), and not with the plain float reference (where logits ~1e-2 apart swap: measured on these
models, logit errors up to 2.8 after such a swap). Measured: f32 precision 7e-6..2e-5; q8 vs the
emulation 0 on most prompts (one 8-bit rounding flip: 0.10); fp16 K/V 8e-4 (F32) and
0.08..0.12.
"""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import synthetic_models as sm  # noqa: E402
from reference_forward import ReferenceModel  # noqa: E402
from test_forward_reference import (EMUL_BOUND, EMUL_EXACT, EMUL_EXACT_PROMPTS,  # noqa: E402
                                    FLOAT_BOUND, QUANT_FLOAT_BOUND, SYNTH_F32_BOUND, TIE, compare,
                                    compare_exact, run_dump, synthetic_prompts)



@pytest.mark.parametrize("spec", sm.MOE_SPECS, ids=[s.name for s in sm.MOE_SPECS])
def test_moe_model_matches_reference(spec, tmp_path):
    path = tmp_path / f"{spec.name}.gguf"
    sm.write_model(str(path), spec)
    prompts = synthetic_prompts(spec.vocab)
    new = 16
    ref = ReferenceModel(str(path), dtype=np.float64)
    assert ref.n_expert == spec.experts and ref.n_expert_used == spec.experts_used

    # Part 1: f32 precision, exact discrete outputs vs the float64 reference.
    f32_dir = tmp_path / "f32"
    f32_dir.mkdir()
    f32_logits, f32_greedy = run_dump(path, prompts, f32_dir, new=new, chunk=4, precision="f32")
    compare_exact(ref, prompts, f32_logits, f32_greedy, new, SYNTH_F32_BOUND, spec.name + " f32")

    # Part 2: q8 precision (default), float32 K/V, whole prompts in one step (the batched path:
    # every expert sees several tokens at once), vs the reference emulating the 8-bit activation
    # scheme. (Not vs the plain float reference: 8-bit activations move the router's logits by
    # ~1e-2, enough to swap experts whose logits are that close, which is a discrete change of
    # the token's output; the emulation computes the same logits, so its routes are the same.)
    cpp_logits, cpp_greedy = run_dump(path, prompts, tmp_path, new=new, kv_dtype="f32")
    float_bound = FLOAT_BOUND.get(spec.wtype.name, QUANT_FLOAT_BOUND)
    emul = ReferenceModel(str(path), dtype=np.float64, act_quant=True)
    errors = []
    worst, ties = compare(emul, prompts, cpp_logits, cpp_greedy, new, min(EMUL_BOUND, float_bound),
                          EMUL_BOUND, spec.name + " act_quant", errors)
    assert ties == 0 or worst > 1e-3, "a near-tie with a float-exact model means a real bug"
    exact, start = 0, 0
    for prompt in prompts:
        exact += max(errors[start:start + len(prompt)]) <= EMUL_EXACT
        start += len(prompt)
    assert exact >= EMUL_EXACT_PROMPTS * len(prompts), (
        f"{spec.name}: only {exact} of {len(prompts)} prompts match the act_quant reference to "
        f"{EMUL_EXACT} at every position")

    # Part 3: the defaults (q8, fp16 K/V; prompts in chunks of 5) vs the emulating reference that
    # also stores K/V as fp16.
    f16_dir = tmp_path / "kv_f16"
    f16_dir.mkdir()
    kv16_logits, kv16_greedy = run_dump(path, prompts, f16_dir, new=new, chunk=5)
    ref16 = ReferenceModel(str(path), dtype=np.float64, act_quant=True, kv_f16=True)
    # Float-type weights: the dense models' bound (measured 8.2e-4); quantized: EMUL_BOUND
    # (measured 0.08..0.12: fp16 K/V flips some 8-bit rounding boundaries).
    kv16_bound = FLOAT_BOUND.get(spec.wtype.name, EMUL_BOUND)
    compare(ref16, prompts, kv16_logits, kv16_greedy, new, kv16_bound, TIE,
            spec.name + " act_quant, fp16 KV")


def test_moe_chunking_threads_and_stages_do_not_change_logits(tmp_path):
    """The batched path (whole prompts: up to 24 tokens share an expert), the decode-like path
    (chunks of 1 token, 1 thread) and the layers split over two CPU stages give bitwise the same
    logits and greedy tokens."""
    spec = sm.MOE_SPECS[2]  # Q4_K, 8 experts
    path = tmp_path / "m.gguf"
    sm.write_model(str(path), spec)
    prompts = synthetic_prompts(spec.vocab)
    whole, g1 = run_dump(path, prompts, tmp_path, new=8)
    sub = tmp_path / "chunked"
    sub.mkdir()
    chunked, g2 = run_dump(path, prompts, sub, new=8, chunk=1, threads=1)
    for a, b in zip(whole, chunked):
        assert np.array_equal(a, b), "token-by-token prefill changed the MoE logits"
    assert g1 == g2
    split_dir = tmp_path / "split"
    split_dir.mkdir()
    split, g3 = run_dump(path, prompts, split_dir, new=8, chunk=7, devices="cpu:0-0,cpu:1-1")
    for a, b in zip(whole, split):
        assert np.array_equal(a, b), "splitting the layers over two stages changed the logits"
    assert g1 == g3
