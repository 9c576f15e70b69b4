"""The Ollama-compatible HTTP API with the official `ollama` Python package as the client: chat
and generate, streaming (NDJSON) and not, options honoured (num_predict, temperature, seed, stop,
top_k), the final chunk's statistics, /api/tags, /api/show, /api/version, and Ollama's error
shape."""

import json
import urllib.request

import ollama
import pytest

from conftest import SMALL_SERVER, Server


@pytest.fixture(scope="module")
def server():
    s = Server(SMALL_SERVER)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(server):
    return ollama.Client(host=server.http_url, timeout=300)


@pytest.fixture(scope="module")
def model(client):
    [m] = client.list().models
    return m.model


def grpc_text(server, **kwargs):
    [c] = server.client.complete(timeout=300, **kwargs)
    return c.text


def test_tags_lists_the_served_model(client, server):
    [m] = client.list().models
    name = server.client.list_models()[0].name
    assert m.model == name + ":latest"
    assert m.details.format == "gguf" and m.details.family == "llama"
    assert m.details.quantization_level == "Q4_1"
    assert m.size > 50_000_000 and m.modified_at is not None


def test_show_and_version(client, model, server):
    info = client.show(model)
    assert info.details.family == "llama"
    assert info.modelinfo["general.architecture"] == "llama"
    assert info.modelinfo["llama.context_length"] == server.client.model_info().model.context_length
    assert "im_start" in info.template
    with urllib.request.urlopen(server.http_url + "/api/version", timeout=30) as r:
        assert json.loads(r.read())["version"]
    with pytest.raises(ollama.ResponseError) as e:
        client.show("nope")
    assert e.value.status_code == 404


def test_chat_greedy_equals_grpc_stream_and_not(client, model, server):
    messages = [{"role": "user", "content": "Name three colors."}]
    opts = {"temperature": 0, "num_predict": 20}
    whole = client.chat(model=model, messages=messages, options=opts, stream=False)
    expected = grpc_text(server, chat=[("user", "Name three colors.")], max_tokens=20,
                         temperature=0)
    assert whole.message.content == expected and whole.message.role == "assistant"
    assert whole.done and whole.done_reason in ("stop", "length")
    parts = list(client.chat(model=model, messages=messages, options=opts, stream=True))
    assert "".join(p.message.content for p in parts) == expected
    assert all(not p.done for p in parts[:-1]) and parts[-1].done
    final = parts[-1]
    assert final.eval_count == whole.eval_count and final.eval_count <= 20
    assert final.prompt_eval_count == whole.prompt_eval_count > 5
    for field in ("total_duration", "prompt_eval_duration", "eval_duration"):
        assert getattr(final, field) > 0, field
    assert final.total_duration >= final.eval_duration
    assert final.load_duration == 0
    assert all(p.model == model.removesuffix(":latest") and p.created_at for p in parts)


def test_generate_uses_the_template_and_raw_does_not(client, model, server):
    opts = {"temperature": 0, "num_predict": 12}
    r = client.generate(model=model, prompt="Name three colors.", options=opts, stream=False)
    assert r.response == grpc_text(server, chat=[("user", "Name three colors.")], max_tokens=12,
                                   temperature=0)
    raw = client.generate(model=model, prompt="The capital of France is", raw=True, options=opts)
    assert raw.response == grpc_text(server, text="The capital of France is", max_tokens=12,
                                     temperature=0)
    assert raw.eval_count == 12 and raw.done_reason == "length"
    parts = list(client.generate(model=model, prompt="The capital of France is", raw=True,
                                 options=opts, stream=True))
    assert "".join(p.response for p in parts) == raw.response
    system = client.generate(model=model, prompt="Hi", system="Answer in French.", options=opts)
    assert system.response == grpc_text(server, chat=[("system", "Answer in French."),
                                                      ("user", "Hi")], max_tokens=12,
                                        temperature=0)


def test_options_are_honoured(client, model, server):
    base = dict(model=model, prompt="Once upon a time", raw=True)
    short = client.generate(**base, options={"num_predict": 3, "temperature": 0})
    assert short.eval_count == 3
    seeded = {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "seed": 42, "num_predict": 16}
    a = client.generate(**base, options=seeded).response
    b = client.generate(**base, options=seeded).response
    c = client.generate(**base, options={**seeded, "seed": 43}).response
    assert a == b and a != c
    # The same seed and sampler settings over gRPC give the same text (Philox stream per seed).
    assert a == grpc_text(server, text="Once upon a time", temperature=1.0, seed=42,
                          max_tokens=16)
    full = grpc_text(server, text="1, 2, 3, 4,", max_tokens=16, temperature=0)
    stopped = client.generate(model=model, prompt="1, 2, 3, 4,", raw=True,
                              options={"temperature": 0, "num_predict": 16, "stop": [" 7"]})
    assert stopped.response == full[:full.index(" 7")] and stopped.done_reason == "stop"
    k1 = client.generate(**base, options={"temperature": 5.0, "top_k": 1, "seed": 1,
                                          "num_predict": 8})
    assert k1.response == grpc_text(server, text="Once upon a time", temperature=0, max_tokens=8)


def test_load_only_and_latest_tag(client, model):
    r = client.generate(model=model, prompt="")
    assert r.done and r.done_reason == "load"
    r = client.chat(model=model.removesuffix(":latest"), messages=[])
    assert r.done and r.done_reason == "load"


# (endpoint, body, status, a word the error must contain)
ERRORS = [
    ("/api/generate", {"model": "nope", "prompt": "hi"}, 404, "nope"),
    ("/api/chat", {"model": "nope", "messages": [{"role": "user", "content": "x"}]}, 404, "nope"),
    ("/api/generate", {"prompt": "hi"}, 400, "model"),
    ("/api/generate", {"model": "M", "prompt": "hi", "options": {"temperature": -1}}, 400,
     "options.temperature"),
    ("/api/generate", {"model": "M", "prompt": "hi", "options": {"top_p": "high"}}, 400,
     "options.top_p"),
    ("/api/generate", {"model": "M", "prompt": "hi", "options": {"num_predict": -7}}, 400,
     "options.num_predict"),
    ("/api/generate", {"model": "M", "prompt": "hi", "format": "xml"}, 400, "format"),
    ("/api/chat", {"model": "M", "messages": "hi"}, 400, "messages"),
    ("/api/chat", {"model": "M", "messages": [{"content": "x"}]}, 400, "messages[0].role"),
    ("/api/chat", {"model": "M", "messages": [{"role": "user", "content": "x"}],
                   "tools": [{"type": "function"}]}, 400, "tools"),
]


@pytest.mark.parametrize("path,body,status,word", ERRORS, ids=[json.dumps(e[1]) for e in ERRORS])
def test_errors_in_ollama_shape(server, model, path, body, status, word):
    body = {k: (model if v == "M" else v) for k, v in body.items()}
    req = urllib.request.Request(server.http_url + path, data=json.dumps(body).encode())
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=30)
    assert e.value.code == status
    err = json.loads(e.value.read())
    assert set(err) == {"error"} and word in err["error"], err


def test_client_raises_response_error(client):
    with pytest.raises(ollama.ResponseError) as e:
        client.chat(model="nope", messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 404 and "nope" in e.value.error
