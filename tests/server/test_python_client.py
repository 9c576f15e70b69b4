"""clients/python as a user gets it: `pip install clients/python` into a fresh virtual
environment, then, from a directory outside the repository and as a non-root user, the
README's and docs/API.md's Python examples and the bot example run against a live server. Also: the async client
has the sync client's methods, finish reasons are enum names, targets parse, and the server's
retry-after hint on RESOURCE_EXHAUSTED is sent and honored."""

import asyncio
import concurrent.futures
import inspect
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import grpc
import pytest

import hearth_client
from conftest import SMALL_SERVER, SOURCE_DIR, Server


def public_methods(cls):
    return {n for n, _ in inspect.getmembers(cls, inspect.isfunction) if not n.startswith("_")}


def test_async_client_has_the_sync_clients_methods():
    sync = public_methods(hearth_client.HearthClient)
    assert sync == public_methods(hearth_client.AsyncHearthClient) - {"__aenter__", "__aexit__"}
    assert {"generate", "complete", "tokenize", "detokenize", "list_models", "model_info",
            "health", "close"} <= sync
    for name in sync - {"generate", "close"}:
        s = inspect.signature(getattr(hearth_client.HearthClient, name))
        a = inspect.signature(getattr(hearth_client.AsyncHearthClient, name))
        assert list(s.parameters) == list(a.parameters), name
        assert inspect.iscoroutinefunction(getattr(hearth_client.AsyncHearthClient, name))


def test_finish_reason_names_and_targets():
    F = hearth_client.FinishReason
    assert F.from_proto(hearth_client.pb.FINISH_REASON_STOP) is F.STOP
    assert str(F.LENGTH) == "length" and f"{F.ABORT}" == "abort" and F.STOP == "stop"
    assert hearth_client.channel_target("127.0.0.1:1") == ("127.0.0.1:1", 0)
    assert hearth_client.channel_target("127.0.0.1:1, 127.0.0.1:2") == \
        ("ipv4:127.0.0.1:1,127.0.0.1:2", 2)
    assert hearth_client.channel_target(["[::1]:1", "[::1]:2"]) == ("ipv6:[::1]:1,[::1]:2", 2)
    assert hearth_client.channel_target("dns:///hearth-grpc:50051") == \
        ("dns:///hearth-grpc:50051", 0)
    with pytest.raises(ValueError):
        hearth_client.channel_target(["127.0.0.1:1", "[::1]:2"])
    with pytest.raises(ValueError):
        hearth_client.HearthClient("127.0.0.1:1", retries=5)


def test_async_client_methods_against_a_server(server):
    async def run():
        async with hearth_client.AsyncHearthClient(server.target, timeout=60) as c:
            ids = await c.tokenize("Hello world")
            assert await c.detokenize(ids) == "Hello world"
            [model] = await c.list_models()
            assert (await c.model_info()).model.name == model.name
            assert await c.health() == "SERVING"
            [done] = await c.complete(text="Hi", max_tokens=4, temperature=0)
            return done
    done = asyncio.run(run())
    [want] = server.client.complete(text="Hi", max_tokens=4, temperature=0)
    assert done.token_ids == want.token_ids and done.finish_reason == want.finish_reason


def refusals(server):
    """RESOURCE_EXHAUSTED calls the server counted (hearth:request_failure_total)."""
    with urllib.request.urlopen(server.metrics_url + "/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("hearth:request_failure_total") and "RESOURCE_EXHAUSTED" in line:
                return float(line.split()[-1])
    return 0


def test_retry_after_is_sent_and_honored():
    s = Server(SMALL_SERVER + ["--max-num-seqs=1", "--max-waiting-requests=1"])
    try:
        running = s.client.generate(text="Count:", max_tokens=48, ignore_eos=True,
                                    temperature=0, timeout=120)
        next(iter(running))
        queued = s.client.generate(text="Count:", max_tokens=48, ignore_eos=True,
                                   temperature=0, timeout=120)
        while s.client.model_info().num_requests_waiting != 1:
            pass
        with pytest.raises(grpc.RpcError) as e:  # retries=0: the refusal itself
            list(s.client.generate(text="x", max_tokens=2, timeout=60))
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert hearth_client.retry_after(e.value) == 1.0
        # With retries the same call is refused (the server counts it), waits out the hint
        # (1 s) and gets in: once the refusal is counted the running request is cancelled, so
        # the queued one runs and the queue has room for the retry.
        with hearth_client.HearthClient(s.target, retries=4, timeout=120) as patient:
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                future = pool.submit(patient.complete, text="x", max_tokens=2, ignore_eos=True)
                deadline = time.monotonic() + 60
                while refusals(s) < 2:
                    assert time.monotonic() < deadline and not future.done()
                    time.sleep(0.02)
                running.cancel()
                [c] = future.result(timeout=120)
        assert len(c.token_ids) == 2
        queued.cancel()
    finally:
        s.stop()


def python_example(doc):
    with open(os.path.join(SOURCE_DIR, doc)) as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    [example] = [b for b in blocks if "HearthClient" in b]
    return example


def test_pip_install_then_readme_and_bot_examples_as_another_user(server):
    user = pwd.getpwnam("nobody")
    work = tempfile.mkdtemp(prefix="hearth-client-")  # outside the repository
    try:
        os.chmod(work, 0o755)
        venv = os.path.join(work, "venv")
        # The system interpreter (Debian's /usr/bin/python3 with python3-venv), which any user
        # can run; the project's own may live under a private home.
        base = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
        subprocess.run([base, "-m", "venv", venv], check=True, timeout=120)
        pip = subprocess.run(
            [os.path.join(venv, "bin", "python"), "-m", "pip", "install", "-q",
             "--disable-pip-version-check", os.path.join(SOURCE_DIR, "clients", "python")],
            capture_output=True, text=True, timeout=600, cwd=work)
        assert pip.returncode == 0, pip.stdout + pip.stderr
        for doc, name in (("README.md", "readme_example.py"), ("docs/API.md", "api_example.py")):
            with open(os.path.join(work, name), "w") as f:
                f.write(python_example(doc).replace("127.0.0.1:50051", server.target))
        shutil.copy(os.path.join(SOURCE_DIR, "clients", "python", "examples", "bot.py"), work)
        for name in os.listdir(work):
            os.chmod(os.path.join(work, name), 0o755)

        def run_as_nobody(*args):
            return subprocess.run(
                [os.path.join(venv, "bin", "python"), *args], capture_output=True, text=True,
                timeout=300, cwd=work, user=user.pw_uid, group=user.pw_gid, extra_groups=[],
                env={"PATH": "/usr/bin:/bin", "HOME": work})

        check = run_as_nobody("-c", "import hearth_client, os; print(os.getuid(), "
                                    "hearth_client.__file__)")
        assert check.returncode == 0, check.stderr
        uid, where = check.stdout.split()
        assert uid == str(user.pw_uid) and where.startswith(venv) and "/_gen" not in where
        readme = run_as_nobody("readme_example.py")
        assert readme.returncode == 0, readme.stderr
        assert readme.stdout.strip(), "the README example printed nothing"
        api = run_as_nobody("api_example.py")  # the sync and the async example
        assert api.returncode == 0, api.stderr
        assert "SERVING" in api.stdout and "[" in api.stdout.splitlines()[-1], api.stdout
        bot = run_as_nobody("bot.py", "--address", server.target, "--requests", "6",
                            "--concurrency", "3", "--max-tokens", "6")
        assert bot.returncode == 0, bot.stdout + bot.stderr
        assert '"completed"' in bot.stdout.splitlines()[-1]
    finally:
        shutil.rmtree(work, ignore_errors=True)
