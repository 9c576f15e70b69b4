"""256 concurrent streams mixed across OpenAI SSE, Ollama NDJSON and gRPC against one server:
every stream completes with the text its prompt gives alone (greedy outputs do not depend on
the batch), and the KV cache is empty afterwards."""

import asyncio

import grpc
import httpx
import ollama
import openai
import pytest

from conftest import Server, hearth_client, wait_kv_free

N_STREAMS = 256
MAX_TOKENS = 8
PROMPTS = ["The capital of France is", "def fibonacci(n):", "1, 2, 3, 4,", "Once upon a time",
           "Water boils at", "The three primary colors are", "In the beginning", "My name is"]


@pytest.fixture(scope="module")
def server():
    s = Server(["--kv-cache-bytes=256MiB", "--swap-space=0", "--threads=2",
                "--max-num-seqs=128"])
    yield s
    s.stop()


def test_256_mixed_streams(server):
    name = server.client.list_models()[0].name
    expected = {}
    for p in PROMPTS:
        [c] = server.client.complete(text=p, max_tokens=MAX_TOKENS, temperature=0, timeout=60)
        expected[p] = c.text

    async def main():
        limits = httpx.Limits(max_connections=N_STREAMS, max_keepalive_connections=N_STREAMS)
        oa = openai.AsyncOpenAI(base_url=server.http_url + "/v1", api_key="x", max_retries=0,
                                timeout=300, http_client=httpx.AsyncClient(limits=limits,
                                                                           timeout=300))
        ol = ollama.AsyncClient(host=server.http_url, timeout=300, limits=limits)
        grpc_client = hearth_client.AsyncHearthClient(server.target)

        async def via_openai(prompt):
            stream = await oa.completions.create(model=name, prompt=prompt, max_tokens=MAX_TOKENS,
                                                 temperature=0, stream=True)
            return "".join([c.choices[0].text async for c in stream if c.choices])

        async def via_ollama(prompt):
            parts = await ol.generate(model=name, prompt=prompt, raw=True, stream=True,
                                      options={"temperature": 0, "num_predict": MAX_TOKENS})
            return "".join([p.response async for p in parts])

        async def via_grpc(prompt):
            [c] = await grpc_client.complete(text=prompt, max_tokens=MAX_TOKENS, temperature=0,
                                             timeout=300)
            return c.text

        kinds = [via_openai, via_ollama, via_grpc]
        jobs = [(kinds[i % 3].__name__, PROMPTS[i % len(PROMPTS)]) for i in range(N_STREAMS)]
        results = await asyncio.gather(*[kinds[i % 3](PROMPTS[i % len(PROMPTS)])
                                         for i in range(N_STREAMS)], return_exceptions=True)
        await oa.close()
        await grpc_client.close()
        return jobs, results

    jobs, results = asyncio.run(main())
    errors = [(j, r) for j, r in zip(jobs, results) if isinstance(r, BaseException)]
    assert not errors, errors[:5]
    wrong = [(j, r) for j, r in zip(jobs, results) if r != expected[j[1]]]
    assert not wrong, wrong[:5]
    assert {j[0] for j in jobs} == {"via_openai", "via_ollama", "via_grpc"}
    waited, info = wait_kv_free(server.client, timeout=60)
    assert waited is not None, info
