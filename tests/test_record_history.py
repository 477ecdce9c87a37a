"""Reading PAID records back from the real recorder: newest version only, filtered, limited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.pai.const import DOMAIN, EVENT_PAI_RECORD
from custom_components.pai.engine.models import AutonomyLevel, Decision, Event, Intent
from custom_components.pai.engine.records import (
    ActionTaken,
    ExecutionStatus,
    build_record,
    with_execution,
)
from custom_components.pai.record_history import (
    RecordHistoryError,
    _decode,
    async_get_records,
)
from tests.ha_fixtures import recorder_before_hass  # noqa: F401  # the real recorder

NIGHT_WATCH = "entry_night_watch"
GARDEN = "entry_garden"


def make_record(
    action: str,
    status: ExecutionStatus,
    granted: AutonomyLevel = AutonomyLevel.ASK,
    *,
    age: timedelta = timedelta(0),
    payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    now = dt_util.utcnow() - age
    intent = Intent(
        action=action,
        rationale=f"{action} seems right",
        confidence=0.9,
        requested_level=granted,
    )
    decision = Decision(intent=intent, requested=granted, granted=granted)
    event = Event(
        source="state",
        kind="state_changed",
        payload=payload or {"entity_id": "binary_sensor.hall_motion"},
        time=now,
    )
    return build_record(event, decision, status=status, now=now)


def fire(
    hass: HomeAssistant,
    record: dict[str, Any],
    entry_id: str = NIGHT_WATCH,
    *,
    time_fired: float | None = None,
) -> None:
    hass.bus.async_fire(
        EVENT_PAI_RECORD,
        {"entry_id": entry_id, "agent": "Night watch", "record": record},
        time_fired=time_fired,
    )


async def get(hass: HomeAssistant, **filters: Any) -> list[dict[str, Any]]:
    query: dict[str, Any] = {
        "entry_id": None,
        "since": None,
        "limit": 100,
        "status": None,
    }
    return await async_get_records(hass, **(query | filters))


@pytest.fixture
async def history(recorder_mock: Recorder, hass: HomeAssistant) -> dict[str, Any]:
    """Four records of two agents; the lights one asked, then was approved and ran."""
    asked = make_record("light.turn_off", ExecutionStatus.PENDING_APPROVAL)
    fan = make_record("fan.turn_on", ExecutionStatus.SUGGESTED, AutonomyLevel.SUGGEST)
    sprinkler = make_record("switch.turn_on", ExecutionStatus.OBSERVED)
    ran = with_execution(
        asked,
        ExecutionStatus.EXECUTED,
        [ActionTaken("light.turn_off", "ok")],
    )
    old = make_record(
        "cover.close_cover", ExecutionStatus.EXECUTED, age=timedelta(hours=3)
    )
    fire(hass, old)
    fire(hass, asked)
    fire(hass, fan)
    fire(hass, sprinkler, GARDEN)
    fire(hass, ran)
    await async_wait_recording_done(hass)
    return {"asked": asked, "fan": fan, "sprinkler": sprinkler, "ran": ran, "old": old}


async def test_each_record_once_in_its_newest_version_newest_first(
    hass: HomeAssistant, history: dict[str, Any]
) -> None:
    records = await get(hass)

    assert [r["record_id"] for r in records] == [
        history[name]["record_id"] for name in ("ran", "sprinkler", "fan", "old")
    ]
    assert records[0] == history["ran"]
    assert records[0]["4_execution"]["status"] == "executed"


async def test_filter_by_agent(hass: HomeAssistant, history: dict[str, Any]) -> None:
    assert await get(hass, entry_id=GARDEN) == [history["sprinkler"]]
    assert len(await get(hass, entry_id=NIGHT_WATCH)) == 3
    assert await get(hass, entry_id="someone_else") == []


async def test_one_record_by_id_in_its_newest_version(
    hass: HomeAssistant, history: dict[str, Any]
) -> None:
    assert await get(hass, record_id=history["asked"]["record_id"], limit=1) == [
        history["ran"]
    ]
    assert await get(hass, record_id=history["old"]["record_id"]) == [history["old"]]
    assert await get(hass, record_id="paid_20000101_000000") == []


async def test_filter_by_current_status(
    hass: HomeAssistant, history: dict[str, Any]
) -> None:
    executed = await get(hass, status="executed")

    assert [r["record_id"] for r in executed] == [
        history["ran"]["record_id"],
        history["old"]["record_id"],
    ]
    # The lights record once waited for approval, but no longer does.
    assert await get(hass, status="pending_approval") == []


async def test_since_keeps_records_made_from_then_on(
    hass: HomeAssistant, history: dict[str, Any]
) -> None:
    since = dt_util.utcnow() - timedelta(hours=1)

    records = await get(hass, since=since)

    assert history["old"]["record_id"] not in {r["record_id"] for r in records}
    assert len(records) == 3
    # A naive time is read as local time, as Home Assistant's date pickers give it.
    naive_local = dt_util.as_local(since).replace(tzinfo=None)
    assert await get(hass, since=naive_local) == records


async def test_since_skips_events_fired_before_it(
    recorder_mock: Recorder, hass: HomeAssistant
) -> None:
    late_import = make_record("light.turn_on", ExecutionStatus.OBSERVED)
    two_hours_ago = dt_util.utcnow() - timedelta(hours=2)
    fire(hass, late_import, time_fired=two_hours_ago.timestamp())
    await async_wait_recording_done(hass)

    assert await get(hass) == [late_import]
    assert await get(hass, since=two_hours_ago + timedelta(minutes=1)) == []


async def test_limit(hass: HomeAssistant, history: dict[str, Any]) -> None:
    records = await get(hass, limit=2)

    assert [r["record_id"] for r in records] == [
        history["ran"]["record_id"],
        history["sprinkler"]["record_id"],
    ]


async def test_events_without_a_valid_record_are_skipped(
    recorder_mock: Recorder, hass: HomeAssistant
) -> None:
    good = make_record("light.turn_on", ExecutionStatus.OBSERVED)
    broken = dict(good, record_id="../../etc/passwd")
    # The recorder keeps no data for events over 32 KiB: such a record cannot come back.
    huge = make_record(
        "light.turn_on", ExecutionStatus.OBSERVED, payload={"blob": "x" * 40_000}
    )
    fire(hass, good)
    hass.bus.async_fire(EVENT_PAI_RECORD, {"entry_id": NIGHT_WATCH, "record": "junk"})
    hass.bus.async_fire(EVENT_PAI_RECORD, {})
    fire(hass, broken)
    fire(hass, huge)
    await async_wait_recording_done(hass)

    assert await get(hass) == [good]


@pytest.mark.parametrize("shared_data", [None, "", "not json", "[1, 2]", '{"x": 1}'])
def test_decode_refuses_data_without_a_record(shared_data: str | None) -> None:
    assert _decode(shared_data) is None


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"limit": 0}, "at least 1, not 0"),
        ({"status": "approved"}, 'no record status "approved"'),
    ],
)
async def test_bad_query_is_refused_with_a_readable_error(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    filters: dict[str, Any],
    message: str,
) -> None:
    assert await async_setup_component(hass, DOMAIN, {})  # loads the messages
    with pytest.raises(RecordHistoryError, match=message):
        await get(hass, **filters)


async def test_without_recorder_says_so(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, DOMAIN, {})
    with pytest.raises(RecordHistoryError) as err:
        await get(hass)

    assert "recorder, which is not running" in str(err.value)
