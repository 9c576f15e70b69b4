"""deploy/: the compose file validates with docker-compose, the Kubernetes manifests validate
strictly against the Kubernetes API schemas and agree with each other and with the server's
settings, and the Dockerfile's runtime stages hold only runtime libraries."""

import copy
import os
import re
import shutil
import subprocess

import kubernetes_validate
import pytest
import yaml

SOURCE_DIR = os.environ.get("HEARTH_SOURCE_DIR",
                            os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BINARY_DIR = os.environ.get("HEARTH_BINARY_DIR", os.path.join(SOURCE_DIR, "build"))
DEPLOY = os.path.join(SOURCE_DIR, "deploy")
K8S = os.path.join(DEPLOY, "k8s")
K8S_VERSION = "1.30.0"


def seconds(text):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)?", str(text).strip())
    assert m, text
    return float(m.group(1)) * {"ms": 1e-3, "s": 1, "m": 60, None: 1}[m.group(2)]


# ---- compose -----------------------------------------------------------------------------------

def compose(*args):
    exe = shutil.which("docker-compose")
    assert exe, "docker-compose missing: scripts/install-deps.sh installs it"
    p = subprocess.run([exe, "-f", os.path.join(DEPLOY, "docker-compose.yml"), *args],
                       capture_output=True, text=True, timeout=60, cwd=SOURCE_DIR,
                       env={**os.environ, "HEARTH_MODEL_DIR": "/srv/models"})
    assert p.returncode == 0, p.stderr
    return p.stdout


@pytest.mark.parametrize("profile", ["cpu", "gpu"])
def test_compose_config_validates(profile):
    config = yaml.safe_load(compose("--profile", profile, "config"))
    services = config["services"]
    hearth = services[f"hearth-{profile}"]
    assert {"prometheus", "grafana"} <= set(services)
    assert hearth["build"]["target"] == {"cpu": "cpu", "gpu": "cuda"}[profile]
    assert "hearth" in hearth["networks"]["default"]["aliases"]  # prometheus.yml's target
    devices = hearth.get("deploy", {}).get("resources", {}).get("reservations", {})
    assert bool(devices.get("devices")) == (profile == "gpu")
    assert "/srv/models:/models:ro" in hearth["volumes"]
    grace = seconds(hearth["environment"]["HEARTH_SHUTDOWN_GRACE_PERIOD"])
    assert seconds(hearth["stop_grace_period"]) > grace
    ports = {p["target"] if isinstance(p, dict) else int(p.split(":")[-1])
             for p in hearth["ports"]}
    assert ports == {50051, 9464, 8000}


def test_compose_quiet_validation_rejects_a_broken_file(tmp_path):
    broken = tmp_path / "compose.yml"
    broken.write_text("services:\n  hearth:\n    image: x\n    ports: 50051\n    stop_grace: 1\n")
    p = subprocess.run(["docker-compose", "-f", str(broken), "config", "-q"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode != 0


# ---- Kubernetes --------------------------------------------------------------------------------

def k8s_docs():
    with open(os.path.join(K8S, "kustomization.yaml")) as f:
        kustomization = yaml.safe_load(f)
    docs = []
    for name in kustomization["resources"]:
        with open(os.path.join(K8S, name)) as f:
            docs += [(name, d) for d in yaml.safe_load_all(f) if d]
    return kustomization, docs


def by_kind(kind):
    return [d for _, d in k8s_docs()[1] if d["kind"] == kind]


def test_kustomization_lists_every_manifest():
    kustomization, _ = k8s_docs()
    manifests = {f for f in os.listdir(K8S) if f.endswith(".yaml")}
    not_resources = {"kustomization.yaml", "prometheus-adapter-values.yaml"}
    assert set(kustomization["resources"]) == manifests - not_resources


def test_manifests_validate_against_kubernetes_schemas():
    _, docs = k8s_docs()
    kinds = set()
    for name, doc in docs:
        kinds.add(doc["kind"])
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD: checked in test_service_monitor_selects_the_metrics_service
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "ConfigMap",
            "PersistentVolumeClaim", "PodDisruptionBudget", "ServiceMonitor"} <= kinds


def test_validation_catches_a_mistake():
    [deployment] = by_kind("Deployment")
    bad = copy.deepcopy(deployment)
    bad["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


def test_deployment_probes_gpu_and_termination():
    [deployment] = by_kind("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    [c] = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"grpc": 50051, "metrics": 9464, "http": 8000}
    assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "metrics"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/health", "port": "metrics"}
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert pod["securityContext"]["runAsUser"] == 10001 and pod["securityContext"]["runAsNonRoot"]
    # terminationGracePeriodSeconds covers the preStop sleep plus the server's drain.
    [config_map] = by_kind("ConfigMap")
    server_config = yaml.safe_load(config_map["data"]["hearth.yaml"])
    drain = seconds(server_config["shutdown_grace_period"])
    pre_stop = float(c["lifecycle"]["preStop"]["exec"]["command"][1])
    assert pod["terminationGracePeriodSeconds"] > pre_stop + drain
    assert server_config["metrics"]["port"] == ports["metrics"]
    assert server_config["listen_address"].endswith(f":{ports['grpc']}")
    env = {e["name"]: e["value"] for e in c["env"]}
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert env["HEARTH_CONFIG"] == mounts["config"] + "/hearth.yaml"
    assert server_config["model"].startswith(mounts["models"] + "/")


def test_services_select_the_pods_and_grpc_is_headless():
    [deployment] = by_kind("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    ports = {p["name"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]}
    services = {s["metadata"]["name"]: s for s in by_kind("Service")}
    assert services["hearth-grpc"]["spec"]["clusterIP"] == "None"
    for s in services.values():
        assert s["spec"]["selector"].items() <= labels.items(), s["metadata"]["name"]
        for p in s["spec"]["ports"]:
            assert p["targetPort"] in ports


def test_service_monitor_selects_the_metrics_service():
    [monitor] = by_kind("ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    services = {s["metadata"]["name"]: s for s in by_kind("Service")}
    selected = [s for s in services.values() if monitor["spec"]["selector"]["matchLabels"].items()
                <= s["metadata"]["labels"].items()]
    assert [s["metadata"]["name"] for s in selected] == ["hearth-metrics"]
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in selected[0]["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"


def test_hpa_scales_the_deployment_on_the_adapters_queue_metric():
    [hpa] = by_kind("HorizontalPodAutoscaler")
    [deployment] = by_kind("Deployment")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    [metric] = hpa["spec"]["metrics"]
    with open(os.path.join(K8S, "prometheus-adapter-values.yaml")) as f:
        adapter = yaml.safe_load(f)
    [rule] = adapter["rules"]["custom"]
    assert metric["pods"]["metric"]["name"] == rule["name"]["as"]
    assert "hearth:num_requests_waiting" in rule["seriesQuery"]
    assert re.fullmatch(rule["name"]["matches"], "hearth:num_requests_waiting")


# ---- Dockerfile --------------------------------------------------------------------------------

def dockerfile_stages():
    with open(os.path.join(DEPLOY, "Dockerfile")) as f:
        text = re.sub(r"\\\n", " ", f.read())
    stages, name = {}, None
    for line in text.splitlines():
        m = re.match(r"FROM\s+\S+(?:\s+AS\s+(\S+))?", line.strip(), re.I)
        if m:
            name = m.group(1) or "final"
            stages[name] = []
        elif name and line.strip() and not line.strip().startswith("#"):
            stages[name].append(line.strip())
    return stages


def test_runtime_images_are_slim_non_root_and_health_checked():
    stages = dockerfile_stages()
    for target in ("cpu", "cuda"):
        lines = stages["runtime-base"] + stages[target]
        text = "\n".join(lines)
        assert "-dev" not in text, target
        assert lines[-1] == "USER hearth", target  # nothing runs as root after this
        assert 'HEALTHCHECK' in text and '["hearth", "health"]' in text
        assert "EXPOSE 50051 9464 8000" in text
        assert "runtime-packages.txt" in text
    assert list(stages)[-1] == "cpu"  # the default target


def test_runtime_packages_of_the_built_binary():
    binary = os.path.join(BINARY_DIR, "hearth")
    p = subprocess.run([os.path.join(DEPLOY, "runtime-packages.sh"), binary],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    packages = p.stdout.split()
    assert not [x for x in packages if x.endswith("-dev")], packages
    for lib in ("libgrpc++1.51", "libprotobuf32", "libyaml-cpp0.7", "libcpp-httplib0.11"):
        assert lib in packages, packages


def test_dockerignore_keeps_local_state_out():
    with open(os.path.join(SOURCE_DIR, ".dockerignore")) as f:
        patterns = {line.strip() for line in f if line.strip() and not line.startswith("#")}
    assert {"build", "build-*", "models", ".venv", ".git"} <= patterns
