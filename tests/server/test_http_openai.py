"""The OpenAI-compatible HTTP API with the official `openai` Python package as the client:
completions and chat completions, streaming and not, n > 1, stop strings, seeds, logprobs,
usage; greedy outputs equal the gRPC path's; models, tokenize / detokenize; errors in OpenAI's
shape with the right statuses; metrics split by protocol."""

import json
import math
import re
import urllib.request

import openai
import pytest

from conftest import SMALL_SERVER, Server

PROMPTS = ["The capital of France is", "def fibonacci(n):", "1, 2, 3, 4,", "Once upon a time"]
CHATS = ["Name three colors.", "What is 2+2?"]


@pytest.fixture(scope="module")
def server():
    s = Server(SMALL_SERVER)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def oa(server):
    with openai.OpenAI(base_url=server.http_url + "/v1", api_key="unused", max_retries=0,
                       timeout=300) as client:
        yield client


@pytest.fixture(scope="module")
def model(oa):
    [m] = oa.models.list().data
    return m.id


def grpc_text(server, **kwargs):
    [c] = server.client.complete(timeout=300, **kwargs)
    return c.text, c.token_ids


def test_models_list_and_retrieve(oa, server):
    models = oa.models.list().data
    assert [m.id for m in models] == [server.client.list_models()[0].name]
    assert models[0].object == "model" and models[0].owned_by == "hearth"
    assert oa.models.retrieve(models[0].id).id == models[0].id
    with pytest.raises(openai.NotFoundError):
        oa.models.retrieve("gpt-9")


@pytest.mark.parametrize("prompt", PROMPTS)
def test_completion_greedy_equals_grpc(oa, server, model, prompt):
    r = oa.completions.create(model=model, prompt=prompt, max_tokens=12, temperature=0)
    text, ids = grpc_text(server, text=prompt, max_tokens=12, temperature=0)
    assert r.choices[0].text == text
    assert r.choices[0].finish_reason == "length"
    assert r.id.startswith("cmpl-") and r.object == "text_completion" and r.model == model
    assert r.usage.completion_tokens == len(ids) == 12
    assert r.usage.prompt_tokens == len(server.client.tokenize(prompt, add_special_tokens=True,
                                                               parse_special_tokens=True))
    assert r.usage.total_tokens == r.usage.prompt_tokens + 12


def test_completion_stream_equals_non_stream(oa, model):
    prompt = PROMPTS[0]
    whole = oa.completions.create(model=model, prompt=prompt, max_tokens=16, temperature=0)
    chunks = list(oa.completions.create(model=model, prompt=prompt, max_tokens=16, temperature=0,
                                        stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == whole.choices[0].text
    assert all(c.id == chunks[0].id for c in chunks)
    finals = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finals[-1] == "length" and all(f is None for f in finals[:-1])
    # include_usage: a last chunk with no choices and the usage.
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 16
    assert all(c.usage is None for c in chunks[:-1])


def test_completion_token_ids_and_prompt_list(oa, server, model):
    ids = server.client.tokenize(PROMPTS[1], add_special_tokens=True)
    by_ids = oa.completions.create(model=model, prompt=ids, max_tokens=8, temperature=0)
    text, _ = grpc_text(server, token_ids=ids, max_tokens=8, temperature=0)
    assert by_ids.choices[0].text == text
    many = oa.completions.create(model=model, prompt=PROMPTS[:3], max_tokens=6, temperature=0)
    assert [c.index for c in many.choices] == [0, 1, 2]
    for prompt, choice in zip(PROMPTS[:3], many.choices):
        assert choice.text == grpc_text(server, text=prompt, max_tokens=6, temperature=0)[0]


@pytest.mark.parametrize("chat", CHATS)
def test_chat_greedy_equals_grpc(oa, server, model, chat):
    r = oa.chat.completions.create(model=model, messages=[{"role": "user", "content": chat}],
                                   max_tokens=24, temperature=0)
    text, _ = grpc_text(server, chat=[("user", chat)], max_tokens=24, temperature=0)
    assert r.choices[0].message.content == text
    assert r.choices[0].message.role == "assistant"
    assert r.id.startswith("chatcmpl-") and r.object == "chat.completion"
    stream = oa.chat.completions.create(model=model, messages=[{"role": "user", "content": chat}],
                                        max_tokens=24, temperature=0, stream=True)
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == text
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    assert chunks[0].object == "chat.completion.chunk"


def test_chat_without_max_tokens_runs_to_a_stop(oa, model):
    r = oa.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hi"}],
                                   temperature=0)
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.completion_tokens > 0


def test_n_samples_and_seed(oa, model):
    kwargs = dict(model=model, prompt="Once upon a time", max_tokens=12, temperature=1.0, n=3,
                  seed=1234)
    a = oa.completions.create(**kwargs)
    b = oa.completions.create(**kwargs)
    assert [c.index for c in a.choices] == [0, 1, 2]
    assert [c.text for c in a.choices] == [c.text for c in b.choices]
    assert len({c.text for c in a.choices}) > 1  # samples differ from each other
    assert a.usage.completion_tokens == 36
    c = oa.completions.create(**{**kwargs, "seed": 99})
    assert [x.text for x in c.choices] != [x.text for x in a.choices]
    # Streaming n > 1: each index's chunks add up to a choice of the same seeded request.
    chunks = list(oa.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Tell me a story."}], max_tokens=10,
        temperature=1.0, n=2, seed=7, stream=True))
    texts = ["", ""]
    for ch in chunks:
        for choice in ch.choices:
            texts[choice.index] += choice.delta.content or ""
    whole = oa.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Tell me a story."}], max_tokens=10,
        temperature=1.0, n=2, seed=7)
    assert texts == [c.message.content for c in whole.choices]


def test_stop_strings(oa, server, model):
    full, _ = grpc_text(server, text="1, 2, 3, 4,", max_tokens=16, temperature=0)
    assert " 7" in full
    r = oa.completions.create(model=model, prompt="1, 2, 3, 4,", max_tokens=16, temperature=0,
                              stop=[" 7"])
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].text == full[:full.index(" 7")]
    chunks = list(oa.completions.create(model=model, prompt="1, 2, 3, 4,", max_tokens=16,
                                        temperature=0, stop=" 7", stream=True))
    assert "".join(c.choices[0].text for c in chunks) == r.choices[0].text


def test_logprobs_shapes(oa, model):
    r = oa.completions.create(model=model, prompt=PROMPTS[0], max_tokens=5, temperature=0,
                              logprobs=3)
    lp = r.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == 5
    assert "".join(lp.tokens) == r.choices[0].text
    assert lp.text_offset == sorted(lp.text_offset) and lp.text_offset[0] == 0
    for tok, val, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs):
        assert val <= 0 and len(top) == 3
        # Greedy: the chosen token is the most likely one.
        assert math.isclose(max(top.values()), val, abs_tol=1e-5)
        assert tok in top
    chat = oa.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hi"}],
                                      max_tokens=4, temperature=0, logprobs=True, top_logprobs=2)
    content = chat.choices[0].logprobs.content
    assert len(content) == 4
    assert "".join(t.token for t in content) == chat.choices[0].message.content
    for t in content:
        assert len(t.top_logprobs) == 2 and t.top_logprobs[0].logprob >= t.top_logprobs[1].logprob
        assert bytes(t.bytes).decode("utf-8", "replace") == t.token
    stream = list(oa.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Hi"}], max_tokens=4, temperature=0,
        logprobs=True, top_logprobs=2, stream=True))
    streamed = [t.token for c in stream for t in (c.choices[0].logprobs.content or [])]
    assert streamed == [t.token for t in content]


def test_tokenize_detokenize(server):
    def post(path, body):
        req = urllib.request.Request(server.http_url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())
    t = post("/tokenize", {"prompt": "Hello world"})
    assert t["tokens"] == server.client.tokenize("Hello world", add_special_tokens=True,
                                                 parse_special_tokens=True)
    assert t["count"] == len(t["tokens"]) and t["max_model_len"] > 0
    assert post("/detokenize", {"tokens": t["tokens"]})["prompt"].endswith("Hello world")
    chat = post("/tokenize", {"messages": [{"role": "user", "content": "Hi"}]})
    assert chat["count"] > 5


# (what to send, status, openai exception, a word the message must contain, param)
ERRORS = [
    (dict(temperature=-1), 400, openai.BadRequestError, "temperature", "temperature"),
    (dict(top_p=1.5), 400, openai.BadRequestError, "top_p", "top_p"),
    (dict(n=0), 400, openai.BadRequestError, "n", "n"),
    (dict(max_tokens=0), 400, openai.BadRequestError, "max_tokens", "max_tokens"),
    (dict(max_tokens=100000), 400, openai.BadRequestError, "context length", None),
    (dict(logprobs=21), 400, openai.BadRequestError, "logprobs", "logprobs"),
    (dict(stop=[""]), 400, openai.BadRequestError, "stop", None),
    (dict(prompt=[1, -5]), 400, openai.BadRequestError, "prompt[1]", None),
    (dict(prompt=""), 400, openai.BadRequestError, "prompt", "prompt"),
    (dict(model="gpt-9"), 404, openai.NotFoundError, "gpt-9", "model"),
    (dict(extra_body={"echo": True}), 400, openai.BadRequestError, "echo", "echo"),
    (dict(extra_body={"top_k": "x"}), 400, openai.BadRequestError, "top_k", "top_k"),
]


@pytest.mark.parametrize("kwargs,status,exc,word,param", ERRORS,
                         ids=[str(e[0]) for e in ERRORS])
def test_errors_in_openai_shape(oa, model, kwargs, status, exc, word, param):
    args = dict(model=model, prompt="hi", max_tokens=4)
    args.update(kwargs)
    with pytest.raises(exc) as e:
        oa.completions.create(**args)
    assert e.value.status_code == status
    err = e.value.body
    assert word in err["message"], err
    assert err["type"] == ("invalid_request_error" if status in (400, 404) else err["type"])
    if param is not None:
        assert err["param"] == param


def test_chat_errors(oa, model):
    with pytest.raises(openai.BadRequestError) as e:
        oa.chat.completions.create(model=model, messages=[], max_tokens=4)
    assert "messages" in e.value.body["message"]
    with pytest.raises(openai.BadRequestError) as e:
        oa.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}],
                                   tools=[{"type": "function", "function": {"name": "f"}}])
    assert "tool" in e.value.body["message"]
    with pytest.raises(openai.BadRequestError) as e:
        oa.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}],
                                   response_format={"type": "xml"})
    assert e.value.body["param"] == "response_format.type"


def test_unknown_route_and_method(server):
    for method, path, status in [("GET", "/v1/nope", 404), ("GET", "/v1/completions", 405),
                                 ("POST", "/v1/models", 405)]:
        req = urllib.request.Request(server.http_url + path, method=method,
                                     data=b"{}" if method == "POST" else None)
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=30)
        assert e.value.code == status
        assert "message" in json.loads(e.value.read())["error"]


def test_metrics_split_by_protocol(oa, server, model):
    def scrape():
        with urllib.request.urlopen(server.metrics_url + "/metrics", timeout=30) as r:
            text = r.read().decode()
        out = {}
        for proto in ("grpc", "openai", "ollama"):
            m = re.search(r'hearth:request_success_total\{[^}]*finished_reason="length"'
                          r'[^}]*protocol="' + proto + r'"\} (\d+)', text)
            out[proto] = int(m.group(1))
        m = re.search(r'hearth:request_failure_total\{[^}]*code="INVALID_ARGUMENT"'
                      r'[^}]*protocol="openai"\} (\d+)', text)
        out["openai_invalid"] = int(m.group(1))
        return out
    before = scrape()
    oa.completions.create(model=model, prompt="hi", max_tokens=3, temperature=0, n=2)
    grpc_text(server, text="hi", max_tokens=3, temperature=0)
    with pytest.raises(openai.BadRequestError):
        oa.completions.create(model=model, prompt="hi", max_tokens=3, temperature=-1)
    after = scrape()
    assert after["openai"] - before["openai"] == 2
    assert after["grpc"] - before["grpc"] == 1
    assert after["ollama"] == before["ollama"]
    assert after["openai_invalid"] - before["openai_invalid"] == 1
