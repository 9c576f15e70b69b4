"""API keys and TLS on all three protocols. With keys configured, no key or a wrong key is
refused over OpenAI HTTP, Ollama HTTP and gRPC (and counted), the right key works, the key file
is reread on SIGHUP, and /metrics, /health are open or protected by setting. With TLS (a test CA
made by openssl here), the official clients connect over TLS to every listener and plaintext is
refused; with a client CA, only clients holding a certificate it signed get in."""

import os
import re
import signal
import ssl
import subprocess
import time
import urllib.request

import grpc
import httpx
import ollama
import openai
import pytest

from conftest import SMALL_SERVER, Server, hearth_client, pb

KEYS = ["key-one", "key-two"]


def scrape(url, headers=None, context=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30, context=context) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def grpc_generate(target, metadata=None, credentials=None):
    channel = (grpc.secure_channel(target, credentials) if credentials
               else grpc.insecure_channel(target))
    with channel:
        stub = hearth_client.pb_grpc.HearthStub(channel)
        req = hearth_client.build_request(text="Hello", max_tokens=2, temperature=0)
        return "".join(m.text for m in stub.Generate(req, metadata=metadata, timeout=30))


def refused_count(server, protocol):
    _, text = scrape(server.metrics_url + "/metrics")
    m = re.search(r'hearth:unauthenticated_requests_total\{[^}]*protocol="' + protocol +
                  r'"\} (\d+)', text)
    return int(m.group(1))


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    key_file = tmp_path_factory.mktemp("keys") / "keys.txt"
    key_file.write_text("# operators' keys\nfile-key-1\n\nfile-key-2\n")
    s = Server(SMALL_SERVER + [f"--api-keys={','.join(KEYS)}", f"--api-keys-file={key_file}"])
    s.key_file = key_file
    yield s
    s.stop()


def test_openai_needs_a_key(keyed):
    name = "SmolLM2-135M-Instruct.Q4_1"
    before = refused_count(keyed, "openai")
    for key in ["wrong", "key-one-", "key-on"]:
        with openai.OpenAI(base_url=keyed.http_url + "/v1", api_key=key, max_retries=0) as c:
            with pytest.raises(openai.AuthenticationError) as e:
                c.completions.create(model=name, prompt="hi", max_tokens=2)
            assert e.value.status_code == 401 and e.value.body["code"] == "invalid_api_key"
            with pytest.raises(openai.AuthenticationError):
                c.models.list()
    status, body = scrape(keyed.http_url + "/v1/models")  # no header at all
    assert status == 401 and "missing API key" in body
    assert refused_count(keyed, "openai") - before == 7
    for key in KEYS + ["file-key-2"]:
        with openai.OpenAI(base_url=keyed.http_url + "/v1", api_key=key, max_retries=0) as c:
            assert c.completions.create(model=name, prompt="hi", max_tokens=2).usage.completion_tokens == 2


def test_ollama_needs_a_key(keyed):
    before = refused_count(keyed, "ollama")
    for headers in [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic key-one"}]:
        client = ollama.Client(host=keyed.http_url, headers=headers)
        with pytest.raises(ollama.ResponseError) as e:
            client.list()
        assert e.value.status_code == 401
    assert refused_count(keyed, "ollama") - before == 3
    client = ollama.Client(host=keyed.http_url, headers={"Authorization": "Bearer key-two"})
    [m] = client.list().models
    r = client.generate(model=m.model, prompt="hi", options={"num_predict": 2})
    assert r.eval_count == 2


def test_grpc_needs_a_key(keyed):
    before = refused_count(keyed, "grpc")
    for metadata in [None, [("authorization", "Bearer wrong")], [("authorization", "key-one")]]:
        with pytest.raises(grpc.RpcError) as e:
            grpc_generate(keyed.target, metadata)
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as e:
        keyed.client.model_info()
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert refused_count(keyed, "grpc") - before == 4
    assert grpc_generate(keyed.target, [("authorization", "Bearer key-one")])


def grpc_health(target, metadata=None):
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        resp = stub.Check(health_pb2.HealthCheckRequest(service=""), metadata=metadata, timeout=30)
        watch = stub.Watch(health_pb2.HealthCheckRequest(service=""), metadata=metadata,
                           timeout=30)
        first = next(watch)
        watch.cancel()
        assert first.status == resp.status
        return health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)


def test_health_and_metrics_open_by_default(keyed):
    assert grpc_health(keyed.target) == "SERVING"
    assert scrape(keyed.metrics_url + "/metrics")[0] == 200
    assert scrape(keyed.metrics_url + "/ready")[0] == 200
    assert scrape(keyed.http_url + "/health")[0] == 200


def test_key_file_reloads_on_sighup(keyed):
    keyed.key_file.write_text("file-key-3\n")
    n = len(keyed.lines)
    keyed.signal(signal.SIGHUP)
    deadline = time.monotonic() + 60
    while not any("API keys reloaded" in line for line in keyed.lines[n:]):
        assert time.monotonic() < deadline, keyed.output()
        time.sleep(0.05)
    ok = {"Authorization": "Bearer file-key-3"}
    assert scrape(keyed.http_url + "/v1/models", ok)[0] == 200
    assert scrape(keyed.http_url + "/v1/models", {"Authorization": "Bearer file-key-1"})[0] == 401
    assert scrape(keyed.http_url + "/v1/models", {"Authorization": "Bearer key-one"})[0] == 200
    # An unreadable file keeps the keys in force.
    os.chmod(keyed.key_file, 0)
    keyed.key_file.rename(keyed.key_file.with_suffix(".gone"))
    n = len(keyed.lines)
    keyed.signal(signal.SIGHUP)
    while not any("keeping the API keys" in line for line in keyed.lines[n:]):
        assert time.monotonic() < deadline, keyed.output()
        time.sleep(0.05)
    assert scrape(keyed.http_url + "/v1/models", ok)[0] == 200


def test_metrics_and_health_protected_by_setting():
    s = Server(SMALL_SERVER + ["--api-keys=k", "--auth-protect-metrics", "--auth-protect-health"])
    try:
        for url in (s.metrics_url + "/metrics", s.metrics_url + "/health",
                    s.metrics_url + "/ready", s.http_url + "/health"):
            assert scrape(url)[0] == 401, url
            assert scrape(url, {"Authorization": "Bearer k"})[0] == 200, url
        _, text = scrape(s.metrics_url + "/metrics", {"Authorization": "Bearer k"})
        assert re.search(r'unauthenticated_requests_total\{[^}]*protocol="metrics"\} 3', text)
        # The gRPC health service too.
        with pytest.raises(grpc.RpcError) as e:
            grpc_health(s.target)
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert grpc_health(s.target, [("authorization", "Bearer k")]) == "SERVING"
    finally:
        s.stop()


# ---- TLS ----

def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_cert(d, name, ca, usage):
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
            f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
    (d / f"{name}.ext").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        f"keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage={usage}\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext",
            cwd=d)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A test CA, a server certificate for 127.0.0.1 / localhost, a client certificate, and a
    client certificate from another CA."""
    d = tmp_path_factory.mktemp("pki")
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key", "-out",
                f"{ca}.crt", "-days", "2", "-subj", f"/CN=Hearth test {ca}", "-addext",
                "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=keyCertSign,cRLSign",
                cwd=d)
    make_cert(d, "server", "ca", "serverAuth")
    make_cert(d, "client", "ca", "clientAuth")
    make_cert(d, "stranger", "other-ca", "clientAuth")
    return d


def tls_context(pki, cert=None):
    """A client SSL context trusting the test CA, with `cert` ("client", ...) when given."""
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    if cert:
        context.load_cert_chain(str(pki / f"{cert}.crt"), str(pki / f"{cert}.key"))
    return context


def tls_args(pki, mutual=False):
    args = [f"--tls-cert-file={pki / 'server.crt'}", f"--tls-key-file={pki / 'server.key'}"]
    if mutual:
        args.append(f"--tls-client-ca-file={pki / 'ca.crt'}")
    return args


def test_tls_on_every_listener(pki):
    s = Server(SMALL_SERVER + tls_args(pki))
    try:
        ca = str(pki / "ca.crt")
        https = s.http_url.replace("http://", "https://")
        with openai.OpenAI(base_url=https + "/v1", api_key="x", max_retries=0,
                           http_client=httpx.Client(verify=tls_context(pki))) as c:
            name = c.models.list().data[0].id
            r = c.chat.completions.create(model=name, messages=[{"role": "user", "content": "Hi"}],
                                          max_tokens=3, stream=True)
            assert sum(1 for _ in r) >= 1
        client = ollama.Client(host=https, verify=tls_context(pki))
        assert client.generate(model=name, prompt="hi", options={"num_predict": 2}).eval_count == 2
        creds = grpc.ssl_channel_credentials(root_certificates=(pki / "ca.crt").read_bytes())
        assert grpc_generate(s.target, credentials=creds)
        context = ssl.create_default_context(cafile=ca)
        status, text = scrape(s.metrics_url.replace("http://", "https://") + "/metrics",
                              context=context)
        assert status == 200 and "hearth:build_info" in text
        # Plaintext is refused on all three.
        with pytest.raises(openai.APIConnectionError):
            with openai.OpenAI(base_url=s.http_url + "/v1", api_key="x", max_retries=0) as c:
                c.models.list()
        with pytest.raises(Exception):
            scrape(s.metrics_url + "/metrics")
        with pytest.raises(grpc.RpcError) as e:
            grpc_generate(s.target)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
        # A client that does not trust the CA fails the handshake.
        with pytest.raises(openai.APIConnectionError):
            with openai.OpenAI(base_url=https + "/v1", api_key="x", max_retries=0) as c:
                c.models.list()
        assert any("(TLS)" in line for line in s.lines)
    finally:
        s.stop()


def test_mutual_tls(pki):
    s = Server(SMALL_SERVER + tls_args(pki, mutual=True))
    try:
        https = s.http_url.replace("http://", "https://")
        with httpx.Client(verify=tls_context(pki, "client")) as h:
            assert h.get(https + "/v1/models").status_code == 200
        for cert in (None, "stranger"):
            with httpx.Client(verify=tls_context(pki, cert)) as h:
                with pytest.raises(httpx.HTTPError):
                    h.get(https + "/v1/models")
        root = (pki / "ca.crt").read_bytes()
        creds = grpc.ssl_channel_credentials(
            root_certificates=root, private_key=(pki / "client.key").read_bytes(),
            certificate_chain=(pki / "client.crt").read_bytes())
        assert grpc_generate(s.target, credentials=creds)
        with pytest.raises(grpc.RpcError):
            grpc_generate(s.target, credentials=grpc.ssl_channel_credentials(root_certificates=root))
    finally:
        s.stop()


def test_bad_tls_config_names_the_key(pki):
    from conftest import run_cli
    rc, out = run_cli(["--tls-cert-file=" + str(pki / "server.crt")])
    assert rc == 2 and "tls.key_file" in out
    rc, out = run_cli(tls_args(pki)[:1] + [f"--tls-key-file={pki / 'client.key'}"])
    assert rc == 2 and "does not match" in out
    rc, out = run_cli([f"--tls-cert-file={pki / 'ca.key'}", f"--tls-key-file={pki / 'ca.key'}"])
    assert rc == 2 and "tls.cert_file" in out
