"""Several models in one server: the load of the default model eager (at start) vs lazy (by
the first request), and the cost of one swap when two models alternate under
max_loaded_models=1, against the same alternation with both resident. Runs alternate
(eager, lazy, swap, resident, eager, ...) so machine load affects each alike.

  scripts/venv-python.sh bench/serve/multimodel_swap.py [--runs 3] [--alternations 20]

Prints medians: the server's own load time (hearth:model_load_duration_seconds), the first
request's latency, and per-request latency of alternating 1-token requests."""

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODEL = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
import hearth_client  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Serve:
    def __init__(self, yaml):
        self.dir = tempfile.TemporaryDirectory()
        cfg = os.path.join(self.dir.name, "serve.yaml")
        with open(cfg, "w") as f:
            f.write(yaml)
        self.port, self.mport = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
        self.proc = subprocess.Popen(
            [os.path.join(ROOT, "build", "hearth"), "serve", "--config", cfg,
             f"--listen-address=127.0.0.1:{self.port}", f"--metrics-port={self.mport}",
             "--metrics-listen-address=127.0.0.1", "--http-enabled=false",
             "--kv-cache-bytes=64MiB", "--swap-space=0", "--threads=2"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        for line in self.proc.stdout:
            if "listening on" in line:
                break
        self.client = hearth_client.HearthClient(f"127.0.0.1:{self.port}", retries=0)

    def load_seconds(self, model):
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.mport}/metrics").read().decode()
        m = re.search(r'hearth:model_load_duration_seconds_sum\{model_name="%s"\} (\S+)' % model,
                      text)
        return float(m.group(1))

    def request(self, model):
        start = time.monotonic()
        self.client.complete(text="Hello", model=model, temperature=0, max_tokens=1, timeout=300)
        return time.monotonic() - start

    def stop(self):
        self.client.close()
        self.proc.terminate()
        self.proc.wait(60)
        self.dir.cleanup()


def one_model(lazy):
    return f"models:\n  - name: m\n    model: {MODEL}\n    lazy: {str(lazy).lower()}\n"


def two_models(max_loaded):
    return (f"max_loaded_models: {max_loaded}\nmodels:\n"
            f"  - name: a\n    model: {MODEL}\n    lazy: true\n"
            f"  - name: b\n    model: {MODEL}\n    lazy: true\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--alternations", type=int, default=20)
    args = ap.parse_args()
    res = {k: [] for k in ("eager_load", "eager_first", "lazy_load", "lazy_first", "swap",
                           "resident")}
    for _ in range(args.runs):
        for lazy in (False, True):
            s = Serve(one_model(lazy))
            first = s.request("m")
            res["lazy_first" if lazy else "eager_first"].append(first)
            res["lazy_load" if lazy else "eager_load"].append(s.load_seconds("m"))
            s.stop()
        for max_loaded, key in ((1, "swap"), (0, "resident")):
            s = Serve(two_models(max_loaded))
            s.request("a")
            s.request("b")  # both loaded once (resident) / the steady state of swapping
            lat = [s.request("ab"[i % 2]) for i in range(args.alternations)]
            res[key].append(statistics.median(lat))
            s.stop()
    med = {k: statistics.median(v) for k, v in res.items()}
    print(f"eager: load {med['eager_load'] * 1e3:.0f} ms (at start), first request "
          f"{med['eager_first'] * 1e3:.0f} ms")
    print(f"lazy:  load {med['lazy_load'] * 1e3:.0f} ms, first request (load included) "
          f"{med['lazy_first'] * 1e3:.0f} ms")
    print(f"alternating 1-token requests: {med['swap'] * 1e3:.0f} ms with max_loaded_models=1, "
          f"{med['resident'] * 1e3:.0f} ms with both resident: swap cost "
          f"{(med['swap'] - med['resident']) * 1e3:.0f} ms per alternation")


if __name__ == "__main__":
    main()
