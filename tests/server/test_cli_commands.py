"""The command line every subcommand shares (one parser: --help everywhere, '-'/'_' alike,
repeated flags) and `hearth health`, which probes the server its settings describe."""

import os
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import DEFAULT_MODEL, HEARTH, SMALL_SERVER, Server, clean_env, free_port


def hearth(*args, env=None, timeout=120, stdin=None):
    p = subprocess.run([HEARTH, *args], capture_output=True, text=True, timeout=timeout,
                       env=clean_env(env), input=stdin)
    return p.returncode, p.stdout, p.stderr


@pytest.mark.parametrize("command", ["serve", "generate", "client", "bench-serve", "health"])
def test_help_everywhere(command):
    rc, out, err = hearth(command, "--help")
    assert rc == 0, err
    assert "usage: hearth " + command in out
    rc2, out2, _ = hearth(command, "-h")
    assert rc2 == 0 and out2 == out


def test_generate_help_lists_its_flags():
    _, out, _ = hearth("generate", "--help")
    for flag in ["--prompt", "--chat", "--max_tokens", "--temperature", "--stop", "--threads",
                 "--kv_cache_bytes", "--stats"]:
        assert flag in out, flag


def test_generate_spellings_and_repeated_stop():
    base = ["generate", f"--model={DEFAULT_MODEL}", "--temperature=0", "--kv-cache-bytes=64MiB",
            "--prompt", "1, 2, 3, 4,"]
    rc, dashed, err = hearth(*base, "--max-tokens", "12")
    assert rc == 0, err
    rc, underscored, err = hearth(*base, "--max_tokens=12")
    assert rc == 0, err
    assert dashed == underscored
    # Repeated --stop (the style of `hearth client`): each string stops the completion.
    rc, stopped, err = hearth(*base, "--max_tokens=12", "--stop", " 6", "--stop", " 9")
    assert rc == 0, err
    assert " 6" in dashed and stopped.strip() == dashed[:dashed.index(" 6")].strip()


@pytest.mark.parametrize("args,message", [
    (["generate", "--bogus"], "unknown flag --bogus"),
    (["generate", "--prompt", "x", "--max-tokens", "many"], "--max_tokens: not an integer"),
    (["generate", "stray"], "unexpected argument 'stray'"),
    (["serve", "--max-tokens=5"], "unknown flag --max-tokens"),
    (["health", "--metrics-port"], "flag --metrics-port needs a value"),
])
def test_bad_command_lines_exit_2(args, message):
    rc, out, err = hearth(*args)
    assert rc == 2, out + err
    assert message in err


def test_health_follows_the_configured_port():
    s = Server(SMALL_SERVER + ["--shutdown-grace-period=60s"])
    try:
        env = {"HEARTH_METRICS_PORT": str(s.metrics_port)}
        rc, out, err = hearth("health", env=env)
        assert rc == 0 and "ready" in out, err
        # The same port from a YAML file named by $HEARTH_CONFIG (the container's way).
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(f"metrics:\n  port: {s.metrics_port}\n")
        try:
            rc, _, err = hearth("health", env={"HEARTH_CONFIG": f.name})
            assert rc == 0, err
        finally:
            os.unlink(f.name)
        # Metrics off: the gRPC health check on listen_address.
        rc, out, err = hearth("health", f"--listen-address={s.target}",
                              env={"HEARTH_METRICS_ENABLED": "false"})
        assert rc == 0 and "grpc" in out, err
        # Another port: nothing listens there.
        rc, _, err = hearth("health", f"--metrics-port={free_port()}")
        assert rc == 1 and "not ready" in err
        # Draining: /ready answers 503, so health says not ready while streams finish.
        stream = s.client.generate(text="Count slowly:", max_tokens=400, ignore_eos=True,
                                   temperature=0, timeout=120)
        next(iter(stream))
        s.signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        while True:
            rc, _, err = hearth("health", env=env)
            if rc == 1:
                break
            assert time.monotonic() < deadline, "health stayed ready after SIGTERM"
            time.sleep(0.05)
        assert "503" in err and "draining" in err, err
        stream.cancel()
        assert s.wait(60) == 0
    finally:
        s.stop()
