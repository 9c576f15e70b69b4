"""Soak and overload runs against a live `hearth serve` (loopback only, bounded, stop by
themselves). Used by test_soak.py (short versions, in CI) and scripts/soak.sh (the long ones).

  python3 tests/server/soak.py soak --requests 10000 [--concurrency 48] [--max-seconds S]
  python3 tests/server/soak.py overload [--waves 10]

soak: REQUESTS requests from CONCURRENCY client threads: mixed prompt lengths (text and token
ids), max_tokens, priorities and n; 20% are cancelled mid-stream, 10% get a deadline that
expires mid-request. A sampler reads the server's RSS, open fds and threads (/proc) and KV usage
and queue gauges (ModelInfo) every second. The result: every outcome counted, the samples'
start / after warm-up / peak / end, and the server's failure counters.

overload: WAVES bursts of 10x the server's capacity (max_num_seqs + max_waiting_requests) long
requests at once: the excess must be refused with RESOURCE_EXHAUSTED before any admitted request
finishes, every admitted one must finish, and memory must not grow from wave to wave."""

import argparse
import concurrent.futures
import json
import os
import random
import sys
import threading
import time
import urllib.request

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import SLOW, Server, wait_kv_free  # noqa: E402
from hearth_client import build_request  # noqa: E402

SANITIZED = any(k in os.environ for k in ("ASAN_OPTIONS", "TSAN_OPTIONS"))  # scripts/sanitize.sh
WORDS = ("the quick brown fox jumps over a lazy dog while markets open and prices move "
         "across every exchange in the world today").split()


def proc_sample(pid):
    """(rss MiB, open fds, threads) of a process."""
    rss = threads = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss, fds, threads


class Sampler(threading.Thread):
    """Samples the server every `period` seconds until stop()."""

    def __init__(self, server, period=1.0):
        super().__init__(daemon=True)
        self.server, self.period = server, period
        self.samples = []  # (t, done_requests, rss, fds, threads, kv_usage, running, waiting)
        self.done = 0  # updated by the driver
        self._stopping = threading.Event()

    def snapshot(self):
        rss, fds, threads = proc_sample(self.server.proc.pid)
        info = self.server.client.model_info()
        return (time.monotonic(), self.done, rss, fds, threads, info.kv_cache_usage,
                info.num_requests_running, info.num_requests_waiting)

    def run(self):
        while not self._stopping.wait(self.period):
            try:
                self.samples.append(self.snapshot())
            except grpc.RpcError:
                pass

    def stop(self):
        self._stopping.set()
        self.join(30)
        self.samples.append(self.snapshot())


def failure_counts(server):
    text = urllib.request.urlopen(server.metrics_url + "/metrics", timeout=60).read().decode()
    out = {}
    for line in text.splitlines():
        # One series per code, model and protocol: sum them per code.
        if line.startswith("hearth:request_failure_total{"):
            code = line.split('code="')[1].split('"')[0]
            out[code] = out.get(code, 0) + float(line.rsplit(" ", 1)[1])
    return out


def make_plan(rng, i):
    """One request of the mix: (request, action, timeout) with action in ok/cancel/deadline."""
    kind = rng.random()
    action = "cancel" if kind < 0.2 else "deadline" if kind < 0.3 else "ok"
    long = rng.random() < 0.15
    max_tokens = rng.randint(64, 256) if long else rng.randint(1, 48)
    if action != "ok":
        max_tokens = max(max_tokens, 96)  # long enough to be cut mid-stream
    kwargs = dict(max_tokens=max_tokens, temperature=rng.choice([0.0, 0.7, 1.0]),
                  seed=rng.randrange(2 ** 32), priority=rng.randint(0, 3),
                  ignore_eos=rng.random() < 0.5, request_id=f"soak-{i}")
    if rng.random() < 0.1 and action == "ok":
        kwargs["n"] = 2
    if rng.random() < 0.3:
        kwargs["token_ids"] = [rng.randrange(100, 49000) for _ in range(rng.randint(1, 400))]
    else:
        kwargs["text"] = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 120)))
    timeout = rng.uniform(0.2, 1.5) * SLOW if action == "deadline" else 600 * SLOW
    return build_request(**kwargs), action, timeout


def run_one(client, plan, rng):
    """Runs one planned request; returns the status code name it ended with."""
    request, action, timeout = plan
    call = client.generate(request, timeout=timeout)
    cancel_after = rng.randint(1, 4) if action == "cancel" else None
    try:
        for received, _ in enumerate(call, 1):
            if cancel_after is not None and received >= cancel_after:
                call.cancel()
        return "OK"
    except grpc.RpcError as e:
        return e.code().name


def soak(server, requests, concurrency, seed=16, log=print, max_seconds=None):
    """Runs `requests` planned requests; with max_seconds, none is started after that many
    seconds (the result counts those that ran: "requests", of "planned")."""
    rng = random.Random(seed)
    plans = [make_plan(rng, i) for i in range(requests)]
    rngs = [random.Random(seed * 1000003 + i) for i in range(requests)]
    sampler = Sampler(server)
    sampler.samples.append(sampler.snapshot())
    failures_before = failure_counts(server)
    sampler.start()
    outcomes = {}
    by_action = {}
    lock = threading.Lock()
    start = time.monotonic()

    def one(i):
        if max_seconds is not None and time.monotonic() - start > max_seconds:
            return None
        code = run_one(server.client, plans[i], rngs[i])
        with lock:
            outcomes[code] = outcomes.get(code, 0) + 1
            key = (plans[i][1], code)
            by_action[key] = by_action.get(key, 0) + 1
            sampler.done += 1
            if sampler.done % max(1, requests // 10) == 0:
                log(f"  {sampler.done}/{requests} requests, {time.monotonic() - start:.0f} s, "
                    f"outcomes {outcomes}")
        return code

    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(requests)))
    planned, requests = requests, sampler.done
    waited, info = wait_kv_free(server.client, timeout=300)
    sampler.stop()
    samples = sampler.samples
    failures_after = failure_counts(server)
    warm = next((s for s in samples if s[1] >= requests // 10), samples[0])
    mid = next((s for s in samples if s[1] >= requests // 2), samples[-1])
    end = samples[-1]

    def stat(index):
        return {"start": samples[0][index], "after_warmup": warm[index], "mid": mid[index],
                "peak": max(s[index] for s in samples), "end": end[index]}

    return {
        "requests": requests, "planned": planned, "concurrency": concurrency,
        "seconds": round(time.monotonic() - start, 1),
        "outcomes": outcomes,
        "by_action": {f"{a}:{c}": n for (a, c), n in sorted(by_action.items())},
        "kv_freed": waited is not None,
        "end_model_info": {"kv_cache_usage": info.kv_cache_usage,
                           "free_blocks": info.kv_cache_free_blocks,
                           "total_blocks": info.kv_cache_total_blocks,
                           "running": info.num_requests_running,
                           "waiting": info.num_requests_waiting},
        "rss_mib": stat(2), "open_fds": stat(3), "threads": stat(4),
        "peak_kv_usage": max(s[5] for s in samples),
        "peak_running": max(s[6] for s in samples), "peak_waiting": max(s[7] for s in samples),
        "server_failures": {k: failures_after.get(k, 0) - failures_before.get(k, 0)
                            for k in failures_after if failures_after.get(k, 0)
                            != failures_before.get(k, 0)},
        "server_alive": server.proc.poll() is None,
    }


def check_soak(r):
    """The soak's pass conditions; returns a list of what failed."""
    bad = []
    allowed = {"OK", "CANCELLED", "DEADLINE_EXCEEDED"}
    if set(r["outcomes"]) - allowed:
        bad.append(f"unexpected outcomes: {r['outcomes']}")
    for key, n in r["by_action"].items():
        action, code = key.split(":")
        if action == "ok" and code != "OK":
            bad.append(f"{n} plain requests ended {code}")
    if not r["server_alive"]:
        bad.append("the server died")
    if not r["kv_freed"]:
        bad.append(f"KV not freed: {r['end_model_info']}")
    info = r["end_model_info"]
    if info["running"] or info["waiting"] or info["kv_cache_usage"]:
        bad.append(f"gauges not back to 0: {info}")
    # Flat after warm-up: the second half adds no fds or threads and at most a little RSS.
    if r["open_fds"]["end"] > r["open_fds"]["after_warmup"] + 8:
        bad.append(f"open fds grew: {r['open_fds']}")
    if r["threads"]["end"] > r["threads"]["after_warmup"] + 8:
        bad.append(f"threads grew: {r['threads']}")
    # Not under sanitizers: ASan's quarantine keeps freed memory resident (up to 256 MiB) before
    # reusing it, and TSan's shadow grows with what is touched; RSS grows without a leak there
    # (LeakSanitizer checks leaks at exit).
    if not SANITIZED and r["rss_mib"]["end"] > r["rss_mib"]["mid"] + 32:
        bad.append(f"RSS grew after the first half: {r['rss_mib']}")
    server_bad = set(r["server_failures"]) - {"CANCELLED", "DEADLINE_EXCEEDED"}
    if server_bad:
        bad.append(f"server counted other failures: {r['server_failures']}")
    return bad


def overload(server, max_num_seqs, max_waiting, waves, log=print):
    """Bursts of 10x capacity; returns per-wave results and RSS after each wave."""
    capacity = max_num_seqs + max_waiting
    burst = 10 * capacity
    results = []
    for wave in range(waves):
        events = []  # (monotonic time, "rejected" | "finished" | other code)
        lock = threading.Lock()
        request = build_request(text="Write a long report on the state of the markets.",
                                max_tokens=96, ignore_eos=True, temperature=0)

        def one(_):
            try:
                for _ in server.client.generate(request, timeout=900 * SLOW):
                    pass
                code = "finished"
            except grpc.RpcError as e:
                code = "rejected" if e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED else e.code().name
            with lock:
                events.append((time.monotonic(), code))
            return code

        with concurrent.futures.ThreadPoolExecutor(burst) as pool:
            codes = list(pool.map(one, range(burst)))
        waited, info = wait_kv_free(server.client, timeout=300)
        rejected_times = [t for t, c in events if c == "rejected"]
        finished_times = [t for t, c in events if c == "finished"]
        rss, fds, threads = proc_sample(server.proc.pid)
        r = {"wave": wave, "burst": burst, "admitted": codes.count("finished"),
             "rejected": codes.count("rejected"),
             "other": sorted({c for c in codes if c not in ("finished", "rejected")}),
             "all_rejections_before_first_finish":
                 bool(rejected_times) and bool(finished_times)
                 and max(rejected_times) < min(finished_times),
             "kv_freed": waited is not None, "rss_mib": rss, "open_fds": fds,
             "threads": threads}
        log(f"  wave {wave}: {r}")
        results.append(r)
    return results


def check_overload(results, capacity):
    bad = []
    for r in results:
        if r["other"] or r["admitted"] != capacity or r["rejected"] != r["burst"] - capacity:
            bad.append(f"wave {r['wave']}: {r}")
        if not r["all_rejections_before_first_finish"]:
            bad.append(f"wave {r['wave']}: a rejection came after an admitted request finished")
        if not r["kv_freed"]:
            bad.append(f"wave {r['wave']}: KV not freed")
    if not SANITIZED and results and results[-1]["rss_mib"] > results[0]["rss_mib"] + 32:
        bad.append(f"RSS grew over the waves: {[r['rss_mib'] for r in results]}")
    if results and results[-1]["open_fds"] > results[0]["open_fds"] + 8:
        bad.append(f"fds grew over the waves: {[r['open_fds'] for r in results]}")
    return bad


SOAK_SERVER = ["--kv-cache-bytes=64MiB", "--swap-space=32MiB", "--threads=2",
               "--max-num-seqs=32", "--max-waiting-requests=256"]
OVERLOAD_SEQS, OVERLOAD_WAITING = 8, 8
OVERLOAD_SERVER = ["--kv-cache-bytes=64MiB", "--swap-space=0", "--threads=2",
                   f"--max-num-seqs={OVERLOAD_SEQS}",
                   f"--max-waiting-requests={OVERLOAD_WAITING}"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["soak", "overload"])
    ap.add_argument("--requests", type=int, default=10000)
    ap.add_argument("--concurrency", type=int, default=48)
    ap.add_argument("--waves", type=int, default=10)
    ap.add_argument("--max-seconds", type=float,
                    help="soak: start no request after this many seconds")
    ap.add_argument("--json", help="write the result here")
    args = ap.parse_args()
    if args.mode == "soak":
        s = Server(SOAK_SERVER)
        try:
            result = soak(s, args.requests, args.concurrency,
                          log=lambda m: print(m, flush=True), max_seconds=args.max_seconds)
            bad = check_soak(result)
        finally:
            s.stop()
    else:
        s = Server(OVERLOAD_SERVER)
        try:
            result = overload(s, OVERLOAD_SEQS, OVERLOAD_WAITING, args.waves)
            bad = check_overload(result, OVERLOAD_SEQS + OVERLOAD_WAITING)
        finally:
            s.stop()
    print(json.dumps(result, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    for b in bad:
        print("FAIL:", b)
    print("PASS" if not bad else "FAILED")
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
