"""The survival layer judged on what will really run, inside a real Home Assistant.

A front door (a template lock) and a garage (a template cover) drive input_booleans, so a
test sees whether the door was really unlocked or the garage really opened. Each binding
below once ran at ACT with no approval; each must now wait for the user (ASK), with the
reason recorded, and leave the door locked and the garage closed.
"""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    area_registry as ar,
    device_registry as dr,
    entity_registry as er,
    floor_registry as fr,
    label_registry as lr,
)
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_mock_service,
)

from custom_components.pai.const import EVENT_PAI_RECORD
from custom_components.pai.sensitivity import BindingSensitivity
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

OPEN = "input_boolean.front_door_open"


def untouched(hass: HomeAssistant) -> None:
    assert hass.states.get(DOOR).state == "locked"
    assert hass.states.get(GARAGE).state == "closed"


BYPASSES: dict[str, list[dict[str, Any]]] = {
    "upper_case": [{"action": "Lock.Unlock", "target": {"entity_id": DOOR}}],
    "service_key": [{"service": "LOCK.unlock", "target": {"entity_id": DOOR}}],
    "service_template": [
        {"service_template": "lock.unlock", "target": {"entity_id": DOOR}}
    ],
    "templated_action": [
        {"action": "{{ 'lock.' ~ 'unlock' }}", "target": {"entity_id": DOOR}}
    ],
    "scene_apply": [
        {"action": "scene.apply", "data": {"entities": {DOOR: "unlocked"}}}
    ],
    "scene_turn_on": [
        {"action": "scene.turn_on", "target": {"entity_id": "scene.welcome"}}
    ],
    "scene_step": [{"scene": "scene.welcome"}],
    "toggle_cover": [
        {"action": "homeassistant.toggle", "target": {"entity_id": GARAGE}}
    ],
    "turn_on_cover_in_data": [
        {"action": "homeassistant.turn_on", "data": {"entity_id": [GARAGE]}}
    ],
    "templated_target": [
        {
            "action": "homeassistant.toggle",
            "target": {"entity_id": "{{ params.entity_id }}"},
        }
    ],
    "script_turn_on": [
        {"action": "script.turn_on", "target": {"entity_id": "script.let_in"}}
    ],
    "script_service": [{"action": "script.via_other"}],
    "automation_trigger": [
        {"action": "automation.trigger", "target": {"entity_id": "automation.opener"}}
    ],
    "nested_choose": [
        {
            "choose": [
                {
                    "conditions": [{"condition": "template", "value_template": "true"}],
                    "sequence": [
                        {"action": "cover.open_cover", "target": {"entity_id": GARAGE}}
                    ],
                }
            ]
        }
    ],
    "parallel": [
        {"parallel": [{"sequence": [{"action": "lock.open", "entity_id": DOOR}]}]}
    ],
    "unknown_script": [{"action": "script.not_yet_written"}],
    "not_valid": [{"action": "lock.unlock", "bogus_key": 1}],
}


@pytest.mark.usefixtures("home")
@pytest.mark.parametrize("binding", list(BYPASSES))
async def test_each_bypass_waits_for_approval(
    hass: HomeAssistant, binding: str
) -> None:
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    welcome = rule("welcome", "welcome_home", 3, confidence=0.99)
    welcome["intent"]["params"] = {"entity_id": GARAGE}
    await start(
        hass,
        agent_entry(
            [welcome],
            bindings={"actions": {"welcome_home": BYPASSES[binding]}},
            policy={"default_max_level": 3, "action_max_levels": {"welcome_home": 3}},
        ),
    )

    await motion(hass)

    untouched(hass)
    assert statuses(records) == ["pending_approval"]
    record = records[0].data["record"]
    assert record["3_anticipation"]["granted_level"] == 2
    reason = next(
        r for r in record["x_pai"]["reasons"] if r["code"] == "security_sensitive"
    )
    assert reason["detail"].startswith("'welcome_home' is security-sensitive (")


SAFE: dict[str, list[dict[str, Any]]] = {
    "light": [
        {
            "action": "input_boolean.turn_on",
            "target": {"entity_id": "input_boolean.porch_light"},
        }
    ],
    "lock": [{"action": "lock.lock", "target": {"entity_id": DOOR}}],
    "close": [
        {
            "action": "homeassistant.turn_on",
            "target": {"entity_id": "input_boolean.porch_light"},
        }
    ],
    "good_night": [
        {"action": "scene.turn_on", "target": {"entity_id": "scene.good_night"}}
    ],
    "script": [{"action": "script.porch"}],
    "templated_data": [
        {
            "action": "input_boolean.turn_on",
            "target": {"entity_id": "input_boolean.porch_light"},
            "data": {},
            "alias": "{{ params.entity_id }}",
        }
    ],
}


@pytest.mark.usefixtures("home")
@pytest.mark.parametrize("binding", list(SAFE))
async def test_what_cannot_open_anything_still_acts(
    hass: HomeAssistant, binding: str
) -> None:
    records = await start_recording(
        hass,
        agent_entry(
            [rule("evening", "evening", 3, confidence=0.99)],
            bindings={"actions": {"evening": SAFE[binding]}},
        ),
    )
    await motion(hass)
    assert statuses(records) == ["executed"], records[0].data["record"]["x_pai"]
    untouched(hass)


@pytest.mark.usefixtures("home")
async def test_the_reason_names_what_will_run(hass: HomeAssistant) -> None:
    sensitivity = BindingSensitivity(
        hass,
        {
            "a": BYPASSES["toggle_cover"],
            "b": BYPASSES["script_service"],
            "c": BYPASSES["scene_apply"],
            "d": BYPASSES["templated_action"],
            "e": SAFE["light"],
        },
    )
    assert sensitivity.sensitive() == {
        "a": f"homeassistant.toggle on {GARAGE}",
        "b": "script.via_other: script.let_in: calls lock.unlock",
        "c": f"scene.apply sets {DOOR} to unlocked",
        "d": "a template chooses the action ({{ 'lock.' ~ 'unlock' }})",
    }


@pytest.mark.usefixtures("home")
async def test_targets_are_expanded_and_anything_unreadable_counts(
    hass: HomeAssistant,
) -> None:
    """Devices, areas, floors, labels and groups are looked into; what cannot be read
    (a scene that does not exist, scripts nested too deep) is sensitive."""
    owner = MockConfigEntry(domain="test")
    owner.add_to_hass(hass)
    floor = fr.async_get(hass).async_create("Ground floor")
    garage = ar.async_get(hass).async_create("Garage", floor_id=floor.floor_id)
    label = lr.async_get(hass).async_create("Ways in")
    devices = dr.async_get(hass)
    door_device = devices.async_get_or_create(
        config_entry_id=owner.entry_id, identifiers={("test", "door")}
    )
    entities = er.async_get(hass)
    entities.async_get_or_create(
        "lock", "test", "side", device_id=door_device.id, suggested_object_id="side"
    )
    gate = entities.async_get_or_create(
        "cover", "test", "gate", suggested_object_id="gate"
    )
    entities.async_update_entity(gate.entity_id, area_id=garage.id)
    flap = entities.async_get_or_create(
        "lock", "test", "flap", suggested_object_id="cat_flap"
    )
    entities.async_update_entity(flap.entity_id, labels={label.label_id})
    hass.states.async_set("group.ways_in", "on", {"entity_id": [DOOR]})
    toggle = "homeassistant.toggle"
    sensitivity = BindingSensitivity(
        hass,
        {
            "device": [{"action": toggle, "target": {"device_id": door_device.id}}],
            "area": [{"action": toggle, "target": {"area_id": garage.id}}],
            "floor": [{"action": toggle, "target": {"floor_id": floor.floor_id}}],
            "label": [{"action": toggle, "target": {"label_id": label.label_id}}],
            "group": [{"action": toggle, "target": {"entity_id": "group.ways_in"}}],
            "all": [{"action": "homeassistant.turn_off", "entity_id": "all"}],
            "data_template": [
                {"action": toggle, "data_template": {"entity_id": "{{ params.x }}"}}
            ],
            "whole_target": [{"action": toggle, "target": "{{ params.target }}"}],
            "device_action": [
                {
                    "device_id": door_device.id,
                    "domain": "lock",
                    "type": "unlock",
                    "entity_id": "lock.side",
                }
            ],
            "missing_scene": [{"scene": "scene.nowhere"}],
            "apply_template": [
                {
                    "action": "scene.apply",
                    "data": {"entities": {DOOR: "{{ params.state }}"}},
                }
            ],
            "deep": [{"action": "script.deep_0"}],
            "loop": [{"action": "script.loop_a"}],
            "unknown_automation": [
                {
                    "action": "automation.trigger",
                    "target": {"entity_id": "automation.x"},
                }
            ],
            "if_then": [
                {
                    "if": [{"condition": "state", "entity_id": DOOR, "state": "on"}],
                    "then": [{"delay": 1}],
                    "else": [{"action": "cover.toggle", "entity_id": GARAGE}],
                }
            ],
            "repeat": [{"repeat": {"count": 2, "sequence": [{"action": "lock.open"}]}}],
            "safe_lock": [
                {"action": "lock.lock", "target": {"label_id": label.label_id}}
            ],
        },
    )
    assert sensitivity.findings("device") == [f"{toggle} on lock.side"]
    assert sensitivity.findings("area") == [f"{toggle} on cover.gate"]
    assert sensitivity.findings("floor") == [f"{toggle} on cover.gate"]
    assert sensitivity.findings("label") == [f"{toggle} on lock.cat_flap"]
    assert sensitivity.findings("group") == [f"{toggle} on {DOOR}"]
    assert sensitivity.findings("all") == ["homeassistant.turn_off on all entities"]
    assert sensitivity.findings("data_template") == [
        f"a template chooses what {toggle} acts on"
    ]
    assert sensitivity.findings("whole_target") == [
        f"a template chooses what {toggle} acts on"
    ]
    assert sensitivity.findings("device_action") == ["a lock device action (unlock)"]
    assert sensitivity.findings("missing_scene") == [
        "scene.nowhere is a scene whose states cannot be read"
    ]
    assert sensitivity.findings("apply_template") == [
        f"a template chooses what scene.apply sets {DOOR} to"
    ]
    assert sensitivity.findings("deep")[0].endswith("starts more than 8 scripts deep")
    assert sensitivity.findings("loop") == []
    assert sensitivity.findings("unknown_automation") == [
        "automation.x cannot be read (it may not exist yet)"
    ]
    assert sensitivity.findings("if_then") == ["calls cover.toggle"]
    assert sensitivity.findings("repeat") == ["calls lock.open"]
    assert sensitivity.findings("safe_lock") == []
    assert sensitivity.findings("not_bound") == []


@pytest.mark.usefixtures("home")
async def test_a_script_edited_after_the_start_is_judged_as_it_is_now(
    hass: HomeAssistant,
) -> None:
    """The survival layer is not re-walked at every decision, but a reloaded script
    (Home Assistant re-creates it) is judged again before the next one."""
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    await start(
        hass,
        agent_entry(
            [rule("evening", "evening", 3, confidence=0.99)],
            bindings={"actions": {"evening": SAFE["script"]}},
        ),
    )
    await motion(hass)
    assert statuses(records) == ["executed"]

    edited = {
        "script": {
            "porch": {
                "sequence": [{"action": "lock.unlock", "target": {"entity_id": DOOR}}]
            }
        }
    }
    with patch("homeassistant.config.load_yaml_config_file", return_value=edited):
        await hass.services.async_call("script", "reload", blocking=True)
    await hass.async_block_till_done()
    await motion(hass, "off")
    await motion(hass)

    assert statuses(records)[1:] == ["pending_approval"]
    untouched(hass)


async def _openers(hass: HomeAssistant) -> dict[str, str]:
    """Switches and buttons as Home Assistant knows them: registry, devices, names."""
    owner = MockConfigEntry(domain="test")
    owner.add_to_hass(hass)
    devices = dr.async_get(hass)
    entities = er.async_get(hass)

    def device(key: str, name: str) -> str:
        return devices.async_get_or_create(
            config_entry_id=owner.entry_id, identifiers={("test", key)}, name=name
        ).id

    def entity(domain: str, key: str, **kwargs: Any) -> str:
        entry = entities.async_get_or_create(
            domain, "test", key, suggested_object_id=key, **kwargs
        )
        hass.states.async_set(entry.entity_id, "off")
        return entry.entity_id

    with_cover = device("ratgdo", "Controller")
    entities.async_get_or_create(
        "cover", "test", "door", device_id=with_cover, suggested_object_id="door_2"
    )
    return {
        "integration_class": entity("switch", "relay_a", original_device_class="gate"),
        "user_class": entity("switch", "relay_b"),
        "device_with_cover": entity("switch", "light_x", device_id=with_cover),
        "device_name": entity(
            "switch", "relay_1", device_id=device("shelly", "Garage controller")
        ),
        "entity_name": entity("button", "gate_open"),
        "chinese_name": entity("switch", "relay_c", original_name="車庫門"),
        "outdoor": entity("switch", "outdoor_light"),
        "gateway": entity("button", "gateway_restart"),
    }


@pytest.mark.usefixtures("home")
async def test_switches_and_buttons_that_open_a_way_in_are_sensitive(
    hass: HomeAssistant,
) -> None:
    """A garage or gate opener exposed as a switch or a button is recognised from its
    device class, its device's other entities, or its names, and only turning it off is
    safe; a switch with nothing of an opener about it still acts."""
    found = await _openers(hass)
    er.async_get(hass).async_update_entity(found["user_class"], device_class="garage")
    hass.states.async_set(found["user_class"], "off", {"device_class": "garage"})

    def binding(action: str, entity_id: str) -> list[dict[str, Any]]:
        return [{"action": action, "target": {"entity_id": entity_id}}]

    sensitivity = BindingSensitivity(
        hass,
        {
            **{
                name: binding(
                    "button.press"
                    if entity_id.startswith("button.")
                    else "switch.turn_on",
                    entity_id,
                )
                for name, entity_id in found.items()
            },
            "toggle": binding("homeassistant.toggle", found["device_name"]),
            "turn_off": binding("switch.turn_off", found["device_name"]),
            "ha_turn_off": binding("homeassistant.turn_off", found["entity_name"]),
            "scene_on": [
                {
                    "action": "scene.apply",
                    "data": {"entities": {found["device_name"]: "on"}},
                }
            ],
            "scene_off": [
                {
                    "action": "scene.apply",
                    "data": {"entities": {found["device_name"]: "off"}},
                }
            ],
        },
    )
    opener = "an opener"
    assert sensitivity.findings("integration_class") == [
        f"switch.turn_on on {found['integration_class']}, {opener} (device class gate)"
    ]
    assert sensitivity.findings("user_class") == [
        f"switch.turn_on on {found['user_class']}, {opener} (device class garage)"
    ]
    assert sensitivity.findings("device_with_cover") == [
        f"switch.turn_on on {found['device_with_cover']}, {opener}"
        " (its device also has cover.door_2)"
    ]
    assert sensitivity.findings("device_name") == [
        f"switch.turn_on on {found['device_name']}, {opener} (its name says 'garage')"
    ]
    assert sensitivity.findings("entity_name") == [
        f"button.press on {found['entity_name']}, {opener} (its name says 'gate')"
    ]
    assert sensitivity.findings("chinese_name") == [
        f"switch.turn_on on {found['chinese_name']}, {opener} (its name says '車庫')"
    ]
    assert sensitivity.findings("toggle") == [
        f"homeassistant.toggle on {found['device_name']}, {opener}"
        " (its name says 'garage')"
    ]
    assert sensitivity.findings("scene_on") == [
        f"scene.apply sets {found['device_name']} to on, {opener}"
        " (its name says 'garage')"
    ]
    for safe in ("outdoor", "gateway", "turn_off", "ha_turn_off", "scene_off"):
        assert sensitivity.findings(safe) == [], safe


@pytest.mark.usefixtures("home")
async def test_a_device_action_on_an_opener_is_sensitive(hass: HomeAssistant) -> None:
    found = await _openers(hass)
    entry = er.async_get(hass).async_get(found["device_name"])
    assert entry is not None
    sensitivity = BindingSensitivity(
        hass,
        {
            name: [
                {
                    "device_id": entry.device_id,
                    "domain": "switch",
                    "type": kind,
                    "entity_id": entry.id,
                }
            ]
            for name, kind in (("on", "turn_on"), ("off", "turn_off"))
        },
    )
    assert sensitivity.findings("on") == [
        f"a switch device action on {found['device_name']}, an opener"
        " (its name says 'garage')"
    ]
    assert sensitivity.findings("off") == []


@pytest.mark.usefixtures("house")
async def test_a_garage_relay_switch_waits_for_approval(hass: HomeAssistant) -> None:
    """A real template switch on the garage's device: the ACT becomes an ASK with the
    reason recorded, and the relay stays off."""
    assert await async_setup_component(
        hass,
        "template",
        {
            "template": [
                {
                    "switch": [
                        {
                            "name": "Relay 1",
                            "unique_id": "relay_1",
                            "state": f"{{{{ is_state('{OPEN}', 'on') }}}}",
                            "turn_on": [
                                {
                                    "action": "input_boolean.turn_on",
                                    "target": {"entity_id": OPEN},
                                }
                            ],
                            "turn_off": [],
                        }
                    ]
                }
            ]
        },
    )
    async_mock_service(hass, "notify", "mobile_app_pixel")
    await hass.async_block_till_done()
    entities = er.async_get(hass)
    relay = "switch.relay_1"
    assert entities.async_get(relay) is not None
    owner = MockConfigEntry(domain="test")
    owner.add_to_hass(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=owner.entry_id, identifiers={("test", "g")}, name="Shelly 1"
    )
    entities.async_get_or_create(
        "cover", "test", "g", device_id=device.id, suggested_object_id="garage_door"
    )
    entities.async_update_entity(relay, device_id=device.id)
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    await start(
        hass,
        agent_entry(
            [rule("welcome", "welcome_home", 3, confidence=0.99)],
            bindings={
                "actions": {
                    "welcome_home": [
                        {"action": "switch.turn_on", "target": {"entity_id": relay}}
                    ]
                }
            },
            policy={"default_max_level": 3, "action_max_levels": {"welcome_home": 3}},
        ),
    )
    await motion(hass)
    assert hass.states.get(relay).state == "off"
    assert hass.states.get(OPEN).state == "off"
    assert statuses(records) == ["pending_approval"]
    reason = next(
        r
        for r in records[0].data["record"]["x_pai"]["reasons"]
        if r["code"] == "security_sensitive"
    )
    assert f"switch.turn_on on {relay}, an opener" in reason["detail"]
    assert "its device also has cover.garage_door" in reason["detail"]


@pytest.mark.usefixtures("house")
async def test_a_switch_that_becomes_an_opener_is_judged_again(
    hass: HomeAssistant,
) -> None:
    """The survival layer is not re-walked at every decision; a switch whose state says
    it is a garage door (an entity with no registry entry) is judged again before the next."""
    async_mock_service(hass, "notify", "mobile_app_pixel")
    async_mock_service(hass, "switch", "turn_on")
    relay = "switch.relay_9"
    hass.states.async_set(relay, "off", {"friendly_name": "Relay 9"})
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    await start(
        hass,
        agent_entry(
            [rule("welcome", "welcome_home", 3, confidence=0.99)],
            bindings={
                "actions": {
                    "welcome_home": [
                        {"action": "switch.turn_on", "target": {"entity_id": relay}}
                    ]
                }
            },
            policy={"default_max_level": 3, "action_max_levels": {"welcome_home": 3}},
        ),
    )
    await motion(hass)
    assert statuses(records) == ["executed"]

    hass.states.async_set(
        relay, "off", {"friendly_name": "Relay 9", "device_class": "garage"}
    )
    await motion(hass, "off")
    await motion(hass)

    assert statuses(records)[1:] == ["pending_approval"]
