"""Ollama's model store: a fake store built here from the default model (manifest JSON,
sha256-named blobs, template / system / params / config layers, the layout Ollama writes) is
listed by `hearth models` and served by `hearth serve --model smollm2:135m`; its layers act
like Ollama's (template family, default system prompt, default options) and broken stores
give clear errors."""
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import DEFAULT_MODEL, HEARTH, SMALL_SERVER, Server, clean_env

# Ollama's ChatML template (the shape of the library's smollm2 / qwen templates).
CHATML_GO = """{{- if .Messages }}
{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 -}}
<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ if and (ne .Role "assistant") $last }}<|im_start|>assistant
{{ end }}
{{- end }}
{{- else }}{{ if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{ if .Prompt }}<|im_start|>user
{{ .Prompt }}<|im_end|>
{{ end }}<|im_start|>assistant
{{ end }}{{ .Response }}{{ if .Response }}<|im_end|>{{ end }}"""
SYSTEM = "You are a concise assistant. Answer in one sentence."
PARAMS = {"temperature": 0, "num_predict": 12, "stop": ["\n\n"], "mirostat": 0}
CONFIG = {"model_format": "gguf", "model_family": "llama", "file_type": "Q4_1",
          "model_type": "135M", "architecture": "amd64", "os": "linux"}


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


MODEL_SHA = None


def model_sha():
    global MODEL_SHA
    if MODEL_SHA is None:
        MODEL_SHA = sha256_file(DEFAULT_MODEL)
    return MODEL_SHA


class Store:
    """Writes an Ollama-layout store under `root`."""

    def __init__(self, root):
        self.root = Path(root)
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)

    def blob(self, data=None, path=None, name_sha=None):
        """Adds a blob (bytes or a file, hard-linked when possible); returns its layer fields."""
        if path is not None:
            sha = name_sha or model_sha()
            dst = self.root / "blobs" / f"sha256-{sha}"
            if not dst.exists():
                try:
                    os.link(path, dst)
                except OSError:
                    shutil.copyfile(path, dst)
            return sha, os.path.getsize(path)
        sha = name_sha or hashlib.sha256(data).hexdigest()
        (self.root / "blobs" / f"sha256-{sha}").write_bytes(data)
        return sha, len(data)

    def add(self, name, layers, config=CONFIG, raw_manifest=None):
        """name: host/namespace/model/tag; layers: [(media suffix, sha, size)]."""
        path = self.root / "manifests" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if raw_manifest is not None:
            path.write_text(raw_manifest)
            return
        manifest = {"schemaVersion": 2,
                    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                    "layers": [{"mediaType": f"application/vnd.ollama.image.{kind}",
                                "digest": f"sha256:{sha}", "size": size}
                               for kind, sha, size in layers]}
        if config is not None:
            sha, size = self.blob(json.dumps(config).encode())
            manifest["config"] = {"mediaType": "application/vnd.docker.container.image.v1+json",
                                  "digest": f"sha256:{sha}", "size": size}
        path.write_text(json.dumps(manifest))

    def add_full(self, name, template=CHATML_GO, system=SYSTEM, params=PARAMS, config=CONFIG):
        layers = [("model", *self.blob(path=DEFAULT_MODEL))]
        if template is not None:
            layers.append(("template", *self.blob(template.encode())))
        if system is not None:
            layers.append(("system", *self.blob(system.encode())))
        if params is not None:
            layers.append(("params", *self.blob(json.dumps(params).encode())))
        layers.append(("license", *self.blob(b"Apache 2.0")))
        self.add(name, layers, config=config)
        return layers


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = Store(tmp_path_factory.mktemp("ollama") / "models")
    s.layers = s.add_full("registry.ollama.ai/library/smollm2/135m")
    # No template / system / params / config: the GGUF's own chat template and metadata.
    s.add("registry.ollama.ai/library/smolbare/latest", [("model", *s.blob(path=DEFAULT_MODEL))],
          config=None)
    s.add_full("registry.ollama.ai/someuser/other/v1")
    return s


def env_for(store, cache):
    return {"OLLAMA_MODELS": str(store.root), "HEARTH_CACHE_DIR": str(cache)}


def hearth_models(store, *args):
    return subprocess.run([HEARTH, "models", *args], capture_output=True, text=True, timeout=60,
                          env=clean_env({"OLLAMA_MODELS": str(store.root)}))


def test_models_lists_the_store(store):
    proc = hearth_models(store)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:6] == ["NAME", "ID", "SIZE", "QUANT", "FAMILY", "PARAMS"]
    rows = {l.split()[0]: l for l in lines[1:]}
    assert set(rows) == {"smollm2:135m", "smolbare:latest", "someuser/other:v1"}
    assert "Q4_1" in rows["smollm2:135m"] and "llama" in rows["smollm2:135m"]
    # Without a config blob the quantization and family come from the GGUF header.
    assert "Q4_1" in rows["smolbare:latest"] and "llama" in rows["smolbare:latest"]
    assert all(l.rstrip().endswith("ok") for l in lines[1:])
    entries = {e["name"]: e for e in json.loads(hearth_models(store, "--json").stdout)}
    manifest = json.loads((store.root / "manifests/registry.ollama.ai/library/smollm2/135m")
                          .read_text())
    assert entries["smollm2:135m"]["size"] == (sum(l["size"] for l in manifest["layers"])
                                               + manifest["config"]["size"])
    assert entries["smollm2:135m"]["parameters"] == "135M"
    manifest_sha = sha256_file(store.root / "manifests/registry.ollama.ai/library/smollm2/135m")
    assert entries["smollm2:135m"]["id"] == manifest_sha[:12]


def test_served_by_ollama_name_with_its_layers(store, tmp_path):
    ollama = Server(["--model", "smollm2:135m", *SMALL_SERVER], env=env_for(store, tmp_path))
    plain = Server(SMALL_SERVER)
    try:
        assert [m.name for m in ollama.client.list_models()] == ["smollm2:135m"]
        assert ollama.client.model_info("smollm2:135m").model.quant_type == "Q4_1"
        assert "sha256 of the" in ollama.output() and "verified" in ollama.output()
        assert "chatml family" in ollama.output()
        # No system message, no sampling fields: the system layer and the params layer apply
        # (temperature 0, 12 tokens, stop "\n\n"): the same as the plain file given them.
        chat = [("user", "What is the capital of France?")]
        got = ollama.client.complete(chat=chat, timeout=60)[0]
        want = plain.client.complete(chat=[("system", SYSTEM), *chat], temperature=0,
                                     max_tokens=12, stop=["\n\n"], timeout=60)[0]
        assert got.token_ids == want.token_ids and got.text == want.text
        assert got.usage.prompt_tokens == want.usage.prompt_tokens
        # The request's own values win over the defaults.
        got = ollama.client.complete(chat=[("system", "Be brief."), *chat], max_tokens=5,
                                     timeout=60)[0]
        want = plain.client.complete(chat=[("system", "Be brief."), *chat], temperature=0,
                                     max_tokens=5, timeout=60)[0]
        assert got.token_ids == want.token_ids and len(got.token_ids) <= 5
    finally:
        ollama.stop()
        plain.stop()


def test_without_layers_the_gguf_template_is_used(store, tmp_path):
    server = Server(["--model", "smolbare", *SMALL_SERVER], env=env_for(store, tmp_path))
    plain = Server(SMALL_SERVER)
    try:
        assert [m.name for m in server.client.list_models()] == ["smolbare:latest"]
        chat = [("user", "Hello!")]
        # The GGUF's template inserts SmolLM2's default system prompt, as the plain file does.
        got = server.client.complete(chat=chat, temperature=0, max_tokens=8, timeout=60)[0]
        want = plain.client.complete(chat=chat, temperature=0, max_tokens=8, timeout=60)[0]
        assert got.token_ids == want.token_ids
        assert got.usage.prompt_tokens == want.usage.prompt_tokens
    finally:
        server.stop()
        plain.stop()


def serve_fails(store, model, cache, *extra):
    proc = subprocess.run([HEARTH, "serve", "--model", model, "--listen-address=127.0.0.1:0",
                           "--metrics-enabled=false", *SMALL_SERVER, *extra],
                          capture_output=True, text=True, timeout=120,
                          env=clean_env(env_for(store, cache)))
    return proc.returncode, proc.stdout + proc.stderr


def test_verification_is_cached_by_size_and_mtime(store, tmp_path):
    for expect in ("sha256 of the", "verified earlier"):
        server = Server(["--model", "smollm2:135m", *SMALL_SERVER], env=env_for(store, tmp_path))
        server.stop()
        assert expect in server.output(), server.output()
    assert (tmp_path / "verified-blobs.json").exists()
    # A changed mtime means the file may have changed: hashed again.
    blob = store.root / "blobs" / f"sha256-{model_sha()}"
    st = blob.stat()
    os.utime(blob, ns=(st.st_atime_ns, st.st_mtime_ns + 1000))
    server = Server(["--model", "smollm2:135m", *SMALL_SERVER], env=env_for(store, tmp_path))
    server.stop()
    assert "sha256 of the" in server.output()
    # never: no hashing at all.
    server = Server(["--model", "smollm2:135m", "--ollama-verify=never", *SMALL_SERVER],
                    env=env_for(store, tmp_path / "other-cache"))
    server.stop()
    assert "not verified" in server.output()


def test_broken_stores_give_clear_errors(tmp_path):
    s = Store(tmp_path / "models")
    size = os.path.getsize(DEFAULT_MODEL)
    # A manifest pointing at a blob that is not there.
    s.add("registry.ollama.ai/library/noblob/1b", [("model", "ab" * 32, size)])
    # A manifest that is not JSON.
    s.add("registry.ollama.ai/library/corrupt/1b", [], raw_manifest='{"schemaVersion": 2, "lay')
    # A blob whose content does not match its name.
    wrong = "cd" * 32
    s.blob(path=DEFAULT_MODEL, name_sha=wrong)
    s.add("registry.ollama.ai/library/mismatch/1b", [("model", wrong, size)])
    # A manifest whose size disagrees with the blob.
    s.add("registry.ollama.ai/library/badsize/1b", [("model", *s.blob(path=DEFAULT_MODEL))])
    manifest = s.root / "manifests/registry.ollama.ai/library/badsize/1b"
    manifest.write_text(manifest.read_text().replace(f'"size": {size}', f'"size": {size + 1}'))
    # No model layer at all.
    s.add("registry.ollama.ai/library/nomodel/1b", [("template", *s.blob(b"{{ .Prompt }}"))])
    cases = [
        ("noblob:1b", ["model 'noblob:1b'", "missing"]),
        ("corrupt:1b", ["model 'corrupt:1b'", "malformed JSON at byte"]),
        ("mismatch:1b", ["model 'mismatch:1b'", f"has sha256 {model_sha()}", f"not {wrong}"]),
        ("badsize:1b", ["model 'badsize:1b'", f"the manifest says {size + 1}"]),
        ("nomodel:1b", ["no layer of media type application/vnd.ollama.image.model"]),
        ("nosuch:7b", ["neither a file nor a model in the Ollama store", "library/nosuch/7b"]),
        ("../../etc:x", ["invalid Ollama model name"]),
    ]
    for model, messages in cases:
        rc, out = serve_fails(s, model, tmp_path / "cache")
        assert rc == 1, (model, out)
        for m in messages:
            assert m in out, (model, m, out)
    # `hearth models` still lists the store, marking the broken entries.
    proc = hearth_models(s)
    assert proc.returncode == 0, proc.stderr
    rows = {l.split()[0]: l for l in proc.stdout.splitlines()[1:]}
    assert "missing" in rows["noblob:1b"]
    assert "malformed JSON" in rows["corrupt:1b"]
    assert "no model layer" in rows["nomodel:1b"]
    proc = subprocess.run([HEARTH, "models", "--store", str(tmp_path / "nowhere")],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1 and "no Ollama store at" in proc.stderr


def test_generate_takes_a_store_name(store, tmp_path):
    args = ["--prompt", "The capital of France is", "--temperature", "0", "--max_tokens", "6"]
    runs = [subprocess.run([HEARTH, "generate", "--model", model, *args], capture_output=True,
                           text=True, timeout=120, env=clean_env(env_for(store, tmp_path)))
            for model in ("smollm2:135m", DEFAULT_MODEL)]
    assert runs[0].returncode == 0, runs[0].stderr
    assert runs[0].stdout == runs[1].stdout  # the same GGUF, found through the manifest
