"""The chat-completions client against a scripted stdlib server: payload, retries with backoff,
failures recorded per sample, the response cache, the concurrency limit, timeouts."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from polymodal.adapters import GenerationSettings, ImageInput, Message, Request, create_adapter
from polymodal.adapters.openai import OpenAIChatAdapter


class Script:
    """What the fake endpoint answers: a list of (status, body) per call, then echoes."""

    def __init__(self, plan: list[tuple[int, bytes]] | None = None, delay: float = 0.0) -> None:
        self.plan = list(plan or [])
        self.delay = delay
        self.bodies: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()


def _echo(body: dict) -> bytes:
    text = body["messages"][-1]["content"]
    if isinstance(text, list):
        text = "|".join(p.get("text", "IMG") for p in text)
    return json.dumps(
        {"choices": [{"message": {"role": "assistant", "content": text.upper()}}]}
    ).encode()


@pytest.fixture
def endpoint():
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            return

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with script.lock:
                script.bodies.append(body)
                script.in_flight += 1
                script.max_in_flight = max(script.max_in_flight, script.in_flight)
                status, data = script.plan.pop(0) if script.plan else (200, _echo(body))
            time.sleep(script.delay)
            with script.lock:
                script.in_flight -= 1
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out and hung up first: what a timeout test wants

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", script
    server.shutdown()
    server.server_close()


def _requests(n: int) -> list[Request]:
    return [Request(f"s{i}", (Message("user", (f"hello {i}",)),)) for i in range(n)]


def _client(url: str, **options) -> OpenAIChatAdapter:
    return OpenAIChatAdapter(url, model="m", sleep=lambda s: None, **options)


def test_payload_has_images_as_data_urls_and_the_settings(endpoint, tmp_path: Path) -> None:
    url, script = endpoint
    png = tmp_path / "x.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    request = Request("s0", (Message("system", ("be brief",)),
                             Message("user", (ImageInput(path=str(png)), "what?"))))  # fmt: skip
    settings = GenerationSettings(max_new_tokens=5, temperature=0.0, seed=3, stop=("\n",))
    out = _client(url).generate([request], settings)
    body = script.bodies[0]
    assert out[0].text == "IMG|WHAT?"
    assert body["messages"][0] == {"role": "system", "content": "be brief"}
    image_url = body["messages"][1]["content"][0]["image_url"]["url"]
    assert image_url == "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
    assert (body["max_tokens"], body["seed"], body["stop"], body["model"]) == (5, 3, ["\n"], "m")


def test_retries_malformed_and_server_errors_then_succeeds(endpoint) -> None:
    url, script = endpoint
    script.plan = [(500, b"{}"), (200, b"not json"), (200, b'{"choices": []}')]
    waits: list[float] = []
    client = OpenAIChatAdapter(url, retries=3, backoff=0.25, sleep=waits.append)
    out = client.generate(_requests(1), GenerationSettings())[0]
    assert (out.text, out.attempts, out.failed) == ("HELLO 0", 4, False)
    assert waits == [0.25, 0.5, 1.0]  # backoff doubles


def test_failure_after_retries_is_recorded_not_raised(endpoint) -> None:
    url, script = endpoint
    script.plan = [(503, b"busy")] * 3 + [(400, b"bad")]
    out = _client(url, retries=2, concurrency=1).generate(_requests(2), GenerationSettings())
    assert out[0].failed
    assert "HTTP 503" in out[0].error
    assert "after 3 tries" in out[0].error
    assert out[1].failed  # a 400 is not retried
    assert out[1].attempts == 1
    assert len(script.bodies) == 4


def test_timeout_is_retried_then_recorded(endpoint) -> None:
    url, script = endpoint
    script.delay = 0.5
    out = _client(url, retries=1, timeout=0.1).generate(_requests(1), GenerationSettings())[0]
    assert out.failed
    assert out.attempts == 2
    assert "timed out" in out.error.lower()


def test_cache_answers_a_repeated_request_without_a_call(endpoint, tmp_path: Path) -> None:
    url, script = endpoint
    first = _client(url, cache=tmp_path / "c").generate(_requests(3), GenerationSettings())
    again = _client(url, cache=tmp_path / "c").generate(_requests(4), GenerationSettings())
    assert len(script.bodies) == 4  # 3 + the one new request
    assert [g.text for g in again[:3]] == [g.text for g in first]
    assert [g.cached for g in again] == [True, True, True, False]
    other = GenerationSettings(max_new_tokens=7)  # another setting is another request
    _client(url, cache=tmp_path / "c").generate(_requests(1), other)
    assert len(script.bodies) == 5


def test_concurrency_limit_is_respected(endpoint) -> None:
    url, script = endpoint
    script.delay = 0.05
    out = _client(url, concurrency=3).generate(_requests(12), GenerationSettings())
    assert [g.text for g in out] == [f"HELLO {i}" for i in range(12)]  # request order kept
    assert 2 <= script.max_in_flight <= 3


def test_spec_builds_the_client() -> None:
    client = create_adapter("openai:http://127.0.0.1:1/v1", model="x", concurrency=2)
    assert client.describe() == {
        "kind": "openai", "url": "http://127.0.0.1:1/v1/chat/completions", "model": "x"
    }  # fmt: skip
