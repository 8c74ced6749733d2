"""An OpenAI-compatible chat-completions server in front of any generating adapter.

``polymodal serve MODEL`` (a Hugging Face model folder, ``hf:...``, any adapter spec, or a
generating polymodal run directory: kind ``run``, :mod:`polymodal.adapters.run`) answers

- ``POST /v1/chat/completions``: ``messages`` (text, or content parts ``text`` and ``image_url``
  with base64 ``data:`` URLs), ``max_tokens``, ``temperature``, ``top_p``, ``seed``, ``stop``;
  the answer is a ``chat.completion`` object with one choice;
- ``GET /v1/models``: the one model served;
- ``GET /polymodal/stats``: how many completions were served (tests count calls with it).

A malformed request gets HTTP 400 with an OpenAI-style ``error`` object; a model failure 500.
Requests are answered one at a time (a lock around the model), on a threading server so a slow
generation does not block the stats endpoint. Only the standard library's ``http.server``.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from polymodal.adapters.base import (
    Adapter,
    AdapterError,
    GenerationSettings,
    ImageInput,
    Message,
    Request,
)


class RequestError(ValueError):
    """A chat-completions request the server cannot read (answered with HTTP 400)."""


def _parts(content: Any, where: str) -> tuple[Any, ...]:
    if isinstance(content, str):
        return (content,)
    if not isinstance(content, list):
        raise RequestError(f"{where}.content must be a string or a list of parts")
    parts: list[Any] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.append(str(part.get("text", "")))
        elif kind == "image_url":
            url = (part.get("image_url") or {}).get("url", "")
            try:
                parts.append(ImageInput.from_data_url(url, source=f"{where}.content[{j}]"))
            except AdapterError as exc:
                raise RequestError(str(exc)) from None
        else:
            raise RequestError(f"{where}.content[{j}]: unknown part type {kind!r}")
    return tuple(parts)


def parse_chat_request(body: Any) -> tuple[Request, GenerationSettings]:
    """The :class:`Request` and settings of a chat-completions JSON body."""
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        raise RequestError("the body must be a JSON object with a messages list")
    messages = []
    for i, m in enumerate(body["messages"]):
        if not isinstance(m, dict) or "role" not in m:
            raise RequestError(f"messages[{i}] must be an object with a role")
        messages.append(Message(str(m["role"]), _parts(m.get("content", ""), f"messages[{i}]")))
    stop = body.get("stop") or ()
    try:
        settings = GenerationSettings(
            max_new_tokens=int(body.get("max_tokens") or 32),
            temperature=float(body.get("temperature") or 0.0),
            top_p=float(body.get("top_p") or 1.0),
            seed=int(body.get("seed") or 0),
            stop=(stop,) if isinstance(stop, str) else tuple(stop),
        )
    except (TypeError, ValueError) as exc:
        raise RequestError(f"bad generation setting: {exc}") from None
    return Request(f"req-{uuid.uuid4().hex[:12]}", tuple(messages)), settings


class ChatServer(ThreadingHTTPServer):
    """The HTTP server: ``adapter`` answers, ``model_name`` is reported, calls are counted."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], adapter: Adapter, model_name: str) -> None:
        if "generate" not in adapter.capabilities:
            raise AdapterError("the model cannot write text, so it cannot be served")
        super().__init__(address, _Handler)
        self.adapter = adapter
        self.model_name = model_name
        self.completions = 0
        self.lock = threading.Lock()

    def complete(self, body: Any) -> dict[str, Any]:
        """The ``chat.completion`` answer of one request body."""
        request, settings = parse_chat_request(body)
        with self.lock:
            generation = self.adapter.generate([request], settings)[0]
            self.completions += 1
        if generation.failed:
            raise AdapterError(generation.error or "generation failed")
        return {
            "id": f"chatcmpl-{request.id}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model_name,
            "choices": [{
                "index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": generation.text},
            }],
        }  # fmt: skip


class _Handler(BaseHTTPRequestHandler):
    server: ChatServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: no line per request
        return

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, kind: str) -> None:
        self._send(status, {"error": {"message": message, "type": kind}})

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            self._send(200, {"object": "list", "data": [
                {"id": self.server.model_name, "object": "model", "owned_by": "polymodal"}
            ]})  # fmt: skip
        elif self.path.rstrip("/") == "/polymodal/stats":
            self._send(200, {"completions": self.server.completions})
        else:
            self._error(404, f"no route {self.path}", "not_found")

    def do_POST(self) -> None:
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._error(404, f"no route {self.path}", "not_found")
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"null")
            self._send(200, self.server.complete(body))
        except (ValueError, RequestError) as exc:  # JSONDecodeError is a ValueError
            self._error(400, str(exc), "invalid_request_error")
        except AdapterError as exc:
            self._error(500, str(exc), "model_error")


def serve_forever(
    adapter: Adapter, host: str = "127.0.0.1", port: int = 8000, model_name: str = "polymodal",
    ready: Any = None,
) -> None:  # fmt: skip
    """Serve ``adapter`` until interrupted; ``ready(url)`` is called once listening."""
    server = ChatServer((host, port), adapter, model_name)
    if ready is not None:
        ready(f"http://{host}:{server.server_address[1]}/v1")
    try:
        server.serve_forever()
    finally:
        server.server_close()
