"""Scale-out on one host: three `hearth serve` replicas on loopback ports behind one client
channel (the Python client and `hearth bench-serve` given several targets balance
round-robin). Every replica gets calls; one replica drained with SIGTERM mid-load loses no
request: its streams finish, and new calls go to the others (health checking sees it turn
NOT_SERVING; a call that still reaches it is refused before its first message and retried)."""

import concurrent.futures
import json
import signal
import subprocess
import threading
import time
import urllib.request

import hearth_client
from conftest import HEARTH, SMALL_SERVER, Server

REPLICA = SMALL_SERVER[:-1] + ["--threads=1", "--shutdown-grace-period=120s"]


def served(server):
    """Requests this replica finished (hearth:request_success_total over reasons)."""
    with urllib.request.urlopen(server.metrics_url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith("hearth:request_success_total"))


def start_replicas(n=3):
    replicas = []
    try:
        for _ in range(n):
            replicas.append(Server(REPLICA))
    except Exception:
        for r in replicas:
            r.stop()
        raise
    return replicas


def test_python_client_round_robin_and_drain_loses_nothing():
    replicas = start_replicas()
    try:
        targets = [r.target for r in replicas]
        total, drain_after = 48, 12
        done = threading.Semaphore(0)
        with hearth_client.HearthClient(targets, timeout=120) as client:
            def one(i):
                try:
                    [c] = client.complete(text=f"Request {i}: count to ten.", max_tokens=24,
                                          ignore_eos=True, temperature=0)
                    return c
                finally:
                    done.release()

            with concurrent.futures.ThreadPoolExecutor(6) as pool:
                futures = [pool.submit(one, i) for i in range(total)]
                for _ in range(drain_after):
                    done.acquire()
                before = [served(r) for r in replicas]
                replicas[1].signal(signal.SIGTERM)  # mid-load: streams are in flight
                results = [f.result(timeout=300) for f in futures]
        assert all(len(c.token_ids) == 24 and c.finish_reason == "length" for c in results)
        assert all(b >= 1 for b in before), before  # round-robin reached every replica
        assert replicas[1].wait(120) == 0
        assert any("received SIGTERM" in line for line in replicas[1].lines)
        after = [served(replicas[0]), served(replicas[2])]
        assert after[0] > before[0] and after[1] > before[2], (before, after)
    finally:
        for r in replicas:
            r.stop()


def test_bench_serve_balances_and_survives_a_drain(tmp_path):
    replicas = start_replicas()
    try:
        out = tmp_path / "bench.json"
        bench = subprocess.Popen(
            [HEARTH, "bench-serve", "--address", f"{replicas[0].target},{replicas[1].target}",
             "--address", replicas[2].target, "--concurrency", "6", "--num_requests", "36",
             "--prompt_len", "16", "--output_len", "24", "--json", str(out)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        # Drain replica 0 once it has served a few requests.
        while served(replicas[0]) < 2:
            assert bench.poll() is None, bench.stdout.read()
            time.sleep(0.05)
        replicas[0].signal(signal.SIGTERM)
        output, _ = bench.communicate(timeout=300)
        assert bench.returncode == 0, output
        report = json.loads(out.read_text())
        assert report["failed"] == 0 and report["completed"] == 36, output
        assert replicas[0].wait(120) == 0
        assert all(served(r) >= 1 for r in replicas[1:])
    finally:
        for r in replicas:
            r.stop()
