"""A local stand-in for Anthropic's Messages API, for the real `anthropic` SDK to talk to.

It listens on 127.0.0.1 and answers `POST /v1/messages` (and `GET /v1/models`, the key check)
with scripted steps, one per request, in order; when the script is empty the default step
answers. Each request is kept (body and headers) so tests can see what the SDK really sent.
Like the real API it takes the key as `x-api-key` or as `authorization: Bearer` (the 2.x SDK
sends the latter) and any `anthropic-version`; `key_of` reads it whichever way it came.

Prompt caching is modelled the way the API reports it: the cacheable prefix is the tools and
the system blocks up to the last `cache_control` breakpoint; the first request with a given
prefix reports it as `cache_creation_input_tokens`, every later one with the same prefix as
`cache_read_input_tokens`. Tokens are counted as characters / 4 (the figures are relative).
The real API caches nothing below a model's minimum prefix (1024 to 4096 tokens, e.g. 4096
for claude-haiku-4-5); `min_cacheable` models that floor (0, the default, caches any size).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
import contextlib
from dataclasses import dataclass, field
import json
from typing import Any

from aiohttp import web

from ..loopback import start_serving

MODEL = "claude-haiku-4-5"
API_KEY = "sk-ant-test-key"


@dataclass
class Step:
    """One scripted answer: a status, a JSON body (or raw text), headers, a delay."""

    status: int = 200
    body: Any = None
    """A tool input (dict) for `tool`, the text for `text`, the JSON error otherwise."""
    kind: str = "tool"
    """`tool`, `text` (a text block), `raw` (body sent as is) or `error`."""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def tool(intents: list[dict[str, Any]], *, delay: float = 0.0) -> Step:
    """Answer through the `propose_intents` tool."""
    return Step(body={"intents": intents}, kind="tool", delay=delay)


def text(answer: str) -> Step:
    """Answer with a text block (a model that wrote its JSON out)."""
    return Step(body=answer, kind="text")


def raw(body: str, status: int = 200) -> Step:
    """Send `body` as the HTTP body, unchanged (garbage, broken JSON)."""
    return Step(status=status, body=body, kind="raw")


def error(status: int, headers: dict[str, str] | None = None) -> Step:
    """An API error with the body Anthropic sends for `status`."""
    kinds = {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        429: "rate_limit_error",
        500: "api_error",
        529: "overloaded_error",
    }
    kind = kinds.get(status, "api_error")
    return Step(
        status=status,
        body={"type": "error", "error": {"type": kind, "message": f"fake {kind}"}},
        kind="error",
        headers=headers or {},
    )


def intent(
    action: str,
    *,
    level: int = 3,
    confidence: float = 0.95,
    urgency: float = 0.7,
    rationale: str = "the model thinks so",
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One intent as a model writes it."""
    return {
        "action": action,
        "params": params or {},
        "confidence": confidence,
        "urgency": urgency,
        "level": level,
        "rationale": rationale,
    }


def tokens(value: Any) -> int:
    """Count tokens the fake's way: characters of the JSON form / 4."""
    return max(1, len(json.dumps(value, sort_keys=True)) // 4)


@dataclass
class Seen:
    """One request as the server received it."""

    body: dict[str, Any]
    headers: dict[str, str]
    time: float


class FakeAnthropic:
    """The scripted Messages API server."""

    def __init__(self, min_cacheable: int = 0) -> None:
        """Start with an empty script; the default answer proposes nothing."""
        self.min_cacheable = min_cacheable
        self.script: deque[Step] = deque()
        self.default: Step = tool([])
        self.requests: list[Seen] = []
        self.prefixes: set[str] = set()
        self.cache_read = 0
        self.cache_written = 0
        self.uncached_input = 0
        self.output_tokens: list[int] = []
        """Output tokens of each message answered, in order."""
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()

    @property
    def messages(self) -> list[Seen]:
        """The requests to /v1/messages."""
        return [seen for seen in self.requests if "messages" in seen.body]

    def then(self, *steps: Step) -> FakeAnthropic:
        """Queue steps, answered in order by the next requests."""
        self.script.extend(steps)
        return self

    async def start(self) -> str:
        """Listen on a free port of 127.0.0.1; return the base URL for the SDK."""
        app = web.Application()
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_get("/v1/models", self._models)
        self._runner, self.url = await start_serving(app)
        return self.url

    async def stop(self) -> None:
        """Stop listening."""
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _models(self, request: web.Request) -> web.Response:
        self.requests.append(
            Seen(
                {},
                {k.lower(): v for k, v in request.headers.items()},
                asyncio.get_running_loop().time(),
            )
        )
        if key_of(request.headers) != API_KEY:
            return _error_response(error(401))
        model = {
            "type": "model",
            "id": MODEL,
            "display_name": "Claude Haiku 4.5",
            "created_at": "2025-10-01T00:00:00Z",
            "lifecycle": "active",
            "deprecated_at": None,
            "retires_at": None,
        }
        # `lifecycle` (or `lifecycle[]`) filters by stage, as the API does; the model is active.
        stages = [
            stage
            for name, value in request.query.items()
            if name.startswith("lifecycle")
            for stage in value.split(",")
        ]
        data = [model] if not stages or "active" in stages else []
        return web.json_response(
            {
                "data": data,
                "has_more": False,
                "first_id": MODEL if data else None,
                "last_id": MODEL if data else None,
            }
        )

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(
            Seen(
                body,
                {k.lower(): v for k, v in request.headers.items()},
                asyncio.get_running_loop().time(),
            )
        )
        step = self.script.popleft() if self.script else self.default
        if step.delay:  # a slow model; cut short when the server stops
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), step.delay)
        if step.kind == "raw":
            return web.Response(
                status=step.status, text=step.body, content_type="application/json"
            )
        if step.kind == "error":
            return _error_response(step)
        if key_of(request.headers) != API_KEY:
            return _error_response(error(401))
        content: list[dict[str, Any]]
        if step.kind == "text":
            content = [{"type": "text", "text": step.body}]
        else:
            content = [
                {
                    "type": "tool_use",
                    "id": f"toolu_{len(self.requests)}",
                    "name": "propose_intents",
                    "input": step.body,
                }
            ]
        return web.json_response(
            {
                "id": f"msg_{len(self.requests)}",
                "type": "message",
                "role": "assistant",
                "model": body.get("model", MODEL),
                "content": content,
                "stop_reason": "tool_use" if step.kind == "tool" else "end_turn",
                "stop_sequence": None,
                "usage": self._usage(body, content),
            },
            headers=step.headers,
        )

    def _usage(
        self, body: dict[str, Any], content: list[dict[str, Any]]
    ) -> dict[str, int]:
        """Input tokens split into cached, cache-written and uncached, like the API."""
        prefix, rest = _split_prefix(body)
        prefix_tokens = tokens(prefix) if prefix else 0
        rest_tokens = tokens(rest)
        read = written = 0
        if prefix and prefix_tokens < self.min_cacheable:
            rest_tokens += prefix_tokens  # too short to cache: billed as plain input
        elif prefix:
            key = json.dumps(prefix, sort_keys=True)
            if key in self.prefixes:
                read = prefix_tokens
            else:
                written = prefix_tokens
                self.prefixes.add(key)
        self.cache_read += read
        self.cache_written += written
        self.uncached_input += rest_tokens
        self.output_tokens.append(tokens(content))
        return {
            "input_tokens": rest_tokens,
            "output_tokens": self.output_tokens[-1],
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": written,
        }


def key_of(headers: Mapping[str, str]) -> str | None:
    """The API key a request carries, as `x-api-key` or as `authorization: Bearer KEY`."""
    lowered = {name.lower(): value for name, value in headers.items()}
    if (key := lowered.get("x-api-key")) is not None:
        return key
    scheme, _, token = lowered.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _split_prefix(body: dict[str, Any]) -> tuple[list[Any], Any]:
    """The cacheable prefix (tools, then system, up to the last breakpoint) and the rest."""
    parts: list[Any] = [("tool", t) for t in body.get("tools") or []]
    system = body.get("system")
    if isinstance(system, list):
        parts += [("system", block) for block in system]
    last = max(
        (
            index
            for index, (_, part) in enumerate(parts)
            if isinstance(part, dict) and "cache_control" in part
        ),
        default=-1,
    )
    prefix = [part for _, part in parts[: last + 1]]
    rest = {
        "uncached": [part for _, part in parts[last + 1 :]],
        "system": system if isinstance(system, str) else None,
        "messages": body.get("messages"),
    }
    return prefix, rest


def _error_response(step: Step) -> web.Response:
    return web.json_response(step.body, status=step.status, headers=step.headers)
