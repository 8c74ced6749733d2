"""A client of OpenAI-compatible chat-completions endpoints, as a model under test.

``openai:URL`` (``URL`` the API base, e.g. ``http://127.0.0.1:8000/v1``) posts one
``/chat/completions`` request per sample: the chat's messages with images as base64 ``data:``
URLs, ``max_tokens``, ``temperature``, ``top_p``, ``seed`` and ``stop``. It

- runs at most ``concurrency`` requests at once (a thread pool);
- retries a timeout, a connection error, an HTTP 408 / 429 / 5xx answer or a malformed answer
  (not JSON, or no ``choices[0].message.content``) up to ``retries`` times, waiting
  ``backoff * 2**attempt`` seconds between tries; any other HTTP error is not retried;
- records a request that still fails as a failed :class:`~polymodal.adapters.base.Generation`
  (its error text kept), so the evaluation counts and reports it instead of dropping it;
- keeps every successful response in an on-disk cache keyed by the request
  (:mod:`polymodal.adapters.cache`), so an interrupted evaluation resumes without calling again.

The API key, if any, is read from the environment variable named by ``api_key_env``; it is sent
as a bearer token and is never part of the cache key or of recorded results.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from polymodal.adapters.base import (
    ADAPTERS,
    AdapterError,
    Generation,
    GenerationSettings,
    Request,
)
from polymodal.adapters.cache import ResponseCache, request_key

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class MalformedResponse(Exception):
    """The endpoint answered, but not with a chat completion."""


def message_payload(request: Request) -> list[dict[str, Any]]:
    """The request's messages in the chat-completions format (images as data URLs)."""
    out = []
    for message in request.messages:
        if all(isinstance(p, str) for p in message.parts):
            out.append({"role": message.role, "content": message.text})
            continue
        content = [
            {"type": "text", "text": p}
            if isinstance(p, str)
            else {"type": "image_url", "image_url": {"url": p.data_url()}}
            for p in message.parts
        ]
        out.append({"role": message.role, "content": content})
    return out


def request_payload(request: Request, settings: GenerationSettings, model: str) -> dict[str, Any]:
    """The JSON body of one chat-completions call."""
    payload: dict[str, Any] = {
        "model": model,
        "messages": message_payload(request),
        "max_tokens": settings.max_new_tokens,
        "temperature": settings.temperature,
        "top_p": settings.top_p,
        "seed": settings.seed,
    }
    if settings.stop:
        payload["stop"] = list(settings.stop)
    return payload


def completion_text(body: Any) -> str:
    """``choices[0].message.content`` of a response body; :class:`MalformedResponse` if absent."""
    try:
        content = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise MalformedResponse("no choices[0].message.content in the answer") from None
    if not isinstance(content, str):
        raise MalformedResponse("choices[0].message.content is not a string")
    return content


class OpenAIChatAdapter:
    """An OpenAI-compatible chat-completions endpoint (see the module docstring).

    Args:
        target: the API base URL (``.../v1``).
        model: the ``model`` field sent.
        concurrency: requests in flight at once.
        retries: extra tries after a retryable failure.
        backoff: seconds before the first retry, doubled each time.
        timeout: seconds to wait for one answer.
        cache: folder of the response cache (None: no cache).
        api_key_env: environment variable holding the API key (None: no key).
    """

    capabilities = frozenset({"generate"})

    def __init__(
        self,
        target: str,
        model: str = "default",
        concurrency: int = 4,
        retries: int = 3,
        backoff: float = 0.5,
        timeout: float = 60.0,
        cache: str | Path | None = None,
        api_key_env: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if concurrency < 1 or retries < 0 or timeout <= 0:
            raise AdapterError(
                "concurrency must be >= 1, retries >= 0 and timeout > 0",
                where=f"openai:{target}",
            )
        self.url = target.rstrip("/") + "/chat/completions"
        self.model = model
        self.concurrency = concurrency
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.cache = ResponseCache(cache) if cache is not None else None
        self.api_key_env = api_key_env
        self._sleep = sleep
        self.calls = 0  # HTTP requests sent by this adapter (retries included)

    def describe(self) -> dict[str, Any]:
        return {"kind": "openai", "url": self.url, "model": self.model}

    def _post(self, payload: dict[str, Any]) -> Any:
        headers = {"Content-Type": "application/json"}
        if self.api_key_env and os.environ.get(self.api_key_env):
            headers["Authorization"] = f"Bearer {os.environ[self.api_key_env]}"
        data = json.dumps(payload).encode("utf-8")
        http_request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
        self.calls += 1
        with urllib.request.urlopen(http_request, timeout=self.timeout) as answer:
            raw = answer.read()
        try:
            return json.loads(raw)
        except ValueError:
            raise MalformedResponse("the answer is not JSON") from None

    def _one(self, request: Request, settings: GenerationSettings) -> Generation:
        payload = request_payload(request, settings, self.model)
        key = request_key(self.url, payload)
        if self.cache is not None:
            stored = self.cache.get(key)
            if stored is not None:
                return Generation(completion_text(stored), attempts=0, cached=True)
        error = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(self.backoff * 2 ** (attempt - 1))
            try:
                body = self._post(payload)
                text = completion_text(body)
            except urllib.error.HTTPError as exc:
                error = f"HTTP {exc.code}: {exc.reason}"
                if exc.code not in RETRY_STATUS:
                    return Generation(error=error, attempts=attempt + 1)
                continue
            except (MalformedResponse, urllib.error.URLError, TimeoutError, OSError) as exc:
                error = f"{type(exc).__name__}: {exc}"
                continue
            if self.cache is not None:
                self.cache.put(key, body)
            return Generation(text, attempts=attempt + 1)
        return Generation(error=f"{error} (after {self.retries + 1} tries)", attempts=attempt + 1)

    def generate(
        self, requests: Sequence[Request], settings: GenerationSettings
    ) -> list[Generation]:
        """One generation per request, ``concurrency`` at a time, in request order."""
        if self.concurrency == 1 or len(requests) <= 1:
            return [self._one(r, settings) for r in requests]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(lambda r: self._one(r, settings), requests))

    def score(self, request: Request, candidates: Sequence[str]) -> np.ndarray:
        raise AdapterError(
            "a chat-completions endpoint does not score candidates",
            where=request.id,
            fix="use an output type of generate with an extraction rule",
        )


@ADAPTERS.register("openai")
def openai_adapter(target: str, **options: Any) -> OpenAIChatAdapter:
    """An OpenAI-compatible chat-completions endpoint (images as data URLs), cached."""
    return OpenAIChatAdapter(target, **options)
