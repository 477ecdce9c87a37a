"""Builders the local-model tests share: the running local brain, a rules-only decision."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_mock_service,
)

from custom_components.pai.brains.local_gguf import LocalBrain
from custom_components.pai.const import EVENT_PAI_RECORD
from tests.helpers import motion


def local_brain(entry: MockConfigEntry) -> LocalBrain:
    brains = entry.runtime_data.runtime.router.brains
    assert [brain.name for brain in brains] == ["local"]
    brain = brains[0]
    assert isinstance(brain, LocalBrain)
    return brain


async def rules_decide(hass: HomeAssistant) -> dict[str, Any]:
    """Motion: the rule's own intent (capped at ASK) asks the owner; return x_pai.brain."""
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    await motion(hass)
    assert [r.data["record"]["4_execution"]["status"] for r in records] == [
        "pending_approval"
    ]
    assert len(phone) == 1
    brain_info: dict[str, Any] = records[-1].data["record"]["x_pai"]["brain"]
    assert brain_info["name"] == "rules"
    return brain_info
