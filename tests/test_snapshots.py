"""What a user sees of an agent, by snapshot: its entities, its device and its diagnostics.

A change to any of them shows up as a diff of `snapshots/test_snapshots.ambr`; accept one that
is meant with `pytest tests/test_snapshots.py --snapshot-update` and review the diff.
"""

from __future__ import annotations

from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_mock_service,
)
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from custom_components.pai.const import DOMAIN
from tests.ha_fixtures import recorder_before_hass  # noqa: F401  # the real recorder
from tests.helpers import LIGHT_ON, agent_entry, rule, start

ENTRY_ID = "01JPAISNAPSHOTAGENT0000000"


@pytest.fixture
async def porch(hass: HomeAssistant) -> MockConfigEntry:
    """A running rules agent that asks before it turns the porch light on."""
    assert await async_setup_component(
        hass, "input_boolean", {"input_boolean": {"motion": {}, "porch_light": {}}}
    )
    assert await async_setup_component(hass, "diagnostics", {})
    async_mock_service(hass, "notify", "mobile_app_pixel")
    base = agent_entry(
        [rule("ask", "light_on", 2), rule("note", "log", 0)],
        bindings={"actions": {"light_on": LIGHT_ON}},
    )
    return await start(
        hass,
        MockConfigEntry(
            domain=DOMAIN,
            title=base.title,
            unique_id=base.unique_id,
            entry_id=ENTRY_ID,
            data=dict(base.data),
            options=dict(base.options),
        ),
    )


async def test_entities(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    porch: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    entries = sorted(
        er.async_entries_for_config_entry(entity_registry, porch.entry_id),
        key=lambda entry: entry.entity_id,
    )
    assert entries
    for entry in entries:
        assert entry == snapshot(name=f"{entry.entity_id}-entry")
        assert hass.states.get(entry.entity_id) == snapshot(
            name=f"{entry.entity_id}-state"
        )


async def test_device(
    recorder_mock: Recorder,
    porch: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    devices = dr.async_entries_for_config_entry(device_registry, porch.entry_id)
    assert devices == snapshot


async def test_diagnostics(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    porch: MockConfigEntry,
    hass_client: ClientSessionGenerator,
    snapshot: SnapshotAssertion,
) -> None:
    await hass.services.async_call(
        "input_boolean", "turn_on", {"entity_id": "input_boolean.motion"}, blocking=True
    )
    await hass.async_block_till_done()
    await async_wait_recording_done(hass)

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, porch)

    assert diagnostics == snapshot(
        # What differs from run to run: random ids and the times things happened.
        exclude=props(
            "created_at",
            "modified_at",
            "record_id",
            "timestamp",
            "created",
            "expires",
            "nonce",
        )
    )
