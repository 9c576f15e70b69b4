"""deploy/grafana/dashboards/hearth.json: importable into an existing Grafana (a datasource
input and variable, no hard-coded datasource uid or job label), and every query it runs is
valid PromQL that returns data from a real Prometheus scraping a real `hearth serve` with the
scrape configuration of deploy/prometheus/prometheus.yml. The TTFT histogram reaches past 60 s."""

import json
import os
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from conftest import SMALL_SERVER, SOURCE_DIR, Server, free_port

DASHBOARD = os.path.join(SOURCE_DIR, "deploy", "grafana", "dashboards", "hearth.json")
PROMETHEUS = shutil.which("prometheus")


def load():
    with open(DASHBOARD) as f:
        return json.load(f)


def datasources(node):
    """Every "datasource" object in the dashboard."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "datasource" and isinstance(v, dict):
                yield v
            else:
                yield from datasources(v)
    elif isinstance(node, list):
        for v in node:
            yield from datasources(v)


def panel_exprs(dash):
    return [(p["title"], t["expr"]) for p in dash["panels"] for t in p["targets"]]


def test_importable_with_a_datasource_input_and_no_fixed_job():
    dash = load()
    [inp] = dash["__inputs"]
    assert inp["type"] == "datasource" and inp["pluginId"] == "prometheus"
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["job"]["includeAll"] and variables["job"]["multi"]
    for ds in datasources(dash):
        assert ds == {"type": "prometheus", "uid": "${datasource}"}, ds
    for title, expr in panel_exprs(dash):
        assert 'job=~"$job"' in expr, title
        assert not re.search(r'job\s*=\s*"', expr), (title, expr)
    assert "id" not in dash  # an id would clash with an existing dashboard on import


def substitute(expr):
    return (expr.replace("$__rate_interval", "30s").replace('"$job"', '".+"')
            .replace('"$model_name"', '".+"'))


def prom_query(base, query):
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=10) as r:
        data = json.load(r)
    assert data["status"] == "success", (query, data)
    return data["data"]["result"]


@pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not installed")
def test_every_dashboard_query_answers_from_a_real_prometheus(tmp_path):
    with open(os.path.join(SOURCE_DIR, "deploy", "prometheus", "prometheus.yml")) as f:
        cfg = f.read()
    s = Server(SMALL_SERVER)
    cfg = cfg.replace('targets: ["hearth:9464"]', f'targets: ["127.0.0.1:{s.metrics_port}"]')
    cfg = cfg.replace("scrape_interval: 5s", "scrape_interval: 1s")
    (tmp_path / "prometheus.yml").write_text(cfg)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    prom = subprocess.Popen(
        [PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Load over time, so every rate() sees at least two samples with a change. Every
        # query must be valid PromQL (prom_query asserts success) and return series.
        exprs = [substitute(e) for _, e in panel_exprs(load())]
        deadline = time.monotonic() + 120
        empty = exprs
        while empty and time.monotonic() < deadline:
            for _ in range(2):
                s.client.complete(text="Tell me a story.", max_tokens=24, temperature=0)
            try:
                empty = [e for e in exprs if not prom_query(base, e)]
            except OSError:  # Prometheus still starting
                pass
            time.sleep(0.5)
        assert not empty, empty
        # The template variables' label_values() sources exist with their labels.
        [build_info] = prom_query(base, 'hearth:build_info{job=~".+"}')
        assert build_info["metric"]["job"] == "hearth" and build_info["metric"]["model_name"]
        # TTFT buckets past 60 s.
        les = {r["metric"]["le"] for r in prom_query(
            base, "hearth:time_to_first_token_seconds_bucket")}
        assert {"120", "1920"} <= les, sorted(les)
    finally:
        prom.terminate()
        prom.wait(15)
        s.stop()
