"""Cross-checks engine/sampler against an independent NumPy implementation of the same
definitions: penalties (HF/vLLM repetition, OpenAI presence/frequency), min_tokens suppression,
temperature, top-k -> top-p -> min-p supports and renormalized probabilities, raw logprobs, and
the seeded draw itself (NumPy's own Philox4x64 bit generator)."""

import os
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

TOOL = Path(os.environ.get("HEARTH_BINARY_DIR", "build")) / "tests/engine/sampler/sampler_tool"
DOMAIN = 0x4865617274685350  # Second Philox key word, engine/sampler/philox.cc.
MASK64 = (1 << 64) - 1
MARGIN = 1e-5  # Cases this close to a filter threshold are regenerated (float vs double).


def philox_uniform(seed, sample_index, step):
    """UniformDraw(seed, index, step) through NumPy's Philox (it increments before a block)."""
    ctr = ((sample_index << 64) | step) - 1
    ctr %= 1 << 256
    words = np.array([(ctr >> (64 * i)) & MASK64 for i in range(4)], dtype=np.uint64)
    key = np.array([seed, DOMAIN], dtype=np.uint64)
    raw = int(np.random.Philox(counter=words, key=key).random_raw(1)[0])
    return (raw >> 11) * 2.0**-53


def reference(case):
    """Returns (ids in (logit desc, id asc) order, probs), or None when a threshold is too close
    to call."""
    l = case["logits"].copy()  # float32, penalties in float32 like the C++ code.
    rep = np.float32(case["rep"])
    if rep != 1:
        for t in set(case["prompt"]) | set(case["output"]):
            l[t] = l[t] / rep if l[t] > 0 else l[t] * rep
    if case["pres"] != 0 or case["freq"] != 0:
        for t, c in Counter(case["output"]).items():
            l[t] -= np.float32(case["freq"]) * np.float32(c) + np.float32(case["pres"])
    if len(case["output"]) < case["min_tokens"]:
        for t in case["eos"] + case["stop"]:
            l[t] = -np.inf
    if case["temperature"] == 0:
        return np.array([int(np.argmax(l))]), np.array([1.0]), l
    ids = np.arange(len(l))
    order = np.lexsort((ids, -l.astype(np.float64)))
    order = order[np.isfinite(l[order])]
    z = l.astype(np.float64) / case["temperature"]
    w = np.exp(z - z.max())
    keep = order
    if 0 < case["top_k"] < len(keep):
        keep = keep[: case["top_k"]]
    if case["top_p"] < 1:
        c = np.cumsum(w[keep]) / w[keep].sum()
        if np.any(np.abs(c - case["top_p"]) < MARGIN):
            return None
        keep = keep[: int(np.argmax(c >= case["top_p"])) + 1]
    if case["min_p"] > 0:
        ratio = w[keep] / w.max()
        if np.any(np.abs(ratio - case["min_p"]) < MARGIN):
            return None
        keep = keep[ratio >= case["min_p"]]
    return keep, w[keep] / w[keep].sum(), l


def make_case(rng, vocab):
    logits = rng.normal(0, rng.choice([1.0, 3.0, 8.0]), vocab).astype(np.float32)
    if rng.random() < 0.3:  # Coarse values: many exact ties.
        logits = (np.round(logits * 2) / 2).astype(np.float32)
    hist = lambda n: [int(x) for x in rng.integers(0, vocab, n)]
    return {
        "vocab": vocab,
        "temperature": float(rng.choice([0.0, 0.3, 0.7, 1.0, 1.5])),
        "top_k": int(rng.choice([0, -1, 1, 2, 5, 40, vocab + 3])),
        "top_p": float(rng.choice([1.0, 0.95, 0.8, 0.5, 0.1])),
        "min_p": float(rng.choice([0.0, 0.0, 0.05, 0.2, 0.5])),
        "rep": float(rng.choice([1.0, 1.3, 0.8])),
        "pres": float(rng.choice([0.0, 0.5, -1.0])),
        "freq": float(rng.choice([0.0, 0.3, 1.5])),
        "min_tokens": int(rng.choice([0, 0, 3, 10])),
        "seed": int(rng.integers(0, 2**63)),
        "logprobs": int(rng.choice([0, 1, 5, 20])),
        "prompt": hist(int(rng.integers(0, 20))),
        "output": hist(int(rng.integers(0, 12))),
        "eos": [int(rng.integers(0, vocab))],
        "stop": hist(int(rng.integers(0, 3))),
        "logits": logits,
    }


def serialize(case):
    head = [case[k] for k in ("vocab", "temperature", "top_k", "top_p", "min_p", "rep", "pres",
                              "freq", "min_tokens", "seed", "logprobs")]
    parts = [" ".join(str(x) for x in head)]
    for k in ("prompt", "output", "eos", "stop"):
        parts.append(" ".join(str(x) for x in [len(case[k])] + case[k]))
    parts.append(" ".join(repr(float(v)) for v in case["logits"]))
    return "\n".join(parts) + "\n"


def build_cases():
    rng = np.random.default_rng(20240607)
    cases = []
    for vocab in [3] * 60 + [17] * 120 + [300] * 100 + [49152] * 6:
        while True:
            case = make_case(rng, vocab)
            ref = reference(case)
            if ref is not None:
                cases.append((case, ref))
                break
    return cases


@pytest.fixture(scope="module")
def results():
    if not TOOL.exists():
        pytest.fail(f"{TOOL} not built (target sampler_tool)")
    cases = build_cases()
    stdin = "".join(serialize(c) for c, _ in cases)
    out = subprocess.run([str(TOOL)], input=stdin, capture_output=True, text=True, check=True,
                         timeout=60).stdout.split("\n")
    parsed = []
    for i in range(len(cases)):
        d = out[2 * i].split()
        s = out[2 * i + 1].split()
        assert d[0] == "D" and s[0] == "S"
        n = int(d[1])
        dist = [(int(d[2 + 2 * j]), float(d[3 + 2 * j])) for j in range(n)]
        m = int(s[3])
        top = [(int(s[4 + 2 * j]), float(s[5 + 2 * j])) for j in range(m)]
        parsed.append((dist, int(s[1]), float(s[2]), top))
    return cases, parsed


def test_supports_and_probabilities_match_numpy(results):
    cases, parsed = results
    for (case, (keep, probs, _)), (dist, _, _, _) in zip(cases, parsed):
        got = dict(dist)
        assert set(got) == set(int(i) for i in keep), case
        for i, p in zip(keep, probs):
            assert abs(got[int(i)] - p) < 1e-5


def test_samples_lie_in_the_support_and_greedy_is_argmax(results):
    cases, parsed = results
    for (case, (keep, _, l)), (_, sid, _, _) in zip(cases, parsed):
        assert sid in set(int(i) for i in keep)
        if case["temperature"] == 0:
            assert sid == int(np.argmax(l))  # np.argmax: first (lowest id) of ties.


def test_logprobs_are_raw_log_softmax_with_sorted_top_n(results):
    cases, parsed = results
    for (case, _), (_, sid, lp, top) in zip(cases, parsed):
        raw = case["logits"].astype(np.float64)
        logsm = raw - (raw.max() + np.log(np.exp(raw - raw.max()).sum()))
        assert abs(lp - logsm[sid]) < 1e-5
        order = np.lexsort((np.arange(len(raw)), -raw))[: case["logprobs"]]
        assert [t for t, _ in top] == [int(i) for i in order]
        for (_, v), i in zip(top, order):
            assert abs(v - logsm[i]) < 1e-5


def test_seeded_draw_is_reproduced_by_numpy_philox(results):
    """With top_p < 1 the candidates are drawn in sorted order, so the exact token follows from
    the documented draw: u = Philox(seed, step) and the first cumulative mass above u."""
    cases, parsed = results
    checked = 0
    for (case, (keep, probs, _)), (dist, sid, _, _) in zip(cases, parsed):
        if case["temperature"] == 0 or case["top_p"] == 1 or case["min_p"] > 0:
            continue
        assert [t for t, _ in dist] == [int(i) for i in keep]  # Draw order = sorted order.
        u = philox_uniform(case["seed"], 0, len(case["output"]))
        c = np.cumsum(probs)
        if np.any(np.abs(c - u) < 1e-6):
            continue
        assert sid == int(keep[int(np.argmax(c > u))]), case
        checked += 1
    assert checked >= 50
