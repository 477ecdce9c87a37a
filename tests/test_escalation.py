"""Escalation through the real `mobile_app` integration, with Home Assistant's time travel.

Alice is asked first (the agent's notify target). When nobody answers, Bob and then Carol
are asked, one wait apart; a phone whose person is at home is asked first. Answering on
any phone clears the request from every phone that was asked, and a restart in the middle
of an escalation continues it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.person import async_create_person
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.pai.const import DOMAIN, EVENT_PAI_RECORD
from tests.ha_fixtures import Phones
from tests.helpers import LIGHT_ON, agent_entry, motion, rule, start, statuses

pytestmark = pytest.mark.usefixtures("house")

ALICE, BOB, CAROL = (f"notify.mobile_app_{name}" for name in ("alice", "bob", "carol"))


def ladder_agent(**options: Any) -> MockConfigEntry:
    return agent_entry(
        [rule("ask", "light_on", 2)],
        bindings={"actions": {"light_on": LIGHT_ON}},
        options={
            "notify_targets": [ALICE],
            "escalation_targets": [BOB, CAROL],
            "escalation_wait_minutes": 5,
            "approval_expiry_minutes": 60,
            **options,
        },
    )


async def pair_everyone(phones: Phones) -> None:
    for name in ("alice", "bob", "carol"):
        await phones.pair(name)


def asked(phones: Phones, name: str) -> list[str]:
    """The approve buttons phone `name` was given, in order."""
    return [
        action
        for push in phones.received(name)
        for button in push.get("data", {}).get("actions", [])
        if (action := button["action"]).startswith("PAI_APPROVE_")
    ]


def cleared(phones: Phones, name: str) -> int:
    return sum(
        push["message"] == "clear_notification" for push in phones.received(name)
    )


async def later(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, minutes: float
) -> None:
    freezer.tick(timedelta(minutes=minutes))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def tap(hass: HomeAssistant, action: str) -> None:
    hass.bus.async_fire("mobile_app_notification_action", {"action": action})
    await hass.async_block_till_done()


async def test_nobody_answers_so_the_next_is_asked_and_one_answer_clears_all(
    hass: HomeAssistant, phones: Phones, freezer: FrozenDateTimeFactory
) -> None:
    await pair_everyone(phones)
    await start(hass, ladder_agent())

    await motion(hass)
    assert len(asked(phones, "alice")) == 1
    assert asked(phones, "bob") == asked(phones, "carol") == []

    await later(hass, freezer, 4.9)
    assert asked(phones, "bob") == []
    await later(hass, freezer, 0.2)
    assert asked(phones, "bob") == asked(phones, "alice")  # the same request
    assert asked(phones, "carol") == []

    await later(hass, freezer, 5)
    assert asked(phones, "carol") == asked(phones, "alice")

    await tap(hass, asked(phones, "bob")[0])

    assert hass.states.get("input_boolean.porch_light").state == "on"
    assert [cleared(phones, name) for name in ("alice", "bob", "carol")] == [1, 1, 1]
    await later(hass, freezer, 30)
    assert [len(asked(phones, name)) for name in ("alice", "bob", "carol")] == [1, 1, 1]


async def test_an_answer_before_the_wait_stops_the_escalation(
    hass: HomeAssistant, phones: Phones, freezer: FrozenDateTimeFactory
) -> None:
    await pair_everyone(phones)
    await start(hass, ladder_agent())
    await motion(hass)

    await tap(hass, asked(phones, "alice")[0].replace("APPROVE", "DECLINE"))
    await later(hass, freezer, 20)

    assert hass.states.get("input_boolean.porch_light").state == "off"
    assert asked(phones, "bob") == asked(phones, "carol") == []
    assert cleared(phones, "alice") == 1
    assert cleared(phones, "bob") == cleared(phones, "carol") == 0  # never asked


async def test_an_expired_request_is_cleared_from_everyone_asked(
    hass: HomeAssistant, phones: Phones, freezer: FrozenDateTimeFactory
) -> None:
    await pair_everyone(phones)
    await start(hass, ladder_agent(approval_expiry_minutes=8))
    await motion(hass)

    await later(hass, freezer, 5.1)  # Bob is asked
    await later(hass, freezer, 3)  # the request expires before Carol's turn
    await later(hass, freezer, 5)

    assert asked(phones, "carol") == []
    assert [cleared(phones, name) for name in ("alice", "bob")] == [1, 1]


async def test_a_person_at_home_is_asked_first(
    hass: HomeAssistant, phones: Phones, freezer: FrozenDateTimeFactory
) -> None:
    await pair_everyone(phones)
    # Carol's phone was paired by her user; she is home (her keys say so).
    carol = await hass.auth.async_create_user("Carol")
    carols = next(
        entry
        for entry in hass.config_entries.async_entries("mobile_app")
        if entry.data["device_name"] == "carol"
    )
    hass.config_entries.async_update_entry(
        carols, data={**carols.data, "user_id": carol.id}
    )
    await async_create_person(
        hass, "Carol", user_id=carol.id, device_trackers=["device_tracker.carol_keys"]
    )
    hass.states.async_set("device_tracker.carol_keys", "home", {"source_type": "gps"})
    await hass.async_block_till_done()
    assert hass.states.get("person.carol").state == "home"
    await start(hass, ladder_agent(escalation_presence=True))
    await motion(hass)

    await later(hass, freezer, 5.1)
    assert asked(phones, "carol") == asked(phones, "alice")
    assert asked(phones, "bob") == []
    await later(hass, freezer, 5)
    assert asked(phones, "bob") == asked(phones, "alice")


async def test_a_phone_is_known_by_its_device_tracker_too(
    hass: HomeAssistant, phones: Phones, freezer: FrozenDateTimeFactory
) -> None:
    await pair_everyone(phones)
    bobs = next(
        entry
        for entry in hass.config_entries.async_entries("mobile_app")
        if entry.data["device_name"] == "bob"
    )
    (tracker,) = [
        entity.entity_id
        for entity in er.async_entries_for_config_entry(
            er.async_get(hass), bobs.entry_id
        )
        if entity.domain == "device_tracker"
    ]
    await async_create_person(hass, "Bob", device_trackers=[tracker])
    await async_create_person(hass, "Carol")  # nobody knows where she is
    hass.states.async_set(tracker, "home", {"source_type": "gps"})
    await hass.async_block_till_done()
    assert hass.states.get("person.bob").state == "home"
    await start(
        hass,
        ladder_agent(escalation_presence=True, escalation_targets=[CAROL, BOB]),
    )
    await motion(hass)

    await later(hass, freezer, 5.1)

    assert asked(phones, "bob") == asked(phones, "alice")
    assert asked(phones, "carol") == []


async def test_without_presence_the_ladder_keeps_its_order(
    hass: HomeAssistant, phones: Phones, freezer: FrozenDateTimeFactory
) -> None:
    await pair_everyone(phones)
    await start(hass, ladder_agent(escalation_targets=[CAROL, BOB]))
    await motion(hass)

    await later(hass, freezer, 5.1)

    assert asked(phones, "carol") == asked(phones, "alice")
    assert asked(phones, "bob") == []


async def test_a_restart_in_the_middle_of_an_escalation_continues_it(
    hass: HomeAssistant, phones: Phones, freezer: FrozenDateTimeFactory
) -> None:
    await pair_everyone(phones)
    entry = await start(hass, ladder_agent())
    await motion(hass)
    await later(hass, freezer, 5.1)
    assert len(asked(phones, "bob")) == 1

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    await later(hass, freezer, 6)  # Carol's turn came while the agent was down
    assert asked(phones, "carol") == []
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    assert asked(phones, "carol") == asked(phones, "alice")
    await tap(hass, asked(phones, "carol")[0])
    assert hass.states.get("input_boolean.porch_light").state == "on"
    assert [cleared(phones, name) for name in ("alice", "bob", "carol")] == [1, 1, 1]


def wait_of(escalation: dict[str, Any]) -> None:
    escalation["wait_minutes"] = "soon"


def notice_of(**change: Any) -> Any:
    def damage(escalation: dict[str, Any]) -> None:
        escalation["notice"].update(change)

    return damage


@pytest.mark.parametrize(
    "damage",
    [
        wait_of,
        notice_of(title=3),
        notice_of(urgency="high"),
        notice_of(sensitive="yes"),
        lambda escalation: escalation.pop("notice"),
    ],
    ids=["wait", "title", "urgency", "sensitive", "no notice"],
)
async def test_a_damaged_escalation_in_memory_drops_only_the_escalation(
    hass: HomeAssistant,
    phones: Phones,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    damage: Any,
) -> None:
    await pair_everyone(phones)
    entry = await start(hass, ladder_agent())
    await motion(hass)
    runtime = entry.runtime_data.runtime
    (item,) = runtime.keeper.memory.approvals.pending("approval")
    damage(item.payload["escalation"])
    first = asked(phones, "alice")[0]

    await later(hass, freezer, 20)

    assert "the escalation of" in caplog.text
    assert asked(phones, "bob") == asked(phones, "carol") == []
    await tap(hass, first)  # the request itself still stands
    assert hass.states.get("input_boolean.porch_light").state == "on"
    assert DOMAIN in hass.config.components


async def test_an_escalation_that_is_not_an_object_is_dropped_at_the_answer(
    hass: HomeAssistant, phones: Phones
) -> None:
    await pair_everyone(phones)
    entry = await start(hass, ladder_agent())
    await motion(hass)
    (item,) = entry.runtime_data.runtime.keeper.memory.approvals.pending("approval")
    item.payload["escalation"] = ["notify.mobile_app_bob"]

    await tap(hass, asked(phones, "alice")[0])

    assert hass.states.get("input_boolean.porch_light").state == "on"
    assert cleared(phones, "alice") == 1
    assert cleared(phones, "bob") == 0


async def test_presence_leaves_targets_that_are_not_phones_in_their_place(
    hass: HomeAssistant, phones: Phones, freezer: FrozenDateTimeFactory
) -> None:
    await pair_everyone(phones)
    await async_create_person(hass, "Nobody", device_trackers=["device_tracker.x"])
    hass.states.async_set("device_tracker.x", "home", {"source_type": "gps"})
    lost = "notify.mobile_app_lost"  # paired once, gone since
    await start(
        hass,
        ladder_agent(
            escalation_presence=True,
            escalation_targets=["persistent_notification", lost, BOB],
        ),
    )
    await motion(hass)

    await later(hass, freezer, 5.1)  # the panel
    await later(hass, freezer, 5)  # the lost phone: skipped with a warning
    assert asked(phones, "bob") == []
    await later(hass, freezer, 5)
    assert asked(phones, "bob") == asked(phones, "alice")


async def test_two_phones_answering_at_once_run_the_action_once(
    hass: HomeAssistant, phones: Phones, freezer: FrozenDateTimeFactory
) -> None:
    await pair_everyone(phones)
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    await start(hass, ladder_agent())
    await motion(hass)
    await later(hass, freezer, 5.1)
    approve = asked(phones, "bob")[0]

    for _phone in ("alice", "bob"):  # both tap before either is handled
        hass.bus.async_fire("mobile_app_notification_action", {"action": approve})
    await hass.async_block_till_done()

    assert statuses(records) == ["pending_approval", "executed"]
    assert hass.states.get("input_boolean.porch_light").state == "on"


@pytest.mark.parametrize(
    "options",
    [
        {"escalation_targets": [f"notify.mobile_app_p{i}" for i in range(20)]},
        {"escalation_targets": [BOB, ""]},
        {"escalation_wait_minutes": "soon"},
        {"escalation_wait_minutes": 10**9},
    ],
)
async def test_escalation_options_edited_by_hand_still_ask(
    hass: HomeAssistant,
    phones: Phones,
    freezer: FrozenDateTimeFactory,
    options: dict[str, Any],
) -> None:
    await pair_everyone(phones)
    await start(hass, ladder_agent(**options))
    await motion(hass)
    await later(hass, freezer, 30)

    assert len(asked(phones, "alice")) == 1
    assert asked(phones, "bob") == []
    await tap(hass, asked(phones, "alice")[0])
    assert hass.states.get("input_boolean.porch_light").state == "on"
