"""Writes the two models of the mixture-of-experts benchmark (bench/moe/README in RESULTS.md):

  moe.gguf    a Mixtral-shaped llama file scaled down to fit a small machine: `experts` SwiGLU
              experts of width `ffn` per layer (3-D ffn_*_exps tensors), top-`top_k` routing, a
              F32 router, Mixtral's head layout (head_dim 128, 4 query heads per K/V head);
  dense.gguf  the same model with one dense FFN of width top_k * ffn instead: the same active
              parameters per token (the router's dim x experts floats aside).

    python3 bench/moe/make_models.py --out /tmp/moe_bench [--layers 16 --dim 1024 --ffn 3584
        --experts 8 --top-k 2 --type Q4_K --vocab 32000]

Quantized payloads are random (tests/engine/model/synthetic_models.py's calibrated blocks, one
256-row tile repeated down each matrix, which costs nothing in speed and keeps generation fast);
the router is random too, so tokens spread over the experts.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import gguf

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../tests/engine/model"))
import synthetic_models as sm  # noqa: E402

Q = gguf.GGMLQuantizationType


def tiled_matrix(rng, qtype, rows, cols, std):
    """(array, raw_dtype) for add_tensor: [rows, cols] (bytes per row when quantized)."""
    tile = min(rows, 256)
    arr, raw = sm._matrix(rng, qtype, tile, cols, std)
    reps = -(-rows // tile)
    return np.ascontiguousarray(np.tile(arr, (reps, 1))[:rows]), raw


def write(path, args, experts):
    rng = np.random.default_rng(7)
    qtype = Q[args.type]
    dim, heads, kv_heads = args.dim, args.dim // 128, max(1, args.dim // 512)
    hd = dim // heads
    w = gguf.GGUFWriter(path, "llama")
    w.add_block_count(args.layers)
    w.add_context_length(4096)
    w.add_embedding_length(dim)
    w.add_feed_forward_length(args.ffn if experts else args.ffn * args.top_k)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_rope_freq_base(1e6)
    w.add_layer_norm_rms_eps(1e-5)
    if experts:
        w.add_expert_count(args.experts)
        w.add_expert_used_count(args.top_k)

    def mat(name, rows, cols, std):
        arr, raw = tiled_matrix(rng, qtype, rows, cols, std)
        w.add_tensor(name, arr, raw_dtype=raw)

    def vec(name, n):
        w.add_tensor(name, (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32))

    mat("token_embd.weight", args.vocab, dim, 3.0 / np.sqrt(dim))
    vec("output_norm.weight", dim)
    mat("output.weight", args.vocab, dim, 3.0 / np.sqrt(dim))
    for l in range(args.layers):
        b = f"blk.{l}."
        vec(b + "attn_norm.weight", dim)
        mat(b + "attn_q.weight", heads * hd, dim, 1.0 / np.sqrt(dim))
        mat(b + "attn_k.weight", kv_heads * hd, dim, 1.0 / np.sqrt(dim))
        mat(b + "attn_v.weight", kv_heads * hd, dim, 1.0 / np.sqrt(dim))
        mat(b + "attn_output.weight", dim, heads * hd, 1.0 / np.sqrt(dim))
        vec(b + "ffn_norm.weight", dim)
        if not experts:
            f = args.ffn * args.top_k
            mat(b + "ffn_gate.weight", f, dim, 1.0 / np.sqrt(dim))
            mat(b + "ffn_up.weight", f, dim, 1.0 / np.sqrt(dim))
            mat(b + "ffn_down.weight", dim, f, 1.0 / np.sqrt(f))
            continue
        w.add_tensor(b + "ffn_gate_inp.weight",
                     (rng.standard_normal((args.experts, dim)) * 2.0 / np.sqrt(dim))
                     .astype(np.float32))
        for kind, rows, cols in (("gate", args.ffn, dim), ("up", args.ffn, dim),
                                 ("down", dim, args.ffn)):
            parts = [tiled_matrix(rng, qtype, rows, cols, 1.0 / np.sqrt(cols))
                     for _ in range(args.experts)]
            w.add_tensor(f"{b}ffn_{kind}_exps.weight", np.stack([p[0] for p in parts]),
                         raw_dtype=parts[0][1])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"wrote {path}: {os.path.getsize(path) / 2**20:.1f} MiB")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--layers", type=int, default=16)
    p.add_argument("--dim", type=int, default=1024)
    p.add_argument("--ffn", type=int, default=3584)
    p.add_argument("--experts", type=int, default=8)
    p.add_argument("--top-k", type=int, default=2)
    p.add_argument("--type", default="Q4_K")
    p.add_argument("--vocab", type=int, default=32000)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    write(os.path.join(args.out, "moe.gguf"), args, experts=True)
    write(os.path.join(args.out, "dense.gguf"), args, experts=False)


if __name__ == "__main__":
    main()
