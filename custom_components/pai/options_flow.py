"""The options flow: the governance policy a user sets on top of the agent file's.

The form groups its fields in sections (governance, quiet hours, delivery, and the LLM brain
for agents that have one) for readability,
but the runtime reads flat keys (const.py), so the sections are flattened on save. A field
left empty is removed from the options: the agent file's value (or paigent's default)
applies again. Suggested values are what is in force now.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import ConfigFlowResult, OptionsFlowWithReload
from homeassistant.data_entry_flow import section
from homeassistant.exceptions import TemplateError
from homeassistant.helpers.selector import (
    BooleanSelector,
    LabelSelector,
    ObjectSelector,
    SelectOptionDict,
    TemplateSelector,
    TextSelector,
    TimeSelector,
)
from homeassistant.helpers.template import Template
import probatio as vol

from . import selectors
from .const import (
    BRAIN_ANTHROPIC,
    BRAIN_LOCAL,
    BRAIN_OPENAI,
    CONF_ACT_CONFIDENCE,
    CONF_ACTION_MAX_LEVELS,
    CONF_AGENT_NAME,
    CONF_ALLOWED_ACTIONS,
    CONF_APPROVAL_EXPIRY,
    CONF_APPROVERS,
    CONF_AUTONOMY_CEILING,
    CONF_BINDINGS,
    CONF_BRAIN_MODEL,
    CONF_CRITICAL_NOTIFICATIONS,
    CONF_DECLINE_THRESHOLD,
    CONF_DEFAULT_MAX_LEVEL,
    CONF_ESCALATION_PRESENCE,
    CONF_ESCALATION_TARGETS,
    CONF_ESCALATION_WAIT,
    CONF_INTERRUPTION_COST_TEMPLATE,
    CONF_LIFTED_ACTIONS,
    CONF_LLM_EVERY_EVENT,
    CONF_LLM_MAX_CALLS,
    CONF_LLM_MAX_COST,
    CONF_LLM_MIN_INTERVAL,
    CONF_LLM_PRICE_INPUT,
    CONF_LLM_PRICE_OUTPUT,
    CONF_LLM_TIMEOUT,
    CONF_LOCAL_N_CTX,
    CONF_LOCAL_THREADS,
    CONF_MAX_INTERRUPTIONS,
    CONF_MIN_CONFIDENCE,
    CONF_NOTIFY_TARGETS,
    CONF_PRIVACY_LABEL,
    CONF_QUIET_END,
    CONF_QUIET_START,
    CONF_ROLLBACK_MARGIN,
    CONF_ROLLBACK_WINDOW,
    CONF_TRUST_DAYS,
    CONF_TRUST_STREAK,
    CONF_UNDO_WINDOW,
    CONF_URGENCY_OVERRIDE,
    CONF_USER_STATE_TEMPLATE,
    LEVEL_NAMES,
)
from .engine.agent import NOTIFY_ACTION
from .engine.escalation import MAX_WAIT_MINUTES
from .engine.trust import MAX_DAYS, MAX_STREAK
from .notifications import available_targets
from .settings import agent_definition, brain_kind, default_values, file_policy

SECTION_GOVERNANCE = "governance"
SECTION_QUIET_HOURS = "quiet_hours"
SECTION_DELIVERY = "delivery"
SECTION_LLM = "llm_brain"
SECTION_EARNED = "earned_autonomy"
SECTIONS = (
    SECTION_GOVERNANCE,
    SECTION_QUIET_HOURS,
    SECTION_DELIVERY,
    SECTION_LLM,
    SECTION_EARNED,
)

MANAGED_OPTIONS = frozenset(
    {
        CONF_MIN_CONFIDENCE,
        CONF_ACT_CONFIDENCE,
        CONF_DEFAULT_MAX_LEVEL,
        CONF_URGENCY_OVERRIDE,
        CONF_DECLINE_THRESHOLD,
        CONF_INTERRUPTION_COST_TEMPLATE,
        CONF_USER_STATE_TEMPLATE,
        CONF_AUTONOMY_CEILING,
        CONF_ALLOWED_ACTIONS,
        CONF_LIFTED_ACTIONS,
        CONF_ACTION_MAX_LEVELS,
        CONF_QUIET_START,
        CONF_QUIET_END,
        CONF_MAX_INTERRUPTIONS,
        CONF_NOTIFY_TARGETS,
        CONF_APPROVERS,
        CONF_APPROVAL_EXPIRY,
        CONF_UNDO_WINDOW,
        CONF_TRUST_STREAK,
        CONF_TRUST_DAYS,
        CONF_ROLLBACK_WINDOW,
        CONF_ROLLBACK_MARGIN,
        CONF_CRITICAL_NOTIFICATIONS,
        CONF_ESCALATION_TARGETS,
        CONF_ESCALATION_WAIT,
        CONF_ESCALATION_PRESENCE,
    }
)
"""Every option this form edits; any other key in the options is kept as it is."""

LLM_OPTIONS = frozenset(
    {
        CONF_BRAIN_MODEL,
        CONF_LLM_EVERY_EVENT,
        CONF_LLM_MIN_INTERVAL,
        CONF_LLM_MAX_CALLS,
        CONF_LLM_MAX_COST,
        CONF_LLM_PRICE_INPUT,
        CONF_LLM_PRICE_OUTPUT,
        CONF_LLM_TIMEOUT,
        CONF_PRIVACY_LABEL,
        CONF_LOCAL_N_CTX,
        CONF_LOCAL_THREADS,
    }
)
"""The LLM brain's options: edited (and cleared) only when the agent has an LLM brain."""

PRICE_OPTIONS = frozenset({CONF_LLM_PRICE_INPUT, CONF_LLM_PRICE_OUTPUT})
"""The user's price of an OpenAI-compatible server (only that brain's cost is unknown)."""

MODEL_BRAINS = (BRAIN_ANTHROPIC, BRAIN_OPENAI)
"""Brains whose model is chosen by name (the local one runs the file's weights)."""

_INT_OPTIONS = (
    CONF_ROLLBACK_WINDOW,
    CONF_MAX_INTERRUPTIONS,
    CONF_DECLINE_THRESHOLD,
    CONF_APPROVAL_EXPIRY,
    CONF_UNDO_WINDOW,
    CONF_ESCALATION_WAIT,
    CONF_LLM_MIN_INTERVAL,
    CONF_LLM_MAX_CALLS,
    CONF_LLM_TIMEOUT,
    CONF_LOCAL_N_CTX,
    CONF_LOCAL_THREADS,
    CONF_TRUST_STREAK,
    CONF_TRUST_DAYS,
)
_LIST_OPTIONS = (
    CONF_ALLOWED_ACTIONS,
    CONF_LIFTED_ACTIONS,
    CONF_NOTIFY_TARGETS,
    CONF_APPROVERS,
    CONF_ESCALATION_TARGETS,
)


def agent_actions(data: Mapping[str, Any]) -> list[str]:
    """List the actions an agent can propose: its rules', its file's, its bound ones."""
    names: set[str] = set(data.get(CONF_BINDINGS, {}).get("actions", {}))
    if (definition := agent_definition(data)) is not None:
        names |= set(definition.actions)
        names |= {rule.action for rule in definition.rules}
    names.discard(NOTIFY_ACTION)
    return sorted(names)


def policy_values(
    data: Mapping[str, Any], options: Mapping[str, Any]
) -> dict[str, Any]:
    """Return the values in force now, as the form shows them: options over the defaults."""
    values = default_values(data)
    managed = managed_options(data)
    values.update({key: options[key] for key in managed if key in options})
    values[CONF_DEFAULT_MAX_LEVEL] = LEVEL_NAMES[int(values[CONF_DEFAULT_MAX_LEVEL])]
    if CONF_ACTION_MAX_LEVELS in values:
        values[CONF_ACTION_MAX_LEVELS] = {
            name: LEVEL_NAMES[int(level)]
            for name, level in values[CONF_ACTION_MAX_LEVELS].items()
        }
    return values


class OptionsError(Exception):
    """A submitted form that cannot be saved: `field` and `key` name the error to show."""

    def __init__(self, field: str, key: str, problem: str = "") -> None:
        """Keep where the error is shown, its translation key and a detail."""
        super().__init__(problem or key)
        self.field = field
        self.key = key
        self.problem = problem


def parse_action_levels(raw: Any, actions: list[str]) -> dict[str, int]:
    """Read `{action: level}` (a level by name or 0..3) for known actions."""
    if not isinstance(raw, Mapping):
        raise OptionsError(
            CONF_ACTION_MAX_LEVELS, "invalid_action_levels", "not a mapping"
        )
    levels: dict[str, int] = {}
    for name, level in raw.items():
        if name not in actions:
            raise OptionsError(
                CONF_ACTION_MAX_LEVELS,
                "invalid_action_levels",
                f"{name!r} is not one of this agent's actions",
            )
        if level in LEVEL_NAMES:
            levels[name] = LEVEL_NAMES.index(level)
        elif isinstance(level, int) and not isinstance(level, bool) and 0 <= level <= 3:
            levels[name] = level
        else:
            raise OptionsError(
                CONF_ACTION_MAX_LEVELS,
                "invalid_action_levels",
                f"{name}: {level!r} is not observe, suggest, ask or act",
            )
    return levels


def managed_options(data: Mapping[str, Any]) -> frozenset[str]:
    """Return the options the form edits (and clears) for this agent and its brain.

    The LLM fields another brain would use are kept as they are, so switching back to it
    finds them again.
    """
    kind = brain_kind(data)
    if kind is None:
        return MANAGED_OPTIONS
    shown = LLM_OPTIONS
    if kind not in MODEL_BRAINS:
        shown -= {CONF_BRAIN_MODEL}
    if kind != BRAIN_LOCAL:
        shown -= {CONF_LOCAL_N_CTX, CONF_LOCAL_THREADS}
    if kind != BRAIN_OPENAI:
        shown -= PRICE_OPTIONS
    return MANAGED_OPTIONS | shown


def _stored(key: str, value: Any, actions: list[str]) -> Any:
    """Convert one form value into the form the options keep."""
    if key in _INT_OPTIONS:
        return int(value)
    if key in (CONF_LLM_MAX_COST, *PRICE_OPTIONS):
        return float(value)
    if key in (
        CONF_LLM_EVERY_EVENT,
        CONF_CRITICAL_NOTIFICATIONS,
        CONF_ESCALATION_PRESENCE,
    ):
        return bool(value)
    if key in (CONF_BRAIN_MODEL, CONF_PRIVACY_LABEL):
        return str(value).strip()
    if key in (CONF_MIN_CONFIDENCE, CONF_ACT_CONFIDENCE, CONF_URGENCY_OVERRIDE):
        return float(value)
    if key == CONF_DEFAULT_MAX_LEVEL:
        return LEVEL_NAMES.index(value)
    if key == CONF_ACTION_MAX_LEVELS:
        return parse_action_levels(value, actions)
    if key in _LIST_OPTIONS:
        return list(dict.fromkeys(value))
    return value


class PaiOptionsFlow(OptionsFlowWithReload):
    """Edit an agent's governance policy; saving reloads the agent."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the policy; check and save it."""
        data = self.config_entry.data
        actions = agent_actions(data)
        errors: dict[str, str] = {}
        placeholders = {"agent": str(data.get(CONF_AGENT_NAME, "")), "problem": ""}
        if user_input is not None:
            flat = _flatten(user_input)
            try:
                options = self._options_from(flat, actions)
            except OptionsError as err:
                errors[err.field] = err.key
                placeholders["problem"] = err.problem
            else:
                return self.async_create_entry(data=options)
        suggested = (
            _nest(_flatten(user_input))
            if user_input is not None
            else _nest(policy_values(data, self.config_entry.options))
        )
        schema = await self._schema(actions)
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
            description_placeholders=placeholders,
        )

    def _options_from(self, flat: dict[str, Any], actions: list[str]) -> dict[str, Any]:
        """Check the flat form values and turn them into the options the runtime reads."""
        managed = managed_options(self.config_entry.data)
        options = {
            key: value
            for key, value in self.config_entry.options.items()
            if key not in managed
        }
        for key, value in flat.items():
            if key in managed and value is not None and value not in ("", [], {}):
                stored = _stored(key, value, actions)
                if stored != "":  # a model or label of blanks: cleared
                    options[key] = stored
        base = file_policy(self.config_entry.data)
        minimum = options.get(CONF_MIN_CONFIDENCE, base.min_confidence)
        if options.get(CONF_ACT_CONFIDENCE, base.act_confidence) < minimum:
            raise OptionsError(CONF_ACT_CONFIDENCE, "act_below_min_confidence")
        if (CONF_LLM_PRICE_INPUT in options) != (CONF_LLM_PRICE_OUTPUT in options):
            raise OptionsError("base", "price_incomplete")
        if (CONF_QUIET_START in options) != (CONF_QUIET_END in options):
            raise OptionsError("base", "quiet_hours_incomplete")
        if (start := options.get(CONF_QUIET_START)) is not None and start == options[
            CONF_QUIET_END
        ]:
            raise OptionsError("base", "quiet_hours_empty")
        for key in (CONF_INTERRUPTION_COST_TEMPLATE, CONF_USER_STATE_TEMPLATE):
            if key in options:
                self._check_template(key, options[key])
        return options

    def _check_template(self, key: str, template: str) -> None:
        """Render the template now, so a mistake shows here and not at 3 a.m."""
        try:
            rendered = Template(template, self.hass).async_render(parse_result=False)
        except TemplateError as err:
            raise OptionsError(key, "template_error", str(err)) from err
        if key != CONF_INTERRUPTION_COST_TEMPLATE:
            return
        try:
            cost = float(rendered)
        except ValueError:
            cost = -1.0
        if not 0.0 <= cost <= 1.0:  # also false for NaN
            raise OptionsError(
                key, "cost_not_a_unit", f"it gives {str(rendered)[:60]!r}"
            )

    async def _schema(self, actions: list[str]) -> vol.Schema:
        """Build the form, with choices taken from this agent and this Home Assistant."""
        options = self.config_entry.options
        action_choices = selectors.choices(actions)
        targets = available_targets(self.hass)
        for kept in (CONF_NOTIFY_TARGETS, CONF_ESCALATION_TARGETS):
            targets += [t for t in options.get(kept, []) if t not in targets]
        users = [
            SelectOptionDict(value=user.id, label=user.name or user.id)
            for user in await self.hass.auth.async_get_users()
            if not user.system_generated
        ]
        known = {user["value"] for user in users}
        users += [
            SelectOptionDict(value=user_id, label=user_id)
            for user_id in options.get(CONF_APPROVERS, [])
            if user_id not in known
        ]
        fields: dict[vol.Marker, Any] = {
            vol.Optional(CONF_MIN_CONFIDENCE): selectors.unit(),
            vol.Optional(CONF_ACT_CONFIDENCE): selectors.unit(),
            vol.Optional(CONF_DEFAULT_MAX_LEVEL): selectors.level(),
            vol.Optional(CONF_URGENCY_OVERRIDE): selectors.unit(),
            vol.Optional(CONF_DECLINE_THRESHOLD): selectors.count(100, minimum=1),
            vol.Optional(CONF_INTERRUPTION_COST_TEMPLATE): TemplateSelector(),
            vol.Optional(CONF_USER_STATE_TEMPLATE): TemplateSelector(),
            vol.Required(SECTION_GOVERNANCE): section(
                vol.Schema(
                    {
                        vol.Optional(CONF_AUTONOMY_CEILING): selectors.level(),
                        vol.Optional(CONF_ALLOWED_ACTIONS): selectors.multi(
                            action_choices
                        ),
                        vol.Optional(CONF_LIFTED_ACTIONS): selectors.multi(
                            action_choices
                        ),
                        vol.Optional(CONF_ACTION_MAX_LEVELS): ObjectSelector(),
                        vol.Optional(CONF_ROLLBACK_WINDOW): selectors.count(
                            720, "h", 1
                        ),
                        vol.Optional(CONF_ROLLBACK_MARGIN): selectors.unit(),
                    }
                )
            ),
            vol.Required(SECTION_QUIET_HOURS): section(
                vol.Schema(
                    {
                        vol.Optional(CONF_QUIET_START): TimeSelector(),
                        vol.Optional(CONF_QUIET_END): TimeSelector(),
                        vol.Optional(CONF_MAX_INTERRUPTIONS): selectors.count(1000),
                    }
                )
            ),
            vol.Required(SECTION_DELIVERY): section(
                vol.Schema(
                    {
                        vol.Optional(CONF_NOTIFY_TARGETS): selectors.multi(
                            selectors.choices(targets), custom=True, key="notify_target"
                        ),
                        vol.Optional(CONF_APPROVERS): selectors.multi(users),
                        vol.Optional(CONF_APPROVAL_EXPIRY): selectors.count(
                            10080, "min", 1
                        ),
                        vol.Optional(CONF_UNDO_WINDOW): selectors.count(
                            10080, "min", 1
                        ),
                        vol.Optional(CONF_CRITICAL_NOTIFICATIONS): BooleanSelector(),
                        vol.Optional(CONF_ESCALATION_TARGETS): selectors.multi(
                            selectors.choices(targets), custom=True, key="notify_target"
                        ),
                        vol.Optional(CONF_ESCALATION_WAIT): selectors.count(
                            MAX_WAIT_MINUTES, "min", 1
                        ),
                        vol.Optional(CONF_ESCALATION_PRESENCE): BooleanSelector(),
                    }
                )
            ),
        }
        if (kind := brain_kind(self.config_entry.data)) is not None:
            fields[vol.Required(SECTION_LLM)] = section(_llm_schema(kind))
        fields[vol.Required(SECTION_EARNED)] = section(
            vol.Schema(
                {
                    vol.Optional(CONF_TRUST_STREAK): selectors.count(MAX_STREAK),
                    vol.Optional(CONF_TRUST_DAYS): selectors.count(MAX_DAYS, "d"),
                }
            ),
            {"collapsed": True},
        )
        return vol.Schema(fields)


def _llm_schema(kind: str) -> vol.Schema:
    """Return the LLM brain's section: model (by name), limits and the privacy label.

    The fields are those `managed_options` lists for the brain.
    """
    fields: dict[vol.Marker, Any] = {}
    if kind in MODEL_BRAINS:
        fields[vol.Optional(CONF_BRAIN_MODEL)] = TextSelector()
    fields.update(
        {
            vol.Optional(CONF_LLM_EVERY_EVENT): BooleanSelector(),
            vol.Optional(CONF_LLM_MIN_INTERVAL): selectors.count(3600, "s"),
            vol.Optional(CONF_LLM_MAX_CALLS): selectors.count(10000, minimum=1),
            vol.Optional(CONF_LLM_MAX_COST): selectors.dollars(),
            **(
                {
                    vol.Optional(CONF_LLM_PRICE_INPUT): selectors.price_per_mtok(),
                    vol.Optional(CONF_LLM_PRICE_OUTPUT): selectors.price_per_mtok(),
                }
                if kind == BRAIN_OPENAI
                else {}
            ),
            vol.Optional(CONF_LLM_TIMEOUT): selectors.count(600, "s", 1),
            vol.Optional(CONF_PRIVACY_LABEL): LabelSelector(),
        }
    )
    if kind == BRAIN_LOCAL:
        fields[vol.Optional(CONF_LOCAL_N_CTX)] = selectors.count(131072, minimum=256)
        fields[vol.Optional(CONF_LOCAL_THREADS)] = selectors.count(64, minimum=1)
    return vol.Schema(fields)


_SECTION_OF = {
    CONF_AUTONOMY_CEILING: SECTION_GOVERNANCE,
    CONF_ALLOWED_ACTIONS: SECTION_GOVERNANCE,
    CONF_LIFTED_ACTIONS: SECTION_GOVERNANCE,
    CONF_ACTION_MAX_LEVELS: SECTION_GOVERNANCE,
    CONF_ROLLBACK_WINDOW: SECTION_GOVERNANCE,
    CONF_ROLLBACK_MARGIN: SECTION_GOVERNANCE,
    CONF_QUIET_START: SECTION_QUIET_HOURS,
    CONF_QUIET_END: SECTION_QUIET_HOURS,
    CONF_MAX_INTERRUPTIONS: SECTION_QUIET_HOURS,
    CONF_NOTIFY_TARGETS: SECTION_DELIVERY,
    CONF_APPROVERS: SECTION_DELIVERY,
    CONF_APPROVAL_EXPIRY: SECTION_DELIVERY,
    CONF_UNDO_WINDOW: SECTION_DELIVERY,
    CONF_TRUST_STREAK: SECTION_EARNED,
    CONF_TRUST_DAYS: SECTION_EARNED,
    CONF_CRITICAL_NOTIFICATIONS: SECTION_DELIVERY,
    CONF_ESCALATION_TARGETS: SECTION_DELIVERY,
    CONF_ESCALATION_WAIT: SECTION_DELIVERY,
    CONF_ESCALATION_PRESENCE: SECTION_DELIVERY,
    **dict.fromkeys(LLM_OPTIONS, SECTION_LLM),
}


def _flatten(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Merge the form's sections into one flat mapping, as the options store them."""
    flat: dict[str, Any] = {}
    for key, value in user_input.items():
        if key in SECTIONS:
            flat.update(value)
        else:
            flat[key] = value
    return flat


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Sort flat values into the form's sections (for suggested values)."""
    nested: dict[str, Any] = {name: {} for name in SECTIONS}
    for key, value in flat.items():
        if (name := _SECTION_OF.get(key)) is not None:
            nested[name][key] = value
        else:
            nested[key] = value
    return nested
