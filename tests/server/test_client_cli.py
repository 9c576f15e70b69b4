"""`hearth client` against a live `hearth serve` (checked against the Python client, an
independent implementation over grpcio), and clients/python/examples/bot.py end to end."""

import json
import os
import subprocess
import sys

import pytest

from conftest import HEARTH, SMALL_SERVER, SOURCE_DIR, Server, wait_kv_free


def client(*args, timeout=60):
    p = subprocess.run([HEARTH, "client", *args], capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


@pytest.mark.parametrize("kwargs,flags", [
    (dict(text="Once upon a time"), ["--prompt", "Once upon a time"]),
    (dict(text="The capital of France is", stop=["."]),
     ["--prompt", "The capital of France is", "--stop", "."]),
    (dict(chat=[("user", "Name three colors.")]), ["--chat", "Name three colors."]),
    (dict(chat=[("system", "Answer in French."), ("user", "Hello!")]),
     ["--chat", "Hello!", "--system", "Answer in French."]),
])
def test_generate_matches_python_client(server, kwargs, flags):
    [want] = server.client.complete(max_tokens=20, temperature=0, **kwargs)
    rc, out, err = client("generate", "--address", server.target, "--max_tokens", "20",
                          "--temperature", "0", *flags)
    assert rc == 0, err
    assert out == want.text + "\n"
    assert want.finish_reason in ("stop", "length")
    assert f"finish_reason={want.finish_reason}" in err
    assert f"completion_tokens={want.usage.completion_tokens} " in err
    assert f"prompt_tokens={want.usage.prompt_tokens} " in err


def test_generate_seeded_sampling_matches(server):
    [want] = server.client.complete(text="Hi", max_tokens=12, temperature=0.9, seed=7,
                                    ignore_eos=True)
    rc, out, err = client("generate", "--address", server.target, "--prompt", "Hi",
                          "--max_tokens=12", "--temperature=0.9", "--seed=7", "--ignore_eos")
    assert rc == 0, err
    assert out == want.text + "\n" and "completion_tokens=12 " in err


def test_health_models_info_tokenize(server):
    rc, out, err = client("health", "--address", server.target)
    assert (rc, out) == (0, "SERVING\n"), err

    [card] = server.client.list_models()
    rc, out, _ = client("models", "--address", server.target)
    assert rc == 0
    assert out == (f"{card.name}\tarchitecture={card.architecture} "
                   f"quant_type={card.quant_type} context_length={card.context_length}\n")

    want = server.client.model_info()
    rc, out, _ = client("info", "--address", server.target)
    assert rc == 0
    info = dict(line.split(": ", 1) for line in out.splitlines())
    assert info["name"] == want.model.name and info["architecture"] == "llama"
    for field in ("vocab_size", "parameter_count", "kv_block_size", "kv_cache_total_blocks",
                  "kv_cache_capacity_tokens", "active_parameter_count"):
        assert int(info[field]) == getattr(want, field), field
    assert info["backend"] == want.backend
    assert int(info["vocab_size"]) == 49152

    text = "Hello world, <|im_start|> tokens!"
    for flags, kw in [([], {}), (["--parse_special_tokens"], dict(parse_special_tokens=True))]:
        rc, out, _ = client("tokenize", text, "--address", server.target, *flags)
        assert rc == 0
        assert [int(t) for t in out.split()] == server.client.tokenize(text, **kw)


@pytest.mark.parametrize("args,rc_want,message", [
    (["health", "--address", "127.0.0.1:1"], 1, "health on 127.0.0.1:1 failed: UNAVAILABLE"),
    (["generate", "--address", "127.0.0.1:1", "--prompt", "x"], 1, "failed: UNAVAILABLE"),
    (["info", "--bogus"], 2, "unknown flag --bogus"),
    (["generate", "--address", "SERVER"], 2, "exactly one of --prompt TEXT, --chat TEXT"),
    (["generate", "--address", "SERVER", "--prompt", "x", "--max_tokens", "many"], 2,
     "--max_tokens: not an integer"),
    (["frobnicate", "--address", "SERVER"], 2, "unknown subcommand 'frobnicate'"),
    ([], 2, "missing subcommand"),
    (["generate", "--address", "SERVER", "--prompt", "x", "--max_tokens", "0"], 1,
     "generate on SERVER failed: INVALID_ARGUMENT"),
    (["generate", "--address", "SERVER", "--prompt", "x", "--model", "nope"], 1, "NOT_FOUND"),
    (["generate", "--address", "SERVER", "--prompt", "x", "--max_tokens", "500",
      "--ignore_eos", "--deadline_ms", "50"], 1, "DEADLINE_EXCEEDED"),
])
def test_errors(server, args, rc_want, message):
    args = [server.target if a == "SERVER" else a for a in args]
    rc, _, err = client(*args)
    assert rc == rc_want, err
    assert message.replace("SERVER", server.target) in err
    wait_kv_free(server.client)


def test_bot_example_runs_and_frees_kv():
    # A small queue (2 running + 2 waiting) makes the bot meet RESOURCE_EXHAUSTED and retry
    # after the server's retry-after hint (1 s, with jitter). 40 retries (~40 s) so that a busy
    # CI machine, where the 4 admitted requests drain slowly, cannot exhaust them.
    s = Server(SMALL_SERVER + ["--max-num-seqs=2", "--max-waiting-requests=2"])
    try:
        bot = os.path.join(SOURCE_DIR, "clients", "python", "examples", "bot.py")
        p = subprocess.run([sys.executable, bot, "--address", s.target, "--requests", "12",
                            "--concurrency", "8", "--max-tokens", "8", "--cancel-fraction",
                            "0.4", "--seed", "1", "--retries", "40"], capture_output=True,
                           text=True, timeout=240)
        assert p.returncode == 0, p.stdout + p.stderr
        stats = json.loads(p.stdout.strip().splitlines()[-1])
        assert stats["failed"] == 0 and stats["gave_up"] == 0
        assert stats["completed"] + stats["cancelled"] + stats["deadline_exceeded"] == 12
        assert stats["cancelled"] >= 1 and stats["completed"] >= 1
        assert stats["retries"] >= 1
        waited, info = wait_kv_free(s.client)
        assert waited is not None, info
    finally:
        s.stop()
