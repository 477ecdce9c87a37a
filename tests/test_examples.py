"""The shipped example agents: current, valid, and doing in Home Assistant what the README says.

examples/night_watch.pai is imported the way a user imports it (`pai.import_agent`, then the
binding steps with what the file suggests), and then the house is made dark and something
moves in the backyard. The light and the lock are recorded at the wire (no such devices
exist here); everything between is the real integration.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
import shutil
from types import ModuleType
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
from homeassistant.setup import async_setup_component
import pai  # paigent, the reference implementation
import pytest
from pytest_homeassistant_custom_component.common import (
    async_capture_events,
    async_mock_service,
)

from custom_components.pai.agent_files import read_agent_file
from custom_components.pai.const import DOMAIN, EVENT_PAI_RECORD

EXAMPLES = Path(__file__).parent.parent / "examples"
NIGHT_WATCH = EXAMPLES / "night_watch.pai"


def build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "build_examples", EXAMPLES / "build_examples.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_examples_are_what_the_build_script_makes(tmp_path: Path) -> None:
    script = build_script()
    for name in script.EXAMPLES:
        built = script.build(name, tmp_path)
        assert (EXAMPLES / name).read_bytes() == built.read_bytes(), (
            f"examples/{name} is stale: run scripts/run python examples/build_examples.py"
        )
    assert script.main(["--check"]) == 0


def test_night_watch_verifies_and_reads_here_and_in_paigent() -> None:
    agent = read_agent_file(NIGHT_WATCH)

    assert agent.name == "Night watch"
    assert agent.definition.problems == ()
    assert agent.weights == ()
    assert [rule.action for rule in agent.definition.rules] == [
        "entrance_light_on",
        "lock_kitchen_door",
        "leak_alert",
    ]
    assert agent.ha_bindings is not None
    assert [t["id"] for t in agent.ha_bindings["ha_triggers"]] == [
        "backyard_motion_at_night",
        "kitchen_door_unlocked_at_night",
        "basement_leak",
    ]
    loaded = pai.load_agent(str(NIGHT_WATCH))
    assert loaded["manifest"]["name"] == "Night watch"
    assert len(loaded["rules"]) == 3


@pytest.fixture
async def demo_house(hass: HomeAssistant, tmp_path: Path) -> dict[str, Any]:
    """The demo's entities as states, its light and lock actions recorded, PAI set up."""
    hass.states.async_set("sun.sun", "above_horizon")
    hass.states.async_set("binary_sensor.movement_backyard", "off")
    hass.states.async_set("binary_sensor.basement_floor_wet", "off")
    hass.states.async_set("light.entrance_color_white_lights", "off")
    hass.states.async_set("lock.kitchen_door", "locked")
    shelf = tmp_path / "agents"
    shelf.mkdir()
    hass.config.allowlist_external_dirs = {str(shelf)}
    shutil.copy(NIGHT_WATCH, shelf / "night_watch.pai")
    calls = {
        "light": async_mock_service(hass, "light", "turn_on"),
        "lock": async_mock_service(hass, "lock", "lock"),
    }
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done()
    return {"path": str(shelf / "night_watch.pai"), **calls}


async def accept_suggestions(hass: HomeAssistant, result: FlowResult) -> FlowResult:
    """Submit each binding step with what the file suggested, as a user who clicks on."""
    while result["type"] is FlowResultType.FORM:
        if result["step_id"] == "review":  # tick what the example wakes on
            [allow] = result["data_schema"].schema.values()
            answer = {"allow": [item["value"] for item in allow.config["options"]]}
            result = await hass.config_entries.flow.async_configure(
                result["flow_id"], answer
            )
            continue
        answer = {
            str(key): key.description["suggested_value"]
            for key in result["data_schema"].schema
            if (key.description or {}).get("suggested_value") is not None
        }
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], answer
        )
    return result


async def test_night_watch_asks_before_lighting_the_entrance_after_dark(
    hass: HomeAssistant, demo_house: dict[str, Any]
) -> None:
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    response = await hass.services.async_call(
        DOMAIN,
        "import_agent",
        {"path": demo_house["path"]},
        blocking=True,
        return_response=True,
    )
    assert response is not None
    [flow] = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    result = await accept_suggestions(
        hass, await hass.config_entries.flow.async_configure(flow["flow_id"])
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert isinstance(entry, ConfigEntry)
    await hass.async_block_till_done()

    # Daytime movement is not its business.
    hass.states.async_set("binary_sensor.movement_backyard", "on")
    await hass.async_block_till_done()
    assert records == []
    hass.states.async_set("binary_sensor.movement_backyard", "off")

    hass.states.async_set("sun.sun", "below_horizon")
    hass.states.async_set("binary_sensor.movement_backyard", "on")
    await hass.async_block_till_done()

    [asked] = [e.data["record"] for e in records]
    assert asked["3_anticipation"]["action"] == "entrance_light_on"
    assert asked["4_execution"]["status"] == "pending_approval"
    assert demo_house["light"] == []
    assert entry.runtime_data.runtime.pending.approvals_waiting == 1

    await hass.services.async_call(
        DOMAIN, "approve", {"record_id": asked["record_id"]}, blocking=True
    )
    await hass.async_block_till_done()

    assert [call.data for call in demo_house["light"]] == [
        {"entity_id": ["light.entrance_color_white_lights"]}
    ]
    assert records[-1].data["record"]["4_execution"]["status"] == "executed"

    # Water in the basement: told at once, nothing to approve.
    hass.states.async_set("binary_sensor.basement_floor_wet", "on")
    await hass.async_block_till_done()
    leak = records[-1].data["record"]
    assert leak["3_anticipation"]["action"] == "leak_alert"
    assert leak["4_execution"]["status"] == "suggested"
    assert demo_house["lock"] == []
