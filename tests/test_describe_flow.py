"""*Describe an agent*: drafted by an AI Task entity, checked like a file, reviewed, then saved.

The AI Task component is the real one; the entity behind it is a test integration's, which
answers what each test scripts: a valid draft, an invalid one, garbage, an error or nothing
in time. Nothing is saved without going through the review, binding and targets steps.
"""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
from homeassistant.exceptions import HomeAssistantError
import pytest

from custom_components.pai import describe_flow
from custom_components.pai.const import DOMAIN
from custom_components.pai.review import ha_trigger_id
from tests.helpers import (
    GARAGE,
    PHONE,
    TASK_ENTITY,
    ScriptedTaskEntity,
    configure,
    suggested,
)

WISH = "if the garage is open after 22:00, ask me to close it"
OPEN = {"trigger": "state", "entity_id": GARAGE, "to": "open", "for": "00:05:00"}
CLOSE = [{"action": "cover.close_cover", "target": {"entity_id": GARAGE}}]


def garage_draft(**changes: Any) -> dict[str, Any]:
    draft: dict[str, Any] = {
        "name": "Garage at night",
        "description": "Asks to close the garage when it stays open late",
        "triggers": [OPEN],
        "rules": [
            {
                "name": "open_late",
                "when": {
                    "kind": "ha.state",
                    "payload": [{"field": "to_state", "op": "==", "value": "open"}],
                },
                "condition": {"condition": "time", "after": "22:00:00"},
                "intent": {
                    "action": "close_garage",
                    "params": {},
                    "confidence": 0.9,
                    "urgency": 0.6,
                    "rationale": "The garage is open after 22:00",
                    "level": 2,
                },
            }
        ],
        "actions": [{"name": "close_garage", "max_level": 2, "sequence": CLOSE}],
        "notify_targets": [PHONE],
    }
    draft.update(changes)
    return draft


async def _describe(hass: HomeAssistant) -> FlowResult:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert "describe" in result["menu_options"]
    result = await configure(hass, result, {"next_step_id": "describe"})
    assert result["step_id"] == "describe"
    return result


async def _draft(hass: HomeAssistant, result: FlowResult) -> FlowResult:
    return await configure(
        hass, result, {"description": WISH, "entity_id": TASK_ENTITY}
    )


@pytest.mark.usefixtures("home")
async def test_a_valid_draft_is_reviewed_bound_and_saved(
    hass: HomeAssistant, task_entity: ScriptedTaskEntity
) -> None:
    task_entity.answers = [garage_draft()]
    result = await _draft(hass, await _describe(hass))

    [task] = task_entity.tasks
    assert task.name == "PAI agent draft"
    assert task.instructions.endswith(f'"{WISH}"')  # the wish, quoted as data
    assert set(task_entity.schemas[0]["properties"]) >= {"triggers", "rules", "actions"}
    assert result["step_id"] == "review"  # as an uploaded file: what it wakes on
    assert hass.config_entries.async_entries(DOMAIN) == []

    result = await configure(hass, result, {"allow": [ha_trigger_id(OPEN)]})
    assert result["step_id"] == "bind_actions"
    assert suggested(result, "close_garage") == CLOSE
    result = await configure(hass, result, {"close_garage": CLOSE})
    assert result["step_id"] == "targets"
    [key] = result["data_schema"].schema
    assert key.default() == [PHONE]
    result = await configure(hass, result, {"notify_targets": [PHONE]})

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Garage at night"
    assert result["data"]["ha_triggers"] == [OPEN]
    assert result["data"]["bindings"]["actions"]["close_garage"] == CLOSE
    policy = result["data"]["agent"]["policy.json"]
    assert policy["action_max_levels"] == {"close_garage": 2}
    assert policy["default_max_level"] == 0


@pytest.mark.usefixtures("home")
async def test_a_trigger_left_unticked_in_the_review_is_not_kept(
    hass: HomeAssistant, task_entity: ScriptedTaskEntity
) -> None:
    task_entity.answers = [garage_draft()]
    result = await _draft(hass, await _describe(hass))
    result = await configure(hass, result, {})
    result = await configure(hass, result, {"close_garage": CLOSE})
    result = await configure(hass, result, {"notify_targets": []})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["ha_triggers"] == []


@pytest.mark.parametrize(
    ("answer", "error", "named"),
    [
        (
            garage_draft(
                triggers=[{"trigger": "no_such_trigger"}, {"trigger": "webhook"}],
                actions=[
                    {"name": "close_garage", "max_level": 2, "sequence": [{"x": 1}]}
                ],
            ),
            "draft_invalid",
            ["triggers: a webhook trigger", "triggers[1]:", "action close_garage:"],
        ),
        (
            garage_draft(actions=[], name=""),
            "draft_invalid",
            ["name: missing", "which actions.json does not define"],
        ),
        (
            "I'd be happy to help you with your garage!",
            "draft_invalid",
            ["not an object"],
        ),
        (HomeAssistantError("quota exceeded"), "draft_failed", ["quota exceeded"]),
    ],
    ids=["invalid_ha_parts", "invalid_agent", "garbage", "error"],
)
@pytest.mark.usefixtures("home")
async def test_a_bad_draft_is_shown_with_its_problems_and_nothing_kept(
    hass: HomeAssistant,
    task_entity: ScriptedTaskEntity,
    answer: Any,
    error: str,
    named: list[str],
) -> None:
    task_entity.answers = [answer]
    result = await _draft(hass, await _describe(hass))

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "describe"
    assert result["errors"] == {"base": error}
    detail = result["description_placeholders"]["detail"]
    for line in named:
        assert line in detail, detail
    assert hass.config_entries.async_entries(DOMAIN) == []

    task_entity.answers = [garage_draft()]  # the same form, tried again
    result = await _draft(hass, result)
    assert result["step_id"] == "review"


@pytest.mark.usefixtures("home")
async def test_a_draft_that_does_not_come_in_time(
    hass: HomeAssistant,
    task_entity: ScriptedTaskEntity,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(describe_flow, "DRAFT_TIMEOUT", 0.05)
    task_entity.delay = 5
    task_entity.answers = [garage_draft()]
    result = await _draft(hass, await _describe(hass))

    assert result["errors"] == {"base": "draft_timeout"}
    assert hass.config_entries.async_entries(DOMAIN) == []


async def test_an_empty_wish_is_refused_without_asking(
    hass: HomeAssistant, task_entity: ScriptedTaskEntity
) -> None:
    result = await _describe(hass)
    result = await configure(
        hass, result, {"description": "  ", "entity_id": TASK_ENTITY}
    )
    assert result["errors"] == {"base": "draft_empty"}
    assert task_entity.tasks == []
