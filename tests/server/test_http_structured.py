"""Structured output over the HTTP APIs with the official clients: OpenAI `response_format`
(json_object, json_schema), vLLM's guided_* extras, and Ollama's `format` ("json" or a schema).
Outputs are checked with `jsonschema` / `re.fullmatch`; greedy output equals the gRPC path's
under the same constraint; bad constraints are 400s naming the field."""

import json
import re

import jsonschema
import ollama
import openai
import pytest

from conftest import SMALL_SERVER, Server

SIGNAL = {
    "type": "object",
    "properties": {
        "side": {"enum": ["buy", "sell"]},
        "size": {"type": "number"},
        "reason": {"type": "string", "maxLength": 60},
    },
    "required": ["side", "size", "reason"],
    "additionalProperties": False,
}
ASK = [{"role": "user", "content": "Give a trading signal for BTC as JSON."}]


@pytest.fixture(scope="module")
def server():
    s = Server([*SMALL_SERVER, "--kv-cache-bytes=256MiB"])
    yield s
    s.stop()


@pytest.fixture(scope="module")
def oa(server):
    with openai.OpenAI(base_url=server.http_url + "/v1", api_key="unused", max_retries=0,
                       timeout=300) as client:
        yield client


@pytest.fixture(scope="module")
def model(oa):
    return oa.models.list().data[0].id


def parsed(text, finish):
    assert finish in ("stop", "constraint_unmet"), finish
    if finish == "stop":
        return json.loads(text)
    with pytest.raises(ValueError):  # never malformed output reported as complete
        json.loads(text)
    return None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_openai_json_schema_validates(oa, model, seed):
    r = oa.chat.completions.create(
        model=model, messages=ASK, max_tokens=80, temperature=1.0, seed=seed,
        response_format={"type": "json_schema",
                         "json_schema": {"name": "signal", "schema": SIGNAL, "strict": True}})
    value = parsed(r.choices[0].message.content, r.choices[0].finish_reason)
    if value is not None:
        jsonschema.validate(value, SIGNAL)


def test_openai_json_object_streaming(oa, model):
    stream = oa.chat.completions.create(model=model, messages=ASK, max_tokens=60, temperature=0.7,
                                        seed=5, stream=True,
                                        response_format={"type": "json_object"})
    text, finish = "", None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
    value = parsed(text, finish)
    assert value is None or isinstance(value, dict)


def test_vllm_guided_extras_on_completions(oa, model):
    r = oa.completions.create(model=model, prompt="The date today is", max_tokens=16,
                              temperature=1.0, seed=3,
                              extra_body={"guided_regex": r"20[0-9]{2}-[01][0-9]-[0-3][0-9]"})
    assert re.fullmatch(r"20[0-9]{2}-[01][0-9]-[0-3][0-9]", r.choices[0].text), r.choices[0].text
    r = oa.completions.create(model=model, prompt="The best color is", max_tokens=8,
                              temperature=1.0, seed=4,
                              extra_body={"guided_choice": ["red", "green", "blue"]})
    assert r.choices[0].text in ("red", "green", "blue")


def test_greedy_equals_grpc_under_the_same_schema(oa, server, model):
    r = oa.chat.completions.create(
        model=model, messages=ASK, max_tokens=60, temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "s", "schema": SIGNAL}})
    [c] = server.client.complete(chat=[("user", ASK[0]["content"])], max_tokens=60,
                                 temperature=0, json_schema=json.dumps(SIGNAL), timeout=300)
    assert r.choices[0].message.content == c.text


@pytest.mark.parametrize("body,field", [
    ({"response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "nope"}}}},
     "response_format.json_schema"),
    ({"response_format": {"type": "xml"}}, "response_format.type"),
    ({"guided_regex": "a(b"}, "guided_regex"),
    ({"guided_regex": "a", "guided_choice": ["x"]}, "guided_choice"),
])
def test_bad_constraints_are_400_naming_the_field(oa, model, body, field):
    with pytest.raises(openai.BadRequestError) as e:
        oa.chat.completions.create(model=model, messages=ASK, max_tokens=8, extra_body=body)
    assert field in str(e.value), str(e.value)


def test_ollama_format_schema_and_json(server):
    client = ollama.Client(host=server.http_url, timeout=300)
    model = client.list().models[0].model
    for seed in (1, 2):
        r = client.chat(model=model, messages=ASK, format=SIGNAL,
                        options={"temperature": 1.0, "seed": seed, "num_predict": 80})
        value = parsed(r.message.content, r.done_reason)
        if value is not None:
            jsonschema.validate(value, SIGNAL)
    r = client.generate(model=model, prompt="A JSON object describing a cat:", format="json",
                        options={"temperature": 0.8, "seed": 7, "num_predict": 60})
    value = parsed(r.response, r.done_reason)
    assert value is None or isinstance(value, dict)
    with pytest.raises(ollama.ResponseError) as e:
        client.generate(model=model, prompt="x", format={"type": "nope"})
    assert "format" in str(e.value)
