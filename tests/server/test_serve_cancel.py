"""Cancelling a stream and letting its deadline pass each abort the request in the engine:
its KV blocks are free again (ModelInfo) soon after (waited for, not timed)."""


import grpc
import pytest

from conftest import wait_kv_free

LONG = dict(text="Write a long story about a dragon.", temperature=0, max_tokens=400,
            ignore_eos=True)


def kv_in_use(client):
    info = client.model_info()
    return info.kv_cache_usage > 0 and info.num_requests_running == 1


def test_cancel_frees_kv(server):
    call = server.client.generate(**LONG, timeout=60)
    it = iter(call)
    for _ in range(3):
        next(it)  # a few tokens in: the request holds KV blocks
    assert kv_in_use(server.client)
    call.cancel()
    waited, info = wait_kv_free(server.client)
    assert waited is not None, info
    with pytest.raises(grpc.RpcError) as e:
        next(it)
    assert e.value.code() == grpc.StatusCode.CANCELLED


def test_deadline_frees_kv(server):
    # 400 tokens take several seconds; the deadline ends the stream part way. (On a loaded
    # machine the deadline may pass before the first token: the queue test covers that path.)
    call = server.client.generate(**LONG, timeout=2.0)
    got = 0
    with pytest.raises(grpc.RpcError) as e:
        for msg in call:
            got += len(msg.token_ids)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert got < LONG["max_tokens"]
    waited, info = wait_kv_free(server.client)
    assert waited is not None, info


def test_deadline_while_waiting_in_queue(server):
    # Deadlines that pass before the first token (even before scheduling) also free everything.
    calls = [server.client.generate(**LONG, timeout=0.3) for _ in range(8)]
    for call in calls:
        with pytest.raises(grpc.RpcError) as e:
            list(call)
        assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    waited, info = wait_kv_free(server.client)
    assert waited is not None, info
    ok = server.client.complete(text="Hi", temperature=0, max_tokens=2)
    assert len(ok[0].token_ids) == 2


def test_client_disconnect_frees_kv(server):
    import hearth_client
    client = hearth_client.HearthClient(server.target, retries=0)
    it = iter(client.generate(**LONG, timeout=60))
    next(it)
    client.close()  # the channel goes away mid-stream
    waited, info = wait_kv_free(server.client)
    assert waited is not None, info
