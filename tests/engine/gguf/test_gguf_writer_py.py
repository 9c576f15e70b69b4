"""GgufWriter's output read by gguf-py's GGUFReader (the independent reader).

gguf_writer_tool writes one key of every value type and tensors of several types and ranks
(source x[i] = ((37 i) % 41 - 20) / 8, exact in float32) with general.alignment 64; the reader must
see the same keys in order with their types and values, the tensor table, aligned offsets,
and tensor bytes equal to gguf-py's own quantization of the same source where gguf-py can
quantize the type (decoded values within bound elsewhere).
"""
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q
from gguf import GGUFReader, GGUFValueType as V
from gguf.quants import dequantize, quantize

BINARY_DIR = Path(os.environ.get("HEARTH_BINARY_DIR", "build"))
TOOL = BINARY_DIR / "tests" / "engine" / "gguf" / "gguf_writer_tool"

EXPECTED = [
    ("general.architecture", V.STRING, "test"),
    ("general.alignment", V.UINT32, 64),
    ("t.u8", V.UINT8, 200), ("t.i8", V.INT8, -100), ("t.u16", V.UINT16, 60000),
    ("t.i16", V.INT16, -30000), ("t.u32", V.UINT32, 4000000000),
    ("t.i32", V.INT32, -2000000000), ("t.u64", V.UINT64, 18000000000000000000),
    ("t.i64", V.INT64, -9000000000000000000), ("t.f32", V.FLOAT32, 0.25),
    ("t.f64", V.FLOAT64, -1.0 / 3), ("t.bool", V.BOOL, True), ("t.str", V.STRING, "héllo ✓"),
    ("t.strs", (V.ARRAY, V.STRING), ["a", "", "<|im_start|>"]),
    ("t.f32s", (V.ARRAY, V.FLOAT32), [1.5, -2.25, 0.0]),
    ("t.i32s", (V.ARRAY, V.INT32), [-1, 0, 7]),
    ("t.bools", (V.ARRAY, V.BOOL), [False, True]),
    ("t.u8s", (V.ARRAY, V.UINT8), [1, 255]),
]

TENSORS = [("f32_1d", Q.F32, (7,)), ("f16_2d", Q.F16, (8, 3)), ("bf16_2d", Q.BF16, (4, 2)),
           ("q8_0", Q.Q8_0, (64, 3)), ("q4_0", Q.Q4_0, (32, 2)), ("q4_1", Q.Q4_1, (96, 1)),
           ("q4_k", Q.Q4_K, (256, 2)), ("q5_k", Q.Q5_K, (512, 1)),
           ("q6_k_3d", Q.Q6_K, (256, 2, 3))]


@pytest.fixture(scope="module")
def reader(tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "out.gguf"
    assert TOOL.exists(), f"{TOOL} not built"
    subprocess.run([str(TOOL), str(path)], check=True, timeout=60)
    return GGUFReader(path)


def value(field):
    if field.types[0] == V.ARRAY:
        return [value_at(field, i) for i in field.data]
    return value_at(field, field.data[0])


def value_at(field, index):
    part = field.parts[index]
    if field.types[-1] == V.STRING:
        return bytes(part).decode("utf-8")
    if field.types[-1] == V.BOOL:
        return bool(part[0])
    return part[0].item()


def test_metadata(reader):
    fields = [(k, f) for k, f in reader.fields.items() if not k.startswith("GGUF.")]
    assert [k for k, _ in fields] == [e[0] for e in EXPECTED]
    for (key, field), (_, vtype, want) in zip(fields, EXPECTED):
        types = tuple(field.types) if isinstance(vtype, tuple) else field.types[0]
        assert types == vtype, key
        got = value(field)
        if vtype == V.FLOAT32:
            assert got == np.float32(want), key
        else:
            assert got == want, key
    assert reader.fields["GGUF.version"].parts[-1][0] == 3


def source(n):
    i = np.arange(n, dtype=np.int64)
    return (((37 * i) % 41 - 20) / 8).astype(np.float32)


def test_tensors(reader):
    assert reader.alignment == 64
    assert reader.data_offset % 64 == 0
    assert [t.name for t in reader.tensors] == [t[0] for t in TENSORS]
    for t, (name, qtype, shape) in zip(reader.tensors, TENSORS):
        assert t.tensor_type == qtype, name
        assert tuple(int(d) for d in t.shape) == shape, name
        assert (t.data_offset - reader.data_offset) % 64 == 0, name
        x = source(int(np.prod(shape)))
        # gguf-py's shape is numpy order (outermost first).
        rows = x.reshape(tuple(reversed(shape)))
        if qtype in (Q.F32, Q.F16, Q.BF16, Q.Q8_0, Q.Q4_0, Q.Q4_1):
            want = np.asarray(quantize(rows, qtype)).view(np.uint8).ravel()
            got = np.asarray(t.data).view(np.uint8).ravel()
            assert np.array_equal(got, want), name
        else:
            y = np.asarray(dequantize(t.data, qtype), np.float32).ravel()
            rel = np.sqrt(np.mean((x - y) ** 2) / np.mean(x ** 2))
            assert rel < 0.1, f"{name}: {rel}"
