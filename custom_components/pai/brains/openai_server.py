"""Any OpenAI-compatible chat server as a brain: llama.cpp, Ollama, vLLM, LM Studio, OpenAI.

The answer schema is sent as a structured-output `response_format`. Servers disagree on its
spelling: OpenAI and vLLM take `{"type": "json_schema", "json_schema": {...}}`, llama.cpp's
`llama_cpp.server` takes `{"type": "json_object", "schema": ...}`. The first is tried; on a
400 (422, or llama.cpp's 500 naming `response_format`) the second, and the brain remembers
which one the server took.

A server in the home is first offered the compact answer's GBNF `grammar` (llama.cpp's
servers take one): no whitespace, no wrapping object, a capped reason, so the server decodes
fewer tokens than under a JSON schema (which allows whitespace and long strings). A server
that refuses it, or ignores it and answers something that is not the compact answer, is
asked again with the JSON schema, and the brain remembers that for the next calls.

`is_local` (private events may go to it) is decided from the URL's host alone: loopback,
private IPv4/IPv6 ranges (127/8, 10/8, 172.16/12, 192.168/16, ::1, fc00::/7, link-local),
`localhost` and `*.local` names count as in the home; any other name or address does not,
even if it happens to resolve to a home address (the check never does DNS).
"""

from __future__ import annotations

from collections.abc import Mapping
import ipaddress
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from ..bounded_io import (
    MAX_BODY_BYTES,
    PARSE_OFF_LOOP_CHARS,
    async_parse_json,
    async_read_bounded,
)
from ..engine.brain import (
    MAX_INTENTS,
    BrainError,
    BrainRequest,
    BrainResult,
    FailureKind,
    Usage,
    estimate_cost,
    intent_schema,
    parse_answer,
    system_prompt,
    user_message,
)
from ..engine.compact import (
    compact_grammar,
    compact_schema,
    compact_system_prompt,
    expand,
)
from ..engine.models import Intent

MAX_TOKENS = 512
JSON_SCHEMA = "json_schema"
JSON_OBJECT = "json_object"
GRAMMAR = "grammar"
"""llama.cpp's own constraint: a GBNF grammar (`engine.compact.compact_grammar`)."""


def is_local_url(url: str) -> bool:
    """Return whether the URL's host is in the home (loopback, private range, .local)."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if not host:
        return False
    if host == "localhost" or host.endswith((".localhost", ".local")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


class OpenAIServerBrain:
    """POST /chat/completions with the answer schema as structured output."""

    name = "openai"

    def __init__(
        self, hass: HomeAssistant, *, base_url: str, model: str, api_key: str | None
    ) -> None:
        """Keep the settings; `base_url` ends before `/chat/completions` (e.g. `.../v1`)."""
        self.hass = hass
        self.base_url = base_url.rstrip("/")
        self.model = model
        self._api_key = api_key
        self._format: str | None = None
        """The `response_format` spelling the server took (None: not known yet)."""
        self.compact = True
        """Ask for the compact answer (`engine.compact`); False: today's JSON objects."""
        self.grammar = True
        """Offer a server in the home the compact answer's GBNF grammar first."""

    @property
    def is_local(self) -> bool:
        """Return whether the server is in the home (see the module's docstring)."""
        return is_local_url(self.base_url)

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    async def async_validate(self) -> None:
        """Check that the server answers and takes the key (GET /models)."""
        session = async_get_clientsession(self.hass)
        try:
            async with session.get(
                f"{self.base_url}/models", headers=self._headers()
            ) as response:
                await response.read()
                _check_status(response.status, "")
        except aiohttp.ClientError as err:
            raise BrainError(
                FailureKind.UNAVAILABLE, f"cannot reach {self.base_url}: {err}"
            ) from err

    async def async_think(self, request: BrainRequest) -> BrainResult:
        """Ask the server; fall back to the next answer format when one is refused."""
        compact = self.compact
        most = max(1, min(MAX_INTENTS, len(request.action_names)))
        if compact:
            # A free-form `params` object lets a small model ramble until `max_tokens`, so
            # the compact answer has none (as the local model's never had); with no params
            # to tell them apart, one intent per action says all an answer can say.
            schema = compact_schema(request, most, wrapped=True)
        else:
            schema = intent_schema(request)
        if self._format:
            formats = [self._format]
        elif compact and self.is_local and self.grammar:
            formats = [GRAMMAR, JSON_SCHEMA, JSON_OBJECT]
        else:
            formats = [JSON_SCHEMA, JSON_OBJECT]
        started = time.perf_counter()
        for index, kind in enumerate(formats):
            last = index + 1 == len(formats)
            constraint = (
                {"grammar": compact_grammar(request, most)}
                if kind == GRAMMAR
                else {"response_format": _response_format(kind, schema)}
            )
            status, body = await self._async_post(
                request, constraint, compact=compact, wrapped=kind != GRAMMAR
            )
            if not last and _refused_format(kind, status, body):
                continue
            _check_status(status, _error_text(body))
            content = _content(body)
            try:
                intents, dropped = await self._async_decode(content, request, compact)
            except BrainError:
                if last or kind != GRAMMAR:
                    raise
                continue  # a server that ignored the grammar: not one to send it to
            self._format = kind
            break
        latency_ms = (time.perf_counter() - started) * 1000
        usage = body.get("usage")
        usage = usage if isinstance(usage, Mapping) else {}
        details = usage.get("prompt_tokens_details")
        cached = (
            _int(details.get("cached_tokens")) if isinstance(details, Mapping) else 0
        )
        model = str(body.get("model") or self.model)
        input_tokens = _int(usage.get("prompt_tokens"))
        output_tokens = _int(usage.get("completion_tokens"))
        return BrainResult(
            intents=intents,
            usage=Usage(
                brain=self.name,
                model=model,
                latency_ms=latency_ms,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cached_tokens=cached,
                # A server in the home costs nothing; any other is priced by model
                # (one unknown, as the dearest family: the budget errs on the safe side).
                # A price the user set replaces this (the router's `limits.prices`).
                cost=0.0
                if self.is_local
                else estimate_cost(
                    model, max(0, input_tokens - cached), output_tokens, cached
                ),
            ),
            dropped=dropped,
        )

    async def _async_decode(
        self, content: str, request: BrainRequest, compact: bool
    ) -> tuple[tuple[Intent, ...], tuple[str, ...]]:
        if len(content) > PARSE_OFF_LOOP_CHARS:  # not on the event loop
            return await self.hass.async_add_executor_job(
                _decode, content, request, compact
            )
        return _decode(content, request, compact)

    async def _async_post(
        self,
        request: BrainRequest,
        constraint: dict[str, Any],
        *,
        compact: bool = False,
        wrapped: bool = True,
    ) -> tuple[int, Mapping[str, Any]]:
        """POST one chat completion; return the status and the decoded body.

        `constraint`: the `response_format` or the `grammar` the answer is held to;
        `wrapped`: the compact answer inside `{"intents": ...}` (a JSON schema wants an
        object at the top), else the bare list a grammar holds it to.
        """
        system = (
            compact_system_prompt(request, wrapped=wrapped)
            if compact
            else system_prompt(request)
        )
        payload: dict[str, Any] = {
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user_message(request)},
            ],
            **constraint,
            "max_tokens": MAX_TOKENS,
            "temperature": 0,
        }
        if compact and self.is_local:
            # llama.cpp's server keeps the fixed part's KV state between requests; a cloud
            # API may refuse a field it does not know, so only servers in the home get it.
            payload["cache_prompt"] = True
        if self.model:
            payload["model"] = self.model
        session = async_get_clientsession(self.hass)
        try:
            async with session.post(
                f"{self.base_url}/chat/completions",
                json=payload,
                headers=self._headers(),
            ) as response:
                text = await async_read_bounded(response, MAX_BODY_BYTES)
                status = response.status
        except aiohttp.ClientError as err:
            raise BrainError(
                FailureKind.UNAVAILABLE, f"cannot reach {self.base_url}: {err}"
            ) from err
        body = await async_parse_json(self.hass, text)
        if not isinstance(body, Mapping):
            if 200 <= status < 300:
                raise BrainError(
                    FailureKind.INVALID_OUTPUT,
                    f"the server's answer is not JSON: {text[:80]!r}",
                )
            body = {"error": text[:200]}
        return status, body


def _response_format(kind: str, schema: dict[str, Any]) -> dict[str, Any]:
    if kind == JSON_SCHEMA:
        return {
            "type": JSON_SCHEMA,
            "json_schema": {"name": "intents", "schema": schema},
        }
    return {"type": JSON_OBJECT, "schema": schema}


def _refused_format(kind: str, status: int, body: Mapping[str, Any]) -> bool:
    """Whether the server refused the answer format (`kind`), not the request.

    OpenAI-style servers answer 400 (or FastAPI's 422); llama_cpp.server answers 500 with
    its validation error, which names `response_format` (or the grammar it cannot parse).
    """
    named = "grammar" if kind == GRAMMAR else "response_format"
    return status in (400, 422) or (status >= 500 and named in str(body))


def _check_status(status: int, detail: str) -> None:
    """Raise the `BrainError` an HTTP status means; return for 2xx."""
    if 200 <= status < 300:
        return
    if status in (401, 403):
        raise BrainError(FailureKind.AUTH, f"the server refused the key ({status})")
    if status == 429:
        raise BrainError(FailureKind.RATE_LIMITED, f"rate limited: {detail}")
    if status >= 500:
        raise BrainError(
            FailureKind.UNAVAILABLE, f"the server failed ({status}): {detail}"
        )
    raise BrainError(
        FailureKind.UNAVAILABLE, f"the server refused the request ({status}): {detail}"
    )


def _error_text(body: Mapping[str, Any]) -> str:
    error = body.get("error")
    if isinstance(error, Mapping):
        return str(error.get("message") or error)[:200]
    return str(error or "")[:200]


def _content(body: Mapping[str, Any]) -> str:
    """Return the first choice's message text; the server's JSON shape is checked here."""
    try:
        content = body["choices"][0]["message"]["content"]
    except KeyError, IndexError, TypeError:
        raise BrainError(
            FailureKind.INVALID_OUTPUT, "the server's answer has no message"
        ) from None
    if not isinstance(content, str) or not content.strip():
        raise BrainError(FailureKind.INVALID_OUTPUT, "the server's message is empty")
    return content


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _decode(
    content: str, request: BrainRequest, compact: bool
) -> tuple[tuple[Intent, ...], tuple[str, ...]]:
    """Parse the answer (expanding the compact format first) into checked intents."""
    return parse_answer(expand(content, request) if compact else content, request)
