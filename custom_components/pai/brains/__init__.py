"""LLM brains: one module per kind, built from the entry's credentials and the options' model.

The pure side (prompt, answer schema, parsing, router) lives in `engine.brain` and
`engine.router`; these modules only speak each kind's wire protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.core import HomeAssistant

from ..const import (
    BRAIN_AI_TASK,
    BRAIN_ANTHROPIC,
    BRAIN_OPENAI,
    CONF_AI_TASK_ENTITY,
    CONF_API_KEY,
    CONF_BASE_URL,
    CONF_BRAIN_KIND,
    DEFAULT_ANTHROPIC_MODEL,
)
from ..engine.brain import Brain
from .claude import ClaudeBrain
from .openai_server import OpenAIServerBrain


def create_brain(
    hass: HomeAssistant, config: Mapping[str, Any], model: str | None
) -> Brain | None:
    """Return the cloud or server brain `config` (entry data's `brain`) describes, or None."""
    kind = config.get(CONF_BRAIN_KIND)
    if kind == BRAIN_ANTHROPIC:
        return ClaudeBrain(
            hass,
            api_key=str(config[CONF_API_KEY]),
            model=model or DEFAULT_ANTHROPIC_MODEL,
        )
    if kind == BRAIN_OPENAI:
        return OpenAIServerBrain(
            hass,
            base_url=str(config[CONF_BASE_URL]),
            model=model or "",
            api_key=config.get(CONF_API_KEY) or None,
        )
    if kind == BRAIN_AI_TASK:
        # Imported here: ai_task pulls in camera and media_source, which rules-only and
        # command-line uses of this package do not need.
        from .ai_task import AITaskBrain  # noqa: PLC0415

        return AITaskBrain(hass, entity_id=str(config[CONF_AI_TASK_ENTITY]))
    return None
