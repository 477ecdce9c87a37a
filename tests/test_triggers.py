"""An agent's .pai triggers and Home Assistant triggers, fired by a real Home Assistant.

Thresholds watch real sensor states, intervals and schedules fire on Home Assistant's clock
(frozen and moved by the tests), and file changes arrive as the events that Home Assistant's
folder_watcher integration fires. Each test reads what the agent perceived from the PAID
records it made.
"""

from __future__ import annotations

from datetime import time
import os
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.pai.const import DOMAIN, EVENT_PAI_RECORD
from custom_components.pai.engine.agent import (
    FileWatchTrigger,
    IntervalTrigger,
    ScheduleTrigger,
    ThresholdTrigger,
    UnknownTrigger,
)
from custom_components.pai.triggers import trigger_specs
from tests.helpers import agent_entry, rule, start, start_recording


def agent_with(
    rules: list[dict[str, Any]],
    triggers: list[dict[str, Any]],
    *,
    metrics: dict[str, str] | None = None,
    ha_triggers: list[dict[str, Any]] | None = None,
) -> MockConfigEntry:
    """A rules-only agent whose triggers.json is `triggers`."""
    base = agent_entry(rules, ha_triggers=ha_triggers or [])
    return MockConfigEntry(
        domain=DOMAIN,
        title=base.title,
        unique_id=base.unique_id,
        data={
            **base.data,
            "agent": {**base.data["agent"], "triggers.json": triggers},
            "bindings": {"metrics": metrics or {}, "actions": {}},
        },
        options=dict(base.options),
    )


def perceived(records: list[Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(trigger source, event kind, payload) of each record, in order."""
    return [
        (
            perception["trigger_source"],
            perception["event_type"],
            perception["raw_data_summary"],
        )
        for perception in (e.data["record"]["1_perception"] for e in records)
    ]


def kinds(records: list[Any]) -> list[str]:
    return [kind for _, kind, _ in perceived(records)]


async def tick(hass: HomeAssistant, freezer: FrozenDateTimeFactory, when: str) -> None:
    freezer.move_to(when)
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


# --- mapping .pai triggers onto Home Assistant triggers ---------------------------------------


@pytest.mark.parametrize(
    ("seconds", "pattern"),
    [
        (1, {"seconds": "/1"}),
        (30, {"seconds": "/30"}),
        (60, {"minutes": "/1"}),
        (300, {"minutes": "/5"}),
        (3600, {"hours": "/1"}),
        (7200, {"hours": "/2"}),
        (86400, {"hours": "0"}),
    ],
)
def test_interval_maps_onto_the_time_pattern_of_the_same_period(
    seconds: float, pattern: dict[str, str]
) -> None:
    specs, problems = trigger_specs((IntervalTrigger("beat", seconds),), {}, [])

    assert problems == []
    assert [spec.config for spec in specs] == [{"trigger": "time_pattern", **pattern}]
    assert specs[0].kind == "schedule.tick"
    assert specs[0].source == "beat"


@pytest.mark.parametrize("seconds", [0.5, 7, 90, 2700, 5 * 3600, 2 * 86400])
def test_interval_without_a_clock_pattern_is_reported(seconds: float) -> None:
    specs, problems = trigger_specs((IntervalTrigger("beat", seconds),), {}, [])

    assert specs == []
    assert problems == [
        f"trigger 'beat': an interval of {seconds:g} s has no time pattern"
    ]


def test_every_kind_of_trigger_maps_or_is_reported() -> None:
    specs, problems = trigger_specs(
        (
            ScheduleTrigger("morning", time(7, 30)),
            ThresholdTrigger("hot", "cpu", 80.0, "below"),
            ThresholdTrigger("disk", "disk_free", 5.0),
            FileWatchTrigger("inbox", "/media/inbox"),
            UnknownTrigger("webhook", "hook"),
        ),
        {"cpu": "sensor.cpu"},
        [
            {"trigger": "state", "entity_id": "light.a", "id": "by_id"},
            {"trigger": "state", "entity_id": "light.b", "alias": "By alias"},
            {"trigger": "state", "entity_id": "light.c"},
        ],
    )

    assert [(spec.source, spec.kind, spec.config) for spec in specs] == [
        ("morning", "schedule.daily", {"trigger": "time", "at": "07:30:00"}),
        (
            "hot",
            "metric.breach",
            {"trigger": "numeric_state", "entity_id": "sensor.cpu", "below": 80.0},
        ),
        (
            "hot",
            "metric.recovered",
            {"trigger": "numeric_state", "entity_id": "sensor.cpu", "above": 80.0},
        ),
        ("inbox", None, {"trigger": "event", "event_type": "folder_watcher"}),
        ("by_id", None, {"trigger": "state", "entity_id": "light.a", "id": "by_id"}),
        (
            "By alias",
            None,
            {"trigger": "state", "entity_id": "light.b", "alias": "By alias"},
        ),
        ("trigger_2", None, {"trigger": "state", "entity_id": "light.c"}),
    ]
    assert problems == [
        "trigger 'disk': metric 'disk_free' is not bound to an entity",
        "trigger 'hook': type 'webhook' is not supported",
    ]


# --- thresholds on real sensors --------------------------------------------------------------


CPU_TRIGGER = {
    "type": "threshold",
    "name": "cpu-monitor",
    "params": {"metric": "cpu", "threshold": 80, "direction": "above"},
}


async def test_threshold_breach_and_recovery_on_a_bound_sensor(
    hass: HomeAssistant,
) -> None:
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    hass.states.async_set("sensor.cpu", "35", {"unit_of_measurement": "%"})
    await start(
        hass,
        agent_with(
            [
                # a rule as paigent writes it: kind, source and a payload condition
                {
                    "name": "cpu-cleanup",
                    "when": {
                        "kind": "metric.breach",
                        "source": "cpu-monitor",
                        "payload": [{"field": "value", "op": ">", "value": 75}],
                    },
                    "intent": {
                        "action": "cleanup",
                        "confidence": 0.9,
                        "urgency": 0.95,
                        "rationale": "CPU is high",
                        "level": 0,
                    },
                },
                rule("calm", "relax", 0, kind="metric.recovered", payload=[]),
            ],
            [CPU_TRIGGER],
            metrics={"cpu": "sensor.cpu"},
        ),
    )

    for value in ("60", "85", "97", "79"):
        hass.states.async_set("sensor.cpu", value, {"unit_of_measurement": "%"})
        await hass.async_block_till_done()

    assert kinds(records) == ["metric.breach", "metric.recovered"]
    (source, _, breach), (_, _, recovery) = perceived(records)
    assert source == "cpu-monitor"
    assert breach["value"] == 85.0
    assert breach["threshold"] == 80
    assert breach["direction"] == "above"
    assert breach["metric"] == "cpu"
    assert breach["entity_id"] == "sensor.cpu"
    assert breach["attributes"] == {"unit_of_measurement": "%"}
    assert recovery["value"] == 79.0
    breach_record = records[0].data["record"]
    assert breach_record["3_anticipation"]["action"] == "cleanup"
    assert breach_record["3_anticipation"]["predicted_intent"] == "CPU is high"


async def test_threshold_below_fires_when_the_value_drops(hass: HomeAssistant) -> None:
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    hass.states.async_set("sensor.battery", "60")
    await start(
        hass,
        agent_with(
            [
                rule("low", "charge", 0, kind="metric.breach", payload=[]),
                rule("ok", "relax", 0, kind="metric.recovered", payload=[]),
            ],
            [
                {
                    "type": "threshold",
                    "name": "battery",
                    "params": {"metric": "soc", "threshold": 20, "direction": "below"},
                }
            ],
            metrics={"soc": "sensor.battery"},
        ),
    )

    for value in ("25", "unavailable", "15", "10", "30"):
        hass.states.async_set("sensor.battery", value)
        await hass.async_block_till_done()

    assert [(kind, payload["value"]) for _, kind, payload in perceived(records)] == [
        ("metric.breach", 15.0),
        ("metric.recovered", 30.0),
    ]


async def test_unbound_metric_is_reported_and_the_agent_still_runs(
    hass: HomeAssistant,
) -> None:
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    hass.states.async_set("sensor.cpu", "10")
    entry = await start(
        hass,
        agent_with(
            [rule("any", "note", 0, kind="ha.state", payload=[])],
            [CPU_TRIGGER],
            ha_triggers=[{"trigger": "state", "entity_id": "sensor.cpu"}],
        ),
    )

    assert entry.runtime_data.runtime.trigger_problems == [
        "trigger 'cpu-monitor': metric 'cpu' is not bound to an entity"
    ]
    hass.states.async_set("sensor.cpu", "99")
    await hass.async_block_till_done()
    assert kinds(records) == ["ha.state"]


# --- intervals and schedules on Home Assistant's clock --------------------------------------


@pytest.mark.parametrize(
    ("seconds", "setup_at", "not_yet", "due"),
    [
        (30, "10:00:05", "10:00:29.5", "10:00:30.1"),
        (300, "10:03:30", "10:04:59", "10:05:00.1"),
        # 10:00 local (US/Pacific, UTC-8 in November) is an even hour
        (7200, "17:10:00", "17:59:59", "18:00:00.1"),
        (86400, "07:10:00", "07:59:59", "08:00:00.1"),
    ],
)
async def test_interval_fires_on_its_period(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    *,
    seconds: int,
    setup_at: str,
    not_yet: str,
    due: str,
) -> None:
    assert hass.config.time_zone == "US/Pacific"
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    freezer.move_to(f"2026-11-21 {setup_at}+00:00")
    await start(
        hass,
        agent_with(
            [rule("tick", "check", 0, kind="schedule.tick", payload=[])],
            [{"type": "interval", "name": "beat", "params": {"interval_sec": seconds}}],
        ),
    )

    await tick(hass, freezer, f"2026-11-21 {not_yet}+00:00")
    assert records == []
    await tick(hass, freezer, f"2026-11-21 {due}+00:00")

    [(source, kind, payload)] = perceived(records)
    assert (source, kind) == ("beat", "schedule.tick")
    assert payload["now"].startswith("2026-11-21")


async def test_schedule_fires_once_a_day_at_local_time(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    assert hass.config.time_zone == "US/Pacific"  # 07:30 there is 15:30 UTC in November
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    freezer.move_to("2026-11-21 07:29:00+00:00")
    await start(
        hass,
        agent_with(
            [rule("brief", "morning_brief", 0, kind="schedule.daily", payload=[])],
            [
                {
                    "type": "schedule",
                    "name": "morning",
                    "params": {"at": "07:30", "payload": {"room": "kitchen"}},
                }
            ],
        ),
    )

    await tick(hass, freezer, "2026-11-21 07:30:00.5+00:00")  # 07:30 UTC: not yet
    await tick(hass, freezer, "2026-11-21 15:29:59+00:00")
    assert records == []
    await tick(hass, freezer, "2026-11-21 15:30:00.1+00:00")
    await tick(hass, freezer, "2026-11-21 15:45:00+00:00")

    [(source, kind, payload)] = perceived(records)
    assert (source, kind) == ("morning", "schedule.daily")
    assert payload["at"] == "07:30"
    assert payload["room"] == "kitchen"


# --- files, through folder_watcher's events --------------------------------------------------


def fire_folder_watcher(
    hass: HomeAssistant, change: str, path: str, dest_path: str | None = None
) -> None:
    """Fire the event as homeassistant.components.folder_watcher builds it."""
    folder, file_name = os.path.split(path)
    data = {"event_type": change, "path": path, "file": file_name, "folder": folder}
    if dest_path is not None:
        dest_folder, dest_file = os.path.split(dest_path)
        data |= {
            "dest_path": dest_path,
            "dest_file": dest_file,
            "dest_folder": dest_folder,
        }
    hass.bus.async_fire("folder_watcher", data)


FILE_RULES = [
    rule(kind, kind, 0, kind=kind, payload=[])
    for kind in ("file.created", "file.changed", "file.deleted")
]


@pytest.mark.parametrize(
    ("watched", "change", "path", "dest_path", "expected"),
    [
        ("/media/inbox", "created", "/media/inbox/scan.pdf", None, "file.created"),
        ("/media/inbox/", "created", "/media/inbox/scan.pdf", None, "file.created"),
        (
            "/media/inbox",
            "created",
            "/media/inbox/2026/receipt.pdf",
            None,
            "file.created",
        ),
        ("/media/inbox", "modified", "/media/inbox/scan.pdf", None, "file.changed"),
        ("/media/inbox", "closed", "/media/inbox/scan.pdf", None, "file.changed"),
        ("/media/inbox", "deleted", "/media/inbox/scan.pdf", None, "file.deleted"),
        (
            "/media/inbox",
            "moved",
            "/media/tmp/scan.part",
            "/media/inbox/scan.pdf",
            "file.created",
        ),
        (
            "/media/inbox",
            "moved",
            "/media/inbox/scan.pdf",
            "/media/archive/scan.pdf",
            "file.deleted",
        ),
        ("/config/notes.txt", "modified", "/config/notes.txt", None, "file.changed"),
        ("/", "created", "/media/inbox/scan.pdf", None, "file.created"),
    ],
)
async def test_file_change_under_the_watched_path_is_perceived(
    hass: HomeAssistant,
    *,
    watched: str,
    change: str,
    path: str,
    dest_path: str | None,
    expected: str,
) -> None:
    records = await start_recording(
        hass,
        agent_with(
            FILE_RULES,
            [{"type": "filewatch", "name": "inbox", "params": {"path": watched}}],
        ),
    )

    fire_folder_watcher(hass, change, path, dest_path)
    await hass.async_block_till_done()

    [(source, kind, payload)] = perceived(records)
    assert (source, kind) == ("inbox", expected)
    moved_in = dest_path is not None and expected == "file.created"
    assert payload["path"] == (dest_path if moved_in else path)
    assert payload["watched_path"] == watched


@pytest.mark.parametrize(
    ("change", "path", "dest_path"),
    [
        ("created", "/media/inboxes/scan.pdf", None),  # a sibling, not inside
        ("created", "/media/elsewhere/scan.pdf", None),
        ("moved", "/media/tmp/a", "/media/archive/a"),
        ("opened", "/media/inbox/scan.pdf", None),
        ("created", "", None),
    ],
)
async def test_file_change_elsewhere_is_ignored(
    hass: HomeAssistant, change: str, path: str, dest_path: str | None
) -> None:
    records = await start_recording(
        hass,
        agent_with(
            FILE_RULES,
            [
                {
                    "type": "filewatch",
                    "name": "inbox",
                    "params": {"path": "/media/inbox"},
                }
            ],
        ),
    )

    fire_folder_watcher(hass, change, path, dest_path)
    hass.bus.async_fire("folder_watcher", {"event_type": 3, "path": None})
    await hass.async_block_till_done()

    assert records == []


# --- Home Assistant's own triggers --------------------------------------------------------------


async def test_event_trigger_hands_over_the_event_type_and_flat_data(
    hass: HomeAssistant,
) -> None:
    records = await start_recording(
        hass,
        agent_with(
            [rule("ring", "greet", 0, kind="ha.event", payload=[])],
            [],
            ha_triggers=[
                {"trigger": "event", "event_type": "doorbell_pressed", "id": "bell"}
            ],
        ),
    )

    hass.bus.async_fire(
        "doorbell_pressed",
        {
            "button": "front",
            "count": 2,
            "ratio": 0.5,
            "held": False,
            "note": None,
            "path": {"deep": "object"},
            "photos": ["a.jpg"],
        },
    )
    await hass.async_block_till_done()

    [(source, kind, payload)] = perceived(records)
    assert (source, kind) == ("bell", "ha.event")
    assert payload == {
        "event_type": "doorbell_pressed",
        "data": {
            "button": "front",
            "count": 2,
            "ratio": 0.5,
            "held": False,
            "note": None,
        },
    }


async def test_event_trigger_keeps_at_most_twenty_data_items(
    hass: HomeAssistant,
) -> None:
    records = await start_recording(
        hass,
        agent_with(
            [rule("any", "note", 0, kind="ha.event", payload=[])],
            [],
            ha_triggers=[{"trigger": "event", "event_type": "flood"}],
        ),
    )

    hass.bus.async_fire("flood", {f"key{i}": i for i in range(50)})
    await hass.async_block_till_done()

    [(source, _, payload)] = perceived(records)
    assert source == "trigger_0"
    assert payload["data"] == {f"key{i}": i for i in range(20)}


async def test_state_trigger_reports_an_entity_that_went_away(
    hass: HomeAssistant,
) -> None:
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    hass.states.async_set("sensor.door", "closed", {"friendly_name": "Door"})
    await start(
        hass,
        agent_with(
            [rule("gone", "check", 0, kind="ha.state", payload=[])],
            [],
            ha_triggers=[
                {"trigger": "state", "entity_id": "sensor.door", "id": "door"}
            ],
        ),
    )

    hass.states.async_set("sensor.door", "open", {"friendly_name": "Door"})
    await hass.async_block_till_done()
    hass.states.async_remove("sensor.door")
    await hass.async_block_till_done()

    [(_, _, opened), (_, _, removed)] = perceived(records)
    assert opened == {
        "entity_id": "sensor.door",
        "from_state": "closed",
        "to_state": "open",
        "attributes": {"friendly_name": "Door"},
    }
    assert removed == {
        "entity_id": "sensor.door",
        "from_state": "open",
        "to_state": None,
    }
