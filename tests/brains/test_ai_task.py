"""An AI Task entity as the brain: Home Assistant's own `ai_task.generate_data` path.

The AI Task component is the real one; only the entity behind it is the test's (a platform
of a test integration, as an LLM integration would register one). It turns the `structure`
PAI sends into JSON schema the way real integrations do (`probatio.to_openapi`) and answers
with the data the test scripts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from homeassistant.components import ai_task, conversation
from homeassistant.config_entries import ConfigEntry, ConfigFlow
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import llm
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.setup import async_setup_component
import probatio
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockModule,
    MockPlatform,
    async_capture_events,
    async_mock_service,
    mock_config_flow,
    mock_integration,
    mock_platform,
)

from custom_components.pai.brains import create_brain
from custom_components.pai.brains.ai_task import AITaskBrain
from custom_components.pai.const import DOMAIN, EVENT_PAI_RECORD
from custom_components.pai.engine.brain import BrainError, FailureKind
from custom_components.pai.engine.models import AutonomyLevel

from ..helpers import LIGHT_ON, agent_entry, motion, rule, start, statuses
from .conftest import brain_request

LLM_DOMAIN = "test_llm"
ENTITY_ID = "ai_task.test_llm_task"
LIGHT = {
    "action": "light_on",
    "params": {},
    "confidence": 0.9,
    "urgency": 0.5,
    "level": 3,
    "rationale": "it is dark and someone is there",
}


class ScriptedTaskEntity(ai_task.AITaskEntity):
    """An AI Task entity whose 'model' answers what the test put in `answers`."""

    _attr_name = "Test LLM task"
    _attr_supported_features = ai_task.AITaskEntityFeature.GENERATE_DATA

    def __init__(self) -> None:
        self.answers: list[Any] = []
        self.tasks: list[ai_task.GenDataTask] = []
        self.schemas: list[dict[str, Any]] = []

    async def _async_generate_data(
        self, task: ai_task.GenDataTask, chat_log: conversation.ChatLog
    ) -> ai_task.GenDataTaskResult:
        self.tasks.append(task)
        assert task.structure is not None
        self.schemas.append(
            probatio.to_openapi(
                task.structure,
                custom_serializer=llm.selector_serializer,
                openapi_version="3.1.0",
            )
        )
        answer = self.answers.pop(0) if self.answers else {"intents": []}
        if isinstance(answer, Exception):
            raise answer
        return ai_task.GenDataTaskResult(
            conversation_id=chat_log.conversation_id, data=answer
        )


class LLMFlow(ConfigFlow):
    """The test integration's config flow (entries are made by the test)."""

    VERSION = 1


@pytest.fixture
async def task_entity(hass: HomeAssistant) -> AsyncIterator[ScriptedTaskEntity]:
    """The scripted entity, set up through a config entry of a test LLM integration."""
    entity = ScriptedTaskEntity()
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "ai_task", {})

    async def setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
        await hass.config_entries.async_forward_entry_setups(entry, [Platform.AI_TASK])
        return True

    async def setup_platform(
        hass: HomeAssistant,
        entry: ConfigEntry,
        async_add_entities: AddConfigEntryEntitiesCallback,
    ) -> None:
        async_add_entities([entity])

    mock_integration(hass, MockModule(LLM_DOMAIN, async_setup_entry=setup_entry))
    mock_platform(hass, f"{LLM_DOMAIN}.config_flow")
    mock_platform(
        hass, f"{LLM_DOMAIN}.ai_task", MockPlatform(async_setup_entry=setup_platform)
    )
    entry = MockConfigEntry(domain=LLM_DOMAIN)
    entry.add_to_hass(hass)
    with mock_config_flow(LLM_DOMAIN, LLMFlow):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert hass.states.get(ENTITY_ID) is not None
        yield entity


# --- the brain alone -----------------------------------------------------------------------


async def test_structured_data_becomes_checked_intents(
    hass: HomeAssistant, task_entity: ScriptedTaskEntity
) -> None:
    task_entity.answers = [{"intents": [LIGHT, {**LIGHT, "action": "unlock_all"}]}]
    brain = create_brain(hass, {"kind": "ai_task", "entity_id": ENTITY_ID}, None)
    assert isinstance(brain, AITaskBrain)
    assert not brain.is_local

    result = await brain.async_think(brain_request())

    assert [(i.action, i.requested_level) for i in result.intents] == [
        ("light_on", AutonomyLevel.ACT)
    ]
    assert result.dropped == ("unknown action 'unlock_all'",)
    assert result.usage.brain == "ai_task"
    assert result.usage.model == ENTITY_ID
    assert result.usage.input_tokens == 0  # AI Task reports none
    [task] = task_entity.tasks
    assert "<data>" in task.instructions
    assert "binary_sensor.porch" in task.instructions
    # The integration behind the entity can turn PAI's structure into a JSON schema.
    items = task_entity.schemas[0]["properties"]["intents"]["items"]
    assert items["properties"]["action"]["enum"] == ["alarm", "light_on"]
    assert items["properties"]["level"] == {
        "type": "integer",
        "minimum": 0,
        "maximum": 3,
        "description": "0 observe, 1 suggest, 2 ask, 3 act",
    }
    assert set(items["required"]) == {
        "action",
        "confidence",
        "urgency",
        "level",
        "rationale",
    }


async def test_answer_as_json_text_is_accepted(
    hass: HomeAssistant, task_entity: ScriptedTaskEntity
) -> None:
    task_entity.answers = ['{"intents": [{"action": "alarm", "level": 2}]}']

    result = await AITaskBrain(hass, entity_id=ENTITY_ID).async_think(brain_request())

    assert [i.action for i in result.intents] == ["alarm"]


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        pytest.param("no idea, sorry", FailureKind.INVALID_OUTPUT, id="prose"),
        pytest.param(42, FailureKind.INVALID_OUTPUT, id="number"),
        pytest.param({"plan": "unlock"}, FailureKind.INVALID_OUTPUT, id="no-intents"),
        pytest.param(
            HomeAssistantError("quota exceeded"), FailureKind.UNAVAILABLE, id="raises"
        ),
    ],
)
async def test_failures_become_brain_errors(
    hass: HomeAssistant,
    task_entity: ScriptedTaskEntity,
    answer: Any,
    kind: FailureKind,
) -> None:
    task_entity.answers = [answer]
    with pytest.raises(BrainError) as caught:
        await AITaskBrain(hass, entity_id=ENTITY_ID).async_think(brain_request())
    assert caught.value.kind is kind


async def test_missing_entity_is_unavailable(
    hass: HomeAssistant, task_entity: ScriptedTaskEntity
) -> None:
    brain = AITaskBrain(hass, entity_id="ai_task.gone")
    with pytest.raises(BrainError) as caught:
        await brain.async_validate()
    assert caught.value.kind is FailureKind.UNAVAILABLE
    with pytest.raises(BrainError):
        await brain.async_think(brain_request())
    assert task_entity.tasks == []
    await AITaskBrain(hass, entity_id=ENTITY_ID).async_validate()


# --- a whole agent ---------------------------------------------------------------------------


def task_agent() -> MockConfigEntry:
    entry = agent_entry(
        [{**rule("motion", "light_on", 1), "escalate": True}],
        bindings={"actions": {"light_on": LIGHT_ON}},
    )
    return MockConfigEntry(
        domain=DOMAIN,
        title=entry.title,
        unique_id=entry.unique_id,
        data={**entry.data, "brain": {"kind": "ai_task", "entity_id": ENTITY_ID}},
        options=dict(entry.options),
    )


@pytest.mark.usefixtures("house")
async def test_agent_acts_on_the_task_entity_answer(
    hass: HomeAssistant, task_entity: ScriptedTaskEntity
) -> None:
    async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    task_entity.answers = [{"intents": [LIGHT]}]
    await start(hass, task_agent())

    await motion(hass)

    assert statuses(records) == ["executed"]
    assert hass.states.get("input_boolean.porch_light").state == "on"
    brain_block = records[0].data["record"]["x_pai"]["brain"]
    assert brain_block["name"] == "ai_task"
    assert brain_block["usage"]["model"] == ENTITY_ID


@pytest.mark.usefixtures("house")
async def test_agent_falls_back_to_the_rule_on_garbage(
    hass: HomeAssistant, task_entity: ScriptedTaskEntity
) -> None:
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    task_entity.answers = ["The light? Maybe. Or the alarm."]
    await start(hass, task_agent())

    await motion(hass)

    assert statuses(records) == ["suggested"]
    assert len(phone) == 1
    assert hass.states.get("input_boolean.porch_light").state == "off"
    brain_block = records[0].data["record"]["x_pai"]["brain"]
    assert brain_block["name"] == "rules"
    assert brain_block["fallback"][0].startswith("ai_task: invalid_output")
