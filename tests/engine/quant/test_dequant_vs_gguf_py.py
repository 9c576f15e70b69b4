"""Bit-exact comparison of Hearth's GGUF reader and dequantizers with gguf-py.

gguf_dump_tool (built from tests/engine/quant) writes every tensor it is asked for as raw
float32 plus a JSON of the metadata and tensor table; the references are gguf.GGUFReader and
gguf.quants.dequantize. Compared as uint32 bit patterns, so -0.0 vs 0.0 or NaN payloads count.
"""
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q
from gguf import GGUFReader, GGUFValueType, GGUFWriter
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize

BINARY_DIR = Path(os.environ.get("HEARTH_BINARY_DIR", "build"))
MODEL = Path(os.environ.get("HEARTH_DEFAULT_MODEL", "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
TOOL = BINARY_DIR / "tests" / "engine" / "quant" / "gguf_dump_tool"

# Byte offsets of the fp16 scale fields in one block (set to finite values; the rest is random).
SCALE_FIELDS = {
    Q.Q4_0: [0], Q.Q4_1: [0, 2], Q.Q5_0: [0], Q.Q5_1: [0, 2], Q.Q8_0: [0],
    Q.Q2_K: [80, 82], Q.Q3_K: [108], Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208],
}


def run_tool(path, outdir, names=()):
    assert TOOL.exists(), f"{TOOL} not built (cmake --build <dir> --target gguf_dump_tool)"
    subprocess.run([str(TOOL), str(path), str(outdir), *names], check=True, timeout=120)
    with open(Path(outdir) / "metadata.json", encoding="utf-8") as f:
        return json.load(f)


def ours(outdir, entry):
    assert entry["file"] is not None, entry["name"]
    return np.fromfile(Path(outdir) / entry["file"], dtype=np.float32)


def reference(tensor):
    return np.asarray(dequantize(tensor.data, tensor.tensor_type), dtype=np.float32).ravel()


def assert_bits_equal(got, want, what):
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    g, w = got.view(np.uint32), want.view(np.uint32)
    bad = np.flatnonzero(g != w)
    assert bad.size == 0, (f"{what}: {bad.size} of {g.size} differ; first at {bad[0]}: "
                           f"ours {got[bad[0]]!r} (0x{g[bad[0]]:08x}) "
                           f"gguf-py {want[bad[0]]!r} (0x{w[bad[0]]:08x})")


def assert_table_matches(dump, reader):
    assert dump["alignment"] == reader.alignment
    assert dump["data_offset"] == reader.data_offset
    assert [t["name"] for t in dump["tensors"]] == [t.name for t in reader.tensors]
    for entry, t in zip(dump["tensors"], reader.tensors):
        assert entry["type"] == t.tensor_type.name, t.name
        assert entry["shape"] == [int(x) for x in t.shape], t.name
        assert entry["offset"] + dump["data_offset"] == t.data_offset, t.name
        assert entry["num_bytes"] == t.n_bytes, t.name


# --- the default model -----------------------------------------------------------------------

SAMPLE = ["token_embd.weight", "blk.0.attn_q.weight", "blk.0.ffn_down.weight",
          "blk.0.attn_norm.weight", "blk.17.attn_k.weight", "blk.29.ffn_up.weight",
          "output_norm.weight"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("model")
    return run_tool(MODEL, outdir, SAMPLE), outdir, GGUFReader(MODEL)


def test_model_tensor_table(model):
    dump, _, reader = model
    assert len(dump["tensors"]) == 272
    assert_table_matches(dump, reader)


def test_model_tensors_bit_exact(model):
    dump, outdir, reader = model
    by_name = {t.name: t for t in reader.tensors}
    seen_types = set()
    for entry in dump["tensors"]:
        if entry["name"] in SAMPLE:
            assert_bits_equal(ours(outdir, entry), reference(by_name[entry["name"]]), entry["name"])
            seen_types.add(entry["type"])
    assert seen_types == {"Q8_0", "Q4_1", "F32"}


def reader_value(field, index=None):
    """Value of a GGUFReader field (or of its array element `index`) as Python data."""
    if field.types[0] == GGUFValueType.ARRAY:
        part = field.parts[field.data[index]]
        sub = field.types[1]
    else:
        part = field.parts[field.data[0]]
        sub = field.types[0]
    if sub == GGUFValueType.STRING:
        return bytes(part).decode("utf-8")
    if sub == GGUFValueType.BOOL:
        return bool(part[0])
    return part[0].item()


def test_model_metadata(model):
    dump, _, reader = model
    fields = [(k, f) for k, f in reader.fields.items() if not k.startswith("GGUF.")]
    assert [k for k, _ in fields] == [m[0] for m in dump["metadata"]]
    for (key, field), (_, type_name, value) in zip(fields, dump["metadata"]):
        assert type_name == field.types[0].name, key
        if field.types[0] == GGUFValueType.ARRAY:
            assert value["element_type"] == field.types[1].name, key
            want = [reader_value(field, i) for i in range(len(field.data))]
            got = value["elements"]
        else:
            want, got = reader_value(field), value
        if field.types[-1] in (GGUFValueType.FLOAT32, GGUFValueType.FLOAT64):
            np.testing.assert_array_equal(np.asarray(got, np.float64), np.asarray(want, np.float64))
        else:
            assert got == want, key


# --- a synthetic file with every supported type ----------------------------------------------

def random_blocks(rng, qtype, n_blocks):
    _, type_size = GGML_QUANT_SIZES[qtype]
    blocks = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    for off in SCALE_FIELDS[qtype]:
        scale = (rng.standard_normal(n_blocks) * rng.choice([1e-3, 0.05, 2.0], n_blocks))
        blocks[:, off:off + 2] = scale.astype(np.float16).view(np.uint8).reshape(n_blocks, 2)
    return blocks


def build_synthetic(path, rng):
    writer = GGUFWriter(str(path), "llama")
    writer.add_uint32("test.u32", 7)
    writer.add_float32("test.f32", 0.1)
    writer.add_array("test.nested", [[1, 2], [3]])
    tensors = {}
    for qtype in SCALE_FIELDS:
        block_size, _ = GGML_QUANT_SIZES[qtype]
        rows, blocks_per_row = 3, 2
        data = random_blocks(rng, qtype, rows * blocks_per_row).reshape(rows, -1)
        tensors[f"q.{qtype.name}"] = data
        writer.add_tensor(f"q.{qtype.name}", data, raw_dtype=qtype)
    # Every fp16 / bf16 bit pattern, and random finite floats.
    every16 = np.arange(65536, dtype=np.uint32).astype(np.uint16).reshape(256, 256)
    writer.add_tensor("p.F16", every16.view(np.float16), raw_dtype=Q.F16)
    writer.add_tensor("p.BF16", every16.view(np.uint8).reshape(256, 512), raw_dtype=Q.BF16)
    writer.add_tensor("p.F32", rng.standard_normal((4, 64)).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("synthetic")
    path = outdir / "all_types.gguf"
    build_synthetic(path, np.random.default_rng(1234))
    return run_tool(path, outdir), outdir, GGUFReader(path)


def test_synthetic_every_type_bit_exact(synthetic):
    dump, outdir, reader = synthetic
    assert_table_matches(dump, reader)
    by_name = {t.name: t for t in reader.tensors}
    types = set()
    for entry in dump["tensors"]:
        assert_bits_equal(ours(outdir, entry), reference(by_name[entry["name"]]), entry["name"])
        types.add(entry["type"])
    assert types == {q.name for q in SCALE_FIELDS} | {"F16", "BF16", "F32"}


def test_synthetic_metadata(synthetic):
    dump, _, _ = synthetic
    meta = {m[0]: m for m in dump["metadata"]}
    assert meta["test.u32"][1:] == ["UINT32", 7]
    assert meta["test.f32"][2] == float(np.float32(0.1))
    nested = meta["test.nested"][2]
    assert nested["element_type"] == "ARRAY"
    assert [[x for x in a["elements"]] for a in nested["elements"]] == [[1, 2], [3]]
