"""06_cloud with keys set but no usable service: one sentence per service, nothing raised, no key shown.

The cloud is played by two things on 127.0.0.1, outside the code under test: a port where nothing
listens (an unreachable host) and a small HTTP server that refuses every WebSocket handshake the way
the services do: 401 with a body quoting the key it was given (as OpenAI's "Incorrect API key
provided: sk-..." does), and 404 ``DeploymentNotFound`` on Azure's preview path. The OpenAI side
reaches it through ``OPENAI_BASE_URL``, the variable the openai SDK reads too, so no test talks to
a real service.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from realtime_nb.client import ConnectError, Endpoint, ServerError, explain_failure
from realtime_nb.notebook import probe

pytestmark = pytest.mark.notebook

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "06_cloud.ipynb"
OPENAI_KEY = "sk-" + "madeup-0123456789abcdefghijkl"  # fake; split so key scanners do not flag it
AZURE_KEY = "az-" + "madeup-9876543210zyxwvu"
_CLOUD_VARS = re.compile(r"^(OPENAI_.*|AZURE_.*)$")


class _Refuser(BaseHTTPRequestHandler):
    """Answers every request as a service refusing it, quoting the credential it got in the body."""

    protocol_version = "HTTP/1.1"  # websockets refuses an HTTP/1.0 answer before reading its status

    def do_GET(self) -> None:  # http.server's name for it
        presented = self.headers.get("Authorization") or self.headers.get("api-key") or ""
        if self.path.startswith("/openai/realtime"):
            status, error = (
                404,
                {"code": "DeploymentNotFound", "message": "The API deployment does not exist."},
            )
        else:
            status, error = (
                401,
                {"code": "invalid_api_key", "message": f"Incorrect API key provided: {presented}."},
            )
        body = json.dumps({"error": {"type": "invalid_request_error", **error}}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep the test's output clean


@pytest.fixture(scope="module")
def refuser() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refuser)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again on exit: nothing listens there
    return f"http://127.0.0.1:{port}"


def _run(env_vars: dict[str, str], sessions: Path) -> str:
    env = {name: value for name, value in os.environ.items() if not _CLOUD_VARS.match(name)}
    env.update(env_vars, REALTIME_NB_SESSIONS=str(sessions))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=240, startup_timeout=60,
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}})  # fmt: skip
    client.execute(env=env)  # a cell error raises CellExecutionError: the notebook must finish
    parts: list[str] = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(json.dumps(out))  # every output, whatever its kind (errors included)
    return "\n".join(parts)


@pytest.mark.timeout(600)
def test_openai_refuses_the_key_and_azure_is_unreachable(
    refuser: str, closed_port: str, tmp_path: Path
) -> None:
    out = _run(
        {
            "OPENAI_API_KEY": OPENAI_KEY,
            "OPENAI_BASE_URL": refuser + "/v1",
            "AZURE_OPENAI_API_KEY": AZURE_KEY,
            "AZURE_OPENAI_ENDPOINT": closed_port,
        },
        tmp_path,
    )
    host = refuser.removeprefix("http://")
    assert f"OpenAI GA: {host} refused the credential (HTTP 401, invalid_api_key)" in out
    assert "check OPENAI_API_KEY" in out
    closed = closed_port.removeprefix("http://")
    for name in ("Azure GA", "Azure preview"):
        assert f"{name}: nothing answers at {closed} (connection refused): check AZURE_OPENAI_ENDPOINT" in out
    assert "No cloud service is usable here, so the spoken turn is skipped." in out
    assert "Traceback" not in out and "ConnectError" not in out
    assert OPENAI_KEY not in out and AZURE_KEY not in out


@pytest.mark.timeout(600)
def test_azure_refuses_key_and_deployment_and_openai_is_unreachable(
    refuser: str, closed_port: str, tmp_path: Path
) -> None:
    out = _run(
        {
            "OPENAI_API_KEY": OPENAI_KEY,
            "OPENAI_BASE_URL": closed_port + "/v1",
            "AZURE_OPENAI_API_KEY": AZURE_KEY,
            "AZURE_OPENAI_ENDPOINT": refuser,
            "AZURE_OPENAI_DEPLOYMENT": "my-realtime",
        },
        tmp_path,
    )
    host = refuser.removeprefix("http://")
    assert f"OpenAI GA: nothing answers at {closed_port.removeprefix('http://')}" in out
    assert "check OPENAI_BASE_URL" in out
    assert f"Azure GA: {host} refused the credential (HTTP 401, invalid_api_key)" in out
    assert "check AZURE_OPENAI_API_KEY" in out
    assert f"Azure preview: {host} has no deployment 'my-realtime' (HTTP 404, DeploymentNotFound)" in out
    assert "No cloud service is usable here, so the spoken turn is skipped." in out
    assert "Traceback" not in out
    assert OPENAI_KEY not in out and AZURE_KEY not in out


# ---- the sentences, one failure at a time (no kernel) -----------------------------------------------


async def test_probe_never_raises_and_explains(refuser: str, closed_port: str) -> None:
    refused = await probe(Endpoint.openai(api_key=OPENAI_KEY, base_url=refuser + "/v1"), timeout=10)
    assert refused["status"] == "error" and "HTTP 401" in refused["problem"]
    assert OPENAI_KEY not in json.dumps(refused, default=str)
    gone = await probe(Endpoint.azure("dep", endpoint=closed_port, api_key=AZURE_KEY), timeout=10)
    assert gone["status"] == "error" and gone["problem"].startswith("nothing answers at")


@pytest.mark.parametrize(
    ("status", "code", "fragment"),
    [
        (401, "invalid_api_key", "wrong, revoked or expired; check OPENAI_API_KEY"),
        (401, None, "refused the credential (HTTP 401)"),
        (400, "expired_api_key", "wrong, revoked or expired"),
        (403, None, "denied access (HTTP 403)"),
        (404, "model_not_found", "does not serve the model 'gpt-realtime'"),
        (429, "insufficient_quota", "quota or rate limits"),
        (503, None, "try again later"),
    ],
)
def test_http_refusals_become_sentences(status: int, code: str | None, fragment: str) -> None:
    endpoint = Endpoint.openai(api_key=OPENAI_KEY)
    exc = ConnectError(endpoint.url, f"HTTP {status}", status, code=code)
    sentence = explain_failure(exc, endpoint)
    assert fragment in sentence and sentence.startswith("api.openai.com")
    assert OPENAI_KEY not in sentence


@pytest.mark.parametrize(
    ("kind", "fragment"),
    [
        ("dns", "cannot resolve my-resource.openai.azure.com: this machine is offline"),
        ("refused", "nothing answers at my-resource.openai.azure.com"),
        ("timeout", "no answer from my-resource.openai.azure.com within 7 s"),
        ("tls", "(TLS)"),
        ("network", "network is unreachable"),
        ("handshake", "did not answer as a Realtime WebSocket endpoint"),
    ],
)
def test_network_failures_become_sentences(kind: str, fragment: str) -> None:
    endpoint = Endpoint.azure("dep", endpoint="my-resource", api_key=AZURE_KEY)
    sentence = explain_failure(ConnectError(endpoint.url, "x", kind=kind), endpoint, timeout=7)
    assert fragment in sentence and AZURE_KEY not in sentence


def test_a_service_error_quoting_the_key_is_redacted() -> None:
    endpoint = Endpoint.openai(api_key=OPENAI_KEY)
    exc = ServerError("beta_api_shape_disabled", f"no beta for {OPENAI_KEY}", event_id=None)
    sentence = explain_failure(exc, endpoint)
    assert "beta_api_shape_disabled" in sentence and OPENAI_KEY not in sentence
    expired = explain_failure(ServerError("session_expired_key", "expired"), endpoint)
    assert "check OPENAI_API_KEY" in expired


async def test_a_dns_failure_is_classified() -> None:
    from realtime_nb.client import RealtimeSession

    # .invalid never resolves (RFC 6761), so this asks no real host anything.
    endpoint = Endpoint.azure("dep", endpoint="https://no-such-host.invalid", api_key=AZURE_KEY)
    with pytest.raises(ConnectError) as info:
        await RealtimeSession(endpoint, timeout=10).connect()
    assert info.value.kind == "dns"
    assert "cannot resolve no-such-host.invalid" in explain_failure(info.value, endpoint)


# ---- where OpenAI is: OPENAI_BASE_URL, as the openai SDK reads it ------------------------------------


def test_openai_base_url_moves_the_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Endpoint.openai(api_key=OPENAI_KEY).url == "wss://api.openai.com/v1/realtime?model=gpt-realtime"
    gateway = Endpoint.openai(api_key=OPENAI_KEY, base_url="https://gw.example.org/openai/v1/")
    assert gateway.url == "wss://gw.example.org/openai/v1/realtime?model=gpt-realtime"
    assert gateway.webrtc_urls().calls == "https://gw.example.org/openai/v1/realtime/calls"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8765/v1")
    assert Endpoint.openai(api_key=OPENAI_KEY).url == "ws://127.0.0.1:8765/v1/realtime?model=gpt-realtime"
    for bad in ("http://gw.example.org/v1", "ftp://gw.example.org", "https://user:pw@gw.example.org/v1"):
        with pytest.raises(ValueError, match="OpenAI base URL"):
            Endpoint.openai(api_key=OPENAI_KEY, base_url=bad)


def test_cloud_endpoints_skips_a_malformed_service_in_one_sentence(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from realtime_nb.notebook import cloud_endpoints

    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://gw.example.org/v1")  # a key must not go out unencrypted
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", AZURE_KEY)
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://my-resource.openai.azure.com/")
    found = cloud_endpoints(prompt=False)
    assert list(found) == ["Azure GA", "Azure preview"]
    printed = capsys.readouterr().out
    assert printed.startswith("OpenAI: OpenAI base URL") and printed.count("\n") == 1
    assert OPENAI_KEY not in printed


async def test_connect_to_an_unusable_service_says_why_in_one_line(
    monkeypatch: pytest.MonkeyPatch, refuser: str
) -> None:
    from realtime_nb import notebook

    for name in ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", refuser + "/v1")
    with pytest.raises(notebook.ServiceUnavailableError) as info:
        await notebook.connect()
    [line] = info.value._render_traceback_()  # what IPython shows: one line, no trace
    assert line.startswith("ServiceUnavailableError: OpenAI, model 'gpt-realtime' (ga dialect): ")
    assert "HTTP 401" in line and "connect(local=True)" in line and OPENAI_KEY not in line
    assert isinstance(info.value.__cause__, ConnectError)
