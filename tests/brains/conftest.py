"""Fixtures for the brains' tests: local servers the real clients talk to.

In the second environment (the newest Home Assistant release, see scripts/test) there is no
pytest-homeassistant-custom-component for that release yet: there `hass` is a real, started
Home Assistant core of that release with no integrations, enough for a brain on its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import importlib.util
from pathlib import Path
from typing import Any

from aiohttp import web
from homeassistant.core import HomeAssistant
import pytest

from custom_components.pai.engine.brain import ActionChoice, BrainRequest
from custom_components.pai.engine.models import AutonomyLevel

from ..engine.helpers import brain_request as engine_brain_request
from ..loopback import serving
from .fake_anthropic import FakeAnthropic
from .helpers import FakeServer

if importlib.util.find_spec("pytest_homeassistant_custom_component") is None:
    # Only in the second environment: no pytest-homeassistant-custom-component.

    @pytest.fixture
    async def hass(tmp_path: Path) -> AsyncIterator[HomeAssistant]:
        """A real, started Home Assistant core of the installed release."""
        core = HomeAssistant(str(tmp_path))
        await core.async_start()
        yield core
        await core.async_stop(force=True)

    @pytest.fixture
    def enable_custom_integrations() -> None:
        """Nothing to enable: no integration is loaded here."""


@pytest.fixture
async def fake_anthropic(socket_enabled: None) -> AsyncIterator[FakeAnthropic]:
    """The scripted Messages API on 127.0.0.1."""
    server = FakeAnthropic()
    await server.start()
    yield server
    await server.stop()


def brain_request(**changes: Any) -> BrainRequest:
    """A porch event with two allowed actions, as the runtime builds one."""
    return engine_brain_request(
        **{
            "context": {"user_state": "home", "recent_events": []},
            "actions": (
                ActionChoice("light_on", AutonomyLevel.ACT, "turn on the porch light"),
                ActionChoice("alarm", AutonomyLevel.ASK),
            ),
            "description": "watches the porch",
            **changes,
        }
    )


@pytest.fixture
async def fake_server(socket_enabled: None) -> AsyncIterator[FakeServer]:
    fake = FakeServer()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", fake.handle)
    app.router.add_get("/v1/models", fake.models)
    async with serving(app) as base:
        fake.url = f"{base}/v1"
        yield fake
