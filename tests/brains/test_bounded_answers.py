"""Hostile answers from an OpenAI-compatible server: bounded, refused cleanly, loop kept free.

A real aiohttp server on 127.0.0.1 streams what a broken or malicious server could send: a
512 MiB body, a million intents, 40 KB of params, bytes that are not UTF-8, a body that
trickles in. Each call is watched for what it decodes on the event loop: no JSON larger than
`PARSE_OFF_LOOP_CHARS` may be decoded there (larger answers go to the executor). Loop lag
itself is a benchmark's figure (`scripts/bench`), not a timed test's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import json
import threading
from types import SimpleNamespace
from typing import Any

from aiohttp import web
from homeassistant.core import HomeAssistant
import pytest

from custom_components.pai import bounded_io
from custom_components.pai.bounded_io import MAX_BODY_BYTES, PARSE_OFF_LOOP_CHARS
from custom_components.pai.brains.openai_server import OpenAIServerBrain
from custom_components.pai.engine.brain import BrainError, BrainResult, FailureKind
from tests.loopback import serving

from .conftest import brain_request

MAX_ON_LOOP = PARSE_OFF_LOOP_CHARS
CHUNK = 64 * 1024

type Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Server:
    """One handler at a time; counts the bytes it managed to send."""

    def __init__(self) -> None:
        self.handler: Handler | None = None
        self.sent = 0
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        assert self.handler is not None
        return await self.handler(request)

    async def stream(
        self, request: web.Request, head: bytes, body: bytes, total: int, tail: bytes
    ) -> web.StreamResponse:
        """Send `head`, then `body` repeated up to `total` bytes, then `tail`."""
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        try:
            await response.write(head)
            self.sent = len(head)
            block = body * max(1, CHUNK // len(body))
            while self.sent < total:
                await response.write(block)
                self.sent += len(block)
            await response.write(tail)
        except ConnectionResetError, ConnectionError:
            return response
        return response


@pytest.fixture
async def server(socket_enabled: None) -> AsyncIterator[Server]:
    fake = Server()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", fake.handle)
    async with serving(app) as base:
        fake.url = f"{base}/v1"
        yield fake


async def think_with_lag(
    hass: HomeAssistant, server: Server, limit: float = 30
) -> tuple[BrainResult | BaseException, int]:
    """Run one brain call; return its result (or error) and the largest JSON text (in
    characters) decoded on the event loop's thread.
    """
    brain = OpenAIServerBrain(hass, base_url=server.url, model="tiny", api_key=None)
    loop_thread = threading.get_ident()
    largest = 0

    def watched_loads(text: str, **kwargs: Any) -> Any:
        nonlocal largest
        if threading.get_ident() == loop_thread:
            largest = max(largest, len(text))
        return json.loads(text, **kwargs)

    real = bounded_io.json
    bounded_io.json = SimpleNamespace(loads=watched_loads)  # type: ignore[assignment]
    try:
        async with asyncio.timeout(limit):
            result: BrainResult | BaseException = await brain.async_think(
                brain_request()
            )
    except (BrainError, TimeoutError) as err:
        result = err
    finally:
        bounded_io.json = real
    return result, largest


def completion_head() -> bytes:
    return b'{"model":"tiny","choices":[{"message":{"role":"assistant","content":"'


async def test_a_512_mib_body_is_refused_after_256_kib(
    hass: HomeAssistant, server: Server
) -> None:
    async def huge(request: web.Request) -> web.StreamResponse:
        return await server.stream(
            request, completion_head(), b"x" * 1024, 512 * 1024 * 1024, b'"}}]}'
        )

    server.handler = huge
    result, lag = await think_with_lag(hass, server)

    assert isinstance(result, BrainError)
    assert result.kind is FailureKind.INVALID_OUTPUT
    assert "larger than 256 KiB" in str(result)
    assert server.sent < 64 * 1024 * 1024  # it stopped reading long before the end
    assert lag <= MAX_ON_LOOP, f"{lag} characters of JSON decoded on the loop"


async def test_a_declared_huge_body_is_not_read_at_all(
    hass: HomeAssistant, server: Server
) -> None:
    async def declared(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"{" * (MAX_BODY_BYTES + 1))

    server.handler = declared
    result, _ = await think_with_lag(hass, server)
    assert isinstance(result, BrainError)
    assert "larger than 256 KiB" in str(result)


async def test_a_million_intents_are_refused_with_the_loop_free(
    hass: HomeAssistant, server: Server
) -> None:
    intent = json.dumps(
        {"action": "light_on", "confidence": 0.9, "level": 3, "rationale": "x"}
    )
    one = json.dumps(intent + ",")[1:-1].encode()  # escaped for inside "content"

    async def million(request: web.Request) -> web.StreamResponse:
        head = completion_head() + b'{\\"intents\\": ['
        return await server.stream(
            request, head, one, len(one) * 1_000_000, b'{}]}"}}]}'
        )

    server.handler = million
    result, lag = await think_with_lag(hass, server)
    assert isinstance(result, BrainError)
    assert result.kind is FailureKind.INVALID_OUTPUT
    assert lag <= MAX_ON_LOOP, f"{lag} characters of JSON decoded on the loop"


async def test_many_intents_within_the_bound_are_counted_not_listed(
    hass: HomeAssistant, server: Server
) -> None:
    intents = [{"action": "light_on", "confidence": 0.9, "level": 1}] * 3000
    answer = {"choices": [{"message": {"content": json.dumps({"intents": intents})}}]}

    async def many(request: web.Request) -> web.StreamResponse:
        return web.json_response(answer)

    server.handler = many
    result, lag = await think_with_lag(hass, server)
    assert isinstance(result, BrainResult)
    assert len(result.intents) == 5
    assert len(result.dropped) == 6
    assert result.dropped[-1] == f"and {3000 - 5 - 5} more dropped"
    assert lag <= MAX_ON_LOOP, f"{lag} characters of JSON decoded on the loop"


async def test_40_kb_of_params_drop_the_intent(
    hass: HomeAssistant, server: Server
) -> None:
    bulky = {
        "action": "light_on",
        "confidence": 0.9,
        "level": 3,
        "params": {"note": "x" * 40_000},
    }
    deep: Any = "x"
    for _ in range(50):
        deep = [deep]
    nested = {"action": "alarm", "level": 1, "params": {"a": deep}}
    fine = {"action": "light_on", "level": 1, "params": {"brightness": 80}}
    answer = {
        "choices": [
            {"message": {"content": json.dumps({"intents": [bulky, nested, fine]})}}
        ]
    }

    async def params(request: web.Request) -> web.StreamResponse:
        return web.json_response(answer)

    server.handler = params
    result, lag = await think_with_lag(hass, server)
    assert isinstance(result, BrainResult)
    assert [dict(i.params)["brightness"] for i in result.intents] == [80]
    assert result.dropped[0].startswith("'light_on': params of 400")
    assert result.dropped[1] == "'alarm': params nested deeper than 4 levels"
    assert lag <= MAX_ON_LOOP, f"{lag} characters of JSON decoded on the loop"


async def test_a_body_that_is_not_utf8_is_a_brain_error(
    hass: HomeAssistant, server: Server
) -> None:
    async def latin(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b'{"choices": "caf\xe9"}', content_type="text/plain")

    server.handler = latin
    result, _ = await think_with_lag(hass, server)
    assert isinstance(result, BrainError)
    assert result.kind is FailureKind.INVALID_OUTPUT
    assert "not UTF-8" in str(result)


async def test_a_trickling_body_times_out_with_the_loop_free(
    hass: HomeAssistant, server: Server
) -> None:
    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        try:
            for _ in range(100):
                await response.write(b" ")
                await asyncio.sleep(0.1)
        except ConnectionResetError, ConnectionError:
            pass
        return response

    server.handler = trickle
    result, lag = await think_with_lag(hass, server, limit=1.0)
    assert isinstance(result, TimeoutError)
    assert lag <= MAX_ON_LOOP, f"{lag} characters of JSON decoded on the loop"


async def test_a_remote_server_is_priced_a_local_one_is_free(
    hass: HomeAssistant, server: Server
) -> None:
    answer = {
        "model": "gpt-x",
        "choices": [{"message": {"content": '{"intents": []}'}}],
        "usage": {"prompt_tokens": 1_000_000, "completion_tokens": 0},
    }

    async def priced(request: web.Request) -> web.StreamResponse:
        return web.json_response(answer)

    server.handler = priced
    local, _ = await think_with_lag(hass, server)
    assert isinstance(local, BrainResult)
    assert local.usage.cost == 0.0

    class Remote(OpenAIServerBrain):
        """The same server, as if it were out of the home (a cloud API)."""

        @property
        def is_local(self) -> bool:
            return False

    remote = await Remote(
        hass, base_url=server.url, model="tiny", api_key=None
    ).async_think(brain_request())
    # An unknown model is priced as the dearest family: $15 per million input tokens.
    assert remote.usage.cost == pytest.approx(15.0)
