"""Approvals and undo offers answered from a phone: a simulated Companion app, a real HA.

One `hass` process serves the module. A phone registers through mobile_app and holds its push
channel; two agents are made through the config-flow API (as the frontend makes them): one
asks before turning the bed light on, one turns the kitchen lights on by itself and offers an
undo. A switch flipped through the REST API wakes them; the notification with its buttons
arrives on the phone, and the tap goes back through the phone's webhook, as on Android.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from .agents import call, create_agent, records, state, wait_for
from .companion import Phone, button, register
from .hass_process import HassInstance, run_hass
from .ws import allow_sockets

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("socket_enabled")]

ASK_SWITCH = "switch.decorative_lights"
ACT_SWITCH = "switch.ac"
BED_LIGHT = "light.bed_light"  # off when the demo starts
KITCHEN = "light.kitchen_lights"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HassInstance]:
    allow_sockets()
    with run_hass(tmp_path_factory.mktemp("phone")) as instance:
        instance.onboard()
        yield instance


@pytest.fixture(scope="module")
def phone(home: HassInstance) -> Phone:
    allow_sockets()
    return register(home, "Pixel e2e")


@pytest.fixture(scope="module")
def asking(home: HassInstance, phone: Phone) -> str:
    """An agent that asks (on the phone) before it turns the bed light on."""
    return create_agent(
        home,
        name="Porch asks",
        watched=ASK_SWITCH,
        action="light.turn_on",
        target=BED_LIGHT,
        level="ask",
        notify_targets=[phone.notify_target],
    )


@pytest.fixture(scope="module")
def acting(home: HassInstance, phone: Phone) -> str:
    """An agent that turns the kitchen lights on by itself and offers an undo."""
    return create_agent(
        home,
        name="Porch acts",
        watched=ACT_SWITCH,
        action="light.turn_on",
        target=KITCHEN,
        level="act",
        notify_targets=[phone.notify_target],
    )


def record(home: HassInstance, entry_id: str, record_id: str) -> dict[str, Any] | None:
    """Return the record as `pai.get_records` gives it to a user, or None."""
    for item in records(home, entry_id):
        if item["record_id"] == record_id:
            return item
    return None


def record_where(
    home: HassInstance, entry_id: str, record_id: str, status: str, feedback: str
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        found = record(home, entry_id, record_id)
        if (
            found is not None
            and found["4_execution"]["status"] == status
            and found["6_adaptation"]["user_feedback"] == feedback
        ):
            return found
        return None

    return wait_for(check, f"{record_id} to be {status} with feedback {feedback}")


def logged(home: HassInstance, text: str) -> bool:
    return text in home.log()


async def test_approve_from_the_phone_runs_the_action_once(
    home: HassInstance, phone: Phone, asking: str
) -> None:
    assert state(home, BED_LIGHT) == "off"
    async with phone.channel() as inbox:
        call(home, "switch.toggle", ASK_SWITCH)
        asked = await inbox.next_with_buttons()
    # Worded from the binding (the demo's own light name), not from the model.
    assert asked["title"] == "Turn on: Bed Light (light.turn_on)"
    assert [item["title"] for item in asked["data"]["actions"]] == [
        "Approve",
        "Decline",
        "Snooze",
        "False alarm",
    ]
    assert state(home, BED_LIGHT) == "off"  # nothing runs before the answer
    record_id = asked["data"]["tag"]
    approve = button(asked, "Approve")

    phone.tap(approve)
    wait_for(lambda: state(home, BED_LIGHT) == "on", "the bed light to turn on")
    record_where(home, asking, record_id, "executed", "accepted")

    # The same tap again (a retry, a second phone) does nothing: the light stays off.
    call(home, "light.turn_off", BED_LIGHT)
    wait_for(lambda: state(home, BED_LIGHT) == "off", "the bed light to turn off")
    phone.tap(approve)
    wait_for(
        lambda: logged(home, f"Ignored phone answer {approve}"),
        "the second tap to be ignored",
    )
    assert state(home, BED_LIGHT) == "off"


async def test_decline_from_the_phone_is_recorded(
    home: HassInstance, phone: Phone, asking: str
) -> None:
    before = state(home, BED_LIGHT)
    async with phone.channel() as inbox:
        call(home, "switch.toggle", ASK_SWITCH)
        asked = await inbox.next_with_buttons()
    record_id = asked["data"]["tag"]

    phone.tap(button(asked, "Decline"))
    declined = record_where(home, asking, record_id, "declined", "rejected")
    assert declined["4_execution"]["actions_taken"] == []
    assert state(home, BED_LIGHT) == before


async def test_undo_from_the_phone_restores_the_light(
    home: HassInstance, phone: Phone, acting: str
) -> None:
    call(home, "light.turn_off", KITCHEN)
    wait_for(lambda: state(home, KITCHEN) == "off", "the kitchen lights to be off")
    async with phone.channel() as inbox:
        call(home, "switch.toggle", ACT_SWITCH)
        offer = await inbox.next_with_buttons()
    assert offer["title"] == "Porch acts did: Turn on: Kitchen Lights (light.turn_on)"
    assert offer["message"] == "Undo puts Kitchen Lights back to off"
    assert offer["data"]["push"] == {"interruption-level": "passive"}
    assert state(home, KITCHEN) == "on"  # it acted before it offered the undo
    record_id = offer["data"]["tag"]

    phone.tap(button(offer, "Undo"))
    wait_for(lambda: state(home, KITCHEN) == "off", "the kitchen lights to be off")
    record_where(home, acting, record_id, "undone", "rejected")


async def test_approval_after_a_restart_still_works(
    home: HassInstance, phone: Phone, asking: str
) -> None:
    call(home, "light.turn_off", BED_LIGHT)
    async with phone.channel() as inbox:
        call(home, "switch.toggle", ASK_SWITCH)
        asked = await inbox.next_with_buttons()
    record_id = asked["data"]["tag"]

    before = home.process.pid
    await asyncio.to_thread(home.restart)
    assert home.process.pid != before
    assert state(home, BED_LIGHT) == "off"  # the demo starts with it off

    phone.tap(button(asked, "Approve"))
    wait_for(lambda: state(home, BED_LIGHT) == "on", "the bed light to turn on")
    record_where(home, asking, record_id, "executed", "accepted")
    errors = [
        line
        for line in home.log().splitlines()
        if " ERROR " in line and "custom_components.pai" in line
    ]
    assert errors == []
