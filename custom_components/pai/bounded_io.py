"""Reading an answer from a server that may send anything: bounded, UTF-8, off the loop.

A brain's HTTP answer is read incrementally and refused as soon as it passes
`MAX_BODY_BYTES` (an honest answer is a few KiB), before anything is parsed; a body that is
not UTF-8 is refused too. Both are `BrainError`s (`invalid_output`), so the router falls
back as for any other bad answer. JSON large enough to take noticeable time is parsed in
the executor, never on Home Assistant's event loop.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from homeassistant.core import HomeAssistant

from .engine.brain import BrainError, FailureKind

MAX_BODY_BYTES = 256 * 1024
PARSE_OFF_LOOP_CHARS = 32 * 1024
"""Above this many characters, JSON is parsed in the executor."""
CHUNK = 16 * 1024


async def async_read_bounded(response: aiohttp.ClientResponse, limit: int) -> str:
    """Return the body as text; raise `BrainError` when it is too large or not UTF-8."""
    declared = response.content_length
    if declared is not None and declared > limit:
        response.close()
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(CHUNK):
        size += len(chunk)
        if size > limit:
            response.close()  # stop reading: the rest never reaches memory
            raise _too_large(limit)
        chunks.append(chunk)
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as err:
        raise BrainError(
            FailureKind.INVALID_OUTPUT,
            f"the server's answer is not UTF-8 (byte {err.start} of {size})",
        ) from None


def _too_large(limit: int) -> BrainError:
    return BrainError(
        FailureKind.INVALID_OUTPUT,
        f"the server's answer is larger than {limit // 1024} KiB; it was not read",
    )


def loads(text: str) -> Any:
    """Decode JSON; None when it is not JSON (or nests too deep to decode)."""
    try:
        return json.loads(text)
    except ValueError, RecursionError:
        return None


async def async_parse_json(hass: HomeAssistant, text: str) -> Any:
    """Decode JSON, in the executor when it is large; None when it is not JSON."""
    if len(text) > PARSE_OFF_LOOP_CHARS:
        return await hass.async_add_executor_job(loads, text)
    return loads(text)
