"""Token-for-token comparison of our tokenizer with HF transformers/tokenizers.

Reference: transformers loads the tokenizer from the GGUF (vocab, merges, token types). Its GGUF
converter ignores `tokenizer.ggml.pre` (it picks the pre-tokenizer by architecture), so for
each gpt2 `pre` we install the pre-tokenizer of that model family's own tokenizer.json
(SmolLM2: Digits(individual) + ByteLevel; Llama 3: Split(regex) + ByteLevel and
ignore_merges; Qwen2: the qwen2 converter itself) -- the independent behaviour we match.
Qwen2's HF normalizer is NFC, which we do not apply (llama.cpp does not either): its corpus is
NFC-normalized first.
"""
import glob
import os
import subprocess
import tempfile
import unicodedata

import numpy as np
import pytest
from gguf import GGUFReader, GGUFWriter, GGUFValueType
from tokenizers import Regex, Tokenizer, pre_tokenizers

import transformers.modeling_gguf_pytorch_utils as _m

_m.is_torch_available = lambda: True
from transformers import AutoTokenizer  # noqa: E402

import tok_corpus  # noqa: E402

MODEL = os.environ.get("HEARTH_DEFAULT_MODEL")
BINARY_DIR = os.environ.get("HEARTH_BINARY_DIR", "")

LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+"
                r"[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def tool_path():
    hits = glob.glob(os.path.join(BINARY_DIR, "**", "tokenize_tool"), recursive=True)
    hits = [h for h in hits if os.access(h, os.X_OK) and os.path.isfile(h)]
    if not hits:
        pytest.fail(f"tokenize_tool not built under {BINARY_DIR}")
    return hits[0]


def run_tool(model, requests):
    proc = subprocess.run([tool_path(), model], input="\n".join(requests) + "\n",
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split("\n")[:-1]
    assert len(lines) == len(requests)
    return lines


def encode_all(model, texts, flags):
    lines = run_tool(model, [f"enc\t{flags}\t{t.encode('utf-8').hex()}" for t in texts])
    out = []
    for line in lines:
        ids, dec, deltas = line.split("\t")
        out.append(([int(x) for x in ids.split()], bytes.fromhex(dec).decode("utf-8"),
                    [bytes.fromhex(d) for d in deltas.split(",")]))
    return out


def hf_from_gguf(path):
    d, base = os.path.split(path)
    return AutoTokenizer.from_pretrained(d, gguf_file=base)


def metadata(path):
    r = GGUFReader(path)
    return {k: f.contents() for k, f in r.fields.items() if k.startswith("tokenizer.")}


def write_gguf(path, arch, meta, overrides):
    """A tokenizer-only GGUF: `meta` (tokenizer.* contents) with `overrides` applied."""
    w = GGUFWriter(path, arch)
    w.add_context_length(2048)
    w.add_block_count(1)
    w.add_embedding_length(64)
    w.add_feed_forward_length(128)
    w.add_head_count(1)
    meta = {**meta, **overrides}
    kinds = {"tokenizer.ggml.tokens": GGUFValueType.STRING, "tokenizer.ggml.merges": GGUFValueType.STRING,
             "tokenizer.ggml.token_type": GGUFValueType.INT32,
             "tokenizer.ggml.scores": GGUFValueType.FLOAT32}
    for k, v in meta.items():
        if k in kinds:
            w.add_array(k, list(v)) if kinds[k] == GGUFValueType.STRING else \
                w.add_key_value(k, list(v), GGUFValueType.ARRAY, sub_type=kinds[k])
        elif isinstance(v, bool):
            w.add_bool(k, v)
        elif isinstance(v, int):
            w.add_uint32(k, v)
        else:
            w.add_string(k, v)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def digit_vocab(meta):
    """SmolLM2's vocab plus 2- and 3-digit number tokens (with merges) and one word reachable
    by no merge, so that the pre-tokenizer's digit grouping and ignore_merges change ids."""
    tokens = list(meta["tokenizer.ggml.tokens"])
    merges = list(meta["tokenizer.ggml.merges"])
    for n in range(100):
        a = f"{n:02d}"
        tokens.append(a)
        merges.append(f"{a[0]} {a[1]}")
    for n in range(1000):
        a = f"{n:03d}"
        tokens.append(a)
        merges.append(f"{a[:2]} {a[2]}")
    tokens += ["zzqx", "\u0120zzqx"]
    types = list(meta["tokenizer.ggml.token_type"]) + [1] * (len(tokens) - len(meta["tokenizer.ggml.tokens"]))
    return {"tokenizer.ggml.tokens": tokens, "tokenizer.ggml.merges": merges,
            "tokenizer.ggml.token_type": types}


def count_differences(hf_json, texts, model_path):
    """How many texts the converter's own pre-tokenizer would encode differently."""
    naive = Tokenizer.from_str(hf_json)
    ours = encode_all(model_path, texts, "s")
    return sum(naive.encode(t, add_special_tokens=False).ids != ids for t, (ids, _, _) in zip(texts, ours))


def check_against_hf(model_path, hf, texts, specials):
    """Encode with and without special parsing; decode; incremental decode."""
    ours = encode_all(model_path, texts, "s")
    mismatches = []
    held_back = 0
    for text, (ids, dec, deltas) in zip(texts, ours):
        want = hf.encode(text, add_special_tokens=False)
        if ids != want:
            mismatches.append((text, ids, want))
            continue
        hf_dec = hf.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        assert dec == hf_dec, (text, dec, hf_dec)
        if not any(s in text for s in specials):
            assert dec == text, (text, dec)
        # Incremental: every delta is valid UTF-8 on its own; together they equal Decode.
        pieces = [d.decode("utf-8") for d in deltas]  # raises on a broken delta
        assert "".join(pieces) == dec
        held_back += sum(1 for d in deltas[:-1] if d == b"")
    assert not mismatches, f"{len(mismatches)} of {len(texts)} differ, e.g. {mismatches[:3]}"
    # Special-token text as plain text (HF: split_special_tokens=True).
    with_specials = [t for t in texts if any(s in t for s in specials)]
    assert len(with_specials) > 20
    plain = encode_all(model_path, with_specials, "-")
    for text, (ids, _, _) in zip(with_specials, plain):
        want = hf(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]
        assert ids == want, (text, ids, want)
    return held_back


@pytest.fixture(scope="module")
def smollm_hf():
    hf = hf_from_gguf(MODEL)
    # SmolLM2's own tokenizer.json pre-tokenizer.
    hf.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)])
    return hf


@pytest.fixture(scope="module")
def smollm_meta():
    return metadata(MODEL)


def test_default_model_matches_hf(smollm_hf):
    texts = tok_corpus.corpus()
    assert len(texts) >= 1000
    held_back = check_against_hf(MODEL, smollm_hf, texts, tok_corpus.SPECIALS)
    assert held_back > 10  # byte-level tokens really did split characters


def test_default_model_bos_follows_gguf_flag(smollm_meta):
    (info,) = run_tool(MODEL, ["info"])
    fields = [int(x) for x in info.split("\t")[0].split()]
    bos, eos, _, add_bos, add_eos, vocab = fields
    assert bos == smollm_meta["tokenizer.ggml.bos_token_id"]
    assert eos == smollm_meta["tokenizer.ggml.eos_token_id"]
    assert vocab == len(smollm_meta["tokenizer.ggml.tokens"])
    assert add_bos == int(smollm_meta.get("tokenizer.ggml.add_bos_token", False))
    stops = [int(x) for x in info.split("\t")[1].split()]
    assert eos in stops and 0 in stops  # <|im_end|> and <|endoftext|>
    (plain, _, _), (special, _, _) = (encode_all(MODEL, ["Hi there"], f)[0] for f in "-b")
    assert special == ([bos] if add_bos else []) + plain + ([eos] if add_eos else [])


def test_llama_bpe_pre_matches_hf(tmp_path, smollm_meta):
    path = str(tmp_path / "llama_bpe.gguf")
    write_gguf(path, "llama", smollm_meta, {"tokenizer.ggml.pre": "llama-bpe", **digit_vocab(smollm_meta)})
    hf = hf_from_gguf(path)
    naive_json = hf.backend_tokenizer.to_str()
    hf.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    hf.backend_tokenizer.model.ignore_merges = True
    texts = tok_corpus.corpus(n_random=400, seed=7)
    check_against_hf(path, hf, texts, tok_corpus.SPECIALS)
    # The test can tell pre-tokenizers apart: gpt2's regex would give other ids.
    assert count_differences(naive_json, texts, path) > 20


def test_qwen2_pre_matches_hf(tmp_path, smollm_meta):
    path = str(tmp_path / "qwen2.gguf")
    write_gguf(path, "qwen2", smollm_meta, {"tokenizer.ggml.pre": "qwen2", **digit_vocab(smollm_meta)})
    hf = hf_from_gguf(path)  # transformers' Qwen2 converter: qwen2 regex + ByteLevel + NFC
    texts = [unicodedata.normalize("NFC", t) for t in tok_corpus.corpus(n_random=400, seed=11)]
    check_against_hf(path, hf, texts, tok_corpus.SPECIALS)
    # With the digit tokens, the "llama-bpe" grouping would give other ids.
    path3 = str(tmp_path / "as_llama3.gguf")
    write_gguf(path3, "qwen2", smollm_meta, {"tokenizer.ggml.pre": "llama-bpe", **digit_vocab(smollm_meta)})
    assert count_differences(hf.backend_tokenizer.to_str(), texts, path3) > 20


def test_unknown_pre_is_a_clear_error(tmp_path, smollm_meta):
    path = str(tmp_path / "bad_pre.gguf")
    write_gguf(path, "llama", smollm_meta, {"tokenizer.ggml.pre": "no-such-pre"})
    proc = subprocess.run([tool_path(), path], input="", capture_output=True, text=True)
    assert proc.returncode != 0
    assert "no-such-pre" in proc.stderr and "smollm" in proc.stderr


def spm_vocab():
    """A SentencePiece-style vocab: <unk> <s> </s>, 256 <0xXX> byte tokens, control tokens,
    single characters (not all: CJK and emoji mostly fall back to bytes) and the most frequent
    substrings of a training corpus, scored by frequency (all scores distinct)."""
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + tok_corpus.SPECIALS
    types = [2, 3, 3] + [6] * 256 + [3] * len(tok_corpus.SPECIALS)
    scores = [0.0, 0.0, 0.0] + [0.0] * 256 + [0.0] * len(tok_corpus.SPECIALS)
    train = ["\u2581" + t.replace(" ", "\u2581") for t in tok_corpus.corpus(n_random=600, seed=99)]
    counts = {}
    for t in train:
        for n in range(2, 7):
            for i in range(len(t) - n + 1):
                counts[t[i:i + n]] = counts.get(t[i:i + n], 0) + 1
    singles = sorted({c for t in train for c in t if not ("\u4e00" <= c <= "\u9fff") or c in "中文字"})
    for i, c in enumerate(singles):
        tokens.append(c)
        types.append(1)
        scores.append(-10000.0 - i)
    best = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    n = 0
    for piece, _ in best:
        if n == 1200:
            break
        if piece in tokens or any(c not in singles for c in piece):
            continue
        tokens.append(piece)
        types.append(1)
        scores.append(-1.0 - n)
        n += 1
    return tokens, types, scores


def test_llama_sentencepiece_matches_hf(tmp_path):
    tokens, types, scores = spm_vocab()
    path = str(tmp_path / "spm.gguf")
    write_gguf(path, "llama", {}, {
        "tokenizer.ggml.model": "llama", "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.token_type": types, "tokenizer.ggml.scores": scores,
        "tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.eos_token_id": 2,
        "tokenizer.ggml.unknown_token_id": 0, "tokenizer.ggml.add_bos_token": True,
        "tokenizer.ggml.add_space_prefix": True})
    hf = hf_from_gguf(path)
    texts = tok_corpus.corpus(n_random=400, seed=5)
    held_back = check_against_hf(path, hf, texts, tok_corpus.SPECIALS)
    assert held_back > 10  # CJK / emoji went through <0xXX> byte tokens
    # BOS per the GGUF flag.
    (ids, _, _), = encode_all(path, ["hello"], "b")
    assert ids == [1] + hf.encode("hello", add_special_tokens=False)


def test_incremental_decoding_of_split_characters():
    """Arbitrary id sequences (byte-level pieces of emoji/CJK cut anywhere): deltas are valid
    UTF-8 and join to Decode, which matches HF's decode where the bytes are valid."""
    texts = ["😀👨\u200d👩\u200d👧中文字符", "é\u0301 ñ 🇺🇸", "日本語のテキスト🚀"]
    enc = encode_all(MODEL, texts, "-")
    requests = []
    for ids, _, _ in enc:
        for cut in range(1, len(ids)):
            requests.append(" ".join(map(str, ids[:cut])))
    lines = run_tool(MODEL, [f"dec\t{r}" for r in requests])
    partial = 0
    for line in lines:
        dec, deltas = line.split("\t")
        text = bytes.fromhex(dec).decode("utf-8")
        pieces = [bytes.fromhex(d).decode("utf-8") for d in deltas.split(",")]
        assert "".join(pieces) == text
        partial += "\ufffd" in pieces[-1]
    assert partial > 5  # some cuts really ended inside a character
