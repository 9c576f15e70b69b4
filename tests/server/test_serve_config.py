"""`hearth serve` configuration: defaults < YAML < HEARTH_* env < flags, checked on the printed
effective configuration; an unknown key, a wrong type and an out-of-range value each fail
start-up with exit code 2 and a message naming the key and where it came from."""

import pytest

from conftest import Server, run_cli


def effective(server):
    """{key: (value, origin)} from the "config: key = value (origin)" lines."""
    out = {}
    for line in server.lines:
        if "config: " not in line:
            continue
        body = line.split("config: ", 1)[1]
        key, rest = body.split(" = ", 1)
        value, origin = rest.rsplit(" (", 1)
        out[key] = (value, origin.rstrip(")"))
    return out


def test_layers_override_in_order(tmp_path):
    cfg = tmp_path / "hearth.yaml"
    cfg.write_text("kv_cache_bytes: 48MiB\n"
                   "max_num_seqs: 3\n"
                   "max_waiting_requests: 5\n"
                   "block_size: 32\n"
                   "swap_space: 0\n"
                   "metrics:\n  port: 9555\n  enabled: false\n")
    s = Server([f"--config={cfg}", "--max-waiting-requests", "7", "--log-level=debug"],
               env={"HEARTH_MAX_NUM_SEQS": "4", "HEARTH_MAX_WAITING_REQUESTS": "6",
                    "HEARTH_METRICS_PORT": "9556", "HEARTH_UNRELATED_THING": "x",
                    "HEARTH_KV_CACHE_DTYPE": "f32"})
    try:
        c = effective(s)
        assert c["kv_cache_bytes"] == (str(48 << 20), f"file {cfg}")
        assert c["block_size"] == ("32", f"file {cfg}")
        assert c["max_num_seqs"] == ("4", "env HEARTH_MAX_NUM_SEQS")
        assert c["max_waiting_requests"] == ("7", "flag --max-waiting-requests")
        assert c["metrics.enabled"] == ("false", f"file {cfg}")
        assert c["metrics.port"] == ("9556", "env HEARTH_METRICS_PORT")
        assert c["log_level"] == ("debug", "flag --log-level")
        assert c["max_num_batched_tokens"] == ("1024", "default")
        assert c["kv_cache_dtype"] == ("f32", "env HEARTH_KV_CACHE_DTYPE")
        assert c["listen_address"][1] == "flag --listen-address"
        info = s.client.model_info()
        assert info.kv_block_size == 32
        assert info.kv_cache_total_blocks == (48 << 20) // (32 * 30 * 2 * 192 * 4)  # f32 K/V
    finally:
        s.stop()


BAD = [
    # (yaml text, env, flags, key the message names, origin word)
    ("max_num_seqz: 4\n", {}, [], "max_num_seqz", "file"),
    ("metrics:\n  prot: 1\n", {}, [], "metrics.prot", "file"),
    ("max_num_seqs: many\n", {}, [], "max_num_seqs", "file"),
    ("enable_prefix_caching: maybe\n", {}, [], "enable_prefix_caching", "file"),
    ("metrics: 5\n", {}, [], "metrics", "file"),
    ("threads: [1, 2]\n", {}, [], "threads", "file"),
    ("block_size: 24\n", {}, [], "block_size", "file"),
    ("kv_cache_memory_fraction: 1.5\n", {}, [], "kv_cache_memory_fraction", "file"),
    ("kv_cache_dtype: bf16\n", {}, [], "kv_cache_dtype", "file"),
    ("", {}, ["--kv-cache-dtype=int8"], "kv_cache_dtype", "flag --kv-cache-dtype"),
    ("", {"HEARTH_MAX_NUM_SEQS": "0"}, [], "max_num_seqs", "env HEARTH_MAX_NUM_SEQS"),
    ("", {"HEARTH_KV_CACHE_BYTES": "lots"}, [], "kv_cache_bytes", "env HEARTH_KV_CACHE_BYTES"),
    ("", {}, ["--metrics-port=70000"], "metrics.port", "flag --metrics-port"),
    ("", {}, ["--listen-address=nowhere"], "listen_address", "flag --listen-address"),
    ("", {}, ["--shutdown-grace-period=soon"], "shutdown_grace_period", "flag"),
    ("", {}, ["--no-such-flag=1"], "no-such-flag", "unknown flag"),
]


@pytest.mark.parametrize("yaml_text,env,flags,key,origin", BAD, ids=[b[3] for b in BAD])
def test_bad_config_exits_2(tmp_path, yaml_text, env, flags, key, origin):
    args = list(flags)
    if yaml_text:
        cfg = tmp_path / "bad.yaml"
        cfg.write_text(yaml_text)
        args.append(f"--config={cfg}")
    rc, out = run_cli(args, env=env)
    assert rc == 2, out
    assert key in out and origin in out, out
    assert "listening" not in out


def test_missing_config_file_and_help(tmp_path):
    rc, out = run_cli([f"--config={tmp_path}/none.yaml"])
    assert rc == 2 and "none.yaml" in out
    rc, out = run_cli(["--help"])
    assert rc == 0 and "HEARTH_MAX_NUM_SEQS" in out and "--kv-cache-bytes" in out
