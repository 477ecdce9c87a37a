"""Setting up, unloading and removing an agent's config entry."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
    async_mock_service,
)

from custom_components.pai import minimal_sections
from custom_components.pai.const import DOMAIN, EVENT_PAI_RECORD
from custom_components.pai.engine.approvals import action_id
from tests.helpers import agent_entry, rule, start, start_recording, statuses


async def test_setup_creates_service_device_and_unloads(hass: HomeAssistant) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN, title="Night watch", data={"name": "Night watch"}
    )
    entry.add_to_hass(hass)

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.runtime.name == "Night watch"
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, entry.entry_id), entry.entry_id
    )
    assert device is not None
    assert device.name == "Night watch"
    assert device.entry_type is dr.DeviceEntryType.SERVICE

    assert await hass.config_entries.async_unload(entry.entry_id)
    assert entry.state is ConfigEntryState.NOT_LOADED

    await hass.config_entries.async_remove(entry.entry_id)
    assert (
        dr.async_get(hass).async_get_device_by_identifier(
            (DOMAIN, entry.entry_id), entry.entry_id
        )
        is None
    )


async def test_corrupt_agent_definition_fails_setup_with_the_reason(
    hass: HomeAssistant,
) -> None:
    sections = minimal_sections("Night watch")
    sections["rules.json"] = [{"when": {}, "intent": {"action": ""}}]
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Night watch",
        data={"name": "Night watch", "agent": sections},
    )
    entry.add_to_hass(hass)

    assert not await hass.config_entries.async_setup(entry.entry_id)

    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.reason is not None
    assert entry.reason.startswith("The agent definition is not valid: ")
    assert "intent.action must be a non-empty string" in entry.reason


@pytest.mark.parametrize(
    ("ha_trigger", "detail"),
    [
        ({"trigger": "state"}, "entity_id"),
        ({"trigger": "no_such_trigger"}, "no_such_trigger"),
        ({"trigger": "time_pattern", "minutes": "/90"}, "between"),
        (
            {
                "trigger": "device",
                "device_id": "gone",
                "domain": "light",
                "type": "turned_on",
                "entity_id": "light.porch",
            },
            "gone",
        ),
    ],
)
async def test_invalid_home_assistant_trigger_fails_setup(
    hass: HomeAssistant, ha_trigger: dict[str, Any], detail: str
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Night watch",
        data={"name": "Night watch", "ha_triggers": [ha_trigger]},
    )
    entry.add_to_hass(hass)

    assert not await hass.config_entries.async_setup(entry.entry_id)

    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.reason is not None
    assert entry.reason.startswith(
        "A trigger of the agent is not valid: trigger 'trigger_0': "
    )
    assert detail in entry.reason


async def test_reload_keeps_the_governance_memory(hass: HomeAssistant) -> None:
    async_mock_service(hass, "notify", "mobile_app_pixel")
    entry = await start(hass, agent_entry([rule("hint", "light_on", 1)]))
    await entry.runtime_data.runtime.async_evaluate("ha.state", {"to_state": "on"})
    await entry.runtime_data.runtime.async_set_active(False)
    assert entry.runtime_data.runtime.situation.interruptions_last_hour() == 1

    assert await hass.config_entries.async_unload(entry.entry_id)
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    runtime = entry.runtime_data.runtime
    assert runtime.situation.interruptions_last_hour() == 1
    assert runtime.active is False


async def test_phone_answers_that_are_not_for_pai_are_left_alone(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    records = await start_recording(hass, agent_entry([rule("ask", "light_on", 2)]))

    for data in (
        {"action": "OPEN_GARAGE"},
        {"action": None},
        {"action": 7},
        {},
        {"action": action_id("approve", "paid_20260101_abcdef", "0" * 16)},
    ):
        hass.bus.async_fire("mobile_app_notification_action", data)
    await hass.async_block_till_done()

    assert records == []
    assert phone == []
    assert "Ignored phone answer PAI_APPROVE_paid_20260101_abcdef" in caplog.text
    assert "no agent knows that record" in caplog.text
    assert "OPEN_GARAGE" not in caplog.text


async def test_phone_answer_reaches_the_agent_that_asked(hass: HomeAssistant) -> None:
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    other = MockConfigEntry(
        domain=DOMAIN, title="Other", data={"name": "Other"}, unique_id="other"
    )
    other.add_to_hass(hass)
    assert await hass.config_entries.async_setup(other.entry_id)
    entry = await start(
        hass,
        agent_entry(
            [rule("ask", "note", 2)],
            bindings={"actions": {"note": [{"action": "notify.notify"}]}},
        ),
    )
    await entry.runtime_data.runtime.async_evaluate("ha.state", {"to_state": "on"})
    decline = phone[0].data["data"]["actions"][1]["action"]

    hass.bus.async_fire("mobile_app_notification_action", {"action": decline})
    await hass.async_block_till_done()

    assert statuses(records) == ["pending_approval", "declined"]
    assert records[-1].data["entry_id"] == entry.entry_id


async def test_unload_while_the_agent_is_acting_stops_it(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    assert await async_setup_component(
        hass, "input_boolean", {"input_boolean": {"started": {}, "porch_light": {}}}
    )
    slow = [
        {
            "action": "input_boolean.turn_on",
            "target": {"entity_id": "input_boolean.started"},
        },
        {"delay": {"minutes": 1}},
        {
            "action": "input_boolean.turn_on",
            "target": {"entity_id": "input_boolean.porch_light"},
        },
    ]
    entry = await start(
        hass,
        agent_entry(
            [rule("act", "light_on", 3, kind="ha.event", payload=[])],
            bindings={"actions": {"light_on": slow}},
            ha_triggers=[{"trigger": "event", "event_type": "doorbell"}],
        ),
    )
    hass.bus.async_fire("doorbell")
    for _ in range(100):  # let the agent start its action, not finish it
        if hass.states.get("input_boolean.started").state == "on":
            break
        await asyncio.sleep(0)
    assert hass.states.get("input_boolean.started").state == "on"

    assert await hass.config_entries.async_unload(entry.entry_id)
    freezer.tick(timedelta(minutes=2))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()

    assert hass.states.get("input_boolean.porch_light").state == "off"


async def test_damaged_memory_on_disk_does_not_stop_the_agent(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    entry = agent_entry([rule("look", "note", 0)])
    hass_storage[f"{DOMAIN}.{entry.entry_id}"] = {
        "version": 1,
        "key": f"{DOMAIN}.{entry.entry_id}",
        "data": {
            "history": {
                "note": {"observed": 2, "executed": "many"},
                "light_on": ["executed"],
            }
        },
    }
    await start(hass, entry)

    record = await entry.runtime_data.runtime.async_evaluate(
        "ha.state", {"to_state": "on"}
    )

    assert record[0]["2_context"]["action_history"] == [
        {"action": "note", "observed": 2}
    ]


async def test_deleting_an_agent_deletes_its_memory_but_reload_keeps_it(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    async_mock_service(hass, "notify", "mobile_app_pixel")
    entry = await start(hass, agent_entry([rule("hint", "light_on", 1)]))
    await entry.runtime_data.runtime.async_evaluate("ha.state", {"to_state": "on"})
    key = f"{DOMAIN}.{entry.entry_id}"

    assert await hass.config_entries.async_unload(entry.entry_id)
    assert hass_storage[key]["data"]["ledger"]

    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert key not in hass_storage
