"""The C++ CPU forward pass (through tests/engine/model/forward_dump) against the independent
NumPy reference (reference_forward.py: gguf reader + numpy only).

Part 1, the f32 activation precision (--precision f32; engine/cpu/kernels/matmul.h): the C++
computes the float model (weights dequantized exactly, float activations), so it must match
the float reference EXACTLY in the discrete outputs: argmax equal at every prompt position and
greedy continuations identical token for token, no near-tie allowance; logits within a tight
bound (float32 summation order only).

Part 2, the default q8 activation precision. Two references:
  * float: the plain model. The C++ quantizes activations to 8 bits before every product
    with a quantized weight, so logits differ by a bounded amount (measured, bounds below).
  * act_quant: the reference emulating the documented 8-bit activation scheme; on the small
    synthetic models this makes float-type models agree to ~1e-5 and quantized ones to ~0.05
    (rounding-boundary flips), so bugs cannot hide inside the quantization noise.
Part 2 runs with float32 K/V (--kv-dtype f32), so its bounds measure the activation scheme
alone. Part 3 runs the real default, q8 with the fp16 KV cache (--kv-dtype auto), against the
float reference with K/V rounded to float16 as stored (kv_f16=True), under Part 2's float bounds.
(fp16 K/V moves logits by ~5e-3 on the float-type models and flips 8-bit rounding boundaries on
the quantized ones, so the act_quant bound is not applied to it.)
Argmax and greedy checks are strict, except at a reference near-tie: a differing token must be
within `tie` of the reference's best logit (then the greedy comparison stops, since the
continuations legitimately diverge). Each such tie is printed.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import synthetic_models as sm  # noqa: E402
from reference_forward import ReferenceModel  # noqa: E402

BIN = os.path.join(os.environ.get("HEARTH_BINARY_DIR", "build"), "tests/engine/model/forward_dump")
DEFAULT_MODEL = os.environ.get("HEARTH_DEFAULT_MODEL", "models/SmolLM2-135M-Instruct.Q4_1.gguf")

# SmolLM2 prompts, tokenized once with a tokenizer built from the GGUF vocabulary/merges
# (HF `tokenizers` ByteLevel BPE); the ChatML one uses <|im_start|> = 1, <|im_end|> = 2.
SMOL_PROMPTS = [
    [504, 3575, 282, 4649, 314],  # The capital of France is
    [6403, 1980, 253, 655, 28, 281, 253, 1165, 6560, 28],  # Once upon a time, in a small village,
    [1604, 3987, 46477, 24, 94, 727, 2367],  # def fibonacci(n):\n
    [504, 1296, 3003, 4683, 359],  # The three primary colors are
    [12615, 36411, 418, 253, 2779, 282],  # Water boils at a temperature of
    [1, 4093, 198, 1780, 314, 216, 34, 27, 34, 47, 2, 198, 1, 520, 9531, 198],  # ChatML 2+2
    [788, 216, 33, 36, 41, 34, 28, 18176],  # In 1492, Columbus
    [504, 2365, 6354, 16438, 27003, 690, 260, 23790, 2767, 30, 378, 2365, 6354, 16438],
]


def run_dump(model, prompts, tmp_path, new, chunk=0, threads=2, precision="q8", kv_dtype="auto",
             devices=""):
    ppath = tmp_path / "prompts.txt"
    ppath.write_text("".join(" ".join(map(str, p)) + "\n" for p in prompts))
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    assert os.path.exists(BIN), f"build forward_dump first: {BIN}"
    subprocess.run([BIN, "--model", str(model), "--prompts", str(ppath), "--out", str(out),
                    "--new", str(new), "--chunk", str(chunk), "--threads", str(threads),
                    "--precision", precision, "--kv-dtype", kv_dtype]
                   + (["--devices", devices] if devices else []),
                   check=True, timeout=300)
    logits = np.load(out / "prompt_logits.npy")
    greedy = [list(map(int, line.split())) for line in (out / "greedy.txt").read_text().splitlines()]
    per_prompt, off = [], 0
    for p in prompts:
        per_prompt.append(logits[off:off + len(p)])
        off += len(p)
    assert off == logits.shape[0]
    return per_prompt, greedy


def ref_greedy(ref, prompt, new):
    """ref.greedy, memoized on the reference object (the SmolLM2 runs are the slow part)."""
    memo = ref.__dict__.setdefault("_greedy_memo", {})
    key = (tuple(prompt), new)
    if key not in memo:
        memo[key] = ref.greedy(prompt, new)
    return memo[key]


def compare_exact(ref, prompts, cpp_logits, cpp_greedy, new, bound, label):
    """f32 precision: logits within `bound`, argmax equal everywhere, greedy identical."""
    worst, min_gap = 0.0, np.inf
    for i, prompt in enumerate(prompts):
        ref_logits, ref_tokens, _ = ref_greedy(ref, prompt, new)
        err = float(np.abs(cpp_logits[i] - ref_logits).max())
        worst = max(worst, err)
        assert err <= bound, f"{label} prompt {i}: max |logit error| {err:.3g} > {bound}"
        a = cpp_logits[i].argmax(axis=1)
        r = ref_logits.argmax(axis=1)
        assert np.array_equal(a, r), f"{label} prompt {i}: argmax {a.tolist()} vs {r.tolist()}"
        top2 = np.sort(ref_logits, axis=1)[:, -2:]
        min_gap = min(min_gap, float((top2[:, 1] - top2[:, 0]).min()))
        assert cpp_greedy[i] == ref_tokens, (f"{label} prompt {i}: greedy C++ {cpp_greedy[i]} "
                                             f"vs reference {ref_tokens}")
    print(f"{label}: max |logit error| {worst:.3g} (bound {bound}), argmax and {new}-token "
          f"greedy identical; smallest prompt top-2 gap {min_gap:.3g}")
    return worst


def compare(ref, prompts, cpp_logits, cpp_greedy, new, bound, tie, label, errors=None):
    """Asserts the bounds; returns (max error, number of near-tie divergences). Appends the
    per-position max errors to `errors` if given."""
    worst, ties = 0.0, 0
    for i, prompt in enumerate(prompts):
        ref_logits, ref_tokens, step_logits = ref_greedy(ref, prompt, new)
        err = np.abs(cpp_logits[i] - ref_logits).max(axis=1)  # per prompt position
        if errors is not None:
            errors.extend(float(e) for e in err)
        worst = max(worst, float(err.max()))
        assert err.max() <= bound, f"{label} prompt {i}: max |logit error| {err.max():.4f} > {bound}"
        for pos in range(len(prompt)):
            a, r = int(cpp_logits[i][pos].argmax()), int(ref_logits[pos].argmax())
            if a != r:
                gap = ref_logits[pos][r] - ref_logits[pos][a]
                assert gap <= tie, f"{label} prompt {i} pos {pos}: argmax {a} vs {r}, gap {gap:.4f}"
                ties += 1
                print(f"{label} prompt {i} pos {pos}: near-tie argmax {a} vs {r} (gap {gap:.4f})")
        got = cpp_greedy[i]
        assert len(got) == new
        for k in range(new):
            if got[k] != ref_tokens[k]:
                gap = step_logits[k][ref_tokens[k]] - step_logits[k][got[k]]
                assert gap <= tie, (f"{label} prompt {i}: greedy token {k} is {got[k]}, reference "
                                    f"{ref_tokens[k]} (gap {gap:.4f}); C++ {got} vs ref {ref_tokens}")
                ties += 1
                print(f"{label} prompt {i}: greedy diverges at a near-tie, step {k} (gap {gap:.4f})")
                break
    print(f"{label}: max |logit error| {worst:.5f} (bound {bound}), near-ties {ties}")
    return worst, ties


# --- the default model ------------------------------------------------------------------------

# Logits span about [-20, 27]. Measured max error ~1.3 vs the float reference: SmolLM2's 30
# layers amplify 8-bit rounding (the float32 and float64 emulated references differ by ~0.8 too).
# Greedy continuations diverge at reference near-ties (measured gaps 0.01..0.22) in most of the
# 8 prompts, so the 64 steps are also checked teacher-forced (below).
SMOL_BOUND = 2.5  # measured 1.72
# Teacher-forced near-tie gaps after vectorizing attention/SiLU: up to 0.51 (19 of 512 steps);
# which steps tie moves with any rounding change, since 8-bit activations amplify it.
SMOL_TIE = 0.6


@pytest.fixture(scope="module")
def smol_ref():
    if not os.path.exists(DEFAULT_MODEL):
        pytest.fail(f"default model missing: {DEFAULT_MODEL}")
    return ReferenceModel(DEFAULT_MODEL, dtype=np.float32)


# f32 precision vs the float32 reference: measured max |logit error| 1.4e-4 over the
# 8 prompts (the two sum in different orders); a bug shows up as >= 0.1.
SMOL_F32_BOUND = 1e-3


def test_default_model_f32_matches_reference_exactly(smol_ref, tmp_path):
    cpp_logits, cpp_greedy = run_dump(DEFAULT_MODEL, SMOL_PROMPTS, tmp_path, new=64,
                                      precision="f32")
    compare_exact(smol_ref, SMOL_PROMPTS, cpp_logits, cpp_greedy, 64, SMOL_F32_BOUND,
                  "SmolLM2 f32")


def test_default_model_f32_chunked_and_threads_bitwise(tmp_path):
    whole, g1 = run_dump(DEFAULT_MODEL, SMOL_PROMPTS[:3], tmp_path, new=8, precision="f32")
    sub = tmp_path / "chunked"
    sub.mkdir()
    chunked, g2 = run_dump(DEFAULT_MODEL, SMOL_PROMPTS[:3], sub, new=8, chunk=3, threads=1,
                           precision="f32")
    for a, b in zip(whole, chunked):
        assert np.array_equal(a, b), "f32: chunked prefill / thread count changed the logits"
    assert g1 == g2


def test_default_model_matches_reference(smol_ref, tmp_path):
    cpp_logits, cpp_greedy = run_dump(DEFAULT_MODEL, SMOL_PROMPTS, tmp_path, new=64)
    compare(smol_ref, SMOL_PROMPTS, cpp_logits, cpp_greedy, 64, SMOL_BOUND, SMOL_TIE, "SmolLM2")

    # Teacher-forced: run prompt + the reference's 64 greedy tokens through the C++ model; at
    # every position its argmax must be the reference's token, or a near-tie (<= 5% of them).
    full = []
    for prompt in SMOL_PROMPTS:
        _, ref_tokens, _ = ref_greedy(smol_ref, prompt, 64)
        full.append(prompt + ref_tokens)
    sub = tmp_path / "forced"
    sub.mkdir()
    forced, _ = run_dump(DEFAULT_MODEL, full, sub, new=1)
    total, ties = 0, 0
    for i, seq in enumerate(full):
        ref_logits = smol_ref.forward(smol_ref.new_cache(), seq)
        err = np.abs(forced[i] - ref_logits).max()
        assert err <= SMOL_BOUND, f"teacher-forced prompt {i}: max |logit error| {err:.4f}"
        for pos in range(len(SMOL_PROMPTS[i]) - 1, len(seq) - 1):
            total += 1
            a, r = int(forced[i][pos].argmax()), seq[pos + 1]
            if a != r:
                gap = ref_logits[pos][r] - ref_logits[pos][a]
                assert gap <= SMOL_TIE, f"prompt {i} step {pos}: {a} vs {r}, gap {gap:.4f}"
                ties += 1
    print(f"SmolLM2 teacher-forced: {total - ties}/{total} greedy steps equal, {ties} near-ties")
    assert ties <= 0.05 * total


def test_default_model_chunked_prefill_matches_whole(tmp_path):
    whole, g1 = run_dump(DEFAULT_MODEL, SMOL_PROMPTS[:3], tmp_path, new=8)
    sub = tmp_path / "chunked"
    sub.mkdir()
    chunked, g2 = run_dump(DEFAULT_MODEL, SMOL_PROMPTS[:3], sub, new=8, chunk=3, threads=1)
    for a, b in zip(whole, chunked):
        assert np.array_equal(a, b), "chunked prefill / thread count changed the logits"
    assert g1 == g2


# --- synthetic models, one per weight type ----------------------------------------------------

# Bounds vs the float reference (logit std ~3), measured max in comments.
FLOAT_BOUND = {"F32": 1e-3, "F16": 1e-3, "BF16": 1e-3}  # ~6e-6: no activation quantization
QUANT_FLOAT_BOUND = 0.8  # measured 0.20..0.39
# vs the act_quant reference: float rounding (~1e-6) at nearly every position; but a value
# within ~1e-7 of an 8-bit rounding boundary can round the other way, and that flip (usually
# stored in the K/V cache) carries into every later position: measured up to 0.14 (session 2,
# two of the 12 models, from one position on). Flips are rare (2 of 36 prompts) while a bug in
# the scheme shows everywhere, so: most prompts exact to EMUL_EXACT at every position, every
# prompt within EMUL_BOUND.
EMUL_BOUND = 0.3
EMUL_EXACT = 1e-4
EMUL_EXACT_PROMPTS = 2 / 3  # share of prompts exact to EMUL_EXACT at every position
TIE = 0.8
SYNTH_F32_BOUND = 1e-4  # f32 precision vs the float64 reference; measured 5e-6..2.5e-5


def synthetic_prompts(vocab):
    rng = np.random.default_rng(1234)
    return [list(map(int, rng.integers(0, vocab, size=n))) for n in (5, 13, 24)]


@pytest.mark.parametrize("spec", sm.SPECS, ids=[s.name for s in sm.SPECS])
def test_synthetic_model_matches_reference(spec, tmp_path):
    path = tmp_path / f"{spec.name}.gguf"
    sm.write_model(str(path), spec)
    prompts = synthetic_prompts(spec.vocab)
    new = 16
    ref = ReferenceModel(str(path), dtype=np.float64)

    # Part 1: f32 precision, exact discrete outputs vs the float64 reference.
    f32_dir = tmp_path / "f32"
    f32_dir.mkdir()
    f32_logits, f32_greedy = run_dump(path, prompts, f32_dir, new=new, chunk=4, precision="f32")
    compare_exact(ref, prompts, f32_logits, f32_greedy, new, SYNTH_F32_BOUND, spec.name + " f32")

    # Part 2: q8 precision (default), float32 K/V.
    cpp_logits, cpp_greedy = run_dump(path, prompts, tmp_path, new=new, chunk=4, kv_dtype="f32")
    float_bound = FLOAT_BOUND.get(spec.wtype.name, QUANT_FLOAT_BOUND)
    compare(ref, prompts, cpp_logits, cpp_greedy, new, float_bound, max(TIE, float_bound),
            spec.name + " float")
    emul = ReferenceModel(str(path), dtype=np.float64, act_quant=True)
    errors = []
    worst, ties = compare(emul, prompts, cpp_logits, cpp_greedy, new,
                          min(EMUL_BOUND, float_bound), EMUL_BOUND, spec.name + " act_quant",
                          errors)
    assert ties == 0 or worst > 1e-3, "a near-tie with a float-exact model means a real bug"
    exact, start = 0, 0
    for prompt in prompts:
        exact += max(errors[start:start + len(prompt)]) <= EMUL_EXACT
        start += len(prompt)
    assert exact >= EMUL_EXACT_PROMPTS * len(prompts), (
        f"{spec.name}: only {exact} of {len(prompts)} prompts match the act_quant reference to "
        f"{EMUL_EXACT} at every position: the 8-bit scheme is not what the reference emulates")

    # Part 3: q8 precision with the default fp16 K/V vs the float reference storing fp16 K/V.
    # Measured: float types 3.5e-4..7.4e-4, quantized 0.19..0.70.
    f16_dir = tmp_path / "kv_f16"
    f16_dir.mkdir()
    kv16_logits, kv16_greedy = run_dump(path, prompts, f16_dir, new=new, chunk=4)
    ref16 = ReferenceModel(str(path), dtype=np.float64, kv_f16=True)
    compare(ref16, prompts, kv16_logits, kv16_greedy, new, float_bound, max(TIE, float_bound),
            spec.name + " float, fp16 KV")
