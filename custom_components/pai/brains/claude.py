"""Claude as a brain, through the official `anthropic` SDK on Home Assistant's httpx client.

Works with both SDK majors Home Assistant pins (0.x on httpx for 2026.10, 2.x on httpx2 for
2026.11, where Home Assistant aliases `httpx` to `httpx2`): the SDK gets Home Assistant's shared
client when it takes it; only where it cannot (the 2.x SDK on a Home Assistant that still ships
httpx) PAI makes one client of the SDK's own kind, shared by all agents, closed with Home
Assistant.

The answer is forced through one tool, `propose_intents`, whose input schema is the answer
schema (actions enumerated), so the model fills in a form instead of writing prose. The
system prompt and the tool are the stable prefix of every call and are marked for prompt
caching: after the first call of an agent, they are read from the cache at a tenth of the
price. The SDK retries 429 and 5xx answers itself (`max_retries`), honouring `retry-after`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from functools import partial
import time
from typing import Any

import anthropic
from homeassistant.const import EVENT_HOMEASSISTANT_CLOSE
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers.httpx_client import get_async_client
from homeassistant.util.hass_dict import HassKey
from homeassistant.util.ssl import client_context

from ..engine.brain import (
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

TOOL_NAME = "propose_intents"
MAX_TOKENS = 1024
MAX_RETRIES = 2
VALIDATE_TIMEOUT = 10.0
"""Seconds the key check may take: it runs while a flow or the agent's setup waits."""
OWN_HTTP_CLIENT: HassKey[Any] = HassKey("pai_anthropic_http_client")
"""PAI's own HTTP client for the SDK, where the SDK does not take Home Assistant's."""


def sdk_http_client_class() -> type:
    """Return the `AsyncClient` class the installed SDK accepts (httpx's or httpx2's)."""
    for cls in anthropic.DefaultAsyncHttpxClient.__mro__:
        if cls.__name__ == "AsyncClient" and cls.__module__.startswith("httpx"):
            return cls
    return anthropic.DefaultAsyncHttpxClient  # pragma: no cover - every SDK has one


async def async_http_client(hass: HomeAssistant) -> Any:
    """Home Assistant's shared httpx client if the SDK takes it, else PAI's shared own one."""
    shared = get_async_client(hass)
    if isinstance(shared, sdk_http_client_class()):
        return shared
    if (own := hass.data.get(OWN_HTTP_CLIENT)) is not None:
        return own
    # Loading the SSL context reads certificates: in the executor, as the SDK client is made.
    made = await hass.async_add_executor_job(
        partial(anthropic.DefaultAsyncHttpxClient, verify=client_context())
    )
    if (own := hass.data.setdefault(OWN_HTTP_CLIENT, made)) is not made:
        await made.aclose()  # another agent made one meanwhile
        return own

    async def _close(_: Event) -> None:
        client = hass.data.pop(OWN_HTTP_CLIENT, None)
        if client is not None:
            await client.aclose()

    hass.bus.async_listen_once(EVENT_HOMEASSISTANT_CLOSE, _close)
    return made


class ClaudeBrain:
    """Anthropic's Messages API; the data leaves the home."""

    name = "anthropic"
    is_local = False

    def __init__(
        self,
        hass: HomeAssistant,
        *,
        api_key: str,
        model: str,
        base_url: str | None = None,
        max_retries: int = MAX_RETRIES,
    ) -> None:
        """Keep the settings; `base_url` points the SDK at another server (tests only)."""
        self.hass = hass
        self.model = model
        self._api_key = api_key
        self._base_url = base_url
        self._max_retries = max_retries
        self._client: anthropic.AsyncAnthropic | None = None
        self._client_lock = asyncio.Lock()

    async def _async_client(self) -> anthropic.AsyncAnthropic:
        """Return the SDK client, made once in the executor (its setup loads SSL certificates)."""
        async with self._client_lock:
            if self._client is None:
                http_client = await async_http_client(self.hass)
                self._client = await self.hass.async_add_executor_job(
                    partial(
                        anthropic.AsyncAnthropic,
                        api_key=self._api_key,
                        base_url=self._base_url,
                        http_client=http_client,
                        max_retries=self._max_retries,
                    )
                )
            return self._client

    async def async_validate(self) -> None:
        """Check the key with a free call (list models, no retries); raise `BrainError`."""
        client = await self._async_client()
        try:
            await client.with_options(
                max_retries=0, timeout=VALIDATE_TIMEOUT
            ).models.list(limit=1)
        except anthropic.APIError as err:
            raise _brain_error(err) from err

    async def async_think(self, request: BrainRequest) -> BrainResult:
        """Ask Claude for intents through the forced `propose_intents` tool."""
        client = await self._async_client()
        started = time.perf_counter()
        try:
            message = await client.messages.create(
                model=self.model,
                max_tokens=MAX_TOKENS,
                system=[
                    {
                        "type": "text",
                        "text": system_prompt(request),
                        "cache_control": {"type": "ephemeral"},
                    }
                ],
                tools=[
                    {
                        "name": TOOL_NAME,
                        "description": "Propose what the agent should do (possibly nothing).",
                        "input_schema": intent_schema(request),
                        "cache_control": {"type": "ephemeral"},
                    }
                ],
                tool_choice={"type": "tool", "name": TOOL_NAME},
                messages=[{"role": "user", "content": user_message(request)}],
            )
        except anthropic.APIError as err:
            raise _brain_error(err) from err
        except ValueError as err:
            # a 2xx body that is not JSON: the SDK lets the decoder's error through
            raise BrainError(
                FailureKind.INVALID_OUTPUT, f"the API's answer is not JSON: {err}"
            ) from err
        latency_ms = (time.perf_counter() - started) * 1000
        try:
            answer = _answer(message)
            usage = message.usage
            input_tokens, output_tokens = usage.input_tokens, usage.output_tokens
            cached = usage.cache_read_input_tokens or 0
            written = usage.cache_creation_input_tokens or 0
        except (AttributeError, TypeError) as err:  # the SDK does not validate answers
            raise BrainError(
                FailureKind.INVALID_OUTPUT, f"the API's answer is not a message: {err}"
            ) from err
        intents, dropped = parse_answer(answer, request)
        return BrainResult(
            intents=intents,
            usage=Usage(
                brain=self.name,
                model=message.model or self.model,
                latency_ms=latency_ms,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cached_tokens=cached,
                cache_write_tokens=written,
                cost=estimate_cost(
                    self.model, input_tokens, output_tokens, cached, written
                ),
            ),
            dropped=dropped,
        )


def _answer(message: anthropic.types.Message) -> dict[str, Any] | str:
    """Return the tool's input, or else the text (a JSON answer written out is accepted too)."""
    texts: list[str] = []
    for block in message.content:
        if block.type == "tool_use" and block.name == TOOL_NAME:
            raw: object = block.input  # not validated by the SDK: may be anything
            if isinstance(raw, Mapping):
                return dict(raw)
            texts.append(str(raw))
        elif block.type == "text":
            texts.append(block.text)
    if not texts:
        raise BrainError(FailureKind.INVALID_OUTPUT, "the answer has no content")
    return "\n".join(texts)


def _brain_error(err: anthropic.APIError) -> BrainError:
    """Map the SDK's errors (after its own retries) to the router's failure kinds."""
    if isinstance(err, anthropic.AuthenticationError | anthropic.PermissionDeniedError):
        return BrainError(FailureKind.AUTH, f"the API key was refused: {err.message}")
    if isinstance(err, anthropic.RateLimitError):
        return BrainError(FailureKind.RATE_LIMITED, f"rate limited: {err.message}")
    if isinstance(err, anthropic.APITimeoutError):
        return BrainError(FailureKind.TIMEOUT, "the API did not answer in time")
    if isinstance(err, anthropic.APIConnectionError):
        return BrainError(FailureKind.UNAVAILABLE, f"cannot reach the API: {err}")
    if isinstance(err, anthropic.APIStatusError) and err.status_code >= 500:
        return BrainError(
            FailureKind.UNAVAILABLE,
            f"the API failed ({err.status_code}): {err.message}",
        )
    if isinstance(err, anthropic.APIResponseValidationError):
        return BrainError(FailureKind.INVALID_OUTPUT, f"unreadable answer: {err}")
    status = getattr(err, "status_code", None)
    return BrainError(
        FailureKind.UNAVAILABLE,
        f"the API refused the request ({status}): {err.message}",
    )
