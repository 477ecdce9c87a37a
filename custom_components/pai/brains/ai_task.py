"""Any AI Task entity as a brain: whichever LLM integration the user already set up.

Home Assistant's AI Task (`ai_task.generate_data`) runs a task on an entity of OpenAI,
Anthropic, Google, Ollama, ... with a `structure` (a schema) the integration turns into its
own structured-output request. PAI cannot tell where that entity sends the data, so it is
never treated as local, and its integrations report no token counts (usage shows 0).
"""

from __future__ import annotations

import time
from typing import Any

from homeassistant.components.ai_task import AITaskEntityFeature, async_generate_data
from homeassistant.components.ai_task.const import DATA_COMPONENT
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
import probatio as vol

from ..engine.brain import (
    MAX_INTENTS,
    BrainError,
    BrainRequest,
    BrainResult,
    FailureKind,
    Usage,
    parse_answer,
    system_prompt,
    user_message,
)

TASK_NAME = "PAI agent decision"


def intent_structure(request: BrainRequest) -> vol.Schema:
    """Return the answer schema as the AI Task's `structure` (a probatio schema)."""
    intent = vol.Schema(
        {
            vol.Required("action", description="one of the allowed actions"): vol.In(
                sorted(request.action_names)
            ),
            vol.Optional("params", description="the action's parameters"): dict,
            vol.Required("confidence", description="0 to 1"): vol.All(
                vol.Coerce(float), vol.Range(min=0, max=1)
            ),
            vol.Required("urgency", description="0 to 1"): vol.All(
                vol.Coerce(float), vol.Range(min=0, max=1)
            ),
            vol.Required(
                "level", description="0 observe, 1 suggest, 2 ask, 3 act"
            ): vol.All(vol.Coerce(int), vol.Range(min=0, max=3)),
            vol.Required("rationale", description="one short sentence"): str,
        }
    )
    return vol.Schema(
        {
            vol.Required(
                "intents",
                description=f"at most {MAX_INTENTS} proposals; empty when nothing is worth doing",
            ): [intent]
        }
    )


class AITaskBrain:
    """Home Assistant's `ai_task.generate_data` on one AI Task entity."""

    name = "ai_task"
    is_local = False

    def __init__(self, hass: HomeAssistant, *, entity_id: str) -> None:
        """Keep the entity to ask."""
        self.hass = hass
        self.entity_id = entity_id

    async def async_validate(self) -> None:
        """Check that the entity exists and can generate data."""
        component = self.hass.data.get(DATA_COMPONENT)
        entity = component.get_entity(self.entity_id) if component else None
        if entity is None:
            raise BrainError(
                FailureKind.UNAVAILABLE, f"no AI Task entity {self.entity_id}"
            )
        if AITaskEntityFeature.GENERATE_DATA not in entity.supported_features:
            raise BrainError(
                FailureKind.UNAVAILABLE, f"{self.entity_id} cannot generate data"
            )

    async def async_think(self, request: BrainRequest) -> BrainResult:
        """Run one generate-data task and check its data like any model's answer."""
        await self.async_validate()
        started = time.perf_counter()
        try:
            result = await async_generate_data(
                self.hass,
                task_name=TASK_NAME,
                entity_id=self.entity_id,
                instructions=system_prompt(request) + "\n\n" + user_message(request),
                structure=intent_structure(request),
            )
        except HomeAssistantError as err:
            raise BrainError(
                FailureKind.UNAVAILABLE, f"{self.entity_id} failed: {err}"
            ) from err
        latency_ms = (time.perf_counter() - started) * 1000
        data: Any = result.data
        if not isinstance(data, dict | str):
            raise BrainError(
                FailureKind.INVALID_OUTPUT,
                f"{self.entity_id} answered {type(data).__name__}, not an object",
            )
        intents, dropped = parse_answer(data, request)
        return BrainResult(
            intents=intents,
            usage=Usage(brain=self.name, model=self.entity_id, latency_ms=latency_ms),
            dropped=dropped,
        )
