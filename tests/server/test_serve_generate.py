"""Generate over gRPC: 64 concurrent greedy streams equal the offline engine (`hearth generate`)
in text, and their token ids decode (with HF transformers, independent) to that text; the
unary RPCs agree with independent references (HF tokenizer, gguf reader)."""

import concurrent.futures
import os
import subprocess

import grpc
import pytest
from gguf import GGUFReader

import transformers.modeling_gguf_pytorch_utils as _m

_m.is_torch_available = lambda: True
from transformers import AutoTokenizer  # noqa: E402

import hearth_client  # noqa: E402
from conftest import DEFAULT_MODEL, HEARTH, clean_env, pb  # noqa: E402

PROMPTS = [
    "The capital of France is",
    "Once upon a time, there was a",
    "def fibonacci(n):",
    "The three primary colors are",
    "Water boils at a temperature of",
    "My favourite book is",
    "1, 2, 3, 4,",
    "In the beginning",
]
MAX_TOKENS = 12


@pytest.fixture(scope="module")
def hf_tokenizer():
    d, base = os.path.split(DEFAULT_MODEL)
    return AutoTokenizer.from_pretrained(d, gguf_file=base)


def offline(prompt):
    """`hearth generate` greedy: prints the prompt, the completion, then a newline."""
    out = subprocess.run(
        [HEARTH, "generate", f"--model={DEFAULT_MODEL}", "--temperature=0",
         f"--max_tokens={MAX_TOKENS}", "--kv_cache_mb=64", f"--prompt={prompt}"],
        capture_output=True, env=clean_env(), timeout=120, check=True).stdout.decode("utf-8")
    assert out.startswith(prompt) and out.endswith("\n"), out
    return out[len(prompt):-1]


def test_64_concurrent_streams_match_offline(server, hf_tokenizer):
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        expected = dict(zip(PROMPTS, pool.map(offline, PROMPTS)))
    requests = [(PROMPTS[i % len(PROMPTS)], f"req-{i}") for i in range(64)]

    def stream(item):
        prompt, rid = item
        msgs = list(server.client.generate(text=prompt, request_id=rid, temperature=0,
                                           max_tokens=MAX_TOKENS, timeout=120))
        return prompt, rid, msgs

    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        results = list(pool.map(stream, requests))
    assert len(results) == 64
    for prompt, rid, msgs in results:
        assert msgs, rid
        assert all(m.request_id == rid for m in msgs)
        assert all(m.finish_reason == pb.FINISH_REASON_UNSPECIFIED for m in msgs[:-1])
        last = msgs[-1]
        assert last.finish_reason in (pb.FINISH_REASON_LENGTH, pb.FINISH_REASON_STOP)
        text = "".join(m.text for m in msgs)
        ids = [t for m in msgs for t in m.token_ids]
        assert text == expected[prompt], (prompt, text, expected[prompt])
        assert hf_tokenizer.decode(ids, skip_special_tokens=True) == text
        assert last.usage.completion_tokens == len(ids)
        assert last.usage.prompt_tokens == len(server.client.tokenize(prompt, True, True))
        if last.finish_reason == pb.FINISH_REASON_LENGTH:
            assert len(ids) == MAX_TOKENS


def test_parallel_samples_and_seed(server):
    a = server.client.complete(text="Tell me a story", n=3, seed=7, temperature=1.0,
                               max_tokens=8, timeout=60)
    b = server.client.complete(text="Tell me a story", n=3, seed=7, temperature=1.0,
                               max_tokens=8, timeout=60)
    assert len(a) == 3
    assert [c.token_ids for c in a] == [c.token_ids for c in b]
    assert all(c.finish_reason != hearth_client.FinishReason.UNSPECIFIED for c in a)


def test_chat_and_token_ids_inputs(server, hf_tokenizer):
    chat = server.client.complete(chat=[("user", "Hi!")], temperature=0, max_tokens=8)
    text_prompt = hf_tokenizer.apply_chat_template([{"role": "user", "content": "Hi!"}],
                                                   tokenize=False, add_generation_prompt=True)
    via_text = server.client.complete(text=text_prompt, temperature=0, max_tokens=8)
    assert chat[0].token_ids == via_text[0].token_ids
    ids = server.client.tokenize(text_prompt, True, True)
    via_ids = server.client.complete(token_ids=ids, temperature=0, max_tokens=8)
    assert via_ids[0].token_ids == chat[0].token_ids


def test_stop_string_and_logprobs(server):
    full = server.client.complete(text="1, 2, 3, 4,", temperature=0, max_tokens=12)[0]
    assert " 6" in full.text
    cut = server.client.complete(text="1, 2, 3, 4,", temperature=0, max_tokens=12, stop=[" 6"])[0]
    assert cut.finish_reason == hearth_client.FinishReason.STOP and cut.stop_reason == " 6"
    assert cut.text == full.text[:full.text.index(" 6")]
    msgs = list(server.client.generate(text="Hello", temperature=0, max_tokens=3, logprobs=2))
    lps = [lp for m in msgs for lp in m.logprobs]
    assert len(lps) == 3
    for lp in lps:
        assert len(lp.top_logprobs) == 2 and lp.logprob <= 0
        assert lp.top_logprobs[0].token_id == lp.token_id  # greedy picks the top one


def test_tokenize_detokenize_match_hf(server, hf_tokenizer):
    for text in ["Hello, world!", "  spaces\tand\nnewlines 12345", "héllo wörld ✓ 日本語"]:
        ids = server.client.tokenize(text)
        assert ids == hf_tokenizer.encode(text, add_special_tokens=False), text
        assert server.client.detokenize(ids) == text
    ids = server.client.tokenize("<|im_start|>user", parse_special_tokens=True)
    assert ids[0] == hf_tokenizer.convert_tokens_to_ids("<|im_start|>")
    assert server.client.detokenize(ids, skip_special_tokens=True) == "user"


def test_list_models_and_model_info_match_gguf(server):
    reader = GGUFReader(DEFAULT_MODEL)
    field = reader.fields["llama.context_length"]
    n_params = sum(int(t.n_elements) for t in reader.tensors)
    models = server.client.list_models()
    assert len(models) == 1
    card = models[0]
    assert card.name == "SmolLM2-135M-Instruct.Q4_1"
    assert card.architecture == "llama" and card.quant_type == "Q4_1"
    assert 0 < card.context_length <= int(field.contents())
    info = server.client.model_info(card.name)
    assert info.model == card
    assert info.vocab_size == len(reader.fields["tokenizer.ggml.tokens"].contents())
    assert info.parameter_count == n_params
    assert info.active_parameter_count == n_params  # dense: every weight is read per token
    assert info.backend == "cpu" and info.kv_block_size == 16
    # 64 MiB / (16 tokens x 30 layers x 2 x 192 x 2 B): fp16 K/V, the default
    assert info.kv_cache_total_blocks == 182
    assert info.kv_cache_capacity_tokens == 182 * 16
    with pytest.raises(grpc.RpcError) as e:
        server.client.model_info("no-such-model")
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
