"""The dry run on history (`pai.simulate`) with the real recorder.

A week of history is written by real state changes with time travel, then replayed through
the agent: the report says what it would have done, and nothing ran. The same agent live
over the same changes reaches the same decisions as the dry run (a property test over random
histories and policies). Bad input (days beyond the retention, no history, no recorder)
gives a clear translated error and changes nothing. With `brain: llm` the agent's LLM chain
(a scripted brain, as in test_llm_routing) is asked about escalated events within a budget of
the dry run's own and the cap; the live agent's budget is untouched.
"""

from __future__ import annotations

from datetime import datetime, timedelta
import itertools
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from hypothesis import HealthCheck, given, settings, strategies as st
import pytest
from pytest_homeassistant_custom_component.common import (
    async_capture_events,
    async_mock_service,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import RecorderInstanceContextManager

from custom_components.pai import dry_run
from custom_components.pai.agent_files import read_agent_file
from custom_components.pai.const import DOMAIN, EVENT_PAI_RECORD
from custom_components.pai.dry_run import async_run, async_simulate, dry_run_agent
from custom_components.pai.engine.brain import BrainError, FailureKind
from custom_components.pai.engine.records import RecordView
from custom_components.pai.engine.simulate import summary
from tests.helpers import (
    LIGHT_ON,
    FakeBrain,
    agent_entry,
    configure,
    escalating,
    rule,
    says,
    start,
    start_create_flow,
)

MOTION = "binary_sensor.backyard_motion"
TEMP = "sensor.attic_temperature"
LIGHT = "input_boolean.porch_light"


@pytest.fixture
def mock_recorder_before_hass(
    async_test_recorder: RecorderInstanceContextManager,
) -> None:
    """Prepare the recorder's database before `hass` starts (it must come first)."""


def _week_agent(options: dict[str, Any] | None = None, **policy: Any) -> Any:
    return agent_entry(
        [
            rule("motion", "light_on", 3),
            rule("hot", "fan_on", 2, kind="metric.breach", payload=[]),
            rule("morning", "report", 1, kind="ha.time", payload=[]),
        ],
        bindings={"actions": {"light_on": LIGHT_ON}},
        ha_triggers=[
            {"trigger": "state", "entity_id": MOTION, "to": "on", "id": "motion"},
            {"trigger": "time", "at": "07:00:00", "id": "morning"},
            {"trigger": "sun", "event": "sunset", "id": "dusk"},
        ],
        policy={
            "default_max_level": 3,
            "max_interruptions_per_hour": 100,
            **policy,
        },
        options=options,
    )


def _with_threshold(entry: Any) -> Any:
    entry.data["agent"]["triggers.json"] = [
        {
            "name": "attic",
            "type": "threshold",
            "params": {"metric": "attic", "threshold": 28, "direction": "above"},
        }
    ]
    entry.data["bindings"]["metrics"] = {"attic": TEMP}
    return entry


async def _set(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    when: datetime,
    entity: str,
    state: str,
) -> None:
    freezer.move_to(when)
    hass.states.async_set(entity, state)
    await hass.async_block_till_done()


async def _write_week(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, begin: datetime
) -> None:
    """Each day: motion at noon, the attic hot in the afternoon (and cool again)."""
    await _set(hass, freezer, begin - timedelta(hours=1), MOTION, "off")
    await _set(hass, freezer, begin - timedelta(hours=1), TEMP, "20")
    for day in range(7):
        noon = begin + timedelta(days=day, hours=12)
        await _set(hass, freezer, noon, MOTION, "on")
        await _set(hass, freezer, noon + timedelta(minutes=5), MOTION, "off")
        await _set(hass, freezer, noon + timedelta(hours=2), TEMP, "31.5")
        await _set(hass, freezer, noon + timedelta(hours=2, minutes=30), TEMP, "29")
        await _set(hass, freezer, noon + timedelta(hours=3), TEMP, "22")
    await async_wait_recording_done(hass)


async def _simulate(hass: HomeAssistant, **data: Any) -> dict[str, Any]:
    response = await hass.services.async_call(
        DOMAIN, "simulate", data, blocking=True, return_response=True
    )
    assert isinstance(response, dict)
    return response


async def test_a_week_of_history_says_what_the_agent_would_have_done(
    recorder_mock: Recorder, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    begin = dt_util.start_of_local_day(dt_util.now()) - timedelta(days=10)
    await _write_week(hass, freezer, begin)
    freezer.move_to(begin + timedelta(days=7))
    assert await async_setup_component(
        hass, "input_boolean", {"input_boolean": {"porch_light": {}}}
    )
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    entry = await start(hass, _with_threshold(_week_agent()))
    records = async_capture_events(hass, EVENT_PAI_RECORD)

    report = await _simulate(hass, agent=entry.entry_id, days=7)

    # Seven noons: the light would have gone on each time (ACT, bound); seven hot
    # afternoons: an ASK (the fan is not bound); seven mornings at 07:00: a nudge.
    assert report["decisions"] == {"observe": 0, "suggest": 7, "ask": 7, "act": 7}
    assert report["would_execute"][0]["action"] == "light_on"
    assert report["would_execute"][0]["times"] == 7
    # The threshold fires a breach and a recovery each afternoon (no rule for the latter).
    assert report["triggers_fired"] == {"attic": 14, "morning": 7, "motion": 7}
    assert report["events"] == 28
    assert len(report["per_day"]) >= 7
    assert sum(day["interruptions"] for day in report["per_day"]) == 14
    assert {item["trigger"] for item in report["not_simulated"]} == {"dusk"}
    assert "sun" in report["not_simulated"][0]["reason"]
    kinds = {(ex["action"], ex["granted"]) for ex in report["examples"]}
    assert kinds == {("light_on", "act"), ("fan_on", "ask"), ("report", "suggest")}
    # Nothing ran, nothing was sent, nothing was recorded.
    light = hass.states.get(LIGHT)
    assert light is not None
    assert light.state == "off"
    assert phone == []
    assert records == []


async def test_quiet_hours_and_the_hourly_cap_show_in_the_report(
    recorder_mock: Recorder, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    begin = dt_util.start_of_local_day(dt_util.now()) - timedelta(days=3)
    await _set(hass, freezer, begin - timedelta(hours=1), MOTION, "off")
    for minute in range(0, 40, 5):  # eight motions at 23:00 in one hour
        when = begin + timedelta(hours=23, minutes=minute)
        await _set(hass, freezer, when, MOTION, "on")
        await _set(hass, freezer, when + timedelta(minutes=1), MOTION, "off")
    await async_wait_recording_done(hass)
    freezer.move_to(begin + timedelta(days=2))
    entry = _week_agent(
        {"quiet_hours_start": "22:00:00", "quiet_hours_end": "07:00:00"},
        max_interruptions_per_hour=3,
    )
    entry.data["agent"]["rules.json"] = [rule("motion", "light_on", 1, urgency=0.95)]
    entry = await start(hass, entry)

    report = await _simulate(hass, agent=entry.entry_id, days=2, brain="llm")

    # No LLM brain: escalations decided by the rules, and the report says so.
    assert report["llm"]["asked"] is False
    assert "no LLM brain" in report["llm"]["reason"]
    assert report["brain"] == "rules"
    [day] = [day for day in report["per_day"] if day["interruptions"]]
    assert day["interruptions"] == 3
    assert day["in_quiet_hours"] == 3  # urgent enough to break through
    assert day["busiest_hour"] == 3
    assert day["hours_at_cap"] == 1
    assert day["lowered_by_hourly_cap"] == 5
    assert report["decisions"]["observe"] == 5
    assert any(
        "in the last hour already" in " ".join(ex["reasons"])
        for ex in report["examples"]
    )


async def test_template_triggers_are_rendered_on_historical_states(
    recorder_mock: Recorder, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    begin = dt_util.start_of_local_day(dt_util.now()) - timedelta(days=3)
    await _set(hass, freezer, begin - timedelta(hours=1), MOTION, "off")
    await _set(hass, freezer, begin - timedelta(hours=1), "sun.sun", "above_horizon")
    await _set(hass, freezer, begin + timedelta(hours=12), MOTION, "on")  # daylight
    await _set(hass, freezer, begin + timedelta(hours=12, minutes=1), MOTION, "off")
    await _set(hass, freezer, begin + timedelta(hours=18), "sun.sun", "below_horizon")
    await _set(hass, freezer, begin + timedelta(hours=21), MOTION, "on")  # dark
    await async_wait_recording_done(hass)
    freezer.move_to(begin + timedelta(days=1))
    entry = agent_entry(
        [rule("night", "light_on", 2, kind="ha.template", payload=[])],
        ha_triggers=[
            {
                "trigger": "template",
                "value_template": (
                    f"{{{{ is_state('{MOTION}', 'on') and "
                    "is_state('sun.sun', 'below_horizon') }}"
                ),
                "id": "night",
            },
            {
                "trigger": "template",
                "value_template": "{{ area_name('x') }}",
                "id": "odd",
            },
        ],
    )
    entry = await start(hass, entry)

    report = await _simulate(hass, agent=entry.entry_id, days=1)

    assert report["triggers_fired"] == {"night": 1}
    [example] = report["examples"]
    assert example["time"].startswith(
        (begin + timedelta(hours=21))
        .astimezone(dt_util.get_default_time_zone())
        .isoformat()[:16]
    )
    [odd] = report["not_simulated"]
    assert odd["trigger"] == "odd"


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"days": 30}, "simulate_days_beyond_retention"),
        ({"days": 2}, "simulate_no_history"),
    ],
)
async def test_bad_input_is_a_clear_error(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    data: dict[str, Any],
    key: str,
) -> None:
    entry = await start(hass, _week_agent())
    before = dict(entry.options)
    with pytest.raises(HomeAssistantError) as err:
        await _simulate(hass, agent=entry.entry_id, **data)
    assert err.value.translation_key == key
    assert entry.options == before
    assert hass.states.get(MOTION) is None


async def test_without_the_recorder_it_says_so(hass: HomeAssistant) -> None:
    entry = await start(hass, _week_agent())
    with pytest.raises(HomeAssistantError) as err:
        await _simulate(hass, agent=entry.entry_id, days=1)
    assert err.value.translation_key == "simulate_no_recorder"
    assert "recorder" in str(err.value)


async def test_the_add_flow_previews_the_last_week_before_saving(
    recorder_mock: Recorder, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    begin = dt_util.utcnow() - timedelta(days=5)
    await _set(hass, freezer, begin, MOTION, "off")
    for day in range(3):
        await _set(hass, freezer, begin + timedelta(days=day, hours=1), MOTION, "on")
        await _set(hass, freezer, begin + timedelta(days=day, hours=2), MOTION, "off")
    await async_wait_recording_done(hass)
    freezer.move_to(begin + timedelta(days=5))
    result = await start_create_flow(hass)
    result = await configure(
        hass,
        result,
        {"name": "Motion", "entities": [MOTION], "level": "suggest", "confidence": 0.9},
    )
    assert result["step_id"] == "targets"
    assert "preview" in result["data_schema"].schema

    result = await configure(
        hass,
        result,
        {"notify_targets": ["persistent_notification"], "preview": True},
    )

    assert result["step_id"] == "preview"
    assert hass.config_entries.async_entries(DOMAIN) == []  # not saved yet
    placeholders = result["description_placeholders"]
    assert placeholders["days"] == "7"
    # Each change of the motion sensor wakes the agent (its first state, as it appeared
    # in the window, too, as it would live): seven nudges.
    assert "7 events from 7 recorded changes" in placeholders["summary"]
    assert "suggest 7" in placeholders["summary"]
    result = await configure(hass, result, {})
    assert result["type"] == "create_entry"
    assert result["options"]["notify_targets"] == ["persistent_notification"]


NIGHT_WATCH = Path(__file__).parents[1] / "examples" / "night_watch.pai"


async def test_night_watch_on_a_week_of_history(
    recorder_mock: Recorder, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """The README's worked example: what the night watch would have done last week."""
    agent = read_agent_file(NIGHT_WATCH)
    assert agent.ha_bindings is not None
    begin = dt_util.start_of_local_day(dt_util.now()) - timedelta(days=8)
    states = {
        "sun.sun": "above_horizon",
        "binary_sensor.movement_backyard": "off",
        "binary_sensor.basement_floor_wet": "off",
        "lock.kitchen_door": "locked",
    }
    for entity, state in states.items():
        await _set(hass, freezer, begin - timedelta(hours=1), entity, state)
    script: list[tuple[float, str, str]] = []
    for day in range(7):
        script += [
            (day * 24 + 7, "sun.sun", "above_horizon"),
            (day * 24 + 13, "binary_sensor.movement_backyard", "on"),  # daytime
            (day * 24 + 13.1, "binary_sensor.movement_backyard", "off"),
            (day * 24 + 17, "sun.sun", "below_horizon"),
        ]
        if day < 5:  # five nights with movement in the backyard
            script += [
                (day * 24 + 22.5, "binary_sensor.movement_backyard", "on"),
                (day * 24 + 22.6, "binary_sensor.movement_backyard", "off"),
            ]
        if day in (1, 4):  # the kitchen door left unlocked from 18:00 past 23:00
            script += [
                (day * 24 + 18, "lock.kitchen_door", "unlocked"),
                (day * 24 + 23.5, "lock.kitchen_door", "locked"),
            ]
    script += [
        (3 * 24 + 3, "binary_sensor.basement_floor_wet", "on"),
        (3 * 24 + 3.5, "binary_sensor.basement_floor_wet", "off"),
    ]
    for hours, entity, state in sorted(script):
        await _set(hass, freezer, begin + timedelta(hours=hours), entity, state)
    await async_wait_recording_done(hass)
    freezer.move_to(begin + timedelta(days=7, hours=12))
    entry = await start(
        hass,
        agent_entry([]),  # only to have PAI loaded; the night watch is not started
    )
    bindings = agent.ha_bindings

    report = await async_simulate(
        hass,
        "Night watch",
        {
            "agent": agent.sections,
            "bindings": {
                "metrics": bindings["metrics"],
                "actions": bindings["actions"],
            },
            "ha_triggers": bindings["ha_triggers"],
        },
        {"notify_targets": bindings["notify_targets"]},
        7,
    )

    assert entry.state.value == "loaded"
    assert report["triggers_fired"] == {
        "backyard_motion_at_night": 5,
        "basement_leak": 1,
        # At 23:00 the clock alone makes the template true: the door was unlocked at 18:00.
        "kitchen_door_unlocked_at_night": 2,
    }
    assert report["decisions"] == {"observe": 0, "suggest": 1, "ask": 7, "act": 0}
    assert report["would_execute"] == []  # it asks first: nothing runs on its own
    actions = {(ex["action"], ex["granted"]) for ex in report["examples"]}
    assert actions == {
        ("entrance_light_on", "ask"),
        ("lock_kitchen_door", "ask"),
        ("leak_alert", "suggest"),
    }
    assert summary(report).splitlines() == [
        "8 events from 43 recorded changes",
        "decisions: observe 0, suggest 1, ask 7, act 0; at most 2 interruptions a day",
        "would run: nothing",
    ]


# --- live and dry run agree ------------------------------------------------------------------

_COUNTER = itertools.count()

changes_strategy = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=120),  # minutes after the previous change
        st.sampled_from([MOTION, TEMP]),
        st.sampled_from(["on", "off", "12", "27", "31", "unavailable"]),
    ),
    min_size=4,
    max_size=30,
)
policy_strategy = st.fixed_dictionaries(
    {
        "default_max_level": st.integers(min_value=0, max_value=3),
        "max_interruptions_per_hour": st.integers(min_value=1, max_value=4),
        "min_confidence": st.sampled_from([0.3, 0.6, 0.9]),
        "act_confidence": st.sampled_from([0.5, 0.85, 0.99]),
    }
)
quiet_strategy = st.one_of(
    st.none(), st.sampled_from([("22:00", "07:00"), ("09:00", "17:00")])
)
levels = st.integers(min_value=0, max_value=3)


def _decisions(records: list[Any]) -> list[tuple[str, int | None]]:
    """Each record's decision once (a record is published again when its status moves)."""
    views = {}
    for event in records:
        view = RecordView.of(event.data["record"])
        views.setdefault(view.record_id, view)
    return [(view.action, view.granted_level) for view in views.values()]


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    changes=changes_strategy,
    policy=policy_strategy,
    quiet=quiet_strategy,
    motion_level=levels,
    heat_level=levels,
)
async def test_live_and_dry_run_reach_the_same_decisions(  # noqa: PLR0917
    recorder_mock: Recorder,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    changes: list[tuple[int, str, str]],
    policy: dict[str, Any],
    quiet: tuple[str, str] | None,
    motion_level: int,
    heat_level: int,
) -> None:
    number = next(_COUNTER)
    motion, temp = f"{MOTION}_{number}", f"{TEMP}_{number}"
    if "input_boolean" not in hass.config.components:
        assert await async_setup_component(
            hass, "input_boolean", {"input_boolean": {"porch_light": {}}}
        )
        async_mock_service(hass, "notify", "mobile_app_pixel")
    begin = dt_util.utcnow().replace(microsecond=0) + timedelta(days=1)
    await _set(hass, freezer, begin - timedelta(minutes=5), motion, "off")
    await _set(hass, freezer, begin - timedelta(minutes=5), temp, "20")
    options = (
        {"quiet_hours_start": quiet[0], "quiet_hours_end": quiet[1]} if quiet else {}
    )
    entry = agent_entry(
        [
            rule("motion", "light_on", motion_level, confidence=0.9),
            rule(
                "hot",
                "fan_on",
                heat_level,
                kind="ha.numeric_state",
                payload=[],
                confidence=0.7,
                urgency=0.5,
            ),
            rule("any", "log", 1, kind="ha.state", payload=[], confidence=0.8),
            rule("both", "alarm", 2, kind="ha.template", payload=[], confidence=0.9),
        ],
        bindings={"actions": {"light_on": LIGHT_ON}},
        ha_triggers=[
            {"trigger": "state", "entity_id": motion, "to": "on", "id": "motion"},
            {"trigger": "numeric_state", "entity_id": temp, "above": 25, "id": "hot"},
            {
                "trigger": "template",
                "value_template": (
                    f"{{{{ is_state('{motion}', 'on') and "
                    f"states('{temp}') | float(0) > 25 }}}}"
                ),
                "id": "both",
            },
        ],
        policy=policy,
        options=options,
    )
    freezer.move_to(begin)
    await start(hass, entry)
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    moment = begin
    for minutes, which, state in changes:
        moment += timedelta(minutes=minutes)
        await _set(hass, freezer, moment, motion if which == MOTION else temp, state)
    live = _decisions(records)
    await async_wait_recording_done(hass)
    await hass.config_entries.async_remove(entry.entry_id)

    agent = dry_run_agent(hass, entry.title, entry.data, entry.options)
    simulation = await async_run(
        hass, agent, begin, moment + timedelta(seconds=1), keep_steps=True
    )
    dry = [
        (step.decision.intent.action, int(step.decision.granted))
        for step in simulation.steps
    ]
    assert dry == live, (dry, live)


# --- brain: llm ------------------------------------------------------------------------------


async def _motions(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, times: list[datetime]
) -> None:
    await _set(hass, freezer, times[0] - timedelta(hours=1), MOTION, "off")
    for when in times:
        await _set(hass, freezer, when, MOTION, "on")
        await _set(hass, freezer, when + timedelta(minutes=1), MOTION, "off")
    await async_wait_recording_done(hass)


def _escalating_agent(**options: Any) -> Any:
    entry = _week_agent({"llm_min_interval_seconds": 0, **options})
    entry.data["agent"]["rules.json"] = [escalating("look closer", "light_on", 1)]
    return entry


async def test_with_the_llm_escalated_events_get_its_answer_and_the_cost_is_reported(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    brains: list[FakeBrain],
) -> None:
    begin = dt_util.start_of_local_day(dt_util.now()) - timedelta(days=3)
    await _motions(hass, freezer, [begin + timedelta(hours=h) for h in (9, 13, 18)])
    freezer.move_to(begin + timedelta(days=2))
    # The LLM answers the first event with light_on at ACT, fails on the second.
    brains.append(
        cloud := FakeBrain(
            "cloud",
            says("cloud", "light_on", level=3, rationale="dark porch"),
            BrainError("server down", FailureKind.UNAVAILABLE),
        )
    )
    entry = await start(hass, _escalating_agent())
    live = entry.runtime_data.runtime.router
    budget = live.to_dict()
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")

    report = await _simulate(hass, agent=entry.entry_id, days=2, brain="llm")

    # Asked once per escalated event, with the rule's intent as its hint.
    assert len(cloud.requests) == 3
    assert [h.action for h in cloud.requests[0].hints] == ["light_on"]
    # Answers 1 and 3 from the LLM (ACT, bound); 2 fell back to the rule's SUGGEST.
    assert report["brain"] == "llm"
    assert report["decisions"] == {"observe": 0, "suggest": 1, "act": 2, "ask": 0}
    by_brain = {
        (ex["brain"], ex["granted"], ex["rationale"]) for ex in report["examples"]
    }
    assert by_brain == {
        ("cloud", "act", "dark porch"),
        ("rules", "suggest", "look closer fired"),
    }
    llm = report["llm"]
    assert llm["asked"] is True
    assert llm["brains"] == ["cloud"]
    assert llm["calls"] == 3
    assert llm["answered"] == 2
    assert llm["input_tokens"] == 2400
    assert llm["output_tokens"] == 120
    assert llm["cost_usd"] == pytest.approx(0.0032)
    assert llm["left_to_rules"] == {"errors": 1}
    assert "server down" in llm["errors"][0]
    # The live agent's budget was not spent, and nothing was carried out.
    assert live.to_dict() == budget
    assert live.calls_last_hour(dt_util.utcnow()) == 0
    assert phone == []


async def test_the_llm_calls_stay_within_the_budget_and_the_cap(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    brains: list[FakeBrain],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    begin = dt_util.start_of_local_day(dt_util.now()) - timedelta(days=3)
    # Three motions in one hour, then three more five hours later.
    times = [begin + timedelta(hours=9, minutes=m) for m in (0, 10, 20)]
    times += [begin + timedelta(hours=15, minutes=m) for m in (0, 10, 20)]
    await _motions(hass, freezer, times)
    freezer.move_to(begin + timedelta(days=2))
    brains.append(cloud := FakeBrain("cloud"))
    monkeypatch.setattr(dry_run, "LLM_CALLS_CAP", 3)
    entry = await start(hass, _escalating_agent(llm_max_calls_per_hour=2))

    report = await _simulate(hass, agent=entry.entry_id, days=2, brain="llm")

    # Two calls in the first hour (its budget), one more later (the cap), no more.
    assert len(cloud.requests) == 3
    llm = report["llm"]
    assert (llm["calls"], llm["cap"], llm["calls_per_hour"]) == (3, 3, 2)
    assert llm["left_to_rules"] == {"calls_per_hour": 1, "cap": 2}
    assert report["decisions"]["act"] == 3
    assert report["decisions"]["suggest"] == 3


async def test_the_llm_calls_stop_when_the_cost_per_day_is_spent(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    brains: list[FakeBrain],
) -> None:
    begin = dt_util.start_of_local_day(dt_util.now()) - timedelta(days=3)
    await _motions(hass, freezer, [begin + timedelta(hours=h) for h in (8, 11, 14, 17)])
    freezer.move_to(begin + timedelta(days=2))
    brains.append(cloud := FakeBrain("cloud"))  # $0.0016 a call
    entry = await start(hass, _escalating_agent(llm_max_cost_per_day=0.003))

    report = await _simulate(hass, agent=entry.entry_id, days=2, brain="llm")

    assert len(cloud.requests) == 2
    llm = report["llm"]
    assert llm["cost_usd"] == pytest.approx(0.0032)
    assert llm["cost_per_day"] == 0.003
    assert llm["left_to_rules"] == {"cost_per_day": 2}


async def test_the_llm_is_not_asked_for_an_agent_that_is_not_running(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    brains: list[FakeBrain],
) -> None:
    begin = dt_util.start_of_local_day(dt_util.now()) - timedelta(days=3)
    await _motions(hass, freezer, [begin + timedelta(hours=9)])
    freezer.move_to(begin + timedelta(days=2))
    brains.append(cloud := FakeBrain("cloud"))
    entry = await start(hass, _escalating_agent())
    assert await hass.config_entries.async_unload(entry.entry_id)

    report = await async_simulate(
        hass, entry.title, entry.data, entry.options, 2, brain="llm", live=None
    )

    assert cloud.requests == []
    assert report["llm"] == {
        "asked": False,
        "reason": "the agent is not running: escalated events are decided by the rules",
    }
    assert report["decisions"]["suggest"] == 1
