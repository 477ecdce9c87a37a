"""What the user is asked and offered says what will really run; an undo never opens alone.

The same real front door (template lock), garage (template cover) and porch light as
test_sensitivity; the phone is a recording notify service.
"""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import area_registry as ar, device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_mock_service,
)

from custom_components.pai.action_text import describe_sequence, with_quote
from custom_components.pai.const import DOMAIN, EVENT_PAI_RECORD
from tests.helpers import (
    DOOR,
    GARAGE,
    agent_entry,
    motion,
    rule,
    start,
    start_recording,
    statuses,
)

LIGHT = "input_boolean.porch_light"


async def switch(hass: HomeAssistant, entity_id: str, on: bool) -> None:
    await hass.services.async_call(
        "input_boolean",
        "turn_on" if on else "turn_off",
        {"entity_id": entity_id},
        blocking=True,
    )
    await hass.async_block_till_done()


async def tap(hass: HomeAssistant, action: str) -> None:
    hass.bus.async_fire("mobile_app_notification_action", {"action": action})
    await hass.async_block_till_done()


@pytest.mark.usefixtures("home")
async def test_the_approval_names_the_real_action_and_quotes_the_model(
    hass: HomeAssistant,
) -> None:
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    welcome = rule("welcome", "welcome_home", 3, confidence=0.99)
    welcome["intent"]["rationale"] = "Turning on the porch light for you"
    await start(
        hass,
        agent_entry(
            [welcome],
            bindings={
                "actions": {
                    "welcome_home": [
                        {"action": "Lock.Unlock", "target": {"entity_id": DOOR}}
                    ]
                }
            },
        ),
    )
    await motion(hass)

    assert statuses(records) == ["pending_approval"]
    asked = phone[-1].data
    assert asked["title"] == "Unlock: Front door (lock.unlock)"
    assert asked["message"] == (
        "Unlock: Front door (lock.unlock)\n"
        "Porch watch says: “Turning on the porch light for you”"
    )
    assert hass.states.get(DOOR).state == "locked"

    approve = asked["data"]["actions"][0]["action"]
    await tap(hass, approve)
    assert hass.states.get(DOOR).state == "unlocked"
    assert statuses(records)[-1] == "executed"


@pytest.mark.usefixtures("home")
async def test_the_approval_shows_the_target_a_template_picked(
    hass: HomeAssistant,
) -> None:
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    opener = rule("open", "open_it", 3, confidence=0.99)
    opener["intent"]["params"] = {"entity_id": GARAGE}
    opener["intent"]["rationale"] = ""
    await start(
        hass,
        agent_entry(
            [opener],
            bindings={
                "actions": {
                    "open_it": [
                        {
                            "action": "homeassistant.toggle",
                            "target": {"entity_id": "{{ params.entity_id }}"},
                        }
                    ]
                }
            },
        ),
    )
    await motion(hass)

    assert phone[-1].data["title"] == "Toggle: Garage (homeassistant.toggle)"
    assert phone[-1].data["message"].endswith("Asked by Porch watch")
    assert hass.states.get(GARAGE).state == "closed"


@pytest.mark.usefixtures("home")
async def test_undo_of_a_lock_is_not_offered(hass: HomeAssistant) -> None:
    """Undoing "lock the door" would unlock it: no quiet button may do that."""
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    await switch(hass, "input_boolean.door_locked", False)
    assert hass.states.get(DOOR).state == "unlocked"
    await start(
        hass,
        agent_entry(
            [rule("night", "lock_up", 3, confidence=0.99)],
            bindings={
                "actions": {
                    "lock_up": [{"action": "lock.lock", "target": {"entity_id": DOOR}}]
                }
            },
        ),
    )
    await motion(hass)

    assert statuses(records) == ["executed"]
    assert hass.states.get(DOOR).state == "locked"
    assert phone == []
    record_id = records[0].data["record"]["record_id"]
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            DOMAIN, "undo", {"record_id": record_id}, blocking=True
        )
    assert hass.states.get(DOOR).state == "locked"


@pytest.mark.usefixtures("home")
async def test_undo_says_what_it_does_and_leaves_the_lock_alone(
    hass: HomeAssistant,
) -> None:
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    await switch(hass, "input_boolean.door_locked", False)
    await start(
        hass,
        agent_entry(
            [rule("night", "good_night", 3, confidence=0.99)],
            bindings={
                "actions": {
                    "good_night": [
                        {
                            "action": "input_boolean.turn_on",
                            "target": {"entity_id": LIGHT},
                        },
                        {"action": "lock.lock", "target": {"entity_id": DOOR}},
                    ]
                }
            },
        ),
    )
    await motion(hass)

    offer = phone[-1].data
    assert offer["title"] == (
        "Porch watch did: Turn on: porch light (input_boolean.turn_on); "
        "Lock: Front door (lock.lock)"
    )
    assert offer["message"] == (
        "Undo puts porch light back to off; "
        f"{DOOR} stays as it is (opening it needs your approval)"
    )
    await tap(hass, offer["data"]["actions"][0]["action"])

    assert hass.states.get(LIGHT).state == "off"
    assert hass.states.get(DOOR).state == "locked"
    assert statuses(records) == ["executed", "undone"]


@pytest.mark.usefixtures("home")
async def test_undo_does_nothing_when_the_state_changed_since(
    hass: HomeAssistant,
) -> None:
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    records = await start_recording(
        hass,
        agent_entry(
            [rule("evening", "light_on", 3, confidence=0.99)],
            bindings={
                "actions": {
                    "light_on": [
                        {
                            "action": "input_boolean.turn_on",
                            "target": {"entity_id": LIGHT},
                        }
                    ]
                }
            },
        ),
    )
    await motion(hass)
    undo = phone[-1].data["data"]["actions"][0]["action"]
    await switch(hass, LIGHT, False)  # someone switched it off by hand
    await switch(hass, "input_boolean.motion", False)

    await tap(hass, undo)

    assert statuses(records) == ["executed"]
    assert hass.states.get(LIGHT).state == "off"
    told = phone[-1].data
    assert told["title"] == "Porch watch: nothing was undone"
    assert told["message"] == "Nothing was undone: changed since: porch light (now off)"


@pytest.mark.usefixtures("home")
async def test_what_runs_is_worded_for_every_kind_of_step(hass: HomeAssistant) -> None:
    owner = MockConfigEntry(domain="test")
    owner.add_to_hass(hass)
    garage = ar.async_get(hass).async_create("Garage")
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=owner.entry_id, identifiers={("test", "d")}, name="Opener"
    )
    params = {"params": {"entity_id": GARAGE, "target": {"entity_id": DOOR}}}

    def words(sequence: list[dict[str, Any]]) -> str:
        return describe_sequence(hass, sequence, params)

    assert words([{"scene": "scene.welcome"}]) == "Activate: Welcome (scene.turn_on)"
    assert (
        words(
            [
                {
                    "device_id": device.id,
                    "domain": "lock",
                    "type": "unlock",
                    "entity_id": DOOR,
                }
            ]
        )
        == "Unlock: Opener (lock device action)"
    )
    assert (
        words([{"action": "cover.open_cover", "target": {"area_id": garage.id}}])
        == "Open cover: area Garage (cover.open_cover)"
    )
    assert (
        words([{"action": "lock.unlock", "target": "{{ params.target }}"}])
        == "Unlock: Front door (lock.unlock)"
    )
    assert (
        words(
            [
                {
                    "action": "homeassistant.toggle",
                    "target": {"entity_id": "{{ 1 / 0 }}"},
                }
            ]
        )
        == "Toggle: (a template: {{ 1 / 0 }}) (homeassistant.toggle)"
    )
    assert (
        words(
            [
                {"delay": 1},
                {
                    "if": [{"condition": "template", "value_template": "true"}],
                    "then": [{"action": "lock.lock", "target": {"entity_id": DOOR}}],
                },
                {"event": "pai_test"},
            ]
        )
        == "Lock: Front door (lock.lock); event"
    )
    assert words([{"action": "lock.unlock", "bogus": 1}]) == (
        "an action sequence Home Assistant cannot run"
    )
    assert words([{"delay": 1}]) == "nothing"
    assert with_quote("Lock", "Porch watch", " ") == "Lock\nAsked by Porch watch"
