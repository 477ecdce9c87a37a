"""A slow LLM never delays what the rules settle on their own.

An escalated event's brain call hangs; the rules' own answer for that event is delivered
before the call, and a later rules-only event (a water leak) is decided at once, not after
the call: the agent's lock is not held while a model thinks, and the trigger worker does
not wait for it. The answer, when it comes, still goes through the gate.
"""

from __future__ import annotations

import asyncio
from typing import Any

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import (
    async_capture_events,
    async_mock_service,
)

from custom_components.pai.const import EVENT_PAI_RECORD
from tests.helpers import FakeBrain, escalating, porch_agent, rule, says, start


async def switch(hass: HomeAssistant, state: str) -> None:
    """Turn the motion sensor on or off, and let the agent run, without waiting for
    the brain (`async_block_till_done` would wait for the hanging call)."""
    await hass.services.async_call(
        "input_boolean",
        f"turn_{state}",
        {"entity_id": "input_boolean.motion"},
        blocking=True,
    )
    for _ in range(20):
        await asyncio.sleep(0)


def actions(records: list[Any]) -> list[tuple[str, str]]:
    return [
        (
            r.data["record"]["3_anticipation"]["action"],
            r.data["record"]["4_execution"]["status"],
        )
        for r in records
    ]


@pytest.mark.usefixtures("house")
async def test_a_water_leak_is_not_delayed_by_a_slow_brain(
    hass: HomeAssistant, brains: list[FakeBrain]
) -> None:
    async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    answer = asyncio.Event()
    brains.append(cloud := FakeBrain("cloud", answer))
    await start(
        hass,
        porch_agent(
            [
                rule("note", "siren", 0),
                escalating("look closer", "light_on", 1),
                rule(
                    "leak",
                    "siren",
                    3,
                    payload=[{"field": "to_state", "op": "==", "value": "off"}],
                ),
            ]
        ),
    )

    await switch(hass, "on")  # escalates: the brain hangs
    assert len(cloud.requests) == 1
    assert actions(records) == [("siren", "observed")]  # delivered before the call

    await switch(hass, "off")  # a rules-only event while the brain thinks
    assert actions(records) == [("siren", "observed"), ("siren", "executed")]
    assert hass.states.get("input_boolean.front_door_open").state == "on"

    answer.set()
    await hass.async_block_till_done()
    assert actions(records)[-1] == ("light_on", "executed")
    assert hass.states.get("input_boolean.porch_light").state == "on"


@pytest.mark.usefixtures("house")
async def test_escalations_during_a_call_wait_for_it_and_coalesce(
    hass: HomeAssistant, brains: list[FakeBrain]
) -> None:
    async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    answer = asyncio.Event()
    brains.append(cloud := FakeBrain("cloud", answer, says("cloud", level=1)))
    await start(hass, porch_agent([escalating("look closer", "light_on", 1)]))

    await switch(hass, "on")
    for _ in range(3):  # three more escalations while the first call is out
        await switch(hass, "off")
        await switch(hass, "on")
    assert len(cloud.requests) == 1

    answer.set()
    await hass.async_block_till_done()
    # One more call for the three held events, not three.
    assert len(cloud.requests) == 2
    held = records[-1].data["record"]["x_pai"]["brain"]
    assert held["fallback"] == ["2 earlier events coalesced"]
