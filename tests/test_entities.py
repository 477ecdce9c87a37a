"""The agent's entities, driven through a real agent runtime set up from a config entry.

A user sees one device per agent with a switch (pause / resume), a select (autonomy
ceiling), three sensors (last decision, pending approvals, interruptions in the last hour)
and a binary sensor (quiet hours); they change when the agent decides and as time passes.
An agent with an LLM brain also shows its calls in the last hour, its estimated cost, the
brain that answered last, and whether its budget is spent.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder, history
from homeassistant.const import STATE_OFF, STATE_ON, EntityCategory
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    async_mock_service,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.pai.const import DOMAIN
from custom_components.pai.engine.models import AutonomyLevel
from custom_components.pai.runtime import AgentRuntime
from tests.ha_fixtures import recorder_before_hass  # noqa: F401  # the real recorder

from .brains.fake_anthropic import API_KEY, FakeAnthropic

ENTITIES = {
    # unique id key: (platform, name)
    "active": ("switch", "Active"),
    "autonomy_ceiling": ("select", "Autonomy ceiling"),
    "last_decision": ("sensor", "Last decision"),
    "pending_approvals": ("sensor", "Pending approvals"),
    "interruptions_last_hour": ("sensor", "Interruptions in the last hour"),
    "quiet_hours": ("binary_sensor", "Quiet hours"),
}


def night_watch(options: dict[str, Any] | None = None) -> MockConfigEntry:
    """A rules-only agent: motion asks to turn the hall light off.

    The rule wants to act, but is not confident enough for that: the gate grants ASK.
    """
    ask_rule = {
        "name": "hall-light",
        "when": {"kind": "motion", "payload": [{"field": "room", "value": "hall"}]},
        "intent": {
            "action": "light.turn_off",
            "confidence": 0.8,
            "urgency": 0.8,
            "rationale": "Nobody is in the hall any more",
            "level": 3,
        },
    }
    return MockConfigEntry(
        domain=DOMAIN,
        title="Night watch",
        unique_id="night_watch",
        data={
            "name": "Night watch",
            "agent": {
                "manifest.json": {
                    "name": "Night watch",
                    "version": "1.0.0",
                    "author": "tests",
                    "description": "watches the hall at night",
                    "pai_format": 1,
                    "kind": "proactive-agent",
                },
                "policy.json": {"default_max_level": 3},
                "triggers.json": [],
                "rules.json": [ask_rule],
                "actions.json": {"light.turn_off": {"type": "console"}},
            },
            "bindings": {
                "actions": {
                    "light.turn_off": [
                        {
                            "action": "light.turn_off",
                            "target": {"entity_id": "light.hall"},
                        }
                    ]
                }
            },
            "ha_triggers": [],
        },
        options={"notify_targets": ["notify.mobile_app_pixel"], **(options or {})},
    )


async def start(hass: HomeAssistant, entry: MockConfigEntry) -> AgentRuntime:
    async_mock_service(hass, "notify", "mobile_app_pixel")
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    runtime: AgentRuntime = entry.runtime_data.runtime
    return runtime


def entity_id(hass: HomeAssistant, entry: MockConfigEntry, key: str) -> str:
    platform = ENTITIES[key][0]
    found = er.async_get(hass).async_get_entity_id(
        platform, DOMAIN, f"{entry.entry_id}_{key}"
    )
    assert found is not None, f"no {platform} {key}"
    return found


def current(hass: HomeAssistant, entity: str) -> State:
    found = hass.states.get(entity)
    assert found is not None, f"{entity} has no state"
    return found


def state(hass: HomeAssistant, entry: MockConfigEntry, key: str) -> State:
    return current(hass, entity_id(hass, entry, key))


async def test_entities_on_the_agent_device(hass: HomeAssistant) -> None:
    entry = night_watch()
    await start(hass, entry)
    registry = er.async_get(hass)
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, entry.entry_id), entry.entry_id
    )
    assert device is not None

    for key, (platform, name) in ENTITIES.items():
        registered = registry.async_get(entity_id(hass, entry, key))
        assert registered is not None
        assert registered.device_id == device.id, key
        assert registered.translation_key == key
        assert registered.has_entity_name
        assert state(hass, entry, key).name == f"Night watch {name}"
        assert (
            registered.entity_id
            == f"{platform}.night_watch_{name.lower().replace(' ', '_')}"
        )
    for key in ("active", "autonomy_ceiling"):
        registered = registry.async_get(entity_id(hass, entry, key))
        assert registered is not None
        assert registered.entity_category is EntityCategory.CONFIG


async def test_initial_states(hass: HomeAssistant) -> None:
    entry = night_watch()
    await start(hass, entry)

    assert state(hass, entry, "active").state == STATE_ON
    ceiling = state(hass, entry, "autonomy_ceiling")
    assert ceiling.state == "act"
    assert ceiling.attributes["options"] == ["observe", "suggest", "ask", "act"]
    last = state(hass, entry, "last_decision")
    assert last.state == "unknown"
    assert last.attributes["options"] == ["observe", "suggest", "ask", "act"]
    assert "record_id" not in last.attributes
    assert state(hass, entry, "pending_approvals").state == "0"
    assert state(hass, entry, "interruptions_last_hour").state == "0"
    assert state(hass, entry, "quiet_hours").state == STATE_OFF


async def test_switch_pauses_and_resumes_the_agent(hass: HomeAssistant) -> None:
    entry = night_watch()
    runtime = await start(hass, entry)
    switch = entity_id(hass, entry, "active")

    await hass.services.async_call(
        "switch", "turn_off", {"entity_id": switch}, blocking=True
    )
    assert runtime.active is False
    assert current(hass, switch).state == STATE_OFF

    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": switch}, blocking=True
    )
    assert runtime.active is True
    assert current(hass, switch).state == STATE_ON


async def test_select_sets_the_ceiling(hass: HomeAssistant) -> None:
    entry = night_watch()
    await start(hass, entry)
    select = entity_id(hass, entry, "autonomy_ceiling")

    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": select, "option": "suggest"},
        blocking=True,
    )
    await hass.async_block_till_done()

    assert entry.runtime_data.runtime.ceiling is AutonomyLevel.SUGGEST
    assert current(hass, select).state == "suggest"


async def test_sensors_follow_the_agents_decisions(hass: HomeAssistant) -> None:
    entry = night_watch()
    runtime = await start(hass, entry)

    [record] = await runtime.async_evaluate("motion", {"room": "hall"})
    await hass.async_block_till_done()

    last = state(hass, entry, "last_decision")
    assert last.state == "ask"
    assert last.attributes["action"] == "light.turn_off"
    assert last.attributes["rationale"] == "Nobody is in the hall any more"
    assert last.attributes["record_id"] == record["record_id"]
    assert last.attributes["status"] == "pending_approval"
    [reason] = record["x_pai"]["reasons"]
    assert reason["code"] == "act_confidence"
    assert last.attributes["reasons"] == [reason["detail"]]
    assert state(hass, entry, "pending_approvals").state == "1"
    assert state(hass, entry, "interruptions_last_hour").state == "1"

    await runtime.answers.async_resolve(record["record_id"], "decline", None, None)
    await hass.async_block_till_done()

    assert state(hass, entry, "last_decision").attributes["status"] == "declined"
    assert state(hass, entry, "pending_approvals").state == "0"


async def test_interruptions_age_out_without_a_signal(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = night_watch()
    runtime = await start(hass, entry)
    await runtime.async_evaluate("motion", {"room": "hall"})
    await hass.async_block_till_done()
    sensor = entity_id(hass, entry, "interruptions_last_hour")
    assert current(hass, sensor).state == "1"
    changed_at = current(hass, sensor).last_changed

    freezer.tick(timedelta(minutes=30))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert current(hass, sensor).state == "1"
    assert current(hass, sensor).last_changed == changed_at  # not rewritten

    freezer.tick(timedelta(minutes=31))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert current(hass, sensor).state == "0"


async def test_quiet_hours_begin_and_end_on_the_minute(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    local = dt_util.get_default_time_zone()
    freezer.move_to(datetime(2026, 11, 20, 21, 58, 30, tzinfo=local))
    entry = night_watch(
        {"quiet_hours_start": "22:00:00", "quiet_hours_end": "07:00:00"}
    )
    await start(hass, entry)
    quiet = entity_id(hass, entry, "quiet_hours")
    assert current(hass, quiet).state == STATE_OFF

    for moment, expected in (
        (datetime(2026, 11, 20, 21, 59, 0, tzinfo=local), STATE_OFF),
        (datetime(2026, 11, 20, 22, 0, 0, tzinfo=local), STATE_ON),
        (datetime(2026, 11, 21, 6, 59, 0, tzinfo=local), STATE_ON),
        (datetime(2026, 11, 21, 7, 0, 0, tzinfo=local), STATE_OFF),
    ):
        freezer.move_to(moment)
        async_fire_time_changed(hass, moment)
        await hass.async_block_till_done()
        assert current(hass, quiet).state == expected, moment


async def test_entities_redraw_on_the_runtime_signal(hass: HomeAssistant) -> None:
    """Anything the runtime changes shows as soon as it signals, without polling."""
    entry = night_watch()
    runtime = await start(hass, entry)
    switch = entity_id(hass, entry, "active")

    runtime.keeper.memory.active = False  # as a restored or remote change would
    assert current(hass, switch).state == STATE_ON
    async_dispatcher_send(hass, runtime.signal)
    await hass.async_block_till_done()

    assert current(hass, switch).state == STATE_OFF


async def test_recorder_keeps_the_decision_but_not_the_long_text(
    recorder_mock: Recorder, hass: HomeAssistant
) -> None:
    entry = night_watch()
    runtime = await start(hass, entry)
    begin = dt_util.utcnow()
    await runtime.async_evaluate("motion", {"room": "hall"})
    await async_wait_recording_done(hass)
    sensor = entity_id(hass, entry, "last_decision")

    changes = await recorder_mock.async_add_executor_job(
        history.state_changes_during_period, hass, begin, None, sensor
    )

    [recorded] = [change for change in changes[sensor] if change.state == "ask"]
    assert recorded.attributes["action"] == "light.turn_off"
    assert "status" in recorded.attributes
    assert "rationale" not in recorded.attributes
    assert "reasons" not in recorded.attributes


# --- an agent with an LLM brain ---------------------------------------------------------------

LLM_ENTITIES = {
    "llm_calls_last_hour": ("sensor", "LLM calls in the last hour"),
    "llm_cost_today": ("sensor", "LLM cost today"),
    "last_brain": ("sensor", "Last brain"),
    "llm_budget_exceeded": ("binary_sensor", "LLM budget exceeded"),
}


def llm_agent(options: dict[str, Any] | None = None) -> MockConfigEntry:
    """The night watch, thinking with Claude (a local stand-in for Anthropic's API)."""
    entry = night_watch({"llm_min_interval_seconds": 0, **(options or {})})
    return MockConfigEntry(
        domain=DOMAIN,
        title=entry.title,
        unique_id=entry.unique_id,
        data={**entry.data, "brain": {"kind": "anthropic", "api_key": API_KEY}},
        options=dict(entry.options),
    )


def llm_state(hass: HomeAssistant, entry: MockConfigEntry, key: str) -> State:
    platform = LLM_ENTITIES[key][0]
    found = er.async_get(hass).async_get_entity_id(
        platform, DOMAIN, f"{entry.entry_id}_{key}"
    )
    assert found is not None, key
    return current(hass, found)


async def test_llm_entities_exist_only_with_an_llm_brain(
    hass: HomeAssistant, anthropic_api: FakeAnthropic
) -> None:
    rules_only = night_watch()
    await start(hass, rules_only)
    registry = er.async_get(hass)
    for key, (platform, _) in LLM_ENTITIES.items():
        assert (
            registry.async_get_entity_id(
                platform, DOMAIN, f"{rules_only.entry_id}_{key}"
            )
            is None
        )
    assert await hass.config_entries.async_remove(rules_only.entry_id)

    entry = llm_agent()
    await start(hass, entry)
    for key, (_, name) in LLM_ENTITIES.items():
        shown = llm_state(hass, entry, key)
        assert shown.name == f"Night watch {name}"
        registered = registry.async_get(shown.entity_id)
        assert registered is not None
        assert registered.entity_category is EntityCategory.DIAGNOSTIC
        assert registered.translation_key == key
    assert llm_state(hass, entry, "llm_calls_last_hour").state == "0"
    assert float(llm_state(hass, entry, "llm_cost_today").state) == 0
    assert (
        llm_state(hass, entry, "llm_cost_today").attributes["unit_of_measurement"]
        == "USD"
    )
    assert llm_state(hass, entry, "last_brain").state == "unknown"
    budget = llm_state(hass, entry, "llm_budget_exceeded")
    assert budget.state == STATE_OFF
    assert budget.attributes["device_class"] == "problem"


async def test_llm_sensors_count_calls_and_cost_and_the_budget_ages_out(
    hass: HomeAssistant,
    anthropic_api: FakeAnthropic,
    freezer: FrozenDateTimeFactory,
) -> None:
    entry = llm_agent({"llm_max_calls_per_hour": 2})
    runtime = await start(hass, entry)

    for _ in range(2):
        await runtime.async_evaluate("motion", {"room": "hall"}, escalate=True)
    await hass.async_block_till_done()

    assert len(anthropic_api.messages) == 2
    assert llm_state(hass, entry, "llm_calls_last_hour").state == "2"
    cost = float(llm_state(hass, entry, "llm_cost_today").state)
    assert 0 < cost < 0.01  # two small Haiku calls
    last = llm_state(hass, entry, "last_brain")
    assert last.state == "anthropic"
    assert last.attributes["model"] == "claude-haiku-4-5"
    assert last.attributes["cost"] > 0
    budget = llm_state(hass, entry, "llm_budget_exceeded")
    assert budget.state == STATE_ON
    assert budget.attributes["budget"] == "calls"

    # Over budget: the rules answer, and the sensor says why.
    await runtime.async_evaluate("motion", {"room": "hall"}, escalate=True)
    await hass.async_block_till_done()
    last = llm_state(hass, entry, "last_brain")
    assert last.state == "rules"
    assert last.attributes["fallback"] == ["anthropic: over the calls budget"]
    assert len(anthropic_api.messages) == 2

    # An hour later the calls have aged out: no event needed for the sensors to say so.
    freezer.tick(timedelta(minutes=61))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert llm_state(hass, entry, "llm_calls_last_hour").state == "0"
    assert llm_state(hass, entry, "llm_budget_exceeded").state == STATE_OFF
    assert float(llm_state(hass, entry, "llm_cost_today").state) == cost  # a day's
