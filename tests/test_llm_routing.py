"""The LLM tier inside a real Home Assistant: when it is woken, what it may do, and its limits.

The agent runs as a config entry with real triggers, registries, services and storage; the
LLM brain is a scripted implementation of the `Brain` protocol handed to the runtime (the
wire-level brains have their own tests in tests/brains/). Only the phone is a mock.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
import json
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import (
    area_registry as ar,
    device_registry as dr,
    entity_registry as er,
    label_registry as lr,
)
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
    async_mock_service,
)

from custom_components.pai.const import DOMAIN, EVENT_PAI_RECORD
from custom_components.pai.engine.brain import BrainError, FailureKind
from tests.helpers import (
    FakeBrain,
    agent_entry,
    escalating,
    motion,
    porch_agent,
    rule,
    says,
    start,
    statuses,
)

MOTION = "input_boolean.motion"
LABEL = "pai_local_only"


def brain_block(event: Any) -> Any:
    return event.data["record"]["x_pai"].get("brain")


async def evaluate(
    hass: HomeAssistant, entry: MockConfigEntry, payload: dict[str, Any]
) -> list[dict[str, Any]]:
    response = await hass.services.async_call(
        DOMAIN,
        "evaluate",
        {
            "agent": entry.entry_id,
            "kind": "ha.state",
            "payload": payload,
            "escalate": False,
        },
        blocking=True,
        return_response=True,
    )
    assert response is not None
    return response["records"]  # type: ignore[return-value]


# --- (a) when the LLM is woken, and what it may do -------------------------------------------------


@pytest.mark.usefixtures("house")
async def test_rules_alone_do_not_wake_the_llm(
    hass: HomeAssistant, brains: list[FakeBrain]
) -> None:
    async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    brains.append(cloud := FakeBrain("cloud"))
    await start(hass, porch_agent([rule("hint", "light_on", 1)]))

    await motion(hass)

    assert cloud.requests == []
    assert statuses(records) == ["suggested"]
    assert brain_block(records[0]) is None


@pytest.mark.usefixtures("house")
async def test_an_escalating_rule_wakes_the_llm_and_its_answer_goes_through_the_gate(
    hass: HomeAssistant, brains: list[FakeBrain]
) -> None:
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    brains.append(cloud := FakeBrain("cloud", says("cloud", "light_on", level=3)))
    entry = await start(
        hass,
        porch_agent(
            [
                rule("log", "siren", 0),
                escalating("look closer", "light_on", 1, confidence=0.6),
            ],
            options={"action_max_levels": {"light_on": 1}},
        ),
    )

    await motion(hass)

    (request,) = cloud.requests
    assert request.event.payload["entity_id"] == MOTION
    assert request.event.payload["to_state"] == "on"
    assert [(hint.action, hint.rationale) for hint in request.hints] == [
        ("light_on", "look closer fired")
    ]
    # The model sees each action with the most the user allows it.
    assert {(c.name, int(c.max_level)) for c in request.actions} == {
        ("light_on", 1),
        ("siren", 3),
    }
    # Asked to act, capped at SUGGEST: a suggestion on the phone, the light stays off.
    assert statuses(records) == ["observed", "suggested"]
    assert hass.states.get("input_boolean.porch_light").state == "off"
    assert phone[-1].data["message"] == "dark porch"
    suggested = records[1].data["record"]
    assert suggested["3_anticipation"]["granted_level"] == 1
    assert brain_block(records[1]) == {
        "name": "cloud",
        "usage": {
            "brain": "cloud",
            "model": "claude-haiku-4-5",
            "latency_ms": 812.3,
            "input_tokens": 1200,
            "output_tokens": 60,
            "cached_tokens": 1000,
            "cache_write_tokens": 0,
            "cost": 0.0016,
        },
    }
    # The rule settled the first intent on its own: its record names no brain.
    assert brain_block(records[0]) is None
    assert entry.runtime_data.runtime.llm.last_brain["name"] == "cloud"


@pytest.mark.usefixtures("house")
async def test_the_llm_acting_within_its_cap_runs_the_action(
    hass: HomeAssistant, brains: list[FakeBrain]
) -> None:
    async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    brains.append(FakeBrain("cloud", says("cloud", "light_on", level=3)))
    await start(hass, porch_agent([escalating("look closer", "light_on", 1)]))

    await motion(hass)

    assert statuses(records) == ["executed"]
    assert hass.states.get("input_boolean.porch_light").state == "on"


@pytest.mark.usefixtures("house")
async def test_the_evaluate_action_can_escalate(
    hass: HomeAssistant, brains: list[FakeBrain]
) -> None:
    async_mock_service(hass, "notify", "mobile_app_pixel")
    brains.append(cloud := FakeBrain("cloud", says("cloud", "siren", level=0)))
    entry = await start(hass, porch_agent([]))

    response = await hass.services.async_call(
        DOMAIN,
        "evaluate",
        {"agent": entry.entry_id, "kind": "ask", "payload": {}, "escalate": True},
        blocking=True,
        return_response=True,
    )

    assert len(cloud.requests) == 1
    (record,) = response["records"]  # type: ignore[index]
    assert record["3_anticipation"]["action"] == "siren"
    assert record["x_pai"]["brain"]["name"] == "cloud"


# --- (b) fallback ------------------------------------------------------------------------------


@pytest.mark.usefixtures("house")
async def test_a_failing_brain_leaves_the_rules_answer_and_says_why(
    hass: HomeAssistant, brains: list[FakeBrain]
) -> None:
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    down = BrainError(FailureKind.UNAVAILABLE, "HTTP 529 overloaded")
    brains.append(FakeBrain("cloud", down))
    await start(hass, porch_agent([escalating("look closer", "light_on", 1)]))

    await motion(hass)

    assert statuses(records) == ["suggested"]
    assert phone[0].data["message"] == "look closer fired"
    assert brain_block(records[0]) == {
        "name": "rules",
        "fallback": ["cloud: unavailable: HTTP 529 overloaded"],
    }


@pytest.mark.usefixtures("house")
async def test_refused_credentials_start_reauthentication(
    hass: HomeAssistant, brains: list[FakeBrain]
) -> None:
    async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    brains.append(FakeBrain("cloud", BrainError(FailureKind.AUTH, "invalid x-api-key")))
    entry = await start(hass, porch_agent([escalating("look closer", "light_on", 1)]))

    await motion(hass)

    assert statuses(records) == ["suggested"]
    assert brain_block(records[0])["fallback"] == ["cloud: auth: invalid x-api-key"]
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]
    assert flows[0]["context"]["entry_id"] == entry.entry_id


# --- (c) coalescing --------------------------------------------------------------------------------


@pytest.mark.usefixtures("house")
async def test_a_burst_within_the_interval_costs_one_more_call(
    hass: HomeAssistant, brains: list[FakeBrain], freezer: FrozenDateTimeFactory
) -> None:
    async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    brains.append(cloud := FakeBrain("cloud"))
    entry = await start(
        hass,
        porch_agent(
            [rule("log", "siren", 0), escalating("look closer", "light_on", 1)],
            options={"llm_min_interval_seconds": 30},
        ),
    )

    for n in range(50):
        made = await evaluate(hass, entry, {"to_state": "on", "n": n})
        # The rule's own (settled) intent is delivered at once, held or not.
        assert made[0]["3_anticipation"]["action"] == "siren"
        assert made[0]["4_execution"]["status"] == "observed"
    await hass.async_block_till_done()

    assert [r.event.payload["n"] for r in cloud.requests] == [0]
    assert len(records) == 50 + 1

    freezer.tick(timedelta(seconds=31))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()

    assert [r.event.payload["n"] for r in cloud.requests] == [0, 49]
    held = records[-1].data["record"]
    assert held["1_perception"]["raw_data_summary"]["n"] == 49
    assert held["x_pai"]["brain"]["name"] == "cloud"
    assert held["x_pai"]["brain"]["fallback"] == ["48 earlier events coalesced"]
    assert len(records) == 50 + 2

    # Nothing more is waiting: later time passes without another call.
    freezer.tick(timedelta(minutes=5))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert len(cloud.requests) == 2


@pytest.mark.usefixtures("house")
async def test_a_held_event_is_asked_about_not_told_as_history(
    hass: HomeAssistant, brains: list[FakeBrain], freezer: FrozenDateTimeFactory
) -> None:
    async_mock_service(hass, "notify", "mobile_app_pixel")
    brains.append(cloud := FakeBrain("cloud"))
    entry = await start(
        hass,
        porch_agent(
            [escalating("look closer", "light_on", 1)],
            options={"llm_min_interval_seconds": 30},
        ),
    )
    for n in range(3):
        await evaluate(hass, entry, {"to_state": "on", "n": n})
    await hass.async_block_till_done()
    freezer.tick(timedelta(seconds=31))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    await evaluate(hass, entry, {"to_state": "on", "n": 3})
    freezer.tick(timedelta(seconds=31))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()

    # The held event (n=2) is the one asked about; its history is what came before it,
    # and every event is in the short memory once.
    assert [r.event.payload["n"] for r in cloud.requests] == [0, 2, 3]
    held = cloud.requests[1].context["recent_events"]
    assert [line.split("n=")[1] for line in held] == ["1", "0"]
    after = cloud.requests[2].context["recent_events"]
    assert [line.split("n=")[1] for line in after] == ["2", "1", "0"]


# --- (d) privacy ---------------------------------------------------------------------------------------


async def _label_motion(hass: HomeAssistant, where: str) -> None:
    """Put the privacy label on the motion sensor, its device, its area or the device's."""
    lr.async_get(hass).async_create(LABEL)
    entities = er.async_get(hass)
    areas = ar.async_get(hass)
    if where == "entity":
        entities.async_update_entity(MOTION, labels={LABEL})
        return
    bedroom = areas.async_create("Bedroom", labels={LABEL})
    if where == "area":
        entities.async_update_entity(MOTION, area_id=bedroom.id)
        return
    other = MockConfigEntry(domain="demo")
    other.add_to_hass(hass)
    devices = dr.async_get(hass)
    device = devices.async_get_or_create(
        config_entry_id=other.entry_id, identifiers={("demo", "hall-sensor")}
    )
    entities.async_update_entity(MOTION, device_id=device.id)
    if where == "device":
        devices.async_update_device(device.id, labels={LABEL})
    else:
        devices.async_update_device(device.id, area_id=bedroom.id)


@pytest.mark.usefixtures("house")
@pytest.mark.parametrize("where", ["entity", "device", "area", "device area"])
async def test_private_events_never_reach_a_cloud_brain(
    hass: HomeAssistant, brains: list[FakeBrain], where: str
) -> None:
    async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    brains.append(cloud := FakeBrain("cloud"))
    await start(hass, porch_agent([escalating("look closer", "light_on", 1)]))
    assert er.async_get(hass).async_get(MOTION) is not None
    await _label_motion(hass, where)

    await motion(hass)

    assert cloud.requests == []
    assert statuses(records) == ["suggested"]
    assert brain_block(records[0]) == {
        "name": "rules",
        "fallback": ["cloud: private data is not sent to a cloud brain"],
    }


@pytest.mark.usefixtures("house")
async def test_private_events_go_to_a_local_brain(
    hass: HomeAssistant, brains: list[FakeBrain]
) -> None:
    async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    cloud = FakeBrain("cloud")
    local = FakeBrain("gemma", says("gemma", "light_on", level=3), local=True)
    brains.extend([cloud, local])
    await start(hass, porch_agent([escalating("look closer", "light_on", 1)]))
    await _label_motion(hass, "entity")

    await motion(hass)

    assert cloud.requests == []
    assert len(local.requests) == 1
    assert statuses(records) == ["executed"]
    assert brain_block(records[0])["name"] == "gemma"


@pytest.mark.usefixtures("house")
async def test_a_private_event_stays_out_of_later_requests(
    hass: HomeAssistant, brains: list[FakeBrain]
) -> None:
    async_mock_service(hass, "notify", "mobile_app_pixel")
    brains.append(cloud := FakeBrain("cloud"))
    entry = await start(
        hass,
        porch_agent(
            [escalating("look closer", "light_on", 1)],
            options={"llm_every_event": True},
        ),
    )
    er.async_get(hass).async_get_or_create(
        "camera", "demo", "bedroom", suggested_object_id="bedroom"
    )
    lr.async_get(hass).async_create(LABEL)
    er.async_get(hass).async_update_entity("camera.bedroom", labels={LABEL})

    await evaluate(hass, entry, {"entity_id": "camera.bedroom", "to_state": "occupied"})
    await evaluate(hass, entry, {"entity_id": "sensor.porch", "to_state": "busy"})
    await evaluate(hass, entry, {"entity_id": "sensor.porch", "to_state": "quiet"})

    # The private event reached no brain; the later ones see only that it happened.
    assert [r.event.payload["to_state"] for r in cloud.requests] == ["busy", "quiet"]
    context = json.dumps(cloud.requests[-1].context)
    assert "camera.bedroom" not in context
    assert "occupied" not in context
    assert cloud.requests[-1].context["recent_events"][-1] == "ha.state"
    assert "sensor.porch" in cloud.requests[-1].context["recent_events"][0]


@pytest.mark.usefixtures("house")
async def test_a_private_event_no_rule_escalates_stays_out_of_later_requests(
    hass: HomeAssistant, brains: list[FakeBrain]
) -> None:
    """An event that never reached the LLM tier is still remembered by its kind only."""
    async_mock_service(hass, "notify", "mobile_app_pixel")
    brains.append(cloud := FakeBrain("cloud"))
    entry = await start(hass, porch_agent([escalating("look closer", "light_on", 1)]))
    er.async_get(hass).async_get_or_create(
        "camera", "demo", "bedroom", suggested_object_id="bedroom"
    )
    lr.async_get(hass).async_create(LABEL)
    er.async_get(hass).async_update_entity("camera.bedroom", labels={LABEL})

    await evaluate(hass, entry, {"entity_id": "camera.bedroom", "to_state": "occupied"})
    await evaluate(hass, entry, {"entity_id": "sensor.porch", "to_state": "on"})

    assert [r.event.payload["to_state"] for r in cloud.requests] == ["on"]
    context = json.dumps(cloud.requests[-1].context)
    assert "camera.bedroom" not in context
    assert "occupied" not in context
    assert cloud.requests[-1].context["recent_events"] == ["ha.state"]


# --- (e) budget ------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("house")
async def test_calls_budget_falls_back_to_rules_and_survives_a_restart(
    hass: HomeAssistant, brains: list[FakeBrain]
) -> None:
    async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    brains.append(cloud := FakeBrain("cloud"))
    entry = await start(
        hass,
        porch_agent(
            [escalating("look closer", "light_on", 1)],
            options={"llm_max_calls_per_hour": 2},
        ),
    )

    for _ in range(2):
        await motion(hass, "on")
        await motion(hass, "off")
    assert len(cloud.requests) == 2

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    await motion(hass, "on")

    assert len(cloud.requests) == 2
    assert brain_block(records[-1]) == {
        "name": "rules",
        "fallback": ["cloud: over the calls budget"],
    }
    assert statuses(records)[-1] == "suggested"


# --- (f) stopping ----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("house")
async def test_unloading_cancels_a_held_call(
    hass: HomeAssistant, brains: list[FakeBrain], freezer: FrozenDateTimeFactory
) -> None:
    async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    brains.append(cloud := FakeBrain("cloud"))
    entry = await start(
        hass,
        porch_agent(
            [escalating("look closer", "light_on", 1)],
            options={"llm_min_interval_seconds": 30},
        ),
    )
    await evaluate(hass, entry, {"to_state": "on"})
    await evaluate(hass, entry, {"to_state": "on"})  # held
    assert len(cloud.requests) == 1

    assert await hass.config_entries.async_unload(entry.entry_id)
    freezer.tick(timedelta(seconds=31))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()

    assert len(cloud.requests) == 1
    assert len(records) == 1


# --- the lock: approvals and the agent's own actions -------------------------------------------------


@pytest.mark.usefixtures("house")
async def test_an_approval_does_not_wait_for_a_slow_brain(
    hass: HomeAssistant, brains: list[FakeBrain]
) -> None:
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    gate = asyncio.Event()
    brains.append(FakeBrain("cloud", says("cloud", "light_on", level=2), gate))
    entry = await start(hass, porch_agent([escalating("look closer", "light_on", 1)]))

    await motion(hass)
    assert statuses(records) == ["pending_approval"]
    approve = phone[0].data["data"]["actions"][0]["action"]

    # The next event's brain call hangs, without holding the agent's lock...
    thinking = hass.async_create_task(evaluate(hass, entry, {"to_state": "on"}))
    await asyncio.sleep(0)
    assert not entry.runtime_data.runtime._lock.locked()

    # ...and the owner's approval is still carried out at once.
    executed = asyncio.Event()

    @callback
    def on_record(event: Event[dict[str, Any]]) -> None:
        if event.data["record"]["4_execution"]["status"] == "executed":
            executed.set()

    hass.bus.async_listen(EVENT_PAI_RECORD, on_record)
    hass.bus.async_fire("mobile_app_notification_action", {"action": approve})
    async with asyncio.timeout(5):
        await executed.wait()
    assert statuses(records) == ["pending_approval", "executed"]
    assert hass.states.get("input_boolean.porch_light").state == "on"

    gate.set()
    await thinking
    assert len(records) == 3


@pytest.mark.usefixtures("house")
async def test_an_action_evaluating_its_own_agent_fails_instead_of_hanging(
    hass: HomeAssistant,
) -> None:
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    entry = agent_entry([rule("act", "light_on", 3)])
    entry.add_to_hass(hass)
    loop_back = [
        {
            "action": "pai.evaluate",
            "data": {"agent": entry.entry_id, "kind": "nested"},
        }
    ]
    hass.config_entries.async_update_entry(
        entry, data={**entry.data, "bindings": {"actions": {"light_on": loop_back}}}
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    async with asyncio.timeout(10):
        await motion(hass)
        await motion(hass, "off")
        await motion(hass)

    assert statuses(records) == ["failed", "failed"]
    taken = records[0].data["record"]["4_execution"]["actions_taken"][0]
    assert "cannot evaluate an event for itself" in json.dumps(taken)
