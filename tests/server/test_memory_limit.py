"""A `hearth serve` in a cgroup limited to 1 GiB of memory and one CPU (made by hand in the
cgroup file system, v1 or v2, as a container runtime would) sizes its KV cache from the limit,
not from the host's memory: the cache and the weights fit in 1 GiB, it serves, and its peak
memory stays under the limit; its threads default to the one CPU of the quota. Needs root and
a writable cgroup file system; skips otherwise (the container image test checks the same in a
real container)."""

import os

import pytest
from gguf import GGUFReader

from conftest import DEFAULT_MODEL, Server

LIMIT = 1 << 30
V1 = "/sys/fs/cgroup/memory"
V1_CPU = "/sys/fs/cgroup/cpu"
V2 = "/sys/fs/cgroup"


def write(path, value):
    with open(path, "w") as f:
        f.write(str(value))


def read(path):
    with open(path) as f:
        return f.read().strip()


class Cgroup:
    """Memory limit LIMIT and a one-CPU quota: cgroup v1 (memory + cpu hierarchies) or v2."""

    def __init__(self):
        name = f"hearth-memory-limit-test-{os.getpid()}"
        self.dirs = []
        if os.path.exists(os.path.join(V1, "memory.limit_in_bytes")):
            self.version = 1
            mem, cpu = os.path.join(V1, name), os.path.join(V1_CPU, name)
            os.mkdir(mem)
            self.dirs.append(mem)
            write(os.path.join(mem, "memory.limit_in_bytes"), LIMIT)
            if os.path.exists(os.path.join(V1_CPU, "cpu.cfs_quota_us")):
                os.mkdir(cpu)
                self.dirs.append(cpu)
                write(os.path.join(cpu, "cpu.cfs_period_us"), 100000)
                write(os.path.join(cpu, "cpu.cfs_quota_us"), 100000)
            self.peak_file = os.path.join(mem, "memory.max_usage_in_bytes")
        elif "memory" in read(os.path.join(V2, "cgroup.subtree_control")).split():
            self.version = 2
            d = os.path.join(V2, name)
            os.mkdir(d)
            self.dirs.append(d)
            write(os.path.join(d, "memory.max"), LIMIT)
            if "cpu" in read(os.path.join(V2, "cgroup.subtree_control")).split():
                write(os.path.join(d, "cpu.max"), "100000 100000")
            self.peak_file = os.path.join(d, "memory.peak")
        else:
            raise OSError("no memory controller to delegate")

    def enter(self):
        """For preexec_fn: moves the calling (child) process into the cgroup(s)."""
        for d in self.dirs:
            write(os.path.join(d, "cgroup.procs"), os.getpid())

    def peak(self):
        return int(read(self.peak_file)) if os.path.exists(self.peak_file) else None

    def remove(self):
        for d in self.dirs:
            try:
                os.rmdir(d)
            except OSError:
                pass


def kv_bytes_per_token():
    """fp16 K and V of every layer, from the GGUF metadata (independent of the server)."""
    fields = GGUFReader(DEFAULT_MODEL).fields

    def meta(key):
        f = fields[key]
        return int(f.parts[f.data[0]][0])
    head_dim = meta("llama.embedding_length") // meta("llama.attention.head_count")
    return 2 * meta("llama.block_count") * meta("llama.attention.head_count_kv") * head_dim * 2


def test_one_gib_cgroup_sizes_the_kv_cache_and_serves():
    try:
        cg = Cgroup()
    except OSError as e:
        pytest.skip(f"cannot make a cgroup here: {e}")
    s = None
    try:
        # No --kv-cache-bytes and no --threads: both sized automatically.
        s = Server(["--swap-space=0"], preexec_fn=cg.enter)
        out = s.output()
        assert f"cgroup v{cg.version} limit 1024 MiB" in out, out
        if len(cg.dirs) > 1 or cg.version == 2:
            assert "cpus: 1 usable" in out, out
        info = s.client.model_info()
        kv = info.kv_cache_capacity_tokens * kv_bytes_per_token()
        weights = os.path.getsize(DEFAULT_MODEL)
        # The cache takes kv_cache_memory_fraction (0.2) of what the cgroup has left; with the
        # weights and the CPU backend's repacked copy of them it fits in the limit.
        assert 0 < kv <= 0.2 * LIMIT and kv + 2 * weights < LIMIT, (kv, weights)
        calls = [s.client.generate(token_ids=[100 + i] * 900, max_tokens=32, ignore_eos=True,
                                   timeout=300) for i in range(8)]
        assert all(sum(len(m.token_ids) for m in c) == 32 for c in calls)
        peak = cg.peak()
        if peak is not None:
            assert peak < LIMIT, peak
        s.stop()
        assert s.proc.returncode == 0
    finally:
        if s is not None:
            s.stop()
        cg.remove()
