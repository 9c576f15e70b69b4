"""An independent NumPy reference of the llama / qwen2 / qwen2moe forward pass, with mixtures of
experts (Mixtral: llama + `expert_count`).

Built only on the `gguf` pip package (GGUFReader, gguf.quants.dequantize) and numpy: it shares
no code with Hearth's C++ loader or kernels, so it can check them. Weights are dequantized once
to float32; activations stay in `dtype` (float32 by default, float64 for tiny models).

    model = ReferenceModel(path)
    cache = model.new_cache()
    logits = model.forward(cache, [1, 2, 3])   # [3, vocab], appends K/V to the cache
    prompt_logits, tokens, step_logits = model.greedy(prompt, 64)

act_quant=True emulates the documented activation quantization of Hearth's CPU matmul (see
engine/cpu/kernels/matmul.h): before a product with a block-quantized weight, each row of x is
cut into blocks (32 elements for Q4_0/Q4_1/Q8_0, 256 for K-quants), d = max|x| / 127 in float32
and q = round-half-even(x * 127 / max|x|); the product then uses q * d. With it the comparison
can be tight; without it, the reference is the plain float model.

kv_f16=True stores K (after RoPE) and V rounded to IEEE float16 (numpy's astype, round to
nearest even), as Hearth's fp16 KV cache (engine/cpu/kv_storage.h) does; attention then reads
them back exactly.

Mixture of experts, per token: the router's logits, the expert_used_count largest (equal logits:
the lower expert id first), weights = softmax over those k logits (Mixtral) or their
probabilities under a softmax over all experts (qwen2moe, not renormalized), and the weighted sum
of the selected experts' SwiGLU FFNs; qwen2moe adds sigmoid(h . gate_shexp) * FFN_shexp(h).
Experts are read from the 3-D `ffn_*_exps` tensors or the per-expert `ffn_*.E` ones.

RoPE: GGUF `llama` files hold Q/K rows permuted by llama.cpp's converter so the rotation pairs
adjacent elements (2i, 2i+1) ("normal" rope); `qwen2` keeps Hugging Face's layout and rotates
(i, i + n_rot/2) ("neox" rope).
"""

from __future__ import annotations

import numpy as np
import gguf

SUPPORTED_ARCHS = ("llama", "qwen2", "qwen2moe")

_Q = gguf.GGMLQuantizationType
_ACT_BLOCK = {_Q.Q4_0: 32, _Q.Q4_1: 32, _Q.Q8_0: 32, _Q.Q4_K: 256, _Q.Q5_K: 256, _Q.Q6_K: 256}


def _quantize_act(x, block):
    """x [n, cols] -> the float32 values q * d of its 8-bit blocks (see module doc)."""
    xb = np.asarray(x, dtype=np.float32).reshape(-1, block)
    amax = np.abs(xb).max(axis=1, keepdims=True)
    d = amax / np.float32(127.0)
    safe = np.where(amax > 0, amax, np.float32(1.0))
    inv = np.where(amax > 0, np.float32(127.0) / safe, np.float32(0.0))
    q = np.clip(np.rint(xb * inv), -127, 127)  # rint: round half to even
    return (q * d).reshape(np.shape(x))


def _field(reader: gguf.GGUFReader, key: str, default=None):
    f = reader.fields.get(key)
    if f is None:
        if default is None:
            raise KeyError(key)
        return default
    return f.contents()


class ReferenceModel:
    def __init__(self, path: str, dtype=np.float32, act_quant: bool = False,
                 kv_f16: bool = False):
        self.dtype = dtype
        self.act_quant = act_quant
        self.kv_f16 = kv_f16
        r = gguf.GGUFReader(path)
        arch = _field(r, "general.architecture")
        if arch not in SUPPORTED_ARCHS:
            raise ValueError(f"unsupported architecture {arch}")
        self.arch = arch
        p = arch + "."
        self.n_layers = int(_field(r, p + "block_count"))
        self.dim = int(_field(r, p + "embedding_length"))
        self.n_heads = int(_field(r, p + "attention.head_count"))
        self.n_kv_heads = int(_field(r, p + "attention.head_count_kv", self.n_heads))
        self.head_dim = int(_field(r, p + "attention.key_length", self.dim // self.n_heads))
        self.n_rot = int(_field(r, p + "rope.dimension_count", self.head_dim))
        self.rope_base = float(_field(r, p + "rope.freq_base", 10000.0))
        self.eps = float(_field(r, p + "attention.layer_norm_rms_epsilon"))
        self.n_expert = int(_field(r, p + "expert_count", 0))
        self.n_expert_used = int(_field(r, p + "expert_used_count", 0))
        scaling = _field(r, p + "rope.scaling.type", "none")
        self.rope_linear = 1.0
        if scaling == "linear":
            self.rope_linear = float(_field(r, p + "rope.scaling.factor"))
        elif scaling != "none":
            raise ValueError(f"rope scaling {scaling} not in the reference")

        self.t = {}
        self.act_block = {}  # tensor name -> activation block size (0: not quantized)
        for tensor in r.tensors:
            self.act_block[tensor.name] = _ACT_BLOCK.get(tensor.tensor_type, 0)
            w = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
            # numpy shape is GGUF's ne reversed: [rows, cols] for matrices.
            shape = tuple(int(d) for d in reversed(tensor.shape.tolist()))
            self.t[tensor.name] = np.ascontiguousarray(w.reshape(shape).astype(dtype))
        self.embd = self.t["token_embd.weight"]  # [vocab, dim]
        self.vocab = self.embd.shape[0]
        self.out = self.t.get("output.weight", self.embd)
        freqs = self.rope_base ** (-np.arange(0, self.n_rot, 2, dtype=np.float64) / self.n_rot)
        if "rope_freqs.weight" in self.t:
            freqs = freqs / self.t["rope_freqs.weight"].astype(np.float64)
        self.inv_freq = freqs / self.rope_linear  # [n_rot / 2]

    # --- pieces -------------------------------------------------------------------------

    def _rmsnorm(self, x, w):
        ms = np.mean(x.astype(np.float64) ** 2, axis=-1, keepdims=True)
        return (x / np.sqrt(ms + self.eps)).astype(self.dtype) * w

    def _rope(self, x, positions):
        # x: [n, heads, head_dim]; rotates the first n_rot dims of each head.
        ang = np.outer(np.asarray(positions, dtype=np.float64), self.inv_freq)  # [n, n_rot/2]
        cos = np.cos(ang)[:, None, :].astype(self.dtype)
        sin = np.sin(ang)[:, None, :].astype(self.dtype)
        y = x.copy()
        half = self.n_rot // 2
        if self.arch in ("qwen2", "qwen2moe"):  # neox: (i, i + half)
            a, b = x[..., :half], x[..., half:self.n_rot]
            y[..., :half] = a * cos - b * sin
            y[..., half:self.n_rot] = a * sin + b * cos
        else:  # normal: (2i, 2i + 1)
            a, b = x[..., 0:self.n_rot:2], x[..., 1:self.n_rot:2]
            y[..., 0:self.n_rot:2] = a * cos - b * sin
            y[..., 1:self.n_rot:2] = a * sin + b * cos
        return y

    def _linear(self, x, name, bias=None, expert=None):
        block = self.act_block[name] if self.act_quant else 0
        if block:
            x = _quantize_act(x, block).astype(self.dtype)
        w = self.t[name] if expert is None else self.t[name][expert]
        y = x @ w.T
        if bias is not None and bias in self.t:
            y = y + self.t[bias]
        return y

    def _ffn(self, h, gate, up, down, expert=None):
        """SwiGLU; with `expert`, slice `expert` of 3-D tensors (or the per-expert tensors)."""
        g = self._linear(h, gate, expert=expert)
        u = self._linear(h, up, expert=expert)
        return self._linear((g / (1.0 + np.exp(-g))) * u, down, expert=expert)

    def _moe(self, h, b):
        logits = self._linear(h, b + "ffn_gate_inp.weight").astype(np.float64)  # [n, E]
        stacked = (b + "ffn_gate_exps.weight") in self.t
        out = np.zeros_like(h)
        for t in range(h.shape[0]):
            row = logits[t]
            chosen = sorted(range(self.n_expert), key=lambda e: (-row[e], e))[:self.n_expert_used]
            if self.arch == "qwen2moe":
                p = np.exp(row - row.max())
                weights = (p / p.sum())[chosen]
            else:
                sel = row[chosen]
                p = np.exp(sel - sel.max())
                weights = p / p.sum()
            for e, wgt in zip(chosen, weights):
                if stacked:
                    names = [b + f"ffn_{k}_exps.weight" for k in ("gate", "up", "down")]
                    y = self._ffn(h[t:t + 1], *names, expert=e)
                else:
                    names = [b + f"ffn_{k}.{e}.weight" for k in ("gate", "up", "down")]
                    y = self._ffn(h[t:t + 1], *names)
                out[t] += (wgt * y[0]).astype(self.dtype)
        if self.arch == "qwen2moe":
            gate = h @ self.t[b + "ffn_gate_inp_shexp.weight"].reshape(-1)  # [n]
            shared = self._ffn(h, b + "ffn_gate_shexp.weight", b + "ffn_up_shexp.weight",
                               b + "ffn_down_shexp.weight")
            out = out + (1.0 / (1.0 + np.exp(-gate)))[:, None] * shared
        return out

    # --- forward ------------------------------------------------------------------------

    def new_cache(self):
        return {"k": [None] * self.n_layers, "v": [None] * self.n_layers, "len": 0}

    def forward(self, cache, tokens):
        """Runs `tokens` after what `cache` holds; returns logits [len(tokens), vocab]."""
        n = len(tokens)
        start = cache["len"]
        positions = np.arange(start, start + n)
        hd, nh, nkv = self.head_dim, self.n_heads, self.n_kv_heads
        x = self.embd[np.asarray(tokens)].astype(self.dtype)  # [n, dim]
        for l in range(self.n_layers):
            b = f"blk.{l}."
            h = self._rmsnorm(x, self.t[b + "attn_norm.weight"])
            q = self._linear(h, b + "attn_q.weight", b + "attn_q.bias").reshape(n, nh, hd)
            k = self._linear(h, b + "attn_k.weight", b + "attn_k.bias").reshape(n, nkv, hd)
            v = self._linear(h, b + "attn_v.weight", b + "attn_v.bias").reshape(n, nkv, hd)
            q = self._rope(q, positions)
            k = self._rope(k, positions)
            if self.kv_f16:
                k = k.astype(np.float32).astype(np.float16).astype(self.dtype)
                v = v.astype(np.float32).astype(np.float16).astype(self.dtype)
            if cache["k"][l] is None:
                cache["k"][l], cache["v"][l] = k, v
            else:
                cache["k"][l] = np.concatenate([cache["k"][l], k])
                cache["v"][l] = np.concatenate([cache["v"][l], v])
            K, V = cache["k"][l], cache["v"][l]  # [ctx, nkv, hd]
            ctx = K.shape[0]
            group = nh // nkv
            Kx = np.repeat(K, group, axis=1)  # [ctx, nh, hd]; head h uses kv head h // group
            Vx = np.repeat(V, group, axis=1)
            scores = np.einsum("nhd,chd->hnc", q, Kx) / np.sqrt(hd)  # [nh, n, ctx]
            mask = np.arange(ctx)[None, :] > positions[:, None]  # causal
            scores = np.where(mask[None], -np.inf, scores)
            scores = scores - scores.max(axis=-1, keepdims=True)
            p = np.exp(scores)
            p = p / p.sum(axis=-1, keepdims=True)
            att = np.einsum("hnc,chd->nhd", p, Vx).reshape(n, nh * hd).astype(self.dtype)
            x = x + self._linear(att, b + "attn_output.weight")
            h = self._rmsnorm(x, self.t[b + "ffn_norm.weight"])
            if self.n_expert:
                x = x + self._moe(h, b)
                continue
            g = self._linear(h, b + "ffn_gate.weight")
            u = self._linear(h, b + "ffn_up.weight")
            x = x + self._linear((g / (1.0 + np.exp(-g))) * u, b + "ffn_down.weight")
        cache["len"] = start + n
        h = self._rmsnorm(x, self.t["output_norm.weight"])
        return self._lm_head(h).astype(np.float32)

    def _lm_head(self, h):
        name = "output.weight" if "output.weight" in self.t else "token_embd.weight"
        return self._linear(h, name)

    def greedy(self, prompt, n_new):
        """Returns (prompt logits [len(prompt), vocab], the n_new greedy tokens,
        logits of each greedy step [n_new, vocab])."""
        cache = self.new_cache()
        prompt_logits = self.forward(cache, list(prompt))
        last = prompt_logits[-1]
        out, step_logits = [], []
        for _ in range(n_new):
            tok = int(np.argmax(last))
            out.append(tok)
            step_logits.append(last)
            last = self.forward(cache, [tok])[0]
        return prompt_logits, out, np.array(step_logits)
