"""model_load copy vs mmap: start-up time and resident memory of `hearth serve`, alternating
the two modes (A, B, A, B, ...) so machine load affects both alike.

  python3 bench/serve/model_load_cost.py [--runs 5] [--model PATH]

Prints per mode the median "model loaded in" time and, once serving and idle, VmRSS, RssAnon
and RssFile from /proc/PID/status."""

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def run(mode, model):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    proc = subprocess.Popen(
        [os.path.join(ROOT, "build", "hearth"), "serve", f"--model={model}",
         f"--listen-address=127.0.0.1:{free_port()}", "--metrics-enabled=false",
         "--kv-cache-bytes=64MiB", "--swap-space=0", f"--model-load={mode}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    load = None
    for line in proc.stdout:
        m = re.search(r"model loaded \(\w+\) in ([\d.]+)(ms|s)", line)
        if m:
            load = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
        if "listening on" in line:
            break
    rss = {k: status_kib(proc.pid, k) / 1024 for k in ("VmRSS", "RssAnon", "RssFile")}
    proc.terminate()
    proc.wait(60)
    return load, rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--model", default=os.path.join(ROOT, "models",
                                                    "SmolLM2-135M-Instruct.Q4_1.gguf"))
    args = ap.parse_args()
    results = {"copy": [], "mmap": []}
    for _ in range(args.runs):
        for mode in ("copy", "mmap"):
            results[mode].append(run(mode, args.model))
    for mode, runs in results.items():
        loads = [r[0] for r in runs]
        rss = runs[-1][1]
        print(f"{mode}: model loaded in median {statistics.median(loads) * 1e3:.0f} ms "
              f"(min {min(loads) * 1e3:.0f}, max {max(loads) * 1e3:.0f}); idle VmRSS "
              f"{rss['VmRSS']:.0f} MiB = RssAnon {rss['RssAnon']:.0f} + RssFile "
              f"{rss['RssFile']:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
