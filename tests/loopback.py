"""Serving a small aiohttp app on 127.0.0.1 for a test: a stand-in for a server elsewhere."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web


async def start_serving(app: web.Application) -> tuple[web.AppRunner, str]:
    """Serve `app` on a free port of 127.0.0.1; return its runner and base URL.

    `await runner.cleanup()` stops it.
    """
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Serve `app` on a free port of 127.0.0.1 while in the block; yield its base URL."""
    runner, base = await start_serving(app)
    try:
        yield base
    finally:
        await runner.cleanup()
