#!/usr/bin/env python3
"""How far quantized copies of a model are from a reference: per-token KL divergence and
top-1 agreement on a fixed text, greedy continuations, and tokens/s.

    python3 bench/quality/quant_divergence.py --reference f32.gguf \
        --model Q4_K=q4_k.gguf --model Q6_K=q6_k.gguf --model Q8_0=q8_0.gguf [--speed]

The text (bench/quality/text.txt: prose, a dialogue, Python code) is tokenized with Hearth's
tokenizer (tests/engine/tokenizer/tokenize_tool) and cut into windows of --window tokens.
tests/engine/model/forward_dump runs each window through the CPU backend and writes the
logits of every position; the reference runs in exact mode (--precision f32: float
activations, fp32 KV cache), the quantized models in the serving default (q8 activations,
fp16 KV cache) and, with --also-f32, in exact mode too (isolating the weights' share).
Per position: KL(P_ref || P_model) in nats (float64 log-softmax), and whether the argmax
matches. Greedy: --new tokens continued from each window by both, and how many leading tokens
agree. --speed runs bench/engine/hearth_engine_bench on each model, rounds alternating the
models (A, B, C, A, B, C, ...), and reports the median of each.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def tokenize(build, model, text):
    tool = build / "tests" / "engine" / "tokenizer" / "tokenize_tool"
    req = f"enc\t-\t{text.encode().hex()}\n"
    out = subprocess.run([str(tool), str(model)], input=req, capture_output=True, text=True,
                         check=True).stdout
    return [int(x) for x in out.split("\t")[0].split()]


def forward(build, model, windows, precision, threads, new, workdir):
    tool = build / "tests" / "engine" / "model" / "forward_dump"
    prompts = workdir / "prompts.txt"
    prompts.write_text("".join(" ".join(map(str, w)) + "\n" for w in windows))
    out = workdir / "out"
    out.mkdir(exist_ok=True)
    subprocess.run([str(tool), "--model", str(model), "--prompts", str(prompts), "--out",
                    str(out), "--threads", str(threads), "--new", str(new), "--precision",
                    precision], check=True)
    logits = np.load(out / "prompt_logits.npy", mmap_mode="r")
    greedy = [list(map(int, l.split())) for l in (out / "greedy.txt").read_text().splitlines()]
    return np.array(logits), greedy


def log_softmax(x):
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def compare(ref, got):
    kl, agree = [], []
    for i in range(0, ref.shape[0], 128):  # rows in chunks: [128, vocab] float64 at a time
        lp, lq = log_softmax(ref[i:i + 128]), log_softmax(got[i:i + 128])
        kl.append((np.exp(lp) * (lp - lq)).sum(axis=-1))
        agree.append(ref[i:i + 128].argmax(-1) == got[i:i + 128].argmax(-1))
    return np.concatenate(kl), np.concatenate(agree)


def common_prefix(a, b):
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def speed(build, models, rounds, threads):
    bench = build / "bench" / "engine" / "hearth_engine_bench"
    rows = {name: {} for name, _ in models}
    for r in range(rounds):
        for name, path in models:
            out = subprocess.run([str(bench), "--model", str(path), "--threads", str(threads),
                                  "--prompt", "512", "--decode", "64", "--batches", "1,32",
                                  "--steps", "16"], capture_output=True, text=True,
                                 check=True).stdout
            for line in out.splitlines():
                m = re.match(r"(prefill \(512 tokens\)|decode, 1 stream \(after 512\)|"
                             r"decode, batch 32 \(ctx 128, aggregate\))\s+([\d.]+)", line)
                if m:
                    rows[name].setdefault(m.group(1), []).append(float(m.group(2)))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reference", required=True, help="the reference GGUF (F32 or F16)")
    ap.add_argument("--model", action="append", required=True, metavar="NAME=PATH")
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("--text", default=str(ROOT / "bench" / "quality" / "text.txt"))
    ap.add_argument("--window", type=int, default=256)
    ap.add_argument("--new", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--also-f32", action="store_true",
                    help="also run each model with f32 activations and KV cache")
    ap.add_argument("--speed", action="store_true", help="also measure tokens/s")
    ap.add_argument("--speed-only", action="store_true", help="only measure tokens/s")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    build = Path(args.build)
    models = [tuple(m.split("=", 1)) for m in args.model]

    if args.speed_only:
        args.speed = True
        print_speed(build, models, args)
        return
    tokens = tokenize(build, args.reference, Path(args.text).read_text())
    windows = [tokens[i:i + args.window]
               for i in range(0, len(tokens) - args.window + 1, args.window)]
    print(f"{len(tokens)} tokens -> {len(windows)} windows of {args.window} "
          f"({len(windows) * args.window} positions)", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        ref, ref_greedy = forward(build, args.reference, windows, "f32", args.threads, args.new,
                                  Path(tmp))
        results = []
        runs = [(n, p, "q8") for n, p in models]
        if args.also_f32:
            runs += [(n, p, "f32") for n, p in models]
        for name, path, precision in runs:
            got, greedy = forward(build, path, windows, precision, args.threads, args.new,
                                  Path(tmp))
            kl, agree = compare(ref, got)
            prefix = [common_prefix(a, b) for a, b in zip(ref_greedy, greedy)]
            results.append((name, precision, os.path.getsize(path), kl, agree, prefix))

    print("| model | activations / KV | file MiB | mean KL (nats) | median KL | 99th pct KL | "
          "top-1 agreement | greedy tokens equal to the reference (of "
          f"{args.new}, per window) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for name, precision, size, kl, agree, prefix in results:
        mode = "q8 / f16 (default)" if precision == "q8" else "f32 / f32 (exact)"
        print(f"| {name} | {mode} | {size / 2**20:.1f} | {kl.mean():.5f} | "
              f"{np.median(kl):.5f} | {np.percentile(kl, 99):.4f} | {100 * agree.mean():.2f}% | "
              f"{', '.join(map(str, prefix))} |")
    if args.speed:
        print()
        print_speed(build, models, args)


def print_speed(build, models, args):
    rows = speed(build, models, args.rounds, args.threads)
    print("| model | prefill 512 (tok/s) | decode, 1 stream | decode, batch 32 (aggregate) |")
    print("| --- | ---: | ---: | ---: |")
    for name, _ in models:
        cells = [f"{statistics.median(v):.1f} ({min(v):.0f}-{max(v):.0f})"
                 for v in rows[name].values()]
        print(f"| {name} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
