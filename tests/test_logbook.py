"""The logbook line of a PAID record: agent, action, outcome, granted level and why."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.pai.const import DOMAIN, EVENT_PAI_RECORD
from custom_components.pai.engine.models import (
    AutonomyLevel,
    Decision,
    Event,
    Intent,
    Reason,
    ReasonCode,
)
from custom_components.pai.engine.records import ExecutionStatus, build_record
from custom_components.pai.logbook import UNNAMED_AGENT, describe_record_event
from tests.ha_fixtures import recorder_before_hass  # noqa: F401  # the real recorder


def night_watch_record(**payload: Any) -> dict[str, Any]:
    """A record of turning the hall light off, capped at SUGGEST by the policy."""
    event = Event(
        source="state",
        kind="state_changed",
        payload=payload,
        time=datetime(2026, 11, 20, 23, 5, tzinfo=UTC),
    )
    intent = Intent(
        action="light.turn_off",
        rationale="Nobody has been in the hall for 20 minutes",
        confidence=0.9,
        urgency=0.6,
        requested_level=AutonomyLevel.ACT,
    )
    decision = Decision(
        intent=intent,
        requested=AutonomyLevel.ACT,
        granted=AutonomyLevel.SUGGEST,
        reasons=(
            Reason(
                "policy",
                ReasonCode.ACTION_CAP,
                AutonomyLevel.ACT,
                AutonomyLevel.SUGGEST,
                "light.turn_off is capped at SUGGEST",
            ),
        ),
    )
    return build_record(event, decision, status=ExecutionStatus.SUGGESTED)


def test_line_names_agent_action_status_level_and_rationale() -> None:
    record = night_watch_record(entity_id="binary_sensor.hall_motion", to_state="off")

    name, message, entity_id = describe_record_event(
        {"entry_id": "abc", "agent": "Night watch", "record": record}
    )

    assert name == "Night watch"
    assert message == (
        "light.turn_off → suggested (granted SUGGEST): "
        "Nobody has been in the hall for 20 minutes"
    )
    assert entity_id == "binary_sensor.hall_motion"


def test_line_without_rationale_or_perceived_entity() -> None:
    record = night_watch_record(metric="temperature")
    record["3_anticipation"]["predicted_intent"] = ""

    _, message, entity_id = describe_record_event(
        {"agent": "Night watch", "record": record}
    )

    assert message == "light.turn_off → suggested (granted SUGGEST)"
    assert entity_id is None


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (None, (UNNAMED_AGENT, "an unnamed action → unknown", None)),
        ("not a mapping", (UNNAMED_AGENT, "an unnamed action → unknown", None)),
        (
            {"agent": "", "record": []},
            (UNNAMED_AGENT, "an unnamed action → unknown", None),
        ),
        (
            {
                "agent": 7,
                "record": {
                    "1_perception": {"raw_data_summary": {"entity_id": ["x"]}},
                    "3_anticipation": {
                        "action": {"evil": True},
                        "granted_level": 9,
                        "predicted_intent": None,
                    },
                    "4_execution": "executed",
                },
            },
            (UNNAMED_AGENT, "an unnamed action → unknown", None),
        ),
        (
            {
                "agent": "Night watch",
                "record": {
                    "1_perception": "garbage",
                    "3_anticipation": {"action": "fan.turn_on", "granted_level": True},
                    "4_execution": {"status": "executed"},
                },
            },
            ("Night watch", "fan.turn_on → executed", None),
        ),
    ],
)
def test_malformed_event_data_still_gives_a_line(
    data: Any, expected: tuple[str, str, str | None]
) -> None:
    assert describe_record_event(data) == expected


async def test_logbook_shows_the_record(
    recorder_mock: Recorder, hass: HomeAssistant, hass_ws_client: WebSocketGenerator
) -> None:
    """End to end: the real logbook describes a recorded `pai_record` event."""
    assert await async_setup_component(hass, "logbook", {})
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done()
    start = dt_util.utcnow()
    record = night_watch_record(entity_id="binary_sensor.hall_motion")
    hass.bus.async_fire(
        EVENT_PAI_RECORD, {"entry_id": "abc", "agent": "Night watch", "record": record}
    )
    await async_wait_recording_done(hass)

    client = await hass_ws_client(hass)
    await client.send_json_auto_id(
        {"type": "logbook/get_events", "start_time": start.isoformat()}
    )
    response = await client.receive_json()

    assert response["success"]
    entries = [e for e in response["result"] if e.get("domain") == DOMAIN]
    assert len(entries) == 1
    assert entries[0]["name"] == "Night watch"
    assert entries[0]["message"].startswith("light.turn_off → suggested")
    assert entries[0]["entity_id"] == "binary_sensor.hall_motion"
