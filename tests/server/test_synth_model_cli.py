"""`hearth synth-model`: the files read by gguf-py (metadata, tokenizer, tensor table, the
decoded statistics of the random weights), served by `hearth serve` (a chat request over
gRPC), and its command-line errors."""
import subprocess

import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q
from gguf import GGUFReader
from gguf.quants import dequantize

from conftest import HEARTH, SMALL_SERVER, Server


def synth(*args, check=True):
    proc = subprocess.run([HEARTH, "synth-model", *map(str, args)], capture_output=True,
                          text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def scalar(reader, key):
    return reader.fields[key].parts[-1][0]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("synth") / "tiny.gguf"
    synth(path, "--layers", 3, "--dim", 512, "--ffn", 768, "--heads", 8, "--kv-heads", 2,
          "--vocab", 1000, "--type", "q4_k", "--seed", 5, "--quiet")
    return path


def test_metadata_and_tokenizer(tiny):
    r = GGUFReader(tiny)
    assert bytes(r.fields["general.architecture"].parts[-1]) == b"llama"
    want = {"llama.block_count": 3, "llama.embedding_length": 512,
            "llama.feed_forward_length": 768, "llama.attention.head_count": 8,
            "llama.attention.head_count_kv": 2, "llama.vocab_size": 1000,
            "general.file_type": 14}
    for key, value in want.items():
        assert scalar(r, key) == value, key
    assert len(r.fields["tokenizer.ggml.tokens"].data) == 1000
    assert bytes(r.fields["tokenizer.ggml.model"].parts[-1]) == b"gpt2"
    assert b"<|start_header_id|>" in bytes(r.fields["tokenizer.chat_template"].parts[-1])


def test_tensor_types_and_random_weight_statistics(tiny):
    r = GGUFReader(tiny)
    by_name = {t.name: t for t in r.tensors}
    assert len(r.tensors) == 2 + 1 + 3 * 9
    assert by_name["output.weight"].tensor_type == Q.Q6_K  # the quantize rules' output type
    assert by_name["blk.0.attn_norm.weight"].tensor_type == Q.F32
    assert by_name["blk.0.ffn_down.weight"].tensor_type == Q.Q4_K  # 768 = 3 x 256
    np.testing.assert_array_equal(np.asarray(by_name["output_norm.weight"].data), 1.0)
    for name in ["blk.0.attn_q.weight", "blk.2.ffn_down.weight", "token_embd.weight"]:
        t = by_name[name]
        x = np.asarray(dequantize(t.data, t.tensor_type), np.float64)
        sigma = 1 / np.sqrt(int(t.shape[0]))  # 1 / sqrt(columns)
        assert abs(x.mean()) < 0.05 * sigma, name
        assert abs(x.std() - sigma) < 0.05 * sigma, name


def test_moe_layout(tmp_path):
    path = tmp_path / "moe.gguf"
    synth(path, "--preset", "tiny", "--experts", 4, "--quiet")
    r = GGUFReader(path)
    assert scalar(r, "llama.expert_count") == 4
    assert scalar(r, "llama.expert_used_count") == 2  # the default for --experts
    t = {t.name: t for t in r.tensors}
    assert [int(d) for d in t["blk.0.ffn_gate_exps.weight"].shape] == [256, 512, 4]
    assert [int(d) for d in t["blk.0.ffn_down_exps.weight"].shape] == [512, 256, 4]
    assert t["blk.0.ffn_gate_inp.weight"].tensor_type == Q.F32


def test_served_and_chat(tiny):
    server = Server(["--model", str(tiny), *SMALL_SERVER])
    try:
        out = server.client.complete(chat=[("user", "Hello there")], temperature=0,
                                     max_tokens=8, ignore_eos=True, timeout=60)
        assert len(out[0].token_ids) == 8
        assert all(0 <= t < 1000 for t in out[0].token_ids)
        assert server.client.list_models()[0].quant_type == "Q4_K"
    finally:
        server.stop()


def test_errors(tmp_path):
    cases = [
        (["--preset", "gpt5"], 2, "llama3-8b"),
        (["--heads", "3"], 2, "heads (3) must divide dim"),
        (["--type", "q3_k"], 2, "q4_k"),
        (["--arch", "qwen2"], 2, "only llama"),
        (["--layers", "x"], 2, "--layers must be an integer"),
        (["--vocab", "100"], 2, "vocab must be >="),
    ]
    for args, code, message in cases:
        proc = synth(tmp_path / "o.gguf", *args, check=False)
        assert proc.returncode == code, (args, proc.stderr)
        assert message in proc.stderr, (args, proc.stderr)
    proc = synth(tmp_path / "missing-dir" / "o.gguf", check=False)
    assert proc.returncode == 1 and "missing-dir" in proc.stderr
    assert not list(tmp_path.glob("**/*.gguf*"))
