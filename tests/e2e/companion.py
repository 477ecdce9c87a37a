"""A simulated Companion app, speaking the real mobile_app protocol to a real Home Assistant.

It registers like the app (`POST /api/mobile_app/registrations`, which makes the
`notify.mobile_app_<device>` action), receives notifications on the push websocket channel
the app keeps open while it is in the foreground (confirming each, as the app does, or Home
Assistant drops the channel), and taps notification buttons by sending the
`mobile_app_notification_action` event through its webhook, as Android does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from homeassistant.util import slugify

from .hass_process import HassInstance
from .ws import HassWebSocket, connect

WAIT = 20.0
"""Seconds a notification may take to reach the phone (two shared cores are slow)."""


@dataclass
class Phone:
    """A registered phone: its webhook and the notify action it was given."""

    hass: HassInstance
    device_name: str
    webhook_id: str

    @property
    def notify_target(self) -> str:
        """The notify action Home Assistant made for this phone."""
        return f"notify.mobile_app_{slugify(self.device_name)}"

    def tap(self, action: str, **extra: Any) -> None:
        """Tap a notification button: the app fires the action event via its webhook."""
        status, body = self.hass.request(
            "POST",
            f"/api/webhook/{self.webhook_id}",
            {
                "type": "fire_event",
                "data": {
                    "event_type": "mobile_app_notification_action",
                    "event_data": {"action": action, **extra},
                },
            },
            auth=False,
        )
        assert status == 200, body

    @asynccontextmanager
    async def channel(self) -> AsyncIterator[Inbox]:
        """Hold the push channel open; notifications arrive in the inbox."""
        async with connect(self.hass) as ws:
            events = await ws.subscribe(
                "mobile_app/push_notification_channel",
                webhook_id=self.webhook_id,
                support_confirm=True,
            )
            inbox = Inbox(ws, self.webhook_id, events)
            yield inbox


class Inbox:
    """The notifications that reached the phone, confirmed on arrival."""

    def __init__(
        self, ws: HassWebSocket, webhook_id: str, events: asyncio.Queue[Any]
    ) -> None:
        self._ws = ws
        self._webhook_id = webhook_id
        self._events = events

    async def next(self) -> dict[str, Any]:
        """Return the next notification (after confirming it, as the app does)."""
        notification: dict[str, Any] = await asyncio.wait_for(self._events.get(), WAIT)
        if confirm_id := notification.get("hass_confirm_id"):
            await self._ws.command(
                "mobile_app/push_notification_confirm",
                webhook_id=self._webhook_id,
                confirm_id=confirm_id,
            )
        return notification

    async def next_with_buttons(self) -> dict[str, Any]:
        """Return the next notification that carries buttons (skipping clear requests)."""
        async with asyncio.timeout(WAIT):
            while True:
                notification = await self.next()
                if notification.get("data", {}).get("actions"):
                    return notification


def register(hass: HassInstance, device_name: str) -> Phone:
    """Register a phone as the Companion app does on first start."""
    status, body = hass.request(
        "POST",
        "/api/mobile_app/registrations",
        {
            "app_id": "io.homeassistant.companion.android",
            "app_name": "Home Assistant",
            "app_version": "2026.10.0",
            "device_name": device_name,
            "manufacturer": "Google",
            "model": "Pixel 9",
            "os_name": "Android",
            "os_version": "16",
            "supports_encryption": False,
            "app_data": {"push_websocket_channel": True},
        },
    )
    assert status == 201, body
    return Phone(hass, device_name, body["webhook_id"])


def button(notification: dict[str, Any], title: str) -> str:
    """Return the action id of the notification's button with that title."""
    (action,) = [
        item["action"]
        for item in notification["data"]["actions"]
        if item["title"] == title
    ]
    return str(action)
