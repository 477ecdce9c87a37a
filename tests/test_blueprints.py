"""The shipped automation blueprints, used by real automations in a real Home Assistant.

Each blueprint is copied where Home Assistant looks for blueprints, an automation uses it
with the inputs a user would pick, and a real PAI agent does the rest. Only what cannot
exist here is replaced at the wire: the phone's notify action, the text-to-speech action
and the digest's notify action record their calls.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
import shutil
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.automation.config import AUTOMATION_BLUEPRINT_SCHEMA
from homeassistant.components.blueprint import models as blueprint_models
from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from homeassistant.util.yaml import load_yaml_dict
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
    async_mock_service,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.pai.const import DOMAIN, EVENT_PAI_RECORD
from tests.ha_fixtures import recorder_before_hass  # noqa: F401  # the real recorder
from tests.helpers import LIGHT_ON, agent_entry, light_agent, rule, start, statuses

BLUEPRINTS = Path(__file__).parent.parent / "blueprints" / "automation" / "pai"
SOURCE = (
    "https://github.com/pai-ha/pai-homeassistant/blob/main/blueprints/automation/pai/"
)
ALL = (
    "evaluate_trigger",
    "announce_suggestions",
    "approve_with_button",
    "daily_digest",
)


@pytest.fixture
def hass_config_dir(hass_tmp_config_dir: str) -> str:
    """Give each test its own configuration folder to copy the blueprints into."""
    return hass_tmp_config_dir


@pytest.fixture
async def house(hass: HomeAssistant) -> None:
    """Switchable entities, two buttons, the phone, and the blueprints in place."""
    target = Path(hass.config.path("blueprints", "automation", "pai"))
    await hass.async_add_executor_job(shutil.copytree, BLUEPRINTS, target)
    assert await async_setup_component(
        hass,
        "input_boolean",
        {
            "input_boolean": {
                "motion": {},
                "porch_light": {},
                "front_door_open": {},
                "sprinkler": {},
            }
        },
    )
    assert await async_setup_component(
        hass, "input_button", {"input_button": {"yes": {}, "no": {}}}
    )
    async_mock_service(hass, "notify", "mobile_app_pixel")
    await hass.async_block_till_done()


async def automations(hass: HomeAssistant, *uses: tuple[str, dict[str, Any]]) -> None:
    """Set up one automation per (blueprint, inputs)."""
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": [
                {
                    "alias": f"{name} {index}",
                    "use_blueprint": {"path": f"pai/{name}.yaml", "input": inputs},
                }
                for index, (name, inputs) in enumerate(uses)
            ]
        },
    )
    await hass.async_block_till_done()
    for index, (name, _) in enumerate(uses):
        state = hass.states.get(f"automation.{name}_{index}")
        assert state is not None, f"{name} did not load"
        assert state.state == "on"


async def switch(hass: HomeAssistant, entity: str, on: bool = True) -> None:
    await hass.services.async_call(
        "input_boolean",
        "turn_on" if on else "turn_off",
        {"entity_id": f"input_boolean.{entity}"},
        blocking=True,
    )
    await hass.async_block_till_done()


async def press(hass: HomeAssistant, button: str) -> None:
    await hass.services.async_call(
        "input_button", "press", {"entity_id": f"input_button.{button}"}, blocking=True
    )
    await hass.async_block_till_done()


def light(hass: HomeAssistant) -> str:
    state = hass.states.get("input_boolean.porch_light")
    assert state is not None
    return state.state


def second_agent(
    rules: list[dict[str, Any]], bindings: dict[str, Any] | None = None
) -> MockConfigEntry:
    base = agent_entry(rules, ha_triggers=[], bindings=bindings)
    return MockConfigEntry(
        domain=DOMAIN,
        title="Garden",
        unique_id="garden",
        data={**base.data, "name": "Garden"},
        options=dict(base.options),
    )


@pytest.mark.parametrize("name", ALL)
def test_blueprint_is_valid_and_importable_by_url(name: str) -> None:
    path = BLUEPRINTS / f"{name}.yaml"
    blueprint = blueprint_models.Blueprint(
        load_yaml_dict(str(path)),
        expected_domain="automation",
        path=f"pai/{name}.yaml",
        schema=AUTOMATION_BLUEPRINT_SCHEMA,
    )
    metadata = blueprint.metadata
    assert metadata["source_url"] == f"{SOURCE}{name}.yaml"
    assert metadata["name"].startswith("PAI")
    assert metadata["description"]


# --- evaluate_trigger ---------------------------------------------------------------------------


@pytest.mark.usefixtures("house")
async def test_evaluate_trigger_feeds_a_trigger_to_the_agent(
    hass: HomeAssistant,
) -> None:
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    entry = await start(
        hass,
        agent_entry(
            [
                rule("door", "light_on", 3),
                rule("named", "note", 0, kind="door.opened", payload=[]),
            ],
            bindings={"actions": {"light_on": LIGHT_ON}},
            ha_triggers=[],  # the agent watches nothing itself
        ),
    )
    door = [
        {
            "trigger": "state",
            "entity_id": "input_boolean.front_door_open",
            "to": "on",
            "id": "front_door",
        }
    ]
    await automations(
        hass,
        ("evaluate_trigger", {"agent": entry.entry_id, "trigger": door}),
        (
            "evaluate_trigger",
            {"agent": entry.entry_id, "trigger": door, "kind": "door.opened"},
        ),
    )
    await switch(hass, "motion")
    assert records == []

    await switch(hass, "front_door_open")

    assert sorted(statuses(records)) == ["executed", "observed"]
    by_action = {e.data["record"]["3_anticipation"]["action"]: e for e in records}
    perceived = by_action["light_on"].data["record"]["1_perception"]
    assert perceived["event_type"] == "ha.state"
    assert perceived["trigger_source"] == "service"
    assert perceived["raw_data_summary"]["entity_id"] == "input_boolean.front_door_open"
    assert perceived["raw_data_summary"]["from_state"] == "off"
    assert perceived["raw_data_summary"]["to_state"] == "on"
    assert perceived["raw_data_summary"]["trigger_id"] == "front_door"
    named = by_action["note"].data["record"]["1_perception"]
    assert named["event_type"] == "door.opened"
    assert light(hass) == "on"

    await switch(hass, "front_door_open", on=False)  # "to: on" only
    assert len(records) == 2


# --- announce_suggestions -----------------------------------------------------------------------


@pytest.mark.usefixtures("house")
async def test_announce_suggestions_speaks_each_suggestion_once(
    hass: HomeAssistant,
) -> None:
    speak = async_mock_service(hass, "tts", "speak")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    porch = await start(
        hass,
        agent_entry(
            [rule("Someone is at the door", "hint", 1), rule("seen", "note", 0)]
        ),
    )
    garden = await start(hass, second_agent([rule("Water the roses", "water", 1)]))
    inputs = {"tts_entity": "tts.piper", "media_player": "media_player.kitchen"}
    await automations(
        hass,
        ("announce_suggestions", inputs),
        ("announce_suggestions", {**inputs, "agent": garden.entry_id}),
    )

    await switch(hass, "motion")  # porch: a suggestion and an observation

    assert sorted(statuses(records)) == ["observed", "suggested"]
    assert [call.data for call in speak] == [
        {
            "entity_id": ["tts.piper"],
            "media_player_entity_id": "media_player.kitchen",
            "message": "Porch watch: Someone is at the door fired",
        }
    ]

    suggested = porch.runtime_data.runtime.book.last
    assert suggested is not None
    hinted = next(
        e.data["record"]["record_id"]
        for e in records
        if e.data["record"]["4_execution"]["status"] == "suggested"
    )
    await hass.services.async_call(
        DOMAIN,
        "feedback",
        {"record_id": hinted, "feedback": "accepted"},
        blocking=True,
    )
    await hass.async_block_till_done()
    assert len(speak) == 1  # feedback on a suggestion does not repeat it

    await hass.services.async_call(
        DOMAIN,
        "evaluate",
        {"agent": garden.entry_id, "kind": "ha.state", "payload": {"to_state": "on"}},
        blocking=True,
    )
    await hass.async_block_till_done()
    # Both automations speak the garden's suggestion; only one speaks the porch's.
    assert [call.data["message"] for call in speak[1:]] == [
        "Garden: Water the roses fired"
    ] * 2


# --- approve_with_button ------------------------------------------------------------------------


async def test_button_approves_the_newest_pending_request(
    recorder_mock: Recorder, house: None, hass: HomeAssistant
) -> None:
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    entry = await start(hass, light_agent(2))
    runtime = entry.runtime_data.runtime
    await automations(
        hass,
        ("approve_with_button", {"button": "input_button.yes"}),
        ("approve_with_button", {"button": "input_button.no", "verdict": "decline"}),
    )

    await press(hass, "yes")  # nothing waits: nothing happens
    assert records == []

    await runtime.async_evaluate("ha.state", {"to_state": "on"})
    older = records[-1].data["record"]["record_id"]
    await runtime.async_evaluate("ha.state", {"to_state": "on"})
    newest = records[-1].data["record"]["record_id"]
    assert runtime.pending.approvals_waiting == 2
    await async_wait_recording_done(hass)

    await press(hass, "no")

    assert records[-1].data["record"]["record_id"] == newest
    assert statuses(records)[-1] == "declined"
    assert light(hass) == "off"
    assert runtime.pending.approvals_waiting == 1
    await async_wait_recording_done(hass)

    await press(hass, "yes")

    assert records[-1].data["record"]["record_id"] == older
    assert statuses(records)[-1] == "executed"
    assert records[-1].data["record"]["6_adaptation"]["user_feedback"] == "accepted"
    assert light(hass) == "on"
    assert runtime.pending.approvals_waiting == 0
    await async_wait_recording_done(hass)

    count = len(records)
    await press(hass, "yes")  # all answered: a further press does nothing
    assert len(records) == count


async def test_button_can_answer_for_one_agent_only(
    recorder_mock: Recorder, house: None, hass: HomeAssistant
) -> None:
    porch = await start(hass, light_agent(2))
    sprinkle = [
        {
            "action": "input_boolean.turn_on",
            "target": {"entity_id": "input_boolean.sprinkler"},
        }
    ]
    garden = await start(
        hass, second_agent([rule("ask", "water", 2)], {"actions": {"water": sprinkle}})
    )
    await automations(
        hass,
        (
            "approve_with_button",
            {"button": "input_button.yes", "agent": porch.entry_id},
        ),
    )
    await porch.runtime_data.runtime.async_evaluate("ha.state", {"to_state": "on"})
    await garden.runtime_data.runtime.async_evaluate("ha.state", {"to_state": "on"})
    await async_wait_recording_done(hass)

    await press(hass, "yes")

    assert light(hass) == "on"
    assert porch.runtime_data.runtime.pending.approvals_waiting == 0
    assert garden.runtime_data.runtime.pending.approvals_waiting == 1
    assert hass.states.get("input_boolean.sprinkler").state == "off"


# --- daily_digest -------------------------------------------------------------------------------


async def test_daily_digest_sums_up_the_last_24_hours(
    recorder_mock: Recorder,
    house: None,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
) -> None:
    digest = async_mock_service(hass, "notify", "family")
    evening = dt_util.now().replace(hour=19, minute=0, second=0, microsecond=0)
    freezer.move_to(evening - timedelta(days=1))
    entry = await start(
        hass,
        agent_entry(
            [
                rule("look", "note", 0),
                rule("hint", "remind", 1),
                rule("ask", "light_on", 2),
            ],
            bindings={"actions": {"light_on": LIGHT_ON}},
            options={"approval_expiry_minutes": 600},
        ),
    )
    runtime = entry.runtime_data.runtime
    await runtime.async_evaluate("ha.state", {"to_state": "on"})  # yesterday: too old
    await async_wait_recording_done(hass)
    await tick(hass, freezer, evening)
    await runtime.async_evaluate("ha.state", {"to_state": "on"})
    asked = runtime.book.last
    assert asked is not None
    await hass.services.async_call(
        DOMAIN, "approve", {"record_id": asked["record_id"]}, blocking=True
    )
    await tick(hass, freezer, evening + timedelta(minutes=30))
    await runtime.async_evaluate("ha.state", {"to_state": "on"})
    await async_wait_recording_done(hass)
    await automations(
        hass,
        (
            "daily_digest",
            {"at": "20:00:00", "notify_action": "notify.family", "newest": 2},
        ),
    )
    await tick(hass, freezer, evening + timedelta(minutes=59))
    assert digest == []

    await tick(hass, freezer, evening + timedelta(hours=1))

    assert len(digest) == 1
    title, message = digest[0].data["title"], digest[0].data["message"]
    assert title == "PAI: 6 decisions in the last 24 hours"
    lines = message.splitlines()
    assert lines[0] == "executed: 1, observed: 2, pending_approval: 1, suggested: 2"
    assert lines[1:] == [
        "- 19:30 light_on (pending_approval)",
        "- 19:30 remind (suggested)",
    ]
    await automations_off(hass)


async def test_daily_digest_on_a_quiet_day(
    recorder_mock: Recorder,
    house: None,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
) -> None:
    digest = async_mock_service(hass, "notify", "family")
    await start(hass, agent_entry([rule("look", "note", 0)]))
    at = (dt_util.now() + timedelta(minutes=5)).replace(second=0, microsecond=0)
    await automations(
        hass,
        (
            "daily_digest",
            {"at": at.strftime("%H:%M:%S"), "notify_action": "notify.family"},
        ),
    )

    await tick(hass, freezer, at)

    assert [call.data for call in digest] == [
        {
            "title": "PAI: 0 decisions in the last 24 hours",
            "message": "No decisions in the last 24 hours.",
        }
    ]
    await automations_off(hass)


async def tick(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, moment: datetime
) -> None:
    """Move the clock to `moment` and let everything due by then run."""
    freezer.move_to(moment)
    async_fire_time_changed(hass, moment)
    await hass.async_block_till_done()
    await async_wait_recording_done(hass)
    await hass.async_block_till_done()


async def automations_off(hass: HomeAssistant) -> None:
    """Detach the time triggers, which would otherwise outlive the test."""
    await hass.services.async_call(
        "automation", "turn_off", {"entity_id": "all"}, blocking=True
    )
