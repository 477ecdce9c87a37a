"""The config flow's brain steps: what thinks for an agent, and the credentials it needs.

An agent made here picks its brain on the create form; a file whose brain.json asks for an
LLM gets the brain step after the targets, with the file's choice suggested (the local model
only when the file carries weights). Each LLM brain has a credentials form; what is typed is
tested against the service before anything is kept (a refused key or a silent server is a
form error, and the form keeps what was typed). Reconfigure without a file changes only the
brain; a key refused later (at setup or by a call) starts the reauth step.

`BrainSteps` is a part of the config flow (config_flow.py): it reads and fills the flow's
`draft` and ends in the flow's `_async_finish`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import ConfigFlow, ConfigFlowResult
import probatio as vol  # Home Assistant 2026.9+ validates with probatio

from . import selectors
from .agent_draft import AgentDraft, file_brain_kind
from .agent_files import CONF_WEIGHTS
from .brains.checks import async_brain_problem
from .const import (
    BRAIN_AI_TASK,
    BRAIN_ANTHROPIC,
    BRAIN_LOCAL,
    BRAIN_OPENAI,
    BRAIN_RULES,
    CONF_API_KEY,
    CONF_BASE_URL,
    CONF_BRAIN,
    CONF_BRAIN_KIND,
    CONF_BRAIN_MODEL,
    DEFAULT_ANTHROPIC_MODEL,
)
from .engine.agent import AgentDefinition
from .flow_forms import (
    CLOUD_BRAINS,
    REAUTH_SCHEMA,
    WEIGHTS_SECTION,
    brain_kind_selector,
    valid_url,
)
from .settings import AgentSettings
from .versions import with_shadow


class BrainSteps(ConfigFlow):
    """The steps that choose an agent's brain and check its credentials."""

    draft: AgentDraft

    async def _async_finish(self, targets: list[str]) -> ConfigFlowResult:
        """Make the entry (the flow's last step)."""
        raise NotImplementedError

    def _agent_definition(self) -> AgentDefinition:
        assert self.draft.definition is not None  # noqa: S101  # set before any binding step
        return self.draft.definition

    async def async_step_brain(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Choose what thinks when a rule asks for a closer look: rules only or an LLM."""
        if user_input is not None:
            return await self._async_brain_kind_chosen(user_input[CONF_BRAIN_KIND])
        schema = vol.Schema(
            {
                vol.Required(
                    CONF_BRAIN_KIND, default=self._default_brain_kind()
                ): brain_kind_selector(self._brain_kinds())
            }
        )
        return self.async_show_form(
            step_id="brain",
            data_schema=schema,
            description_placeholders={"name": self.draft.name},
        )

    async def async_step_brain_anthropic(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for an Anthropic API key and the Claude model; check the key."""
        return await self._async_credentials(BRAIN_ANTHROPIC, user_input)

    async def async_step_brain_openai(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask where the OpenAI-compatible server is and which model; check it answers."""
        return await self._async_credentials(BRAIN_OPENAI, user_input)

    async def async_step_brain_ai_task(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask which AI Task entity thinks for the agent."""
        return await self._async_credentials(BRAIN_AI_TASK, user_input)

    async def _async_brain_kind_chosen(self, kind: str) -> ConfigFlowResult:
        """Go on to the chosen brain's credentials; rules and the local model need none."""
        if kind == BRAIN_ANTHROPIC:
            return await self.async_step_brain_anthropic()
        if kind == BRAIN_OPENAI:
            return await self.async_step_brain_openai()
        if kind == BRAIN_AI_TASK:
            return await self.async_step_brain_ai_task()
        self.draft.brain = {CONF_BRAIN_KIND: kind} if kind == BRAIN_LOCAL else None
        self.draft.brain_model = None
        return await self._async_brain_done()

    async def _async_credentials(
        self, kind: str, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        """Show one brain's credentials form; test them before anything is kept."""
        errors: dict[str, str] = {}
        placeholders = {"name": self.draft.name, "detail": ""}
        if user_input is not None:
            config: dict[str, Any] = {CONF_BRAIN_KIND: kind}
            config.update(
                (key, value.strip() if isinstance(value, str) else value)
                for key, value in user_input.items()
                if key != CONF_BRAIN_MODEL and value
            )
            model = str(user_input.get(CONF_BRAIN_MODEL) or "").strip() or None
            if kind == BRAIN_OPENAI and not valid_url(config[CONF_BASE_URL]):
                errors[CONF_BASE_URL] = "invalid_url"
            elif problem := await async_brain_problem(self.hass, config, model):
                errors["base"], placeholders["detail"] = problem
            else:
                self.draft.brain, self.draft.brain_model = config, model
                return await self._async_brain_done()
        return self.async_show_form(
            step_id=f"brain_{kind}",
            data_schema=self.add_suggested_values_to_schema(
                selectors.CREDENTIAL_SCHEMAS[kind],
                user_input or self._suggested(kind),
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def _async_brain_done(self) -> ConfigFlowResult:
        """Create the agent, or (reconfiguring the brain alone) update and reload it."""
        if not self.draft.brain_only:
            return await self._async_finish(self.draft.targets)
        entry = self._get_reconfigure_entry()
        options = {k: v for k, v in entry.options.items() if k != CONF_BRAIN_MODEL}
        if self.draft.brain_model:
            options[CONF_BRAIN_MODEL] = self.draft.brain_model
        brain = self.draft.brain or {CONF_BRAIN_KIND: BRAIN_RULES}
        if self.draft.shadow:  # the live version stays; this brain decides beside it
            return self.async_update_reload_and_abort(
                entry,
                data=with_shadow(entry, {**entry.data, CONF_BRAIN: brain}, options),
            )
        return self.async_update_reload_and_abort(
            entry, data_updates={CONF_BRAIN: brain}, options=options
        )

    def _brain_kinds(self) -> list[str]:
        """Return the brains offered: the local model only with weights to run."""
        if self.draft.brain_only:
            weights = self._get_reconfigure_entry().data.get(CONF_WEIGHTS) or {}
            local = WEIGHTS_SECTION in weights
        else:
            local = self.draft.agent is not None and any(
                item.section == WEIGHTS_SECTION for item in self.draft.agent.weights
            )
        return [*CLOUD_BRAINS, BRAIN_LOCAL] if local else list(CLOUD_BRAINS)

    def _default_brain_kind(self) -> str:
        if self.draft.brain_only:
            kind = self._entry_settings().brain_kind or BRAIN_RULES
        else:
            kind = file_brain_kind(
                self._agent_definition().brain, BRAIN_LOCAL in self._brain_kinds()
            )
        return kind if kind in self._brain_kinds() else BRAIN_RULES

    def _entry_settings(self) -> AgentSettings:
        """Return the settings of the entry being reconfigured."""
        entry = self._get_reconfigure_entry()
        return AgentSettings.read(entry.data, entry.options)

    def _suggested(self, kind: str) -> dict[str, Any]:
        """Return what the form suggests: the entry's settings, else the file's brain.json."""
        values: dict[str, Any] = {}
        if self.draft.brain_only:
            settings = self._entry_settings()
            if settings.brain_kind == kind:
                values = {
                    k: v for k, v in settings.brain.items() if k != CONF_BRAIN_KIND
                }
                if settings.brain_model:
                    values[CONF_BRAIN_MODEL] = settings.brain_model
        elif (
            self.draft.definition is not None
            and self.draft.definition.brain.type == "llm"
        ):
            declared = self.draft.definition.brain
            allowed = (self.draft.consent or {}).get("brain_server")
            if (
                isinstance(url := declared.extra.get(CONF_BASE_URL), str)
                and url == allowed
            ):
                values[CONF_BASE_URL] = url  # only a server the user ticked
            # A file written for another service may name a model Claude does not know.
            if declared.model and (
                kind != BRAIN_ANTHROPIC or declared.model.startswith("claude")
            ):
                values[CONF_BRAIN_MODEL] = declared.model
        if kind == BRAIN_ANTHROPIC:
            values.setdefault(CONF_BRAIN_MODEL, DEFAULT_ANTHROPIC_MODEL)
        return values

    # --- a refused API key ----------------------------------------------------------------

    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """Start over with the key when the brain's service refuses it."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for a new API key; test it, then store it and reload the agent."""
        entry = self._get_reauth_entry()
        settings = AgentSettings.read(entry.data, entry.options)
        brain = dict(settings.brain)
        errors: dict[str, str] = {}
        placeholders = {
            "name": entry.title,
            "engine": str(brain.get(CONF_BRAIN_KIND, "")),
            "detail": "",
        }
        if user_input is not None:
            brain[CONF_API_KEY] = user_input[CONF_API_KEY].strip()
            problem = await async_brain_problem(self.hass, brain, settings.brain_model)
            if problem is None:
                return self.async_update_reload_and_abort(
                    entry, data_updates={CONF_BRAIN: brain}
                )
            errors["base"], placeholders["detail"] = problem
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=REAUTH_SCHEMA,
            errors=errors,
            description_placeholders=placeholders,
        )
