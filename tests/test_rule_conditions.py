"""A rule's `condition` is a Home Assistant condition, checked by Home Assistant.

"Only when someone is home" must not become "always": a conditioned rule matches only
while its condition holds, one Home Assistant cannot check is refused (never ignored) and
reported (a file with one is refused at upload naming the rule: test_config_flow's
refusals), and replay judges the condition the same way.
"""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import async_capture_events

from custom_components.pai.const import DOMAIN, EVENT_PAI_RECORD
from tests.helpers import agent_entry, motion, rule, start, start_recording

SOMEONE_HOME = {
    "condition": "state",
    "entity_id": "input_boolean.someone_home",
    "state": "on",
}


@pytest.fixture
async def home(hass: HomeAssistant) -> None:
    assert await async_setup_component(
        hass,
        "input_boolean",
        {"input_boolean": {"motion": {}, "someone_home": {}}},
    )
    await hass.async_block_till_done()


def conditioned(condition: Any, name: str = "greet") -> dict[str, Any]:
    welcome = rule(name, "greet", 1)
    welcome["condition"] = condition
    return welcome


async def set_home(hass: HomeAssistant, on: bool) -> None:
    await hass.services.async_call(
        "input_boolean",
        "turn_on" if on else "turn_off",
        {"entity_id": "input_boolean.someone_home"},
        blocking=True,
    )


@pytest.mark.usefixtures("home")
async def test_a_conditioned_rule_matches_only_while_its_condition_holds(
    hass: HomeAssistant,
) -> None:
    records = await start_recording(hass, agent_entry([conditioned(SOMEONE_HOME)]))

    await motion(hass)  # nobody home
    assert records == []

    await motion(hass, "off")
    await set_home(hass, True)
    await motion(hass)
    assert len(records) == 1

    # Replay judges the condition the same way, as things are now.
    record = records[0].data["record"]
    await set_home(hass, False)
    replayed = await hass.services.async_call(
        DOMAIN,
        "replay",
        {"record_id": record["record_id"]},
        blocking=True,
        return_response=True,
    )
    assert replayed is not None
    assert replayed["new"] == []
    await set_home(hass, True)
    replayed = await hass.services.async_call(
        DOMAIN,
        "replay",
        {"record_id": record["record_id"]},
        blocking=True,
        return_response=True,
    )
    assert replayed is not None
    assert [new["action"] for new in replayed["new"]] == ["greet"]


@pytest.mark.usefixtures("home")
async def test_conditions_see_the_event_and_combine(hass: HomeAssistant) -> None:
    records = await start_recording(
        hass,
        agent_entry(
            [
                conditioned(
                    {
                        "condition": "and",
                        "conditions": [
                            SOMEONE_HOME,
                            {
                                "condition": "template",
                                "value_template": "{{ trigger.to_state == 'on' }}",
                            },
                        ],
                    }
                )
            ]
        ),
    )
    await set_home(hass, True)
    await motion(hass)
    assert len(records) == 1


@pytest.mark.usefixtures("home")
async def test_a_condition_home_assistant_cannot_check_refuses_the_rule(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    entry = await start(
        hass,
        agent_entry(
            [
                conditioned({"condition": "no_such_condition"}, "broken"),
                conditioned(SOMEONE_HOME, "fine"),
            ]
        ),
    )
    await set_home(hass, True)
    await motion(hass)

    assert [
        r.data["record"]["3_anticipation"]["predicted_intent"] for r in records
    ] == ["fine fired"]
    issue = ir.async_get(hass).async_get_issue(
        DOMAIN, f"rule_conditions_{entry.entry_id}"
    )
    assert issue is not None
    assert "rule 'broken'" in issue.translation_placeholders["problems"]
    assert (
        "rule 'broken': its condition is not a Home Assistant condition" in caplog.text
    )
