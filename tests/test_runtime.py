"""The agent loop inside a real Home Assistant: state change -> brain -> gate -> delivery.

Each test sets up a rules-only agent as a config entry and drives it through real entities
(input_boolean), real triggers and the real service registry; only the phone's notify service
is replaced by a recording mock (no phone exists here).
"""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import Context, HomeAssistant, ServiceCall
from homeassistant.exceptions import ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.common import (
    MockUser,
    async_capture_events,
    async_fire_time_changed,
    async_mock_service,
)

from custom_components.pai.const import DOMAIN, EVENT_PAI_RECORD
from custom_components.pai.engine.approvals import action_id
from tests.helpers import (
    LIGHT_ON,
    agent_entry,
    light_agent,
    motion,
    rule,
    start,
    start_recording,
    statuses,
)


@pytest.mark.usefixtures("house")
async def test_observe_only_records(hass: HomeAssistant) -> None:
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    records = await start_recording(
        hass,
        agent_entry(
            [rule("weak", "light_on", 3, confidence=0.2)],
            bindings={"actions": {"light_on": LIGHT_ON}},
        ),
    )

    await motion(hass)

    assert statuses(records) == ["observed"]
    record = records[0].data["record"]
    assert record["3_anticipation"]["granted_level"] == 0
    assert record["x_pai"]["reasons"][0]["code"] == "low_confidence"
    assert (
        record["1_perception"]["raw_data_summary"]["entity_id"]
        == "input_boolean.motion"
    )
    assert records[0].data["agent"] == "Porch watch"
    assert phone == []
    assert hass.states.get("input_boolean.porch_light").state == "off"


@pytest.mark.usefixtures("house")
async def test_suggest_notifies_the_phone(hass: HomeAssistant) -> None:
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    records = await start_recording(hass, agent_entry([rule("hint", "light_on", 1)]))

    await motion(hass)

    assert statuses(records) == ["suggested"]
    assert len(phone) == 1
    assert phone[0].data["title"] == "Porch watch: light_on"
    assert phone[0].data["message"] == "hint fired"
    assert "actions" not in phone[0].data.get("data", {})


@pytest.mark.usefixtures("house")
async def test_ask_runs_once_when_approved_twice_on_the_phone(
    hass: HomeAssistant,
) -> None:
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    calls: list[ServiceCall] = []
    hass.bus.async_listen(
        "call_service",
        lambda event: (
            calls.append(event)
            if event.data["domain"] == "input_boolean"
            and event.data["service"] == "turn_on"
            and event.data["service_data"].get("entity_id") != "input_boolean.motion"
            else None
        ),
    )
    entry = await start(hass, light_agent(2))

    await motion(hass)

    assert statuses(records) == ["pending_approval"]
    assert entry.runtime_data.runtime.pending.approvals_waiting == 1
    actions = phone[0].data["data"]["actions"]
    approve = actions[0]["action"]
    assert approve.startswith("PAI_APPROVE_" + records[0].data["record"]["record_id"])
    assert actions[1]["action"].startswith("PAI_DECLINE_")
    assert hass.states.get("input_boolean.porch_light").state == "off"

    for _ in range(3):  # a phone retrying, a double tap
        hass.bus.async_fire("mobile_app_notification_action", {"action": approve})
        await hass.async_block_till_done()

    assert hass.states.get("input_boolean.porch_light").state == "on"
    assert len(calls) == 1
    assert statuses(records) == ["pending_approval", "executed"]
    assert records[-1].data["record"]["6_adaptation"]["user_feedback"] == "accepted"
    assert entry.runtime_data.runtime.pending.approvals_waiting == 0


@pytest.mark.usefixtures("house")
async def test_decline_and_wrong_nonce(hass: HomeAssistant) -> None:
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    records = await start_recording(hass, light_agent(2))
    await motion(hass)
    record_id = records[0].data["record"]["record_id"]
    forged = action_id("approve", record_id, "0" * 32)

    hass.bus.async_fire("mobile_app_notification_action", {"action": forged})
    await hass.async_block_till_done()
    assert hass.states.get("input_boolean.porch_light").state == "off"
    assert statuses(records) == ["pending_approval"]

    decline = phone[0].data["data"]["actions"][1]["action"]
    hass.bus.async_fire(
        "mobile_app_notification_action",
        {"action": decline, "action_data": {}, "reply_text": None},  # iOS shape
    )
    await hass.async_block_till_done()
    assert statuses(records) == ["pending_approval", "declined"]
    assert records[-1].data["record"]["6_adaptation"]["user_feedback"] == "rejected"
    assert hass.states.get("input_boolean.porch_light").state == "off"


@pytest.mark.usefixtures("house")
async def test_expired_request_is_ignored_and_cannot_be_approved(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    records = await start_recording(
        hass, light_agent(2, options={"approval_expiry_minutes": 5})
    )
    await motion(hass)
    approve = phone[0].data["data"]["actions"][0]["action"]

    freezer.tick(timedelta(minutes=6))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert statuses(records) == ["pending_approval", "expired"]
    assert records[-1].data["record"]["6_adaptation"]["user_feedback"] == "ignored"

    hass.bus.async_fire("mobile_app_notification_action", {"action": approve})
    await hass.async_block_till_done()
    assert hass.states.get("input_boolean.porch_light").state == "off"


@pytest.mark.usefixtures("house")
async def test_pending_approval_survives_a_restart(hass: HomeAssistant) -> None:
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    entry = await start(hass, light_agent(2))
    await motion(hass)
    approve = phone[0].data["data"]["actions"][0]["action"]

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.runtime_data.runtime.pending.approvals_waiting == 1

    hass.bus.async_fire("mobile_app_notification_action", {"action": approve})
    await hass.async_block_till_done()
    assert hass.states.get("input_boolean.porch_light").state == "on"
    assert statuses(records)[-1] == "executed"


@pytest.mark.usefixtures("house")
async def test_act_runs_and_undo_restores(hass: HomeAssistant) -> None:
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    records = await start_recording(hass, light_agent(3))

    await motion(hass)

    assert hass.states.get("input_boolean.porch_light").state == "on"
    assert statuses(records) == ["executed"]
    undo = phone[0].data["data"]["actions"][0]["action"]
    assert undo.startswith("PAI_UNDO_")

    hass.bus.async_fire("mobile_app_notification_action", {"action": undo})
    await hass.async_block_till_done()
    assert hass.states.get("input_boolean.porch_light").state == "off"
    assert statuses(records) == ["executed", "undone"]
    assert records[-1].data["record"]["6_adaptation"]["user_feedback"] == "rejected"


@pytest.mark.usefixtures("house")
async def test_failing_action_is_recorded_and_the_agent_keeps_running(
    hass: HomeAssistant,
) -> None:
    records = await start_recording(
        hass,
        agent_entry(
            [rule("act", "broken", 3)],
            bindings={"actions": {"broken": [{"action": "light.does_not_exist"}]}},
        ),
    )
    await motion(hass)
    await motion(hass, "off")
    await motion(hass)
    assert statuses(records) == ["failed", "failed"]


@pytest.mark.usefixtures("house")
async def test_survival_layer_keeps_an_unlock_at_ask(hass: HomeAssistant) -> None:
    async_mock_service(hass, "notify", "mobile_app_pixel")
    unlocks = async_mock_service(hass, "lock", "unlock")
    records = await start_recording(
        hass,
        agent_entry(
            [rule("let in", "open_door", 3, confidence=0.99)],
            bindings={
                "actions": {
                    "open_door": [
                        {"action": "lock.unlock", "target": {"entity_id": "lock.front"}}
                    ]
                }
            },
            policy={"default_max_level": 3, "action_max_levels": {"open_door": 3}},
        ),
    )
    await motion(hass)

    assert unlocks == []
    record = records[0].data["record"]
    assert record["3_anticipation"]["requested_level"] == 3
    assert record["3_anticipation"]["granted_level"] == 2
    assert "security_sensitive" in [r["code"] for r in record["x_pai"]["reasons"]]


@pytest.mark.usefixtures("house")
async def test_time_pattern_trigger_fires(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    freezer.move_to("2026-11-21 10:03:30+00:00")
    await start(
        hass,
        agent_entry(
            [rule("tick", "light_on", 0, kind="ha.time_pattern", payload=[])],
            ha_triggers=[{"trigger": "time_pattern", "minutes": "/5", "id": "every5"}],
        ),
    )
    freezer.move_to("2026-11-21 10:04:59+00:00")
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert records == []
    freezer.move_to("2026-11-21 10:05:00.1+00:00")
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert len(records) == 1
    assert records[0].data["record"]["1_perception"]["trigger_source"] == "every5"
    assert records[0].data["record"]["1_perception"]["event_type"] == "ha.time_pattern"


@pytest.mark.usefixtures("house")
async def test_paused_agent_ignores_triggers(hass: HomeAssistant) -> None:
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    entry = await start(hass, agent_entry([rule("hint", "light_on", 0)]))
    await entry.runtime_data.runtime.async_set_active(False)
    await motion(hass)
    assert records == []


@pytest.mark.usefixtures("house")
async def test_evaluate_and_replay_services(hass: HomeAssistant) -> None:
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    entry = await start(hass, light_agent(3))
    response = await hass.services.async_call(
        DOMAIN,
        "evaluate",
        {"agent": entry.entry_id, "kind": "ha.state", "payload": {"to_state": "on"}},
        blocking=True,
        return_response=True,
    )
    assert response is not None
    [record] = response["records"]
    assert record["4_execution"]["status"] == "executed"
    await hass.services.async_call(
        "input_boolean",
        "turn_off",
        {"entity_id": "input_boolean.porch_light"},
        blocking=True,
    )
    calls_before = len(phone)

    replay = await hass.services.async_call(
        DOMAIN,
        "replay",
        {"record_id": record["record_id"]},
        blocking=True,
        return_response=True,
    )
    assert replay is not None
    assert replay["old"]["granted_level"] == 3
    assert replay["new"][0]["granted_level"] == 3
    assert hass.states.get("input_boolean.porch_light").state == "off"
    assert len(phone) == calls_before

    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            DOMAIN,
            "evaluate",
            {"agent": "nope", "kind": "x"},
            blocking=True,
            return_response=True,
        )
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            DOMAIN, "approve", {"record_id": "paid_20260101_abcdef"}, blocking=True
        )


@pytest.mark.usefixtures("house")
async def test_approve_service_and_approvers(
    hass: HomeAssistant, hass_admin_user: MockUser, hass_read_only_user: MockUser
) -> None:
    async_mock_service(hass, "notify", "mobile_app_pixel")
    records = await start_recording(
        hass, light_agent(2, options={"approvers": [hass_admin_user.id]})
    )
    await motion(hass)
    record_id = records[0].data["record"]["record_id"]

    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            DOMAIN,
            "approve",
            {"record_id": record_id},
            blocking=True,
            context=Context(user_id=hass_read_only_user.id),
        )
    assert hass.states.get("input_boolean.porch_light").state == "off"

    await hass.services.async_call(
        DOMAIN,
        "approve",
        {"record_id": record_id},
        blocking=True,
        context=Context(user_id=hass_admin_user.id),
    )
    await hass.async_block_till_done()
    assert hass.states.get("input_boolean.porch_light").state == "on"
    assert records[-1].data["record"]["4_execution"]["status"] == "executed"

    with pytest.raises(ServiceValidationError, match="already"):
        await hass.services.async_call(
            DOMAIN,
            "approve",
            {"record_id": record_id},
            blocking=True,
            context=Context(user_id=hass_admin_user.id),
        )


@pytest.mark.usefixtures("house")
async def test_flood_of_state_changes_collapses(hass: HomeAssistant) -> None:
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    entry = await start(
        hass,
        agent_entry(
            [rule("any", "light_on", 0, payload=[])],
            ha_triggers=[{"trigger": "state", "entity_id": "input_boolean.motion"}],
        ),
    )
    runtime = entry.runtime_data.runtime
    for index in range(2000):
        hass.states.async_set("input_boolean.motion", "on" if index % 2 else "off")
    assert len(runtime.queue) <= runtime.queue.max_size
    await hass.async_block_till_done()
    assert runtime.queue.stats.accepted == 2000
    assert runtime.queue.stats.collapsed > 0
    assert (
        len(records)
        == 2000 - runtime.queue.stats.collapsed - runtime.queue.stats.dropped
    )
