"""Autonomy earned with consent, end to end through the phone protocol.

A rules-only agent whose `light_on` the user capped at ASK: approved ten times in a row over
three days (time travel), PAI asks once on the phone whether it may act alone; approved, the
cap rises to ACT in the entry's options and the next motion turns the light on with no
question; an undo drops it back to ASK at once, with a record and a notification saying why.
Only the phone's notify service is a mock.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant, ServiceCall
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
    async_mock_service,
)

from custom_components.pai.const import EVENT_PAI_RECORD
from custom_components.pai.logbook import describe_record_event
from tests.helpers import DOOR, LIGHT_ON, agent_entry, motion, rule, start, statuses

LIGHT = "input_boolean.porch_light"


def watching(**options: Any) -> MockConfigEntry:
    return agent_entry(
        [rule("act", "light_on", 3)],
        bindings={"actions": {"light_on": LIGHT_ON}},
        options={"action_max_levels": {"light_on": 2}, **options},
    )


def button(phone: list[ServiceCall], verb: str) -> str:
    """The latest button of `verb` (APPROVE, DECLINE, UNDO) sent to the phone."""
    for call in reversed(phone):
        for action in call.data.get("data", {}).get("actions", []):
            if action["action"].startswith(f"PAI_{verb}_"):
                return str(action["action"])
    raise AssertionError(f"no {verb} button on the phone")


async def tap(hass: HomeAssistant, action: str) -> None:
    hass.bus.async_fire("mobile_app_notification_action", {"action": action})
    await hass.async_block_till_done()


async def approve_motion(hass: HomeAssistant, phone: list[ServiceCall]) -> None:
    """Motion, the ASK on the phone, the user approves; then the light goes off again."""
    await motion(hass)
    await tap(hass, button(phone, "APPROVE"))
    assert hass.states.get(LIGHT).state == "on"
    await motion(hass, "off")
    await hass.services.async_call(
        "input_boolean", "turn_off", {"entity_id": LIGHT}, blocking=True
    )


async def later(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, hours: float
) -> None:
    freezer.tick(timedelta(hours=hours))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


def records_of(records: list[Any], action: str) -> list[dict[str, Any]]:
    return [
        event.data["record"]
        for event in records
        if event.data["record"]["3_anticipation"]["action"] == action
    ]


def questions(records: list[Any]) -> list[dict[str, Any]]:
    """The consent requests sent (each once, as it went out)."""
    return [
        record
        for record in records_of(records, "pai.ask_autonomy")
        if record["4_execution"]["status"] == "pending_approval"
    ]


@pytest.mark.usefixtures("house")
async def test_approved_ten_times_over_three_days_it_asks_then_acts_until_undone(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    entry = await start(hass, watching())

    for i in range(10):
        await approve_motion(hass, phone)
        if i == 4:  # a restart keeps the trust record
            assert await hass.config_entries.async_reload(entry.entry_id)
            await hass.async_block_till_done()
            trust = entry.runtime_data.runtime.autonomy.book.get("light_on")
            assert trust is not None
            assert (trust.approvals, trust.streak) == (5, 5)
        if i < 9:
            await later(hass, freezer, 9)
    # Ten approvals over 81 hours: PAI asks, once, on the phone.
    [consent] = records_of(records, "pai.ask_autonomy")
    assert consent["4_execution"]["status"] == "pending_approval"
    assert phone[-1].data["title"] == (
        "Porch watch: May I do light_on on my own from now on?"
    )
    assert "approved it 10 times in a row over 3 days" in phone[-1].data["message"]
    sensor = hass.states.get("sensor.porch_watch_earned_autonomy")
    assert sensor is not None
    assert sensor.attributes["trust"]["light_on"]["streak"] == 10

    await tap(hass, button(phone, "APPROVE"))

    assert entry.options["action_max_levels"] == {"light_on": 3}
    promoted = records_of(records, "pai.ask_autonomy")[-1]
    assert promoted["4_execution"]["status"] == "executed"
    assert promoted["6_adaptation"]["learning_adjustment"]["autonomy"] == {
        "action": "light_on",
        "change": "promoted",
        "from": "ask",
        "to": "act",
        "why": "approved 10 times in a row and then let act on its own",
    }
    assert hass.states.get("sensor.porch_watch_earned_autonomy").state == "1"

    # The next motion acts with no question, and offers an undo.
    asked = len(records_of(records, "light_on"))
    await motion(hass)
    assert hass.states.get(LIGHT).state == "on"
    acted = records_of(records, "light_on")[asked:]
    assert [r["4_execution"]["status"] for r in acted] == ["executed"]
    assert acted[0]["3_anticipation"]["granted_level"] == 3

    await tap(hass, button(phone, "UNDO"))

    # Back to ASK at once, with a record and a notification saying why.
    assert hass.states.get(LIGHT).state == "off"
    assert entry.options["action_max_levels"] == {"light_on": 2}
    [lowered] = records_of(records, "pai.lower_autonomy")
    assert lowered["3_anticipation"]["predicted_intent"] == (
        "light_on was undone, so it asks first again"
    )
    assert lowered["6_adaptation"]["learning_adjustment"]["autonomy"]["change"] == (
        "demoted"
    )
    assert phone[-1].data["title"] == "Porch watch: light_on asks first again"
    # The logbook tells the story.
    assert describe_record_event({"agent": "Porch watch", "record": promoted})[1] == (
        "pai.ask_autonomy → executed (granted ASK): May I do light_on on my own from "
        "now on? You approved it 10 times in a row over 3 days, with no decline, undo "
        "or failure."
    )
    assert describe_record_event({"agent": "Porch watch", "record": lowered})[1] == (
        "pai.lower_autonomy → executed (granted OBSERVE): light_on was undone, so it "
        "asks first again"
    )
    assert hass.states.get("sensor.porch_watch_earned_autonomy").state == "0"

    await motion(hass, "off")
    await motion(hass)
    assert statuses(records)[-1] == "pending_approval"
    assert hass.states.get(LIGHT).state == "off"


@pytest.mark.usefixtures("house")
async def test_a_declined_question_is_not_asked_again_for_thirty_days(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    entry = await start(hass, watching(trust_approvals_in_a_row=2, trust_min_days=0))
    await approve_motion(hass, phone)
    await approve_motion(hass, phone)
    assert len(questions(records)) == 1

    await tap(hass, button(phone, "DECLINE"))

    declined = records_of(records, "pai.ask_autonomy")[-1]
    assert declined["4_execution"]["status"] == "declined"
    assert declined["6_adaptation"]["learning_adjustment"]["autonomy"]["change"] == (
        "refused"
    )
    assert entry.options["action_max_levels"] == {"light_on": 2}
    for _ in range(3):
        await later(hass, freezer, 24 * 9)
        await approve_motion(hass, phone)
    assert len(questions(records)) == 1  # day 27: not yet
    await later(hass, freezer, 24 * 3)
    await approve_motion(hass, phone)
    assert len(questions(records)) == 2  # day 30: asked again


@pytest.mark.usefixtures("home")
async def test_a_security_sensitive_action_is_never_asked(hass: HomeAssistant) -> None:
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    await start(
        hass,
        agent_entry(
            [rule("unlock", "let_in", 3)],
            bindings={
                "actions": {
                    "let_in": [{"action": "lock.unlock", "target": {"entity_id": DOOR}}]
                }
            },
            options={"trust_approvals_in_a_row": 1, "trust_min_days": 0},
        ),
    )
    for _ in range(3):
        await motion(hass)
        await tap(hass, button(phone, "APPROVE"))
        await motion(hass, "off")

    assert records_of(records, "pai.ask_autonomy") == []
    assert statuses(records).count("executed") == 3


@pytest.mark.usefixtures("house")
async def test_never_above_the_ceiling_or_outside_the_allowlist(
    hass: HomeAssistant,
) -> None:
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    entry = await start(
        hass,
        watching(trust_approvals_in_a_row=1, trust_min_days=0, autonomy_ceiling="ask"),
    )
    await motion(hass)
    await tap(hass, button(phone, "APPROVE"))
    assert records_of(records, "pai.ask_autonomy") == []
    assert entry.options["action_max_levels"] == {"light_on": 2}


@pytest.mark.usefixtures("house")
async def test_a_cap_lowered_under_configure_takes_the_earned_act_away(
    hass: HomeAssistant,
) -> None:
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    entry = await start(hass, watching(trust_approvals_in_a_row=1, trust_min_days=0))
    await approve_motion(hass, phone)
    await tap(hass, button(phone, "APPROVE"))  # the question
    assert entry.options["action_max_levels"] == {"light_on": 3}
    book = entry.runtime_data.runtime.autonomy.book
    assert book.earned() == ["light_on"]

    hass.config_entries.async_update_entry(
        entry, options={**entry.options, "action_max_levels": {"light_on": 2}}
    )
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()

    book = entry.runtime_data.runtime.autonomy.book
    assert book.earned() == []
    trust = book.get("light_on")
    assert trust is not None
    assert trust.last_change == "light_on: its cap was lowered under Configure"


@pytest.mark.usefixtures("house")
async def test_an_unanswered_question_counts_as_a_no(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    entry = await start(
        hass,
        watching(
            trust_approvals_in_a_row=1, trust_min_days=0, approval_expiry_minutes=5
        ),
    )
    await approve_motion(hass, phone)
    assert len(questions(records)) == 1

    await later(hass, freezer, 0.1)  # six minutes: the question expires

    assert records_of(records, "pai.ask_autonomy")[-1]["4_execution"]["status"] == (
        "expired"
    )
    await approve_motion(hass, phone)
    assert len(questions(records)) == 1
    trust = entry.runtime_data.runtime.autonomy.book.get("light_on")
    assert trust is not None
    assert trust.refused_until is not None


@pytest.mark.usefixtures("house")
async def test_a_failure_of_an_earned_action_drops_it_back_to_ask(
    hass: HomeAssistant,
) -> None:
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    entry = await start(hass, watching(trust_approvals_in_a_row=1, trust_min_days=0))
    await approve_motion(hass, phone)
    await tap(hass, button(phone, "APPROVE"))  # the question
    assert entry.options["action_max_levels"] == {"light_on": 3}

    hass.states.async_remove(LIGHT)  # the bound entity is gone: the action fails
    hass.services.async_remove("input_boolean", "turn_on")
    await motion(hass, "off")
    hass.states.async_set("input_boolean.motion", "on")
    await hass.async_block_till_done()

    assert records_of(records, "light_on")[-1]["4_execution"]["status"] == "failed"
    assert entry.options["action_max_levels"] == {"light_on": 2}
    [lowered] = records_of(records, "pai.lower_autonomy")
    assert lowered["3_anticipation"]["predicted_intent"] == (
        "light_on failed, so it asks first again"
    )
