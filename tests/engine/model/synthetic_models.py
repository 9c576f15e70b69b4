"""Tiny random llama / qwen2 / qwen2moe GGUF models written with gguf.GGUFWriter, one weight type
each; with `experts` > 0 a mixture of experts (Mixtral's llama layout, either the 3-D
`ffn_*_exps` tensors or the older per-expert `ffn_*.E` ones; qwen2moe adds its shared expert).

Quantized payloads are random bytes whose fp16 scale fields are set so the dequantized weights
have a chosen standard deviation and (for types with a min/offset field) about zero mean; the
reference dequantizes them with gguf.quants, so any bytes are valid weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import gguf

Q = gguf.GGMLQuantizationType

# Byte offsets of the fp16 scale field and of the optional min/offset field in each block.
_QUANT_FIELDS = {
    Q.Q4_0: (0, None),
    Q.Q4_1: (0, 2),
    Q.Q8_0: (0, None),
    Q.Q4_K: (0, 2),
    Q.Q5_K: (0, 2),
    Q.Q6_K: (208, None),
}


@dataclass
class Spec:
    name: str
    arch: str = "llama"
    wtype: Q = Q.F32
    layers: int = 2
    dim: int = 256
    heads: int = 4
    kv_heads: int = 2
    ffn: int = 512
    vocab: int = 300
    tied: bool = False
    rope_linear: float = 0.0  # > 0: rope.scaling.type linear with this factor
    rope_freqs: bool = False  # a Llama 3 style rope_freqs.weight tensor (factors in [1, 8])
    seed: int = 0
    experts: int = 0          # > 0: a mixture of experts of width `ffn`, router kept in F32
    experts_used: int = 2
    stacked: bool = True      # 3-D ffn_*_exps tensors; else per-expert ffn_*.E
    shared_ffn: int = 256     # qwen2moe's shared expert width
    tokenizer: bool = False   # a "llama" vocabulary (<unk> <s> </s>, 256 bytes, filler; vocab >= 259)


def _random_quant(rng, qtype, rows, cols, std):
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    nb = rows * cols // block
    raw = rng.integers(0, 256, size=(nb, size), dtype=np.uint8)
    d_off, m_off = _QUANT_FIELDS[qtype]

    def put(off, v):
        raw[:, off:off + 2] = np.full(nb, v, np.float16).view(np.uint8).reshape(nb, 2)

    def deq():
        return gguf.quants.dequantize(raw.reshape(rows, -1), qtype)

    ratio = 0.0
    if m_off is not None:  # choose min/offset so the mean is about zero
        put(d_off, 1.0)
        put(m_off, 0.0)
        a = deq().mean()
        put(d_off, 0.0)
        put(m_off, 1.0)
        b = deq().mean()
        ratio = -a / b
        put(m_off, ratio)
    put(d_off, 1.0)
    c = std / deq().std()
    put(d_off, c)
    if m_off is not None:
        put(m_off, ratio * c)
    return raw.reshape(rows, -1)


def _matrix(rng, wtype, rows, cols, std):
    """(array, raw_dtype) for GGUFWriter.add_tensor; numpy shape [rows, cols(or bytes)]."""
    if wtype == Q.F32:
        return (rng.standard_normal((rows, cols)) * std).astype(np.float32), None
    if wtype == Q.F16:
        return (rng.standard_normal((rows, cols)) * std).astype(np.float16), None
    if wtype == Q.BF16:
        f = (rng.standard_normal((rows, cols)) * std).astype(np.float32)
        bits = (f.view(np.uint32) >> 16).astype(np.uint16)
        return bits.view(np.uint8).reshape(rows, cols * 2), Q.BF16
    return _random_quant(rng, wtype, rows, cols, std), wtype


def write_model(path: str, s: Spec) -> None:
    rng = np.random.default_rng(s.seed)
    hd = s.dim // s.heads
    qd, kvd = s.heads * hd, s.kv_heads * hd
    w = gguf.GGUFWriter(path, s.arch)
    w.add_block_count(s.layers)
    w.add_context_length(1024)
    w.add_embedding_length(s.dim)
    w.add_feed_forward_length(s.ffn)
    w.add_head_count(s.heads)
    w.add_head_count_kv(s.kv_heads)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    if s.rope_linear > 0:
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(s.rope_linear)
    if s.tokenizer:
        tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
        tokens += [f"\u2581t{i}" for i in range(len(tokens), s.vocab)]
        w.add_tokenizer_model("llama")
        w.add_token_list(tokens)
        w.add_token_scores([-float(i) for i in range(s.vocab)])
        w.add_token_types([2, 3, 3] + [6] * 256 + [1] * (s.vocab - 259))
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)
    if s.experts:
        w.add_expert_count(s.experts)
        w.add_expert_used_count(s.experts_used)
        if s.arch == "qwen2moe":
            w.add_expert_feed_forward_length(s.ffn)
            w.add_expert_shared_feed_forward_length(s.shared_ffn)

    def mat(name, rows, cols, std):
        arr, raw = _matrix(rng, s.wtype, rows, cols, std)
        w.add_tensor(name, arr, raw_dtype=raw)

    def experts(b, kind, rows, cols, std):
        if s.stacked:  # numpy [E, rows, cols] is GGUF {cols, rows, E}
            parts = [_matrix(rng, s.wtype, rows, cols, std) for _ in range(s.experts)]
            w.add_tensor(f"{b}ffn_{kind}_exps.weight", np.stack([p[0] for p in parts]),
                         raw_dtype=parts[0][1])
        else:
            for e in range(s.experts):
                mat(f"{b}ffn_{kind}.{e}.weight", rows, cols, std)

    def vec(name, n, center, spread):
        w.add_tensor(name, (center + spread * rng.standard_normal(n)).astype(np.float32))

    mat("token_embd.weight", s.vocab, s.dim, 3.0 / np.sqrt(s.dim))
    vec("output_norm.weight", s.dim, 1.0, 0.1)
    if s.rope_freqs:
        w.add_tensor("rope_freqs.weight", rng.uniform(1.0, 8.0, hd // 2).astype(np.float32))
    if not s.tied:
        mat("output.weight", s.vocab, s.dim, 3.0 / np.sqrt(s.dim))
    for l in range(s.layers):
        b = f"blk.{l}."
        vec(b + "attn_norm.weight", s.dim, 1.0, 0.1)
        mat(b + "attn_q.weight", qd, s.dim, 1.0 / np.sqrt(s.dim))
        mat(b + "attn_k.weight", kvd, s.dim, 1.0 / np.sqrt(s.dim))
        mat(b + "attn_v.weight", kvd, s.dim, 1.0 / np.sqrt(s.dim))
        if s.arch in ("qwen2", "qwen2moe"):
            vec(b + "attn_q.bias", qd, 0.0, 0.2)
            vec(b + "attn_k.bias", kvd, 0.0, 0.2)
            vec(b + "attn_v.bias", kvd, 0.0, 0.2)
        mat(b + "attn_output.weight", s.dim, qd, 1.0 / np.sqrt(qd))
        vec(b + "ffn_norm.weight", s.dim, 1.0, 0.1)
        if s.experts:
            # Router logits of std ~2 over normed inputs: tokens spread over the experts.
            w.add_tensor(b + "ffn_gate_inp.weight",
                         (rng.standard_normal((s.experts, s.dim)) * 2.0 / np.sqrt(s.dim))
                         .astype(np.float32))
            experts(b, "gate", s.ffn, s.dim, 1.0 / np.sqrt(s.dim))
            experts(b, "up", s.ffn, s.dim, 1.0 / np.sqrt(s.dim))
            experts(b, "down", s.dim, s.ffn, 1.0 / np.sqrt(s.ffn))
            if s.arch == "qwen2moe":
                w.add_tensor(b + "ffn_gate_inp_shexp.weight",
                             (rng.standard_normal(s.dim) / np.sqrt(s.dim)).astype(np.float32))
                mat(b + "ffn_gate_shexp.weight", s.shared_ffn, s.dim, 1.0 / np.sqrt(s.dim))
                mat(b + "ffn_up_shexp.weight", s.shared_ffn, s.dim, 1.0 / np.sqrt(s.dim))
                mat(b + "ffn_down_shexp.weight", s.dim, s.shared_ffn, 1.0 / np.sqrt(s.shared_ffn))
            continue
        mat(b + "ffn_gate.weight", s.ffn, s.dim, 1.0 / np.sqrt(s.dim))
        mat(b + "ffn_up.weight", s.ffn, s.dim, 1.0 / np.sqrt(s.dim))
        mat(b + "ffn_down.weight", s.dim, s.ffn, 1.0 / np.sqrt(s.ffn))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


SPECS = [
    Spec("f32_llama_gqa", "llama", Q.F32, seed=1),
    Spec("f32_llama_ropefreqs", "llama", Q.F32, rope_freqs=True, seed=12),
    Spec("f32_qwen2_gqa_ropelinear", "qwen2", Q.F32, rope_linear=4.0, seed=11),
    Spec("f16_qwen2_mha_tied", "qwen2", Q.F16, kv_heads=4, tied=True, seed=2),
    Spec("bf16_llama_mha_tied", "llama", Q.BF16, kv_heads=4, tied=True, seed=3),
    Spec("q4_0_qwen2_gqa", "qwen2", Q.Q4_0, seed=4),
    Spec("q4_1_llama_gqa_tied", "llama", Q.Q4_1, tied=True, seed=5),
    Spec("q8_0_qwen2_gqa_tied", "qwen2", Q.Q8_0, tied=True, seed=6),
    Spec("q4_k_llama_gqa_ropelinear", "llama", Q.Q4_K, rope_linear=2.0, seed=7),
    Spec("q4_k_qwen2_gqa_tied", "qwen2", Q.Q4_K, tied=True, seed=8),
    Spec("q5_k_qwen2_mha", "qwen2", Q.Q5_K, kv_heads=4, seed=9),
    Spec("q6_k_llama_mha", "llama", Q.Q6_K, kv_heads=4, seed=10),
]

# Mixtures of experts: Mixtral-layout llama files (8 or 4 experts, top-2; both tensor layouts)
# and one qwen2moe (softmax over all experts, not renormalized; a gated shared expert).
MOE_SPECS = [
    Spec("moe_f32_llama_8x2", "llama", Q.F32, ffn=256, experts=8, seed=21),
    Spec("moe_q8_0_llama_4x2_per_expert", "llama", Q.Q8_0, ffn=256, experts=4, stacked=False,
         seed=22),
    Spec("moe_q4_k_llama_8x2", "llama", Q.Q4_K, ffn=256, experts=8, seed=23),
    Spec("moe_q6_k_llama_4x2_per_expert", "llama", Q.Q6_K, ffn=256, experts=4, stacked=False,
         kv_heads=4, seed=24),
    Spec("moe_q8_0_qwen2moe_8x2", "qwen2moe", Q.Q8_0, ffn=256, experts=8, seed=25),
]
