"""The pure dry run: triggers fired as Home Assistant fires them, on a simulated clock."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from custom_components.pai.engine.models import (
    AutonomyLevel,
    Event,
    Intent,
    Policy,
    QuietHours,
    SurvivalPolicy,
)
from custom_components.pai.engine.rules import RuleBrain, parse_rules
from custom_components.pai.engine.simulate import (
    Change,
    Firing,
    HistoryTemplate,
    NotSimulatedError,
    Simulation,
    TriggerPlan,
    as_boolean,
    parse_duration,
    pattern_times,
    summary,
)

ZONE = ZoneInfo("Europe/Amsterdam")
START = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday, 01:00 in Amsterdam
MOTION = "binary_sensor.motion"
TEMP = "sensor.temp"


def _event(plan: TriggerPlan, firing: Firing) -> tuple[Event, str | None]:
    to_state = firing.to_state
    payload: dict[str, Any] = {
        "to_state": to_state.state if isinstance(to_state, Change) else None
    }
    kind = plan.kind or f"ha.{firing.platform}"
    return (
        Event(source=plan.source, kind=kind, payload=payload, time=firing.when),
        firing.entity_id,
    )


def _rule(kind: str, action: str, level: int, **intent: Any) -> dict[str, Any]:
    return {
        "name": f"{kind} {action}",
        "when": {"kind": kind},
        "intent": {"action": action, "level": level, "confidence": 0.95, **intent},
    }


def _simulation(
    *configs: dict[str, Any],
    rules: list[dict[str, Any]] | None = None,
    days: int = 1,
    policy: Policy | None = None,
    survival: SurvivalPolicy | None = None,
    hold: bool = False,
) -> Simulation:
    plans = [
        TriggerPlan(config, str(config.get("id", index)))
        for index, config in enumerate(configs)
    ]
    return Simulation(
        plans,
        RuleBrain(parse_rules(rules or [])),
        policy or Policy(default_max_level=AutonomyLevel.ACT),
        survival or SurvivalPolicy(),
        {"light_on", "lock.unlock"},
        make_event=_event,
        start=START,
        end=START + timedelta(days=days),
        zone=ZONE,
        keep_steps=True,
        hold_escalated=hold,
    )


def _at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def _run(sim: Simulation, *changes: tuple[float, str, str]) -> dict[str, Any]:
    sim.set_initial([Change(MOTION, "off", START), Change(TEMP, "20", START)])
    sim.feed(Change(entity, state, _at(minutes)) for minutes, entity, state in changes)
    sim.finish()
    return sim.report()


def test_a_state_trigger_fires_on_matching_changes_only() -> None:
    sim = _simulation({"trigger": "state", "entity_id": MOTION, "to": "on", "id": "m"})
    report = _run(sim, (1, MOTION, "on"), (2, MOTION, "off"), (3, MOTION, "on"))
    assert report["triggers_fired"] == {"m": 2}
    assert report["changes"] == 3


def test_for_waits_and_a_change_in_between_cancels() -> None:
    sim = _simulation(
        {
            "trigger": "state",
            "entity_id": MOTION,
            "to": "on",
            "for": "00:05:00",
            "id": "m",
        },
        rules=[_rule("ha.state", "light_on", 3)],
    )
    report = _run(
        sim,
        (1, MOTION, "on"),
        (3, MOTION, "off"),  # cancels the first
        (10, MOTION, "on"),  # held for 5 minutes: fires at 15
        (30, MOTION, "off"),
    )
    assert report["triggers_fired"] == {"m": 1}
    [step] = sim.steps
    assert step.when == _at(15).astimezone(ZONE)
    assert report["would_execute"] == [
        {
            "action": "light_on",
            "times": 1,
            "first": _at(15).astimezone(ZONE).isoformat(),
            "last": _at(15).astimezone(ZONE).isoformat(),
        }
    ]


def test_numeric_state_fires_on_crossing_and_rearms_out_of_range() -> None:
    sim = _simulation(
        {"trigger": "numeric_state", "entity_id": TEMP, "above": 25, "id": "hot"}
    )
    report = _run(
        sim,
        (1, TEMP, "26"),  # crosses: fires
        (2, TEMP, "28"),  # still above: no
        (3, TEMP, "cold"),  # not a number: ignored (Home Assistant logs it)
        (4, TEMP, "29"),  # still not re-armed: no
        (5, TEMP, "unavailable"),  # out of range: re-armed
        (6, TEMP, "30"),  # fires
    )
    assert report["triggers_fired"] == {"hot": 2}


def test_time_and_time_pattern_follow_the_local_clock() -> None:
    sim = _simulation(
        {"trigger": "time", "at": "07:30", "id": "morning"},
        {"trigger": "time_pattern", "hours": "/6", "id": "quarter"},
        days=2,
    )
    report = _run(sim)
    assert report["triggers_fired"] == {"morning": 2, "quarter": 8}


def test_pattern_times_default_the_smaller_units_to_zero() -> None:
    assert pattern_times({"hours": "3"}) == [time(3, 0, 0)]
    assert len(pattern_times({"minutes": "/15"})) == 24 * 4
    assert len(pattern_times({"seconds": "/30"})) == 24 * 60 * 2
    with pytest.raises(NotSimulatedError):
        pattern_times({"hours": "25"})


def test_parse_duration_reads_every_form() -> None:
    assert parse_duration(90) == timedelta(seconds=90)
    assert parse_duration("01:02:03") == timedelta(hours=1, minutes=2, seconds=3)
    assert parse_duration({"minutes": 5}) == timedelta(minutes=5)
    with pytest.raises(NotSimulatedError, match="template"):
        parse_duration("{{ 5 }}")


def test_templates_read_historical_states_and_the_simulated_clock() -> None:
    sim = _simulation(
        {
            "trigger": "template",
            "value_template": (
                "{{ is_state('binary_sensor.motion', 'on') and "
                "(now().hour >= 22 or now().hour < 5) }}"
            ),
            "id": "night",
        },
        rules=[_rule("ha.template", "light_on", 2)],
    )
    # 01:00 local at the start: motion at 01:10 is at night; at 10:00 it is day,
    # and still on at 22:00 the clock alone makes the template true (minute ticks).
    report = _run(sim, (10, MOTION, "on"), (20, MOTION, "off"), (9 * 60, MOTION, "on"))
    assert report["triggers_fired"] == {"night": 2}
    assert [step.when.hour for step in sim.steps] == [1, 22]
    # Still on at 22:00: the clock alone makes it true again (minute ticks).
    sim2 = _simulation(
        {
            "trigger": "template",
            "value_template": "{{ is_state('binary_sensor.motion', 'on') and now().hour >= 22 }}",
            "id": "late",
        }
    )
    assert _run(sim2, (9 * 60, MOTION, "on"))["triggers_fired"] == {"late": 1}


def test_state_objects_and_attributes_in_templates() -> None:
    template = HistoryTemplate(
        "{{ states.sensor.temp.state | float > 25 and "
        "state_attr('sensor.temp', 'unit') == '°C' }}"
    )
    assert template.entities == {"sensor.temp"}
    sim = _simulation()
    sim.states[TEMP] = Change(TEMP, "26", START, {"unit": "°C"})
    assert template.render(sim.world)
    sim.states[TEMP] = Change(TEMP, "24", START, {"unit": "°C"})
    assert not template.render(sim.world)


def test_what_cannot_be_simulated_is_reported_with_the_reason() -> None:
    sim = _simulation(
        {"trigger": "sun", "event": "sunset", "id": "dusk"},
        {"trigger": "event", "event_type": "folder_watcher", "id": "files"},
        {
            "trigger": "template",
            "value_template": "{{ area_name('light.x') == 'Hall' }}",
            "id": "odd",
        },
        {
            "trigger": "numeric_state",
            "entity_id": TEMP,
            "above": "sensor.x",
            "id": "rel",
        },
        {"trigger": "time", "at": "input_datetime.wake", "id": "wake"},
        {"trigger": "state", "entity_id": MOTION, "for": "{{ 5 }}", "id": "tpl_for"},
    )
    report = _run(sim, (1, MOTION, "on"))
    reasons = {item["trigger"]: item["reason"] for item in report["not_simulated"]}
    assert set(reasons) == {"dusk", "files", "odd", "rel", "wake", "tpl_for"}
    assert "sun" in reasons["dusk"]
    assert "events" in reasons["files"]
    assert "area_name" in reasons["odd"]
    assert "entity" in reasons["rel"]
    assert "template" in reasons["tpl_for"]


def test_one_change_firing_three_triggers_collapses_as_the_live_queue_does() -> None:
    sim = _simulation(
        {"trigger": "state", "entity_id": MOTION, "id": "a"},
        {"trigger": "state", "entity_id": MOTION, "to": "on", "id": "b"},
        {"trigger": "state", "entity_id": MOTION, "not_to": "off", "id": "c"},
        rules=[
            {"name": "a", "when": {"source": "a"}, "intent": {"action": "x"}},
            {"name": "b", "when": {"source": "b"}, "intent": {"action": "y"}},
            {"name": "c", "when": {"source": "c"}, "intent": {"action": "z"}},
        ],
    )
    report = _run(sim, (1, MOTION, "on"))
    assert report["triggers_fired"] == {"a": 1, "b": 1, "c": 1}
    # The first is decided at once; the next two wait in the queue and collapse.
    assert [step.decision.intent.action for step in sim.steps] == ["x", "z"]


def test_the_gate_and_survival_layer_decide_with_the_simulated_clock() -> None:
    policy = Policy(
        default_max_level=AutonomyLevel.ACT,
        max_interruptions_per_hour=2,
        quiet_hours=QuietHours(time(0, 0), time(6, 0)),
    )
    sim = _simulation(
        {"trigger": "state", "entity_id": MOTION, "to": "on", "id": "m"},
        rules=[
            _rule("ha.state", "light_on", 2, urgency=0.5),
            _rule("ha.state", "lock.unlock", 3, urgency=0.5),
        ],
        policy=policy,
    )
    changes = []
    for hour in (2, 9):  # 03:00 local (quiet) and 10:00 local
        for minute in range(0, 30, 10):
            changes += [
                (hour * 60 + minute, MOTION, "on"),
                (hour * 60 + minute + 1, MOTION, "off"),
            ]
    report = _run(sim, *changes)
    [day] = report["per_day"]
    assert day["in_quiet_hours"] == 0  # quiet hours lowered them all to OBSERVE
    assert day["interruptions"] == 2  # the hourly cap at 10:00
    assert day["busiest_hour"] == 2
    assert day["lowered_by_hourly_cap"] == 4
    # lock.unlock is security-sensitive: never ACT, whatever the rule asks.
    assert all(
        step.decision.granted < AutonomyLevel.ACT
        for step in sim.steps
        if step.decision.intent.action == "lock.unlock"
    )
    assert report["would_execute"] == []
    assert len(report["examples"]) <= 10
    assert any(ex["action"] == "lock.unlock" for ex in report["examples"])
    text = summary(report)
    assert "recorded changes" in text
    assert "would run: nothing" in text


def test_as_boolean_reads_results_as_home_assistant_does() -> None:
    assert all(as_boolean(value) for value in ("True", "on", 2))
    assert not any(as_boolean(value) for value in ("off", "banana", None))


def test_a_naive_window_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        Simulation(
            [],
            RuleBrain([]),
            Policy(),
            SurvivalPolicy(),
            set(),
            make_event=_event,
            start=datetime(2026, 1, 1),
            end=datetime(2026, 1, 2),
            zone=UTC,
        )


def test_held_escalations_stop_the_replay_until_the_host_decides_their_answer() -> None:
    sim = _simulation(
        {"trigger": "state", "entity_id": MOTION, "to": "on", "id": "m"},
        {"trigger": "time", "at": "07:00:00", "id": "morning"},
        rules=[
            {**_rule("ha.state", "light_on", 1), "escalate": True},
            {**_rule("ha.time", "report", 1), "escalate": True},
        ],
        hold=True,
    )
    sim.set_initial([Change(MOTION, "off", START)])
    changes = [
        Change(MOTION, "on", _at(1)),
        Change(MOTION, "off", _at(2)),
        Change(MOTION, "on", _at(3)),
    ]
    # The replay stops right after the change whose event escalated.
    assert sim.feed(changes) == 1
    [held] = sim.take_held()
    assert (held.when, [i.action for i in held.intents]) == (_at(1), ["light_on"])
    answer = Intent("light_on", {}, 0.9, 0.9, "an LLM said so", AutonomyLevel.ACT)
    sim.decide(held.event, [answer], held.when, answer=True, brain="cloud")
    assert sim.feed(changes[1:]) == 2
    [second] = sim.take_held()
    sim.decide(second.event, second.intents, second.when, answer=True)
    # The clock stops at 07:00 local (06:00 UTC) for the morning's escalation too.
    assert sim.finish() is False
    [morning] = sim.take_held()
    assert morning.when == START + timedelta(hours=6)
    sim.decide(morning.event, morning.intents, morning.when, answer=True)
    assert sim.finish() is True
    report = sim.report()
    assert report["events"] == 3
    assert report["per_day"][0]["events"] == 3  # an answer is not a second event
    assert report["decisions"] == {"observe": 0, "suggest": 2, "ask": 0, "act": 1}
    assert [(step.brain, int(step.decision.granted)) for step in sim.steps] == [
        ("cloud", 3),
        ("rules", 1),
        ("rules", 1),
    ]
