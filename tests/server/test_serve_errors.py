"""Bad inputs get the documented status code and a message naming the field; a seeded fuzz
loop of random GenerateRequests leaves the server healthy; a full waiting queue is
RESOURCE_EXHAUSTED."""

import concurrent.futures
import math
import random
import time

import grpc
import pytest

from conftest import SMALL_SERVER, Server, pb, wait_kv_free
from hearth_client import build_request

INVALID = grpc.StatusCode.INVALID_ARGUMENT

# (name, request kwargs, expected code, a word the message must contain)
CASES = [
    ("negative temperature", dict(text="hi", temperature=-0.5), INVALID, "temperature"),
    ("nan temperature", dict(text="hi", temperature=math.nan), INVALID, "temperature"),
    ("inf temperature", dict(text="hi", temperature=math.inf), INVALID, "temperature"),
    ("top_p zero", dict(text="hi", top_p=0.0), INVALID, "top_p"),
    ("top_p above one", dict(text="hi", top_p=1.5), INVALID, "top_p"),
    ("top_p nan", dict(text="hi", top_p=math.nan), INVALID, "top_p"),
    ("min_p above one", dict(text="hi", min_p=2.0), INVALID, "min_p"),
    ("repetition penalty zero", dict(text="hi", repetition_penalty=0.0), INVALID,
     "repetition_penalty"),
    ("presence penalty", dict(text="hi", presence_penalty=3.0), INVALID, "presence_penalty"),
    ("empty text", dict(text=""), INVALID, "text"),
    ("no input", dict(), INVALID, "input"),
    ("empty token ids", dict(token_ids=[]), INVALID, "token_ids"),
    ("negative token id", dict(token_ids=[1, -5]), INVALID, "token_ids.ids[1]"),
    ("token id past vocab", dict(token_ids=[49152]), INVALID, "token_ids.ids[0]"),
    ("empty chat", dict(chat=[]), INVALID, "chat"),
    ("unknown model", dict(text="hi", model="gpt-9"), grpc.StatusCode.NOT_FOUND, "gpt-9"),
    ("n zero", dict(text="hi", n=0), INVALID, "sampling.n"),
    ("n too big", dict(text="hi", n=17), INVALID, "sampling.n"),
    ("too many stop strings", dict(text="hi", stop=["x"] * 17), INVALID, "sampling.stop"),
    ("empty stop string", dict(text="hi", stop=[""]), INVALID, "stop"),
    ("stop token past vocab", dict(text="hi", stop_token_ids=[10 ** 6]), INVALID,
     "stop_token_ids"),
    ("max_tokens zero", dict(text="hi", max_tokens=0), INVALID, "max_tokens"),
    ("min over max tokens", dict(text="hi", max_tokens=2, min_tokens=5), INVALID, "min_tokens"),
    ("logprobs too many", dict(text="hi", logprobs=21), INVALID, "logprobs"),
    ("over the context", dict(text="hi", max_tokens=100000), INVALID, "context length"),
    # SMALL_SERVER holds 2912 tokens (fp16 K/V), so max_model_len is capped there.
    ("prompt over the context", dict(token_ids=[42] * 3000), INVALID, "context length"),
]


@pytest.mark.parametrize("name,kwargs,code,word", CASES, ids=[c[0] for c in CASES])
def test_bad_input_status(server, name, kwargs, code, word):
    with pytest.raises(grpc.RpcError) as e:
        list(server.client.generate(build_request(**kwargs), timeout=30))
    assert e.value.code() == code, (name, e.value.details())
    assert word in e.value.details(), (name, e.value.details())


def test_bad_unary_inputs(server):
    with pytest.raises(grpc.RpcError) as e:
        server.client.detokenize([5, 49152])
    assert e.value.code() == INVALID and "token_ids[1]" in e.value.details()
    with pytest.raises(grpc.RpcError) as e:
        server.client.tokenize("hi", model="nope")
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def random_string(rng):
    kind = rng.randrange(4)
    if kind == 0:
        return ""
    if kind == 1:
        return "".join(chr(rng.randrange(0x20, 0x7f)) for _ in range(rng.randrange(1, 40)))
    if kind == 2:
        return "".join(chr(rng.choice([rng.randrange(0x80, 0xd800),
                                       rng.randrange(0xe000, 0x10ffff)]))
                       for _ in range(rng.randrange(1, 30)))
    return "<|im_start|>" * rng.randrange(1, 5) + "\x00\n\t"


def random_float(rng):
    return rng.choice([0.0, -1.0, 0.5, 1.0, 2.0, 1e30, -1e30, math.nan, math.inf, -math.inf,
                       rng.uniform(-3, 3), 1e-40])


def random_int(rng):
    return rng.choice([0, 1, 2, -1, 16, 17, 2 ** 31 - 1, -2 ** 31, rng.randrange(-100, 100)])


def random_request(rng):
    """Half wild (many random fields), half mild (a plain request with few random fields)."""
    wild = rng.random() < 0.5
    p = 1.0 if wild else 0.1
    r = pb.GenerateRequest()
    if rng.random() < 0.15 * p:
        r.model = random_string(rng)
    which = rng.randrange(4) if wild else 3
    if which == 3 and not wild:
        r.text = random_string(rng) or "hello"
    elif which == 0:
        r.text = random_string(rng)
    elif which == 1:
        r.token_ids.ids.extend(rng.choice([rng.randrange(-5, 49160), rng.randrange(0, 49152),
                                           2 ** 31 - 1, -2 ** 31])
                               for _ in range(rng.randrange(0, 12)))
    elif which == 2:
        for _ in range(rng.randrange(0, 4)):
            r.chat.messages.add(role=rng.choice(["user", "assistant", "system", random_string(rng)]),
                                content=random_string(rng))
        if rng.random() < 0.5:
            r.chat.add_generation_prompt = rng.random() < 0.5
    s = r.sampling
    for field in ["temperature", "top_p", "min_p", "repetition_penalty", "presence_penalty",
                  "frequency_penalty"]:
        if rng.random() < p * 0.4:
            setattr(s, field, random_float(rng))
    for field in ["n", "top_k", "min_tokens", "logprobs"]:
        if rng.random() < p * 0.3:
            setattr(s, field, random_int(rng))
    # Keep accepted generations short: max_tokens is small or invalid.
    s.max_tokens = (rng.choice([0, 1, 2, 3, -1, 2 ** 31 - 1, -2 ** 31]) if wild
                    else rng.choice([1, 2, 3]))
    if rng.random() < 0.3:
        s.seed = rng.randrange(2 ** 64)
    if rng.random() < p * 0.2:
        s.stop.extend(random_string(rng) for _ in range(rng.randrange(0, 20)))
    if rng.random() < p * 0.2:
        s.stop_token_ids.extend(random_int(rng) for _ in range(rng.randrange(0, 4)))
    for field in ["ignore_eos", "include_stop_str_in_output", "skip_special_tokens"]:
        if rng.random() < p * 0.2:
            setattr(s, field, rng.random() < 0.5)
    r.priority = random_int(rng)
    r.request_id = random_string(rng)
    return r


ALLOWED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
           grpc.StatusCode.RESOURCE_EXHAUSTED}


def test_fuzz_leaves_server_serving(server):
    rng = random.Random(1234)
    requests = [random_request(rng) for _ in range(400)]

    def run(req):
        try:
            list(server.client.generate(req, timeout=30))
            return grpc.StatusCode.OK
        except grpc.RpcError as e:
            return e.code()

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(run, requests))
    assert set(codes) <= ALLOWED, {c for c in codes if c not in ALLOWED}
    assert codes.count(grpc.StatusCode.OK) >= 10
    assert codes.count(grpc.StatusCode.INVALID_ARGUMENT) >= 100
    assert server.client.health() == "SERVING"
    assert server.proc.poll() is None
    waited, info = wait_kv_free(server.client)
    assert waited is not None, info
    ok = server.client.complete(text="The sky is", temperature=0, max_tokens=4)
    assert len(ok[0].token_ids) == 4


def test_waiting_queue_full_is_resource_exhausted():
    s = Server(SMALL_SERVER + ["--max-num-seqs=1", "--max-waiting-requests=1"])
    try:
        long = build_request(text="Count to one hundred:", temperature=0, max_tokens=300,
                             ignore_eos=True)
        first = s.client.generate(long, timeout=60)
        next(iter(first))  # running: max_num_seqs is 1
        second = s.client.generate(long, timeout=60)  # waits in the queue (1 place)
        deadline = time.monotonic() + 120
        while s.client.model_info().num_requests_waiting != 1:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        with pytest.raises(grpc.RpcError) as e:
            list(s.client.generate(long, timeout=60))
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e.value.details()
        assert "max_waiting_requests" in e.value.details()
        calls = [first, second]
        for call in calls:
            call.cancel()
    finally:
        s.stop()
