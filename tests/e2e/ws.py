"""A small client of Home Assistant's websocket API, as the frontend and the apps use it.

The end-to-end tests speak it to a real `hass` process: finishing onboarding, confirming the
HTTP settings the demo configuration brings, and (in the phone test) holding the Companion
app's push channel.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
import itertools
from typing import Any

import aiohttp
import pytest_socket

from .hass_process import HassInstance


class HassWebSocket:
    """One authenticated websocket connection: commands, and events of subscriptions."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._results: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: dict[int, asyncio.Queue[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self._ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            data = message.json()
            for item in data if isinstance(data, list) else [data]:
                if item.get("type") == "event" and item["id"] in self.events:
                    self.events[item["id"]].put_nowait(item["event"])
                elif item.get("type") == "result" and item["id"] in self._results:
                    self._results.pop(item["id"]).set_result(item)
        for future in self._results.values():
            if not future.done():
                future.set_exception(ConnectionError("websocket closed"))

    async def command(self, msg_type: str, **fields: Any) -> Any:
        """Send a command; return its result, or raise AssertionError on an error."""
        reply = await self.send(msg_type, **fields)
        assert reply["success"], reply
        return reply.get("result")

    async def send(self, msg_type: str, **fields: Any) -> dict[str, Any]:
        """Send a command and return the whole reply (success or not)."""
        msg_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = (
            asyncio.get_running_loop().create_future()
        )
        self._results[msg_id] = future
        await self._ws.send_json({"id": msg_id, "type": msg_type, **fields})
        return await asyncio.wait_for(future, 30)

    async def subscribe(self, msg_type: str, **fields: Any) -> asyncio.Queue[Any]:
        """Start a subscription; its events arrive on the returned queue."""
        msg_id = next(self._ids)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.events[msg_id] = queue
        future: asyncio.Future[dict[str, Any]] = (
            asyncio.get_running_loop().create_future()
        )
        self._results[msg_id] = future
        await self._ws.send_json({"id": msg_id, "type": msg_type, **fields})
        reply = await asyncio.wait_for(future, 30)
        assert reply["success"], reply
        return queue


@asynccontextmanager
async def connect(hass: HassInstance) -> AsyncIterator[HassWebSocket]:
    """Open an authenticated websocket to `hass` with its owner's token."""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(hass.base_url + "/api/websocket") as ws,
    ):
        assert (await ws.receive_json())["type"] == "auth_required"
        await ws.send_json({"type": "auth", "access_token": hass.token})
        assert (await ws.receive_json())["type"] == "auth_ok"
        client = HassWebSocket(ws)
        try:
            yield client
        finally:
            client._reader.cancel()


def finish_onboarding(hass: HassInstance) -> None:
    """Do the onboarding steps after the owner account, as the wizard would."""
    for step, body in (
        ("core_config", {}),
        ("analytics", {}),
        (
            "integration",
            {
                "client_id": hass.base_url + "/",
                "redirect_uri": hass.base_url + "/?auth_callback=1",
            },
        ),
    ):
        status, reply = hass.request("POST", f"/api/onboarding/{step}", body)
        assert status == 200, (step, reply)


def allow_sockets() -> None:
    """Let a module-scoped fixture reach the `hass` process (tests get `socket_enabled`).

    pytest-homeassistant-custom-component blocks sockets before each test; a fixture that
    outlives one test is set up before that test's `socket_enabled` is.
    """
    pytest_socket.enable_socket()
