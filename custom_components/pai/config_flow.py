"""Config flow: one config entry per PAI agent, imported from a .pai file or made here.

Importing reads the uploaded file through the engine's checked reader and turns every refusal
into a form error that names the problem. Then it asks only for what the file needs: an
entity per threshold metric, a Home Assistant action per handler the rules call, and where
notifications go. A file exported from Home Assistant suggests its former bindings and
notification targets (those that exist here); the user confirms them. What the file asks for
that cannot run here (an unknown trigger type) is listed on the last step, not refused.
Reconfigure replaces the file of an agent with a newer (or the same) version and keeps the
bindings that still apply.

Creating an agent here asks what it watches and, one at a time, the Home Assistant actions it
may propose, each with the furthest it may go: those actions are its allowlist, and each
level is the cap its policy puts on that action.

The brain: an agent made here picks it on its first form; a file whose brain.json asks for an
LLM gets a brain step after the targets. Those steps, the credentials forms and reauth are in
brain_steps.py. Reconfigure without a file changes only the brain.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from homeassistant.components.file_upload import process_uploaded_file
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.core import callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.script import async_validate_actions_config
from homeassistant.helpers.selector import (
    ActionSelector,
    EntitySelector,
    EntitySelectorConfig,
)
from homeassistant.util import slugify
import probatio as vol  # Home Assistant 2026.9+ validates with probatio

from . import selectors
from .agent_draft import (
    CONF_ACTION,
    CONF_SOURCE,
    CONSOLE_BINDING,
    AgentDraft,
    CreatedAction,
    actions_to_bind,
    created_agent,
    created_name,
    created_triggers,
    describe,
    installed_version,
    is_newer,
    threshold_metrics,
)
from .agent_files import (
    CONF_WEIGHTS,
    AgentFile,
    async_cleanup_weights,
    check_free_space,
    hold_weights,
    install_weights,
    read_agent_file,
    remove_file,
    stage_file,
    staging_dir,
    weights_dir,
)
from .brain_steps import BrainSteps
from .conditions import async_condition_problems
from .const import (
    BRAIN_RULES,
    CONF_AGENT,
    CONF_AGENT_NAME,
    CONF_ALLOWED_ACTIONS,
    CONF_BINDINGS,
    CONF_BRAIN,
    CONF_BRAIN_KIND,
    CONF_BRAIN_MODEL,
    CONF_HA_TRIGGERS,
    CONF_NOTIFY_TARGETS,
    DOMAIN,
)
from .engine.agent import AgentDefinitionError, ConsoleAction
from .engine.container import PaiFormatError
from .flow_forms import (
    CONF_AS_SHADOW,
    CONF_ENTITIES,
    CONF_FILE,
    CONF_MINUTES,
    CREATE_ACTION_SCHEMA,
    CREATE_SCHEMA,
    RECONFIGURE_SCHEMA,
    UPLOAD_SCHEMA,
    error_key,
)
from .migration import MINOR_VERSION, VERSION
from .notifications import PERSISTENT_NOTIFICATION, available_targets
from .review import (
    CONF_CONSENT,
    kept_triggers,
    make_consent,
    markdown_safe,
    previous_ticks,
    review_problem,
    review_schema,
    review_text,
)
from .settings import AgentSettings
from .storable import storable_problem
from .triggers import trigger_specs
from .versions import with_shadow


class PaiConfigFlow(BrainSteps, domain=DOMAIN):
    """Import an agent file, or create a simple agent, as a config entry."""

    VERSION = VERSION
    MINOR_VERSION = MINOR_VERSION

    def __init__(self) -> None:
        """Start with nothing chosen."""
        self.draft = AgentDraft()

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> OptionsFlow:
        """Return the flow that sets the governance policy."""
        from .options_flow import PaiOptionsFlow  # noqa: PLC0415  # loaded on demand

        return PaiOptionsFlow()

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Import an agent file or create an agent here."""
        return self.async_show_menu(step_id="user", menu_options=["upload", "create"])

    # --- a .pai file ----------------------------------------------------------------------

    async def async_step_upload(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Read and verify an uploaded agent file."""
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            agent = await self._async_read(user_input[CONF_FILE], errors, placeholders)
            if agent is not None:
                return await self._async_add(agent)
        return self.async_show_form(
            step_id="upload",
            data_schema=UPLOAD_SCHEMA,
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_import_file(
        self, import_data: dict[str, Any]
    ) -> ConfigFlowResult:
        """Import an agent file already on disk (the import action); it is left there."""
        path = Path(import_data["path"])
        try:
            agent = await self.hass.async_add_executor_job(read_agent_file, path)
            await self.hass.async_add_executor_job(
                check_free_space, agent.weights, weights_dir(self.hass)
            )
        except (PaiFormatError, AgentDefinitionError, OSError) as err:
            return self.async_abort(
                reason="invalid_file", description_placeholders={"detail": str(err)}
            )
        if agent.weights:
            self.draft.weights_from = path
        return await self._async_add(agent)

    async def _async_add(self, agent: AgentFile) -> ConfigFlowResult:
        """Go on with a new agent; abort if it (or an older version of it) is there."""
        await self.async_set_unique_id(slugify(agent.name))
        existing = self.hass.config_entries.async_entry_for_domain_unique_id(
            DOMAIN, str(self.unique_id)
        )
        installed = installed_version(existing.data) if existing else None
        if installed and is_newer(agent.version, installed):
            return self.async_abort(
                reason="newer_version",
                description_placeholders={
                    "name": agent.name,
                    "version": agent.version,
                    "installed": installed,
                },
            )
        self._abort_if_unique_id_configured()
        return await self._async_use(agent)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Replace an agent's file with a newer (or the same) version."""
        entry = self._get_reconfigure_entry()
        installed = installed_version(entry.data)
        errors: dict[str, str] = {}
        placeholders = {"name": entry.title, "installed": installed or "?"}
        if user_input is not None:
            self.draft.shadow = bool(user_input.get(CONF_AS_SHADOW))
        if user_input is not None and not user_input.get(CONF_FILE):
            self.draft.brain_only = True
            self.draft.name = entry.title
            return await self.async_step_brain()
        if user_input is not None and (
            agent := await self._async_read(user_input[CONF_FILE], errors, placeholders)
        ):
            if slugify(agent.name) != entry.unique_id:
                errors["base"] = "different_agent"
                placeholders["detail"] = agent.name
            elif installed and is_newer(installed, agent.version):
                errors["base"] = "older_version"
                placeholders["detail"] = agent.version
            else:
                self.draft.previous = entry.data.get(CONF_BINDINGS, {})
                self.draft.ha_triggers = list(entry.data.get(CONF_HA_TRIGGERS, []))
                return await self._async_use(agent)
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=RECONFIGURE_SCHEMA,
            errors=errors,
            description_placeholders=placeholders,
        )

    async def _async_read(
        self, file_id: str, errors: dict[str, str], placeholders: dict[str, str]
    ) -> AgentFile | None:
        """Read the upload; on refusal fill `errors` and return None (nothing is kept)."""
        try:
            agent = await self.hass.async_add_executor_job(self._read_upload, file_id)
        except (PaiFormatError, AgentDefinitionError) as err:
            errors["base"] = error_key(err)
            placeholders["detail"] = str(err)
        except (ValueError, OSError) as err:  # file_upload: unknown or vanished file
            errors["base"] = "upload_failed"
            placeholders["detail"] = str(err)
        else:
            # A rule's condition must be one Home Assistant can check.
            if not (
                problems := await async_condition_problems(
                    self.hass, agent.definition.rules
                )
            ):
                return agent
            errors["base"] = "invalid_agent"
            placeholders["detail"] = "; ".join(problems)
        return None

    def _read_upload(self, file_id: str) -> AgentFile:
        """Verify the uploaded file; keep it aside only if it has weights. Blocks."""
        with process_uploaded_file(self.hass, file_id) as path:
            agent = read_agent_file(path)
            if agent.weights:
                check_free_space(agent.weights, weights_dir(self.hass))
                staged = staging_dir(self.hass) / f"{self.flow_id}.pai"
                stage_file(path, staged)
                self.draft.weights_from, self.draft.staged = staged, True
        return agent

    async def _async_use(self, agent: AgentFile) -> ConfigFlowResult:
        """Take the verified agent and ask for what it needs bound."""
        self.draft.agent = agent
        self.draft.definition = agent.definition
        self.draft.name = agent.name
        self.draft.sections = agent.sections
        if agent.ha_bindings is not None and self.source != SOURCE_RECONFIGURE:
            self.draft.previous = agent.ha_bindings
            self.draft.file_triggers = agent.ha_bindings["ha_triggers"]
            self.draft.suggested_targets = agent.ha_bindings["notify_targets"]
        self.draft.actions = {
            name: CONSOLE_BINDING
            for name, spec in agent.definition.actions.items()
            if isinstance(spec, ConsoleAction)
        }
        return await self.async_step_review()

    async def async_step_review(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show what the file reaches out to; keep only what the user ticks (review.py)."""
        definition = self._agent_definition()
        previous = None
        if self.source == SOURCE_RECONFIGURE:
            previous = self._get_reconfigure_entry().data.get(CONF_CONSENT)
        ticks, unchanged = previous_ticks(definition, previous)
        if user_input is None and unchanged and previous is not None:
            self.draft.consent = dict(
                previous
            )  # nothing outward changed: asked already
            return await self.async_step_bind_metrics()
        errors: dict[str, str] = {}
        placeholders = {
            "name": self.draft.name,
            "version": self.draft.agent.version if self.draft.agent else "",
            "outreach": review_text(
                definition,
                self.draft.file_triggers,
                self.draft.agent.signer if self.draft.agent else None,
                sum(item.size for item in self.draft.agent.weights)
                if self.draft.agent
                else 0,
            ),
            "detail": "",
        }
        if user_input is not None:
            problem = review_problem(definition, user_input)
            if problem is None:
                consent = make_consent(definition, self.draft.file_triggers, user_input)
                if self.source == SOURCE_RECONFIGURE:  # the entry's triggers stay
                    consent["ha_triggers"] = (previous or {}).get("ha_triggers", [])
                else:
                    self.draft.ha_triggers = kept_triggers(
                        self.draft.file_triggers, consent
                    )
                self.draft.consent = consent
                return await self.async_step_bind_metrics()
            errors["base"], placeholders["detail"] = problem
        return self.async_show_form(
            step_id="review",
            data_schema=review_schema(definition, self.draft.file_triggers, ticks),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_bind_metrics(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Bind each threshold metric of the file to an entity."""
        metrics = threshold_metrics(self._agent_definition())
        if not metrics:
            return await self.async_step_bind_actions()
        if user_input is not None:
            self.draft.metrics = {
                metric: user_input[metric]
                for metric in metrics
                if user_input.get(metric)
            }
            return await self.async_step_bind_actions()
        selector = EntitySelector(
            EntitySelectorConfig(domain=["sensor", "number", "input_number"])
        )
        schema = vol.Schema({vol.Optional(metric): selector for metric in metrics})
        return self.async_show_form(
            step_id="bind_metrics",
            data_schema=self.add_suggested_values_to_schema(
                schema, self.draft.previous.get("metrics", {})
            ),
            description_placeholders={"metrics": _bullets(metrics)},
        )

    async def async_step_bind_actions(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Bind each action the rules call to a Home Assistant action sequence."""
        wanted = actions_to_bind(self._agent_definition())
        if not wanted:
            return await self.async_step_targets()
        errors: dict[str, str] = {}
        placeholders = {"actions": _bullets(f"{n}: {w}" for n, w in wanted.items())}
        if user_input is not None:
            chosen = {
                name: cv.ensure_list(user_input[name])
                for name in wanted
                if user_input.get(name)
            }
            for name, sequence in chosen.items():
                if (problem := await self._async_invalid(sequence)) is not None:
                    errors[name] = "invalid_action"
                    placeholders["detail"] = problem
            if not errors:
                self.draft.actions.update(chosen)
                return await self.async_step_targets()
        schema = vol.Schema({vol.Optional(name): ActionSelector() for name in wanted})
        return self.async_show_form(
            step_id="bind_actions",
            data_schema=self.add_suggested_values_to_schema(
                schema, user_input or self.draft.previous.get("actions", {})
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def _async_invalid(self, sequence: list[Any]) -> str | None:
        """Return why Home Assistant refuses an action sequence, or None."""
        try:
            await async_validate_actions_config(self.hass, cv.SCRIPT_SCHEMA(sequence))
        except (vol.Invalid, HomeAssistantError) as err:
            return str(err)
        return None

    # --- an agent made here ---------------------------------------------------------------

    async def async_step_create(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Name the agent, say what wakes it, and give the first action it may propose."""
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            name = user_input[CONF_AGENT_NAME].strip()
            if not any(char.isalnum() for char in name):
                errors[CONF_AGENT_NAME] = "invalid_name"
            elif not user_input.get(CONF_ENTITIES) and not user_input.get(CONF_MINUTES):
                errors["base"] = "nothing_to_watch"
            elif await self._async_check_action(user_input, errors, placeholders):
                await self.async_set_unique_id(slugify(name))
                self._abort_if_unique_id_configured()
                self.draft.name = name
                self.draft.ha_triggers = created_triggers(
                    user_input.get(CONF_ENTITIES) or [], user_input.get(CONF_MINUTES)
                )
                self.draft.created = [CreatedAction.from_form(user_input)]
                self.draft.brain_kind = user_input.get(CONF_BRAIN_KIND, BRAIN_RULES)
                if not self.draft.created[
                    0
                ].sequence:  # no action: the agent only tells
                    return await self._async_created()
                return await self.async_step_create_action()
        return self.async_show_form(
            step_id="create",
            data_schema=self.add_suggested_values_to_schema(
                CREATE_SCHEMA, user_input or {}
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_create_action(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Add another action the agent may propose; an empty action ends the list."""
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            if not user_input.get(CONF_ACTION):
                return await self._async_created()
            if await self._async_check_action(user_input, errors, placeholders):
                self.draft.created.append(CreatedAction.from_form(user_input))
                user_input = None  # a blank form for the next one
        placeholders["actions"] = _bullets(
            f"{created_name(number)}: {describe(action)}"
            for number, action in enumerate(self.draft.created, start=1)
        )
        return self.async_show_form(
            step_id="create_action",
            data_schema=self.add_suggested_values_to_schema(
                CREATE_ACTION_SCHEMA, user_input or {}
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def _async_check_action(
        self,
        user_input: Mapping[str, Any],
        errors: dict[str, str],
        placeholders: dict[str, str],
    ) -> bool:
        """Whether the form's action (if any) is one Home Assistant accepts; else say why."""
        sequence = cv.ensure_list(user_input.get(CONF_ACTION) or [])
        if sequence and (problem := await self._async_invalid(sequence)):
            errors[CONF_ACTION] = "invalid_action"
            placeholders["detail"] = problem
            return False
        return True

    async def _async_created(self) -> ConfigFlowResult:
        """Turn the actions given into the agent's rules, caps and bindings."""
        self.draft.definition = created_agent(self.draft.name, self.draft.created)
        self.draft.sections = self.draft.definition.to_sections()
        self.draft.actions = {
            created_name(number): action.sequence
            for number, action in enumerate(self.draft.created, start=1)
            if action.sequence
        }
        return await self.async_step_targets()

    # --- where notifications go, and the end ----------------------------------------------

    async def async_step_targets(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Choose where notifications go; show what of the file cannot run here."""
        if user_input is not None:
            self.draft.targets = list(user_input[CONF_NOTIFY_TARGETS])
            if self.source == SOURCE_RECONFIGURE:
                return await self._async_finish(self.draft.targets)  # the brain stays
            if self.draft.brain_kind is not None:  # chosen on the create form
                return await self._async_brain_kind_chosen(self.draft.brain_kind)
            if self._agent_definition().brain.type == "llm":
                return await self.async_step_brain()
            return await self._async_finish(self.draft.targets)
        available = available_targets(self.hass)
        if self.source == SOURCE_RECONFIGURE:
            entry = self._get_reconfigure_entry()
            settings = AgentSettings.read(entry.data, entry.options)
            default = list(settings.notify_targets)
        else:
            default = [
                target for target in self.draft.suggested_targets if target in available
            ] or [PERSISTENT_NOTIFICATION]
        schema = vol.Schema(
            {
                vol.Required(CONF_NOTIFY_TARGETS, default=default): selectors.multi(
                    available, custom=True, mode=None
                )
            }
        )
        return self.async_show_form(
            step_id="targets",
            data_schema=schema,
            description_placeholders={"problems": _bullets(self._problems())},
        )

    def _problems(self) -> list[str]:
        """List what the agent declares that will not run here, in the user's words."""
        definition = self._agent_definition()
        problems = list(definition.problems)
        problems += [
            problem
            for problem in trigger_specs(definition.triggers, self.draft.metrics, [])[1]
            if problem not in problems
        ]
        problems += [
            f"action {name!r} is not bound: it will be recorded as no action bound"
            for name in actions_to_bind(definition)
            if name not in self.draft.actions
        ]
        return problems

    async def _async_finish(self, targets: list[str]) -> ConfigFlowResult:
        """Install embedded weights and create (or update) the entry."""
        data: dict[str, Any] = {
            CONF_AGENT_NAME: self.draft.name,
            CONF_AGENT: self.draft.sections,
            CONF_BINDINGS: {
                "metrics": self.draft.metrics,
                "actions": self.draft.actions,
            },
            CONF_HA_TRIGGERS: self.draft.ha_triggers,
        }
        if self.draft.consent is not None:
            data[CONF_CONSENT] = self.draft.consent
        if (problem := storable_problem(data)) is not None:
            return self.async_abort(
                reason="not_storable", description_placeholders={"detail": problem}
            )
        if (agent := self.draft.agent) is not None:
            data[CONF_SOURCE] = {
                "file_sha256": agent.file_sha256,
                "version": agent.version,
            }
            if agent.weights and self.draft.weights_from is not None:
                data[CONF_WEIGHTS] = {w.section: w.to_dict() for w in agent.weights}
                self.draft.release_weights = hold_weights(
                    self.hass, (w.sha256 for w in agent.weights)
                )
                try:
                    await self.hass.async_add_executor_job(
                        install_weights,
                        self.draft.weights_from,
                        agent.weights,
                        weights_dir(self.hass),
                    )
                except (PaiFormatError, OSError) as err:
                    return self.async_abort(
                        reason="weights_failed",
                        description_placeholders={"detail": str(err)},
                    )
                if self.draft.staged:
                    await self.hass.async_add_executor_job(
                        remove_file, self.draft.weights_from
                    )
                    self.draft.staged = False
        if self.source == SOURCE_RECONFIGURE:
            entry = self._get_reconfigure_entry()
            if CONF_BRAIN in entry.data:
                data[CONF_BRAIN] = entry.data[CONF_BRAIN]
            updated = {**entry.options, CONF_NOTIFY_TARGETS: targets}
            if self.draft.shadow:  # the live version stays; this one decides beside it
                data, updated = with_shadow(entry, data, updated), dict(entry.options)
            result = self.async_update_reload_and_abort(
                entry, data=data, options=updated
            )
            await async_cleanup_weights(self.hass)  # the old version's, if unused now
            return result
        options: dict[str, Any] = {CONF_NOTIFY_TARGETS: targets}
        if self.draft.brain is not None:
            data[CONF_BRAIN] = self.draft.brain
        if self.draft.brain_model:
            options[CONF_BRAIN_MODEL] = self.draft.brain_model
        if (
            self.draft.created and self.draft.actions
        ):  # made here: only what the user gave
            options[CONF_ALLOWED_ACTIONS] = list(self.draft.actions)
        return self.async_create_entry(
            title=self.draft.name, data=data, options=options
        )

    @callback
    def async_remove(self) -> None:
        """Let go of the staged upload and of the weights this flow held."""
        if self.draft.release_weights is not None:
            self.draft.release_weights()
        if self.draft.staged and self.draft.weights_from is not None:
            self.hass.async_add_executor_job(remove_file, self.draft.weights_from)


def _bullets(lines: Iterable[str]) -> str:
    # The lines hold a file's words; shown as Markdown, they must stay words.
    text = "\n".join(f"- {markdown_safe(' '.join(line.split()))}" for line in lines)
    return text or "- none"
