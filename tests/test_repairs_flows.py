"""Repairs with fix flows: each issue appears when it should, its fix works, and it goes away.

Agents run for real (test_runtime's agent entries) with real brains against local servers
(see test_config_flow_brain); the fix flows run through Home Assistant's repairs flow manager,
as the Repairs dashboard drives them.
"""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_mock_service,
)

from custom_components.pai.const import DOMAIN, EVENT_PAI_RECORD

from .brains.fake_anthropic import API_KEY, FakeAnthropic
from .helpers import (
    LIGHT_ON,
    PHONE,
    ModelServer,
    agent_entry,
    motion,
    rule,
    statuses,
    with_brain,
)


async def start(hass: HomeAssistant, entry: MockConfigEntry) -> MockConfigEntry:
    async_mock_service(hass, "notify", "mobile_app_pixel")
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def issue(
    hass: HomeAssistant, kind: str, entry: MockConfigEntry
) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"{kind}_{entry.entry_id}")


async def fix(hass: HomeAssistant, kind: str, entry: MockConfigEntry) -> FlowResult:
    """Open the issue's fix flow, as the Repairs dashboard does."""
    assert await async_setup_component(hass, "repairs", {})
    manager = hass.data["repairs"]["flow_manager"]
    result: FlowResult = await manager.async_init(
        DOMAIN, context={"issue_id": f"{kind}_{entry.entry_id}"}
    )
    return result


async def step(
    hass: HomeAssistant, result: FlowResult, user_input: dict[str, Any] | None = None
) -> FlowResult:
    manager = hass.data["repairs"]["flow_manager"]
    outcome: FlowResult = await manager.async_configure(result["flow_id"], user_input)
    await hass.async_block_till_done()
    return outcome


def with_options(entry: MockConfigEntry, **options: Any) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title=entry.title,
        unique_id=entry.unique_id,
        data=dict(entry.data),
        options={**entry.options, **options},
    )


def state(hass: HomeAssistant, entity_id: str) -> str:
    found = hass.states.get(entity_id)
    assert found is not None, entity_id
    return found.state


# --- the LLM budget ------------------------------------------------------------------------------


async def test_a_spent_budget_is_raised_in_the_fix_flow(
    hass: HomeAssistant, anthropic_api: FakeAnthropic
) -> None:
    entry = await start(
        hass,
        with_options(
            with_brain({"kind": "anthropic", "api_key": API_KEY}),
            llm_min_interval_seconds=0,
            llm_max_calls_per_hour=1,
        ),
    )
    runtime = entry.runtime_data.runtime
    assert issue(hass, "budget_exceeded", entry) is None

    await runtime.async_evaluate("ha.state", {"to_state": "on"}, escalate=True)
    await hass.async_block_till_done()

    spent = issue(hass, "budget_exceeded", entry)
    assert spent is not None
    assert spent.is_fixable
    assert spent.translation_placeholders["calls"] == "1"
    assert state(hass, "binary_sensor.porch_watch_llm_budget_exceeded") == "on"
    assert state(hass, "sensor.porch_watch_llm_calls_in_the_last_hour") == "1"
    assert float(state(hass, "sensor.porch_watch_llm_cost_today")) > 0

    # Over budget, the next escalation is the rules' alone, and says why.
    await runtime.async_evaluate("ha.state", {"to_state": "on"}, escalate=True)
    await hass.async_block_till_done()
    last = hass.states.get("sensor.porch_watch_last_brain")
    assert last is not None
    assert last.state == "rules"
    assert "over the calls budget" in last.attributes["fallback"][0]
    assert len(anthropic_api.messages) == 1

    result = await fix(hass, "budget_exceeded", entry)
    assert result["step_id"] == "init"
    assert result["description_placeholders"]["max_calls"] == "1"
    result = await step(
        hass, result, {"llm_max_calls_per_hour": 1, "llm_max_cost_per_day": 1.0}
    )
    assert result["errors"] == {"llm_max_calls_per_hour": "still_over_budget"}

    result = await step(
        hass, result, {"llm_max_calls_per_hour": 20, "llm_max_cost_per_day": 2.5}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options["llm_max_calls_per_hour"] == 20
    assert entry.options["llm_max_cost_per_day"] == 2.5
    assert entry.state is ConfigEntryState.LOADED
    assert issue(hass, "budget_exceeded", entry) is None
    assert state(hass, "binary_sensor.porch_watch_llm_budget_exceeded") == "off"

    # The reloaded agent remembers the call (the budget is persisted) and may call again.
    runtime = entry.runtime_data.runtime
    await runtime.async_evaluate("ha.state", {"to_state": "on"}, escalate=True)
    assert runtime.llm.last_brain is not None
    assert runtime.llm.last_brain["name"] == "anthropic"
    assert len(anthropic_api.messages) == 2
    assert runtime.router.calls_last_hour(dt_util.utcnow()) == 2
    assert issue(hass, "budget_exceeded", entry) is None


# --- a brain that does not answer ---------------------------------------------------------------


async def test_an_unreachable_brain_is_retried_from_the_fix_flow(
    hass: HomeAssistant, openai_server: ModelServer
) -> None:
    openai_server.status = 503
    brain = {
        "kind": "openai",
        "base_url": openai_server.url,
        "api_key": "sk-local-test",
    }
    entry = await start(hass, with_brain(brain))
    assert entry.state is ConfigEntryState.LOADED  # the rules run meanwhile
    assert issue(hass, "brain_unreachable", entry) is not None

    result = await fix(hass, "brain_unreachable", entry)
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["retry", "rules_only"]
    result = await step(hass, result, {"next_step_id": "retry"})
    assert result["step_id"] == "retry"
    assert result["errors"] == {"base": "cannot_connect"}
    assert "503" in result["description_placeholders"]["detail"]
    assert issue(hass, "brain_unreachable", entry) is not None

    openai_server.status = 200  # the server is back
    result = await step(hass, result, {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert issue(hass, "brain_unreachable", entry) is None
    assert entry.state is ConfigEntryState.LOADED
    assert entry.data["brain"] == brain


async def test_an_unreachable_brain_can_be_swapped_for_the_rules(
    hass: HomeAssistant, closed_port: str
) -> None:
    entry = await start(
        hass, with_brain({"kind": "openai", "base_url": closed_port, "api_key": "k"})
    )
    assert hass.states.get("binary_sensor.porch_watch_llm_budget_exceeded") is not None

    result = await fix(hass, "brain_unreachable", entry)
    result = await step(hass, result, {"next_step_id": "rules_only"})

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.data["brain"] == {"kind": "rules"}
    assert entry.state is ConfigEntryState.LOADED
    assert issue(hass, "brain_unreachable", entry) is None
    assert entry.runtime_data.runtime.router.has_llm is False
    assert hass.states.get("binary_sensor.porch_watch_llm_budget_exceeded") is None


async def test_a_resting_brain_raises_the_issue_and_an_answer_clears_it(
    hass: HomeAssistant, openai_server: ModelServer
) -> None:
    openai_server.key = None  # a server in the home, without a key: no setup check
    brain = {"kind": "openai", "base_url": openai_server.url}
    entry = await start(
        hass, with_options(with_brain(brain), llm_min_interval_seconds=0)
    )
    runtime = entry.runtime_data.runtime
    openai_server.status = 500

    for _ in range(3):  # the circuit opens after three failures in a row
        await runtime.async_evaluate("ha.state", {"to_state": "on"}, escalate=True)
    await hass.async_block_till_done()

    resting = issue(hass, "brain_unreachable", entry)
    assert resting is not None
    assert "500" in resting.translation_placeholders["problem"]
    assert state(hass, "sensor.porch_watch_last_brain") == "rules"

    openai_server.status = 200
    result = await fix(hass, "brain_unreachable", entry)
    result = await step(hass, result, {"next_step_id": "retry"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    runtime = entry.runtime_data.runtime  # reloaded: the circuit is closed again
    await runtime.async_evaluate("ha.state", {"to_state": "on"}, escalate=True)
    await hass.async_block_till_done()
    assert state(hass, "sensor.porch_watch_last_brain") == "openai"
    assert issue(hass, "brain_unreachable", entry) is None


# --- notification targets ----------------------------------------------------------------------


async def test_a_missing_notify_target_is_chosen_again(hass: HomeAssistant) -> None:
    entry = agent_entry([rule("hint", "light_on", 1)])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    # The phone's notify action does not exist.
    missing = issue(hass, "missing_notify_target", entry)
    assert missing is not None
    assert PHONE in missing.translation_placeholders["targets"]

    # It registers (a phone app starting late): the issue goes by itself.
    async_mock_service(hass, "notify", "mobile_app_pixel")
    await hass.async_block_till_done()
    assert issue(hass, "missing_notify_target", entry) is None

    # It goes away again; the user picks another phone in the fix flow.
    hass.services.async_remove("notify", "mobile_app_pixel")
    await hass.async_block_till_done()
    assert issue(hass, "missing_notify_target", entry) is not None
    tablet = async_mock_service(hass, "notify", "mobile_app_tablet")

    result = await fix(hass, "missing_notify_target", entry)
    options = result["data_schema"].schema["notify_targets"].config["options"]
    assert options == ["persistent_notification", "notify.mobile_app_tablet"]
    result = await step(hass, result, {"notify_targets": ["notify.mobile_app_tablet"]})

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options["notify_targets"] == ["notify.mobile_app_tablet"]
    assert issue(hass, "missing_notify_target", entry) is None
    await entry.runtime_data.runtime.async_evaluate("ha.state", {"to_state": "on"})
    await hass.async_block_till_done()
    assert [call.data["message"] for call in tablet] == ["hint fired"]


# --- actions without a binding --------------------------------------------------------------------


@pytest.mark.usefixtures("house")
async def test_an_unbound_action_is_bound_in_the_fix_flow(hass: HomeAssistant) -> None:
    entry = await start(hass, agent_entry([rule("porch", "light_on", 3)]))
    assert issue(hass, "unbound_action", entry) is None  # not proposed yet
    records = async_capture_events(hass, EVENT_PAI_RECORD)

    await motion(hass)

    assert statuses(records) == ["no_action_registered"]
    unbound = issue(hass, "unbound_action", entry)
    assert unbound is not None
    assert unbound.translation_placeholders["actions"] == "- light_on"

    result = await fix(hass, "unbound_action", entry)
    assert result["menu_options"] == ["bind", "ignore"]
    result = await step(hass, result, {"next_step_id": "bind"})
    assert result["step_id"] == "bind"
    result = await step(hass, result, {"light_on": [{"bogus": 1}]})
    assert result["errors"] == {"light_on": "invalid_action"}
    result = await step(hass, result, {"light_on": LIGHT_ON})

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.data["bindings"]["actions"]["light_on"] == LIGHT_ON
    assert issue(hass, "unbound_action", entry) is None
    await motion(hass, "off")
    await motion(hass)
    assert statuses(records)[-1] == "executed"
    assert state(hass, "input_boolean.porch_light") == "on"


@pytest.mark.usefixtures("house")
async def test_an_ignored_unbound_action_does_not_come_back(
    hass: HomeAssistant,
) -> None:
    entry = await start(hass, agent_entry([rule("porch", "light_on", 3)]))
    await motion(hass)

    result = await fix(hass, "unbound_action", entry)
    result = await step(hass, result, {"next_step_id": "ignore"})

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options["ignored_unbound_actions"] == ["light_on"]
    assert issue(hass, "unbound_action", entry) is None
    await motion(hass, "off")
    await motion(hass)
    assert issue(hass, "unbound_action", entry) is None


async def test_removing_the_agent_removes_its_issues(hass: HomeAssistant) -> None:
    entry = agent_entry([rule("hint", "light_on", 1)])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert issue(hass, "missing_notify_target", entry) is not None

    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert issue(hass, "missing_notify_target", entry) is None
