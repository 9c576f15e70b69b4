#!/usr/bin/env python3
"""Writes the models the CUDA conformance checks run (scripts/gpu-check.sh bundles them).

  scripts/cuda-test-models.py OUT_DIR [--model PATH] [--layers N] [--embd-type Q4_0]
                               [--no-synthetic] [--no-cut] [--llama8b PATH]

OUT_DIR/synthetic/*.gguf  the tiny random llama / qwen2 models of tests/engine/model/
                          synthetic_models.py, one per weight type (F32 ... Q6_K), 1-5 MB each,
                          and its mixtures of experts (MOE_SPECS: Mixtral-layout and qwen2moe)
OUT_DIR/cut.gguf          the first N layers (default 4) of the default model, every other
                          tensor and all metadata (tokenizer included) copied unchanged but
                          block_count, made with the gguf package (skipped when --model is
                          absent); --embd-type requantizes token_embd (the tied LM head too) to
                          make it smaller (the default model's Q8_0 table is 30 MB)
--llama8b PATH            a Llama-3-8B-shaped Q4_K model with random blocks (the fallback of
                          `hearth synth-model --preset llama3-8b`), with the cut model's tokenizer
                          (so vocab 49152, not 128256); needs OUT_DIR/cut.gguf
"""

from __future__ import annotations

import argparse
import os
import sys

import gguf

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "engine", "model"))
import synthetic_models  # noqa: E402


def cut_model(src: str, dst: str, layers: int, embd_type: str | None) -> None:
    reader = gguf.GGUFReader(src)
    arch = reader.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(dst, arch)
    for name, field in reader.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        value = field.contents()
        if name == f"{arch}.block_count":
            value = layers
        vtype = field.types[0]
        sub = field.types[1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(name, value, vtype, sub_type=sub)
    for t in reader.tensors:
        if t.name.startswith("blk.") and int(t.name.split(".")[1]) >= layers:
            continue
        # The data as stored (quantized blocks included): float types by their numpy shape
        # (GGUF's shape reversed), block types as [rows, bytes per row] with their type.
        if t.tensor_type in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
            writer.add_tensor(t.name, t.data.reshape([int(d) for d in reversed(t.shape)]))
        elif t.name == "token_embd.weight" and embd_type:
            qtype = gguf.GGMLQuantizationType[embd_type]
            rows = gguf.quants.dequantize(t.data, t.tensor_type)
            writer.add_tensor(t.name, gguf.quants.quantize(rows, qtype), raw_dtype=qtype)
        else:
            writer.add_tensor(t.name, t.data, raw_dtype=t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def llama8b(dst: str, tokenizer_from: str, layers: int = 32, dim: int = 4096,
            ffn: int = 14336) -> None:
    """Llama-3-8B shapes in Q4_K: random quant bytes, fp16 scales that keep weights small."""
    import numpy as np

    reader = gguf.GGUFReader(tokenizer_from)
    vocab = len(reader.fields["tokenizer.ggml.tokens"].contents())
    heads, kv_heads = 32, 8
    hd = dim // heads
    w = gguf.GGUFWriter(dst, "llama")
    w.add_name("synthetic llama3-8b q4_k (random weights)")
    w.add_block_count(layers)
    w.add_context_length(8192)
    w.add_embedding_length(dim)
    w.add_feed_forward_length(ffn)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_rope_freq_base(500000.0)
    w.add_rope_dimension_count(hd)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(vocab)
    for name, field in reader.fields.items():
        if name.startswith("tokenizer."):
            vtype = field.types[0]
            sub = field.types[1] if vtype == gguf.GGUFValueType.ARRAY else None
            w.add_key_value(name, field.contents(), vtype, sub_type=sub)
    rng = np.random.default_rng(8)
    q4k = gguf.GGMLQuantizationType.Q4_K
    scales = np.array([2e-4, 1e-4], np.float16).view(np.uint8)  # d, dmin

    def mat(name, rows, cols):
        nb = rows * cols // 256
        raw = np.frombuffer(rng.bytes(nb * 144), np.uint8).reshape(nb, 144).copy()
        raw[:, 0:4] = scales
        w.add_tensor(name, raw.reshape(rows, cols // 256 * 144), raw_dtype=q4k)

    def vec(name, n):
        w.add_tensor(name, np.ones(n, np.float32))

    mat("token_embd.weight", vocab, dim)
    vec("output_norm.weight", dim)
    mat("output.weight", vocab, dim)
    for l in range(layers):
        b = f"blk.{l}."
        vec(b + "attn_norm.weight", dim)
        mat(b + "attn_q.weight", dim, dim)
        mat(b + "attn_k.weight", kv_heads * hd, dim)
        mat(b + "attn_v.weight", kv_heads * hd, dim)
        mat(b + "attn_output.weight", dim, dim)
        vec(b + "ffn_norm.weight", dim)
        mat(b + "ffn_gate.weight", ffn, dim)
        mat(b + "ffn_up.weight", ffn, dim)
        mat(b + "ffn_down.weight", dim, ffn)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--model", default=os.path.join(HERE, "..", "models",
                                                    "SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--embd-type", default=None, help="requantize token_embd (e.g. Q4_0)")
    ap.add_argument("--no-synthetic", action="store_true")
    ap.add_argument("--no-cut", action="store_true")
    ap.add_argument("--llama8b", default=None, metavar="PATH")
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    if not args.no_synthetic:
        synth = os.path.join(args.out_dir, "synthetic")
        os.makedirs(synth, exist_ok=True)
        for spec in synthetic_models.SPECS + synthetic_models.MOE_SPECS:
            synthetic_models.write_model(os.path.join(synth, spec.name + ".gguf"), spec)
    cut = os.path.join(args.out_dir, "cut.gguf")
    if not args.no_cut:
        if os.path.exists(args.model):
            cut_model(args.model, cut, args.layers, args.embd_type)
        else:
            print(f"cuda-test-models: no {args.model}: no cut model", file=sys.stderr)
    if args.llama8b:
        llama8b(args.llama8b, cut)
    return 0


if __name__ == "__main__":
    sys.exit(main())
