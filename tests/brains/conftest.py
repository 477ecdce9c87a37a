"""Fixtures for the brains' tests: local servers the real clients talk to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from custom_components.pai.engine.brain import ActionChoice, BrainRequest
from custom_components.pai.engine.models import AutonomyLevel, Event

from ..test_runtime import house  # noqa: F401  # the input_boolean porch, for agents
from .fake_anthropic import FakeAnthropic


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
