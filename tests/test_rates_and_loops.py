"""Rates and loops bounded: a flood is cut short and said so; an agent never feeds itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import (
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.pai.const import EVENT_PAI_RECORD
from custom_components.pai.engine.rate import RecordRate
from tests.helpers import agent_entry, motion, rule, start, start_recording

TOGGLE = [
    {
        "action": "input_boolean.toggle",
        "target": {"entity_id": "input_boolean.porch_light"},
    }
]


@pytest.mark.usefixtures("house")
async def test_an_agent_does_not_wake_on_what_its_own_action_changed(
    hass: HomeAssistant,
) -> None:
    records = await start_recording(
        hass,
        agent_entry(
            [rule("flip", "flip", 3, payload=[])],
            bindings={"actions": {"flip": TOGGLE}},
            ha_triggers=[
                {"trigger": "state", "entity_id": "input_boolean.motion"},
                {"trigger": "state", "entity_id": "input_boolean.porch_light"},
            ],
        ),
    )
    await motion(hass)

    assert len(records) == 1  # the light it toggled did not wake it again
    assert hass.states.get("input_boolean.porch_light").state == "on"

    # A change by someone else still does.
    await hass.services.async_call(
        "input_boolean",
        "turn_off",
        {"entity_id": "input_boolean.porch_light"},
        blocking=True,
    )
    await hass.async_block_till_done()
    assert len(records) == 2


@pytest.mark.usefixtures("house")
async def test_an_agent_does_not_wake_on_its_own_entities(
    hass: HomeAssistant,
) -> None:
    records = await start_recording(
        hass,
        agent_entry(
            [rule("note", "note", 0, payload=[])],
            ha_triggers=[
                {"trigger": "state", "entity_id": "input_boolean.motion"},
                {"trigger": "state", "entity_id": "sensor.porch_watch_last_decision"},
            ],
        ),
    )
    await motion(hass)
    await motion(hass, "off")
    assert len(records) == 2


@pytest.mark.usefixtures("house")
async def test_a_record_event_is_not_kept_alive_by_its_context(
    hass: HomeAssistant,
) -> None:
    """Home Assistant links an event and the context it begins both ways; PAI drops the
    link back once the record is out, so records go with their last reference instead of
    piling up for the garbage collector (whose pauses were PAI's slowest reactions)."""
    records = await start_recording(hass, agent_entry([rule("note", "note", 0)]))
    await motion(hass)
    await hass.async_block_till_done()
    assert len(records) == 1
    assert records[0].context.origin_event is None


@pytest.mark.usefixtures("house")
async def test_a_flood_is_cut_at_the_cap_and_one_record_says_so(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    entry = await start(
        hass, agent_entry([rule("tick", "note", 0, kind="tick", payload=[])])
    )
    runtime = entry.runtime_data.runtime
    for n in range(100):
        await runtime.async_evaluate("tick", {"n": n})
    await hass.async_block_till_done()
    assert len(records) == runtime.rate.limit == 60

    freezer.tick(timedelta(seconds=61))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()

    note = records[-1].data["record"]
    assert note["3_anticipation"]["action"] == "pai.rate_limited"
    assert note["3_anticipation"]["predicted_intent"] == (
        "40 decisions were skipped: more than 60 records in a minute"
    )
    assert note["4_execution"]["status"] == "observed"
    assert len(records) == 61
    # The minute is over: decisions are made again.
    await runtime.async_evaluate("tick", {"n": 100})
    assert len(records) == 62


def test_the_rate_counts_a_rolling_minute() -> None:
    rate = RecordRate(limit=2)
    start_time = datetime(2026, 1, 1, tzinfo=UTC)
    assert rate.admit(start_time)
    assert rate.admit(start_time + timedelta(seconds=10))
    assert not rate.admit(start_time + timedelta(seconds=20))
    assert rate.free_in(start_time + timedelta(seconds=20)) == 40
    assert rate.admit(start_time + timedelta(seconds=60))
    assert rate.free_in(start_time + timedelta(seconds=61)) == 9
    assert rate.take_skipped() == 1
    assert rate.take_skipped() == 0
    assert RecordRate(limit=0).limit == 1
