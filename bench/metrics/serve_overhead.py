#!/usr/bin/env python3
"""Served throughput with metrics on vs off: starts `hearth serve` twice (metrics.enabled true and
false, same settings otherwise), then drives the same load at each in alternating rounds
(on, off, on, off, ...) so that drift of the machine cancels out. With --fresh, every round
starts its own server and stops it afterwards, so only one server is alive at a time (two live
servers on two cores showed a steady few-percent offset between the processes). One round: STREAMS concurrent
greedy Generate streams over grpc.aio, each exactly TOKENS tokens (ignore_eos). Prints output
tokens/s per round and the medians, and the relative difference.

  scripts/venv-python.sh bench/metrics/serve_overhead.py --binary build-prom/hearth [--rounds 5]
"""

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
import grpc  # noqa: E402
from hearth_client import build_request  # noqa: E402
from hearth_client import pb  # noqa: E402,F401
from hearth_client import pb_grpc  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(binary, model, metrics_on, threads):
    port, mport = free_port(), free_port()
    cmd = [binary, "serve", f"--model={model}", f"--listen-address=127.0.0.1:{port}",
           f"--threads={threads}", "--kv-cache-bytes=256MiB", "--swap-space=0",
           f"--metrics-enabled={'true' if metrics_on else 'false'}",
           "--metrics-listen-address=127.0.0.1", f"--metrics-port={mport}",
           "--http-listen-address=127.0.0.1", "--http-port=0"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    ready = threading.Event()

    def read():
        for line in proc.stdout:
            if "listening on" in line:
                ready.set()
        ready.set()
    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(120) or proc.poll() is not None:
        raise RuntimeError("hearth serve did not start")
    return proc, f"127.0.0.1:{port}"


async def one_round(target, streams, tokens):
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.HearthStub(channel)

        async def one(i):
            n = 0
            req = build_request(text=f"Write a story about robot number {i}.", temperature=0.0,
                                max_tokens=tokens, ignore_eos=True)
            async for msg in stub.Generate(req, timeout=600):
                n += len(msg.token_ids)
            return n
        t0 = time.perf_counter()
        counts = await asyncio.gather(*(one(i) for i in range(streams)))
        elapsed = time.perf_counter() - t0
    assert sum(counts) == streams * tokens, counts
    return sum(counts) / elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(SOURCE_DIR, "build", "hearth"))
    ap.add_argument("--model",
                    default=os.path.join(SOURCE_DIR, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--streams", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fresh", action="store_true",
                    help="a new server for every round (one alive at a time)")
    args = ap.parse_args()
    if args.fresh:
        return fresh_rounds(args)

    servers = {on: start(args.binary, args.model, on, args.threads) for on in (True, False)}
    results = {True: [], False: []}
    try:
        for on in (True, False):  # warm-up round each, not counted
            asyncio.run(one_round(servers[on][1], args.streams, args.tokens))
        for r in range(args.rounds):
            order = (True, False) if r % 2 == 0 else (False, True)
            for on in order:
                tps = asyncio.run(one_round(servers[on][1], args.streams, args.tokens))
                results[on].append(tps)
                print(f"round {r} metrics {'on ' if on else 'off'}: {tps:8.1f} output tokens/s",
                      flush=True)
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(60)
    on, off = statistics.median(results[True]), statistics.median(results[False])
    print(f"median on {on:.1f} tok/s, off {off:.1f} tok/s, on/off - 1 = {100 * (on / off - 1):+.2f}%")
    print(f"mean   on {statistics.mean(results[True]):.1f} tok/s, "
          f"off {statistics.mean(results[False]):.1f} tok/s")


def fresh_rounds(args):
    results = {True: [], False: []}
    for r in range(args.rounds):
        for on in ((True, False) if r % 2 == 0 else (False, True)):
            proc, target = start(args.binary, args.model, on, args.threads)
            try:
                asyncio.run(one_round(target, args.streams, 8))  # warm-up, not counted
                tps = asyncio.run(one_round(target, args.streams, args.tokens))
            finally:
                proc.terminate()
                proc.wait(60)
            results[on].append(tps)
            print(f"round {r} metrics {'on ' if on else 'off'}: {tps:8.1f} output tokens/s",
                  flush=True)
    on, off = statistics.median(results[True]), statistics.median(results[False])
    print(f"median on {on:.1f} tok/s, off {off:.1f} tok/s, on/off - 1 = {100 * (on / off - 1):+.2f}%")
    print(f"mean   on {statistics.mean(results[True]):.1f} tok/s, "
          f"off {statistics.mean(results[False]):.1f} tok/s")


if __name__ == "__main__":
    main()
