"""Repairs: what stops an agent from doing its job, shown where the user looks, with a fix.

Four issues per agent, each kept in step with the agent by `async_watch` (the agent's
dispatcher signal, its records, and notify services coming and going):

- `budget_exceeded_<entry>`: the LLM budget is spent; the fix raises the limits.
- `brain_unreachable_<entry>`: the LLM brain failed at setup or rests after errors; the fix
  tries again now or switches the agent to its rules.
- `missing_notify_target_<entry>`: a notification target is gone; the fix chooses again.
- `unbound_action_<entry>`: the agent proposed actions Home Assistant cannot do; the fix
  binds them, or ignores them for good.

While an issue is open the agent keeps working on what it has (its rules, the other
targets), so nothing waits on the user. The brain checks used by the config flow live here
too, because a refused or silent brain is what the brain issues are about.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import timedelta
import logging
from typing import TYPE_CHECKING, Any, cast

from homeassistant.components.repairs import RepairsFlow
from homeassistant.components.repairs.models import RepairsFlowResult
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.const import EVENT_SERVICE_REGISTERED, EVENT_SERVICE_REMOVED
from homeassistant.core import CALLBACK_TYPE, CoreState, Event, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed, HomeAssistantError
from homeassistant.helpers import config_validation as cv, issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.script import async_validate_actions_config
from homeassistant.helpers.selector import (
    ActionSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)
from homeassistant.helpers.start import async_at_started
from homeassistant.util import dt as dt_util
import probatio as vol

from .brains import create_brain
from .const import (
    CONF_API_KEY,
    CONF_BINDINGS,
    CONF_BRAIN,
    CONF_BRAIN_MODEL,
    CONF_ENGINE,
    CONF_LLM_MAX_CALLS,
    CONF_LLM_MAX_COST,
    CONF_NOTIFY_TARGETS,
    DEFAULT_LLM_MAX_CALLS,
    DEFAULT_LLM_MAX_COST,
    DOMAIN,
    ENGINE_ANTHROPIC,
    ENGINE_OPENAI,
    ENGINE_RULES,
    EVENT_PAI_RECORD,
)
from .engine.brain import Brain, BrainError, FailureKind
from .engine.router import RULES
from .local_repair import UseRemoteServerFlow
from .notifications import NOTIFY_DOMAIN, available_targets

if TYPE_CHECKING:
    from .runtime import AgentRuntime

_LOGGER = logging.getLogger(__name__)

BUDGET_EXCEEDED = "budget_exceeded"
BRAIN_UNREACHABLE = "brain_unreachable"
MISSING_NOTIFY_TARGET = "missing_notify_target"
UNBOUND_ACTION = "unbound_action"
ISSUES = (BUDGET_EXCEEDED, BRAIN_UNREACHABLE, MISSING_NOTIFY_TARGET, UNBOUND_ACTION)

CONF_IGNORED_UNBOUND = "ignored_unbound_actions"
"""Options: actions the user chose to leave unbound (no issue for them again)."""

VALIDATE_TIMEOUT = 10.0
"""Seconds a brain gets to answer the check (config flow, setup, the fix flow)."""

RECHECK = timedelta(minutes=5)
"""Budgets age out with no event; look again this often."""

NO_ACTION_BOUND = "no_action_registered"

KEYED_ENGINES = (ENGINE_ANTHROPIC, ENGINE_OPENAI)
"""Brains whose key is checked at setup (a server in the home without a key is not)."""

ERROR_FOR_KIND = {
    FailureKind.AUTH: "invalid_auth",
    FailureKind.UNAVAILABLE: "cannot_connect",
    FailureKind.TIMEOUT: "cannot_connect",
}


def issue_id(kind: str, entry_id: str) -> str:
    """Return the issue id of one kind of problem of one agent."""
    return f"{kind}_{entry_id}"


# --- checking a brain ------------------------------------------------------------------------


async def async_validate(brain: Brain) -> None:
    """Ask the brain's service whether it takes the credentials; raise `BrainError` if not.

    A brain without a check (nothing to reach) passes; one that does not answer in
    `VALIDATE_TIMEOUT` seconds counts as unreachable.
    """
    check: Callable[[], Any] | None = getattr(brain, "async_validate", None)
    if check is None:
        return
    try:
        async with asyncio.timeout(VALIDATE_TIMEOUT):
            await check()
    except TimeoutError as err:
        raise BrainError(
            FailureKind.TIMEOUT, f"no answer in {VALIDATE_TIMEOUT:g} s"
        ) from err


async def async_brain_problem(
    hass: HomeAssistant, config: Mapping[str, Any], model: str | None
) -> tuple[str, str] | None:
    """Build the brain `config` describes and check it: None, or (form error, detail)."""
    try:
        brain = create_brain(hass, config, model)
        if brain is not None:
            await async_validate(brain)
    except BrainError as err:
        return ERROR_FOR_KIND.get(err.kind, "unknown"), str(err)
    except Exception as err:  # a brain's bug must not break the form
        _LOGGER.exception("Checking the %s brain failed", config.get(CONF_ENGINE))
        return "unknown", str(err)
    return None


async def async_check_brain_at_setup(
    hass: HomeAssistant, entry: ConfigEntry, brain: Brain
) -> None:
    """Check a keyed cloud brain before the agent starts.

    A refused key raises `ConfigEntryAuthFailed` (Home Assistant starts the reauth flow);
    a service that does not answer is logged and raised in Repairs, and the agent runs on
    its rules meanwhile.
    """
    config = entry.data.get(CONF_BRAIN) or {}
    if config.get(CONF_ENGINE) not in KEYED_ENGINES or not config.get(CONF_API_KEY):
        return
    try:
        await async_validate(brain)
    except BrainError as err:
        if err.kind is FailureKind.AUTH:
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN,
                translation_key="brain_auth_failed",
                translation_placeholders={"agent": entry.title, "error": str(err)},
            ) from err
        _LOGGER.warning(
            "%s: the %s brain cannot be reached (%s); the rules decide until it can",
            entry.title,
            brain.name,
            err,
        )
        _report_unreachable(hass, entry, f"{brain.name}: {err}")
        return
    ir.async_delete_issue(hass, DOMAIN, issue_id(BRAIN_UNREACHABLE, entry.entry_id))


def _report_unreachable(hass: HomeAssistant, entry: ConfigEntry, problem: str) -> None:
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id(BRAIN_UNREACHABLE, entry.entry_id),
        is_fixable=True,
        severity=ir.IssueSeverity.WARNING,
        translation_key=BRAIN_UNREACHABLE,
        translation_placeholders={"agent": entry.title, "problem": problem},
        data={"entry_id": entry.entry_id},
    )


# --- keeping the issues in step with the agent --------------------------------------------


@callback
def async_watch(
    hass: HomeAssistant, entry: ConfigEntry, runtime: AgentRuntime
) -> CALLBACK_TYPE:
    """Raise and clear the agent's issues as it runs; return the function that stops it."""

    @callback
    def update(*_: Any) -> None:
        async_update_issues(hass, entry, runtime)

    @callback
    def record(event: Event[dict[str, Any]]) -> None:
        if event.data.get("entry_id") == entry.entry_id:
            _note_unbound(hass, entry, runtime, event.data.get("record") or {})

    @callback
    def notify_changed(event: Event[Mapping[str, Any]]) -> None:
        if event.data.get("domain") == NOTIFY_DOMAIN:
            _update_notify_targets(hass, entry, runtime)

    unsubs = [
        async_dispatcher_connect(hass, runtime.signal, update),
        async_track_time_interval(hass, update, RECHECK),
        hass.bus.async_listen(EVENT_PAI_RECORD, record),
        hass.bus.async_listen(EVENT_SERVICE_REGISTERED, notify_changed),
        hass.bus.async_listen(EVENT_SERVICE_REMOVED, notify_changed),
    ]
    # Phones register their notify actions while Home Assistant starts: judge after.
    unsubs.append(async_at_started(hass, update))
    update()

    @callback
    def stop() -> None:
        """Stop watching; clear what setup judges again (a stopped agent has no budget).

        The unbound actions stay listed: only the agent's proposals can tell them again.
        """
        while unsubs:
            unsubs.pop()()
        for kind in (BUDGET_EXCEEDED, BRAIN_UNREACHABLE, MISSING_NOTIFY_TARGET):
            ir.async_delete_issue(hass, DOMAIN, issue_id(kind, entry.entry_id))

    return stop


@callback
def async_update_issues(
    hass: HomeAssistant, entry: ConfigEntry, runtime: AgentRuntime
) -> None:
    """Look at the agent now: raise what is wrong, clear what is not any more."""
    now = dt_util.utcnow()
    router = runtime.router
    budget_id = issue_id(BUDGET_EXCEEDED, entry.entry_id)
    unreachable_id = issue_id(BRAIN_UNREACHABLE, entry.entry_id)
    if router.has_llm and (spent := router.over_budget(now)):
        limits = router.limits
        ir.async_create_issue(
            hass,
            DOMAIN,
            budget_id,
            is_fixable=True,
            severity=ir.IssueSeverity.WARNING,
            translation_key=BUDGET_EXCEEDED,
            translation_placeholders={
                "agent": entry.title,
                "budget": spent,
                "calls": str(router.calls_last_hour(now)),
                "max_calls": str(limits.max_calls_per_hour),
                "cost": f"{router.cost_today(now):.4f}",
                "max_cost": f"{limits.max_cost_per_day:.2f}",
            },
            data={"entry_id": entry.entry_id},
        )
    else:
        ir.async_delete_issue(hass, DOMAIN, budget_id)
    if not router.has_llm:
        ir.async_delete_issue(hass, DOMAIN, unreachable_id)
    elif resting := router.open_circuits(now):
        _report_unreachable(
            hass,
            entry,
            "; ".join(f"{name}: {error}" for name, error in resting.items()),
        )
    elif (runtime.last_brain or {}).get("name", RULES) != RULES:
        ir.async_delete_issue(hass, DOMAIN, unreachable_id)  # it answered
    _update_notify_targets(hass, entry, runtime)
    _update_unbound(hass, entry, runtime, set())


@callback
def _update_notify_targets(
    hass: HomeAssistant, entry: ConfigEntry, runtime: AgentRuntime
) -> None:
    if hass.state is not CoreState.running:
        return
    missing_id = issue_id(MISSING_NOTIFY_TARGET, entry.entry_id)
    if not (missing := runtime.notifier.missing_targets):
        ir.async_delete_issue(hass, DOMAIN, missing_id)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        missing_id,
        is_fixable=True,
        severity=ir.IssueSeverity.WARNING,
        translation_key=MISSING_NOTIFY_TARGET,
        translation_placeholders={"agent": entry.title, "targets": _bullets(missing)},
        data={"entry_id": entry.entry_id},
    )


@callback
def _note_unbound(
    hass: HomeAssistant,
    entry: ConfigEntry,
    runtime: AgentRuntime,
    record: Mapping[str, Any],
) -> None:
    """Add an action the agent proposed but cannot run to the agent's issue."""
    if (record.get("4_execution") or {}).get("status") != NO_ACTION_BOUND:
        return
    action = (record.get("3_anticipation") or {}).get("action")
    if isinstance(action, str):
        _update_unbound(hass, entry, runtime, {action})


@callback
def _update_unbound(
    hass: HomeAssistant, entry: ConfigEntry, runtime: AgentRuntime, proposed: set[str]
) -> None:
    """Keep the issue listing proposed actions still unbound and not ignored."""
    unbound_id = issue_id(UNBOUND_ACTION, entry.entry_id)
    issue = ir.async_get(hass).async_get_issue(DOMAIN, unbound_id)
    listed = set(unbound_actions(issue.data if issue else None))
    ignored = set(entry.options.get(CONF_IGNORED_UNBOUND, []))
    actions = sorted(
        name
        for name in listed | proposed
        if name not in runtime.action_bindings
        and name not in runtime.webhooks
        and name not in ignored
    )
    if not actions:
        ir.async_delete_issue(hass, DOMAIN, unbound_id)
        return
    if issue is not None and actions == sorted(listed):
        return  # nothing new (and an ignored issue stays ignored)
    ir.async_create_issue(
        hass,
        DOMAIN,
        unbound_id,
        is_fixable=True,
        severity=ir.IssueSeverity.WARNING,
        translation_key=UNBOUND_ACTION,
        translation_placeholders={"agent": entry.title, "actions": _bullets(actions)},
        data={"entry_id": entry.entry_id, "actions": ",".join(actions)},
    )


def unbound_actions(data: Mapping[str, Any] | None) -> list[str]:
    """Return the actions an unbound_action issue lists (kept in its data)."""
    raw = (data or {}).get("actions")
    return [name for name in str(raw).split(",") if name] if raw else []


@callback
def async_delete_issues(hass: HomeAssistant, entry_id: str) -> None:
    """Remove every issue of an agent that is gone."""
    for kind in ISSUES:
        ir.async_delete_issue(hass, DOMAIN, issue_id(kind, entry_id))


def _bullets(lines: list[str]) -> str:
    return "\n".join(f"- {line}" for line in lines)


# --- the fix flows ---------------------------------------------------------------------------


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """Return the flow that fixes one of PAI's issues."""
    entry_id = str((data or {}).get("entry_id", ""))
    # The fixable kind of local-brain issue: nothing could be installed here.
    if issue_id.startswith("local_brain_unavailable_"):
        return UseRemoteServerFlow(dict(data or {}))
    for kind, flow in (
        (BUDGET_EXCEEDED, BudgetFlow),
        (BRAIN_UNREACHABLE, UnreachableFlow),
        (MISSING_NOTIFY_TARGET, NotifyTargetsFlow),
        (UNBOUND_ACTION, UnboundActionFlow),
    ):
        if issue_id.startswith(f"{kind}_"):
            return flow(entry_id, data or {})
    raise ValueError(f"unknown PAI issue {issue_id}")


class PaiRepairFlow(RepairsFlow):
    """A fix for one agent's issue; it changes the agent's entry and reloads the agent."""

    def __init__(self, entry_id: str, data: Mapping[str, Any]) -> None:
        """Remember which agent the issue is about."""
        self.entry_id = entry_id
        self.issue_data = dict(data)

    @staticmethod
    def _submitted(user_input: dict[str, Any] | None) -> dict[str, Any] | None:
        """Return the form's input; None when the first step only got the issue id."""
        if user_input is None or set(user_input) <= {"issue_id"}:
            return None
        return user_input

    def _entry(self) -> ConfigEntry | None:
        return self.hass.config_entries.async_get_entry(self.entry_id)

    def _runtime(self) -> AgentRuntime | None:
        entry = self._entry()
        if entry is None or entry.state is not ConfigEntryState.LOADED:
            return None
        return cast("AgentRuntime", entry.runtime_data.runtime)

    def _fixed(
        self,
        entry: ConfigEntry,
        *,
        data: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        reload: bool = True,
    ) -> RepairsFlowResult:
        """Save the change; reload the agent so it runs with it; close the issue."""
        changes: dict[str, Any] = {}
        if data is not None:
            changes["data"] = data
        if options is not None:
            changes["options"] = options
        self.hass.config_entries.async_update_entry(entry, **changes)
        if reload:
            self.hass.config_entries.async_schedule_reload(entry.entry_id)
        return self.async_create_entry(data={})

    def _placeholders(self, entry: ConfigEntry) -> dict[str, str]:
        return {"agent": entry.title}


class BudgetFlow(PaiRepairFlow):
    """Show what was spent against the limits, and let the user raise them."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Ask for the new limits; refuse ones the agent is still over."""
        user_input = self._submitted(user_input)
        entry, runtime = self._entry(), self._runtime()
        if entry is None or runtime is None:
            return self.async_abort(reason="not_loaded")
        now = dt_util.utcnow()
        calls = runtime.router.calls_last_hour(now)
        cost = runtime.router.cost_today(now)
        errors: dict[str, str] = {}
        if user_input is not None:
            max_calls = int(user_input[CONF_LLM_MAX_CALLS])
            max_cost = float(user_input[CONF_LLM_MAX_COST])
            if max_calls <= calls:
                errors[CONF_LLM_MAX_CALLS] = "still_over_budget"
            elif max_cost <= cost:
                errors[CONF_LLM_MAX_COST] = "still_over_budget"
            else:
                return self._fixed(
                    entry,
                    options={
                        **entry.options,
                        CONF_LLM_MAX_CALLS: max_calls,
                        CONF_LLM_MAX_COST: max_cost,
                    },
                )
        limits = runtime.router.limits
        schema = vol.Schema(
            {
                vol.Required(CONF_LLM_MAX_CALLS): NumberSelector(
                    NumberSelectorConfig(
                        min=1, max=10000, step=1, mode=NumberSelectorMode.BOX
                    )
                ),
                vol.Required(CONF_LLM_MAX_COST): NumberSelector(
                    NumberSelectorConfig(
                        min=0,
                        max=1000,
                        step=0.01,
                        mode=NumberSelectorMode.BOX,
                        unit_of_measurement="USD",
                    )
                ),
            }
        )
        suggested = user_input or {
            CONF_LLM_MAX_CALLS: entry.options.get(
                CONF_LLM_MAX_CALLS, DEFAULT_LLM_MAX_CALLS
            ),
            CONF_LLM_MAX_COST: entry.options.get(
                CONF_LLM_MAX_COST, DEFAULT_LLM_MAX_COST
            ),
        }
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
            description_placeholders={
                **self._placeholders(entry),
                "calls": str(calls),
                "max_calls": str(limits.max_calls_per_hour),
                "cost": f"{cost:.4f}",
                "max_cost": f"{limits.max_cost_per_day:.2f}",
            },
        )


class UnreachableFlow(PaiRepairFlow):
    """Try the brain again now, or let the agent run on its rules alone."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Offer the two ways out."""
        entry = self._entry()
        if entry is None:
            return self.async_abort(reason="not_loaded")
        return self.async_show_menu(
            step_id="init",
            menu_options=["retry", "rules_only"],
            description_placeholders={
                **self._placeholders(entry),
                "engine": str((entry.data.get(CONF_BRAIN) or {}).get(CONF_ENGINE)),
            },
        )

    async def async_step_retry(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Check the brain now; when it answers, reload the agent to use it again."""
        entry = self._entry()
        if entry is None:
            return self.async_abort(reason="not_loaded")
        problem = await async_brain_problem(
            self.hass,
            entry.data.get(CONF_BRAIN) or {},
            entry.options.get(CONF_BRAIN_MODEL),
        )
        if problem is None:
            return self._fixed(entry)
        return self.async_show_form(
            step_id="retry",
            data_schema=vol.Schema({}),
            errors={"base": problem[0]},
            description_placeholders={
                **self._placeholders(entry),
                "detail": problem[1],
            },
        )

    async def async_step_rules_only(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Switch the agent to its rules (the brain can be set again with Reconfigure)."""
        entry = self._entry()
        if entry is None:
            return self.async_abort(reason="not_loaded")
        return self._fixed(
            entry, data={**entry.data, CONF_BRAIN: {CONF_ENGINE: ENGINE_RULES}}
        )


class NotifyTargetsFlow(PaiRepairFlow):
    """Choose the notification targets again, from those that exist now."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Offer the targets that exist; keep the agent's that still do."""
        user_input = self._submitted(user_input)
        entry, runtime = self._entry(), self._runtime()
        if entry is None or runtime is None:
            return self.async_abort(reason="not_loaded")
        if user_input is not None:
            return self._fixed(
                entry,
                options={
                    **entry.options,
                    CONF_NOTIFY_TARGETS: list(
                        dict.fromkeys(user_input[CONF_NOTIFY_TARGETS])
                    ),
                },
            )
        available = available_targets(self.hass)
        missing = runtime.notifier.missing_targets
        kept = [t for t in runtime.notifier.targets if t not in missing]
        schema = vol.Schema(
            {
                vol.Required(CONF_NOTIFY_TARGETS, default=kept): SelectSelector(
                    SelectSelectorConfig(
                        options=available,
                        multiple=True,
                        custom_value=True,
                        mode=SelectSelectorMode.LIST,
                        translation_key="notify_target",
                    )
                )
            }
        )
        return self.async_show_form(
            step_id="init",
            data_schema=schema,
            description_placeholders={
                **self._placeholders(entry),
                "targets": _bullets(missing) or "-",
            },
        )


class UnboundActionFlow(PaiRepairFlow):
    """Bind the actions the agent proposed to Home Assistant actions, or ignore them."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Offer to bind the actions or to ignore them."""
        entry = self._entry()
        if entry is None:
            return self.async_abort(reason="not_loaded")
        return self.async_show_menu(
            step_id="init",
            menu_options=["bind", "ignore"],
            description_placeholders={
                **self._placeholders(entry),
                "actions": _bullets(unbound_actions(self.issue_data)),
            },
        )

    async def async_step_bind(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Ask what Home Assistant does for each action; check it as the config flow does."""
        entry = self._entry()
        if entry is None:
            return self.async_abort(reason="not_loaded")
        actions = unbound_actions(self.issue_data)
        errors: dict[str, str] = {}
        placeholders = {**self._placeholders(entry), "detail": ""}
        if user_input is not None:
            chosen = {
                name: cv.ensure_list(user_input[name])
                for name in actions
                if user_input.get(name)
            }
            for name, sequence in chosen.items():
                try:
                    await async_validate_actions_config(
                        self.hass, cv.SCRIPT_SCHEMA(sequence)
                    )
                except (vol.Invalid, HomeAssistantError) as err:
                    errors[name] = "invalid_action"
                    placeholders["detail"] = str(err)
            if not chosen:
                errors["base"] = "nothing_bound"
            if not errors:
                bindings = dict(entry.data.get(CONF_BINDINGS) or {})
                bindings["actions"] = {**bindings.get("actions", {}), **chosen}
                return self._fixed(entry, data={**entry.data, CONF_BINDINGS: bindings})
        schema = vol.Schema({vol.Optional(name): ActionSelector() for name in actions})
        return self.async_show_form(
            step_id="bind",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or {}),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_ignore(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Leave the actions unbound: their proposals stay records, and no issue returns."""
        entry = self._entry()
        if entry is None:
            return self.async_abort(reason="not_loaded")
        ignored = list(
            dict.fromkeys(
                [
                    *entry.options.get(CONF_IGNORED_UNBOUND, []),
                    *unbound_actions(self.issue_data),
                ]
            )
        )
        return self._fixed(
            entry,
            options={**entry.options, CONF_IGNORED_UNBOUND: ignored},
            reload=False,
        )
