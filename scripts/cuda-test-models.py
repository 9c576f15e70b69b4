#!/usr/bin/env python3
"""Writes the models the CUDA conformance checks run (scripts/gpu-check.sh bundles them).

  scripts/cuda-test-models.py OUT_DIR [--model PATH] [--layers N]

OUT_DIR/synthetic/*.gguf  the tiny random llama / qwen2 models of tests/engine/model/
                          synthetic_models.py, one per weight type (F32 ... Q6_K), each < 1 MB
OUT_DIR/cut.gguf          the first N layers (default 4) of the default model, every other
                          tensor and all metadata (tokenizer included) copied unchanged but
                          block_count, made with the gguf package (skipped when --model is absent)
"""

from __future__ import annotations

import argparse
import os
import sys

import gguf

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "engine", "model"))
import synthetic_models  # noqa: E402


def cut_model(src: str, dst: str, layers: int) -> None:
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
        else:
            writer.add_tensor(t.name, t.data, raw_dtype=t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--model", default=os.path.join(HERE, "..", "models",
                                                    "SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--layers", type=int, default=4)
    args = ap.parse_args()
    synth = os.path.join(args.out_dir, "synthetic")
    os.makedirs(synth, exist_ok=True)
    for spec in synthetic_models.SPECS:
        synthetic_models.write_model(os.path.join(synth, spec.name + ".gguf"), spec)
    if os.path.exists(args.model):
        cut_model(args.model, os.path.join(args.out_dir, "cut.gguf"), args.layers)
    else:
        print(f"cuda-test-models: no {args.model}: no cut model", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
