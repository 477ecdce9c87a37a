"""The Repairs issue for a local model that cannot be installed here, and its fix.

Raised (instead of starting a source build that cannot succeed, see local_build.py) when an
agent's embedded model needs llama-cpp-python and this installation has neither a wheel nor a
compiler. The fix switches the agent to the OpenAI-compatible brain: llama.cpp's
`llama-server` or Ollama on another machine, loaded with the agent's own weights, whose path on
disk the issue and the fix name. The agent runs on its rules until then.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from homeassistant.components.repairs import RepairsFlow
from homeassistant.components.repairs.models import RepairsFlowResult
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.selector import (
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import probatio as vol

from .const import (
    CONF_API_KEY,
    CONF_BASE_URL,
    CONF_BRAIN,
    CONF_BRAIN_MODEL,
    CONF_ENGINE,
    DOMAIN,
    ENGINE_OPENAI,
)

CANNOT_BUILD = "local_brain_cannot_build"
"""The issue's translation key."""


def async_raise_cannot_build(
    hass: HomeAssistant,
    issue_id: str,
    *,
    entry_id: str,
    agent: str,
    error: str,
    weights: Path | None,
) -> None:
    """Open (or update) the fixable issue for an agent whose model cannot be installed."""
    where = str(weights) if weights is not None else "-"
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=True,
        severity=ir.IssueSeverity.WARNING,
        translation_key=CANNOT_BUILD,
        translation_placeholders={"agent": agent, "error": error, "weights": where},
        data={"entry_id": entry_id, "agent": agent, "weights": where},
    )


class UseRemoteServerFlow(RepairsFlow):
    """Point the agent at an OpenAI-compatible server (llama-server, Ollama) elsewhere."""

    def __init__(self, data: dict[str, Any]) -> None:
        """Remember the agent and where its weights are."""
        self.entry_id = str(data.get("entry_id", ""))
        self.agent = str(data.get("agent", ""))
        self.weights = str(data.get("weights", "-"))

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Ask for the server; check it answers before switching the agent to it."""
        from .repairs import async_brain_problem  # noqa: PLC0415  # repairs imports us

        entry = self.hass.config_entries.async_get_entry(self.entry_id)
        if entry is None:
            return self.async_abort(reason="not_loaded")
        if user_input is not None and set(user_input) <= {"issue_id"}:
            user_input = None
        errors: dict[str, str] = {}
        detail = ""
        if user_input is not None:
            brain: dict[str, Any] = {
                CONF_ENGINE: ENGINE_OPENAI,
                CONF_BASE_URL: str(user_input[CONF_BASE_URL]).strip(),
            }
            if key := str(user_input.get(CONF_API_KEY) or "").strip():
                brain[CONF_API_KEY] = key
            model = str(user_input[CONF_BRAIN_MODEL]).strip()
            problem = await async_brain_problem(self.hass, brain, model)
            if problem is None:
                self.hass.config_entries.async_update_entry(
                    entry,
                    data={**entry.data, CONF_BRAIN: brain},
                    options={**entry.options, CONF_BRAIN_MODEL: model},
                )
                self.hass.config_entries.async_schedule_reload(entry.entry_id)
                return self.async_create_entry(data={})
            errors["base"], detail = problem
        schema = vol.Schema(
            {
                vol.Required(CONF_BASE_URL): TextSelector(
                    TextSelectorConfig(type=TextSelectorType.URL)
                ),
                vol.Required(CONF_BRAIN_MODEL): TextSelector(),
                vol.Optional(CONF_API_KEY): TextSelector(
                    TextSelectorConfig(type=TextSelectorType.PASSWORD)
                ),
            }
        )
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or {}),
            errors=errors,
            description_placeholders={
                "agent": entry.title,
                "weights": self.weights,
                "detail": detail,
            },
        )
