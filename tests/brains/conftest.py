"""Fixtures for the brains' tests: local servers the real clients talk to.

In the second environment (the newest Home Assistant release, see scripts/test) there is no
pytest-homeassistant-custom-component for that release yet: there `hass` is a real, started
Home Assistant core of that release with no integrations, enough for a brain on its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
import importlib.util
from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant
import pytest

from custom_components.pai.engine.brain import ActionChoice, BrainRequest
from custom_components.pai.engine.models import AutonomyLevel, Event

from .fake_anthropic import FakeAnthropic

if importlib.util.find_spec("pytest_homeassistant_custom_component") is not None:
    from ..test_runtime import house  # noqa: F401  # the input_boolean porch, for agents
else:  # pragma: no cover - only in the second environment

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
    fields: dict[str, Any] = {
        "agent": "Porch watch",
        "event": Event(
            source="ha",
            kind="ha.state",
            payload={"entity_id": "binary_sensor.porch", "to_state": "on"},
            time=datetime(2026, 11, 21, 20, 0, tzinfo=UTC),
            id="ev1",
        ),
        "context": {"user_state": "home", "recent_events": []},
        "actions": (
            ActionChoice("light_on", AutonomyLevel.ACT, "turn on the porch light"),
            ActionChoice("alarm", AutonomyLevel.ASK),
        ),
        "description": "watches the porch",
    }
    return BrainRequest(**{**fields, **changes})
