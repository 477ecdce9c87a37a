"""Repairs: what stops an agent from doing its job, shown where the user looks, with a fix.

Four issues per agent, each kept in step with the agent by `async_watch` (on the agent's
dispatcher signal it reads the agent's state, its recent records included; and on notify
services coming and going):

- `budget_exceeded_<entry>`: the LLM budget is spent; the fix raises the limits.
- `brain_unreachable_<entry>`: the LLM brain failed at setup or rests after errors; the fix
  tries again now or switches the agent to its rules.
- `missing_notify_target_<entry>`: a notification target is gone; the fix chooses again.
- `unbound_action_<entry>`: the agent proposed actions Home Assistant cannot do; the fix
  binds them, or ignores them for good.

And, for an agent whose embedded model cannot be installed here, `local_brain_unavailable_
<entry>` (raised by the local brain through `async_raise_cannot_build`): the fix points the
agent at a server elsewhere.

Four more, without a fix flow, the runtime reports through `report_problems` and
`report_record_too_large`: stored memory that was dropped, triggers and rule conditions that
cannot run, and a record too large for the recorder. All of them go with the agent.

While an issue is open the agent keeps working on what it has (its rules, the other
targets), so nothing waits on the user. The brain checks themselves are `brains.checks`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
import functools
import logging
from pathlib import Path
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
from homeassistant.helpers.selector import ActionSelector, SelectSelectorMode
from homeassistant.helpers.start import async_at_started
from homeassistant.util import dt as dt_util
import probatio as vol

from . import selectors
from .brains.checks import KEYED_BRAINS, async_brain_problem, async_validate
from .const import (
    BRAIN_OPENAI,
    BRAIN_RULES,
    CONF_API_KEY,
    CONF_BASE_URL,
    CONF_BINDINGS,
    CONF_BRAIN,
    CONF_BRAIN_KIND,
    CONF_BRAIN_MODEL,
    CONF_IGNORED_UNBOUND,
    CONF_LLM_MAX_CALLS,
    CONF_LLM_MAX_COST,
    CONF_NOTIFY_TARGETS,
    DOMAIN,
)
from .engine.brain import Brain, BrainError, FailureKind
from .engine.router import RULES
from .notifications import NOTIFY_DOMAIN, available_targets
from .settings import AgentSettings, brain_config, ignored_unbound

if TYPE_CHECKING:
    from .runtime import AgentRuntime

_LOGGER = logging.getLogger(__name__)

BUDGET_EXCEEDED = "budget_exceeded"
BRAIN_UNREACHABLE = "brain_unreachable"
MISSING_NOTIFY_TARGET = "missing_notify_target"
UNBOUND_ACTION = "unbound_action"
ISSUES = (BUDGET_EXCEEDED, BRAIN_UNREACHABLE, MISSING_NOTIFY_TARGET, UNBOUND_ACTION)
"""The issues `async_watch` keeps in step with the agent (each has a fix flow)."""

MEMORY_PROBLEMS = "memory_problems"
TRIGGER_PROBLEMS = "trigger_problems"
RULE_CONDITIONS = "rule_conditions"
REPORTED = (MEMORY_PROBLEMS, TRIGGER_PROBLEMS, RULE_CONDITIONS)
"""The issues the runtime reports as it starts (`report_problems`); cleared when it stops."""

RECORD_TOO_LARGE = "record_too_large"

"""Options: actions the user chose to leave unbound (no issue for them again)."""

RECHECK = timedelta(minutes=5)
"""Budgets age out with no event; look again this often."""


def issue_id(kind: str, entry_id: str) -> str:
    """Return the issue id of one kind of problem of one agent."""
    return f"{kind}_{entry_id}"


# --- checking a brain at setup --------------------------------------------------------------


async def async_check_brain_at_setup(
    hass: HomeAssistant, entry: ConfigEntry, brain: Brain
) -> None:
    """Check a keyed cloud brain before the agent starts.

    A refused key raises `ConfigEntryAuthFailed` (Home Assistant starts the reauth flow);
    a service that does not answer is logged and raised in Repairs, and the agent runs on
    its rules meanwhile.
    """
    config = brain_config(entry.data)
    if config.get(CONF_BRAIN_KIND) not in KEYED_BRAINS or not config.get(CONF_API_KEY):
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
    def notify_changed(event: Event[Mapping[str, Any]]) -> None:
        if event.data.get("domain") == NOTIFY_DOMAIN:
            _update_notify_targets(hass, entry, runtime)

    unsubs = [
        async_dispatcher_connect(hass, runtime.signal, update),
        async_track_time_interval(hass, update, RECHECK),
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
    elif (runtime.llm.last_brain or {}).get("name", RULES) != RULES:
        ir.async_delete_issue(hass, DOMAIN, unreachable_id)  # it answered
    _update_notify_targets(hass, entry, runtime)
    _update_unbound(hass, entry, runtime, set(runtime.book.unbound))


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
def _update_unbound(
    hass: HomeAssistant, entry: ConfigEntry, runtime: AgentRuntime, proposed: set[str]
) -> None:
    """Keep the issue listing proposed actions still unbound and not ignored."""
    unbound_id = issue_id(UNBOUND_ACTION, entry.entry_id)
    issue = ir.async_get(hass).async_get_issue(DOMAIN, unbound_id)
    listed = set(unbound_actions(issue.data if issue else None))
    ignored = set(ignored_unbound(entry.options))  # changed without a reload
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
    for kind in (*ISSUES, *REPORTED, RECORD_TOO_LARGE):
        ir.async_delete_issue(hass, DOMAIN, issue_id(kind, entry_id))


# --- what the runtime reports -------------------------------------------------------------


@callback
def report_problems(
    hass: HomeAssistant,
    kind: str,
    entry_id: str,
    agent: str,
    problems: Sequence[str],
    *,
    line: str = "%s: %s",
    shown: int | None = None,
) -> None:
    """Log an agent's problems and raise the `kind` issue listing them, or clear it.

    Each is logged as `line`; the issue lists at most `shown`.
    """
    for problem in problems:
        _LOGGER.warning(line, agent, problem)
    if not problems:
        ir.async_delete_issue(hass, DOMAIN, issue_id(kind, entry_id))
        return
    _warn(hass, kind, entry_id, agent=agent, problems=_bullets(problems[:shown]))


@callback
def clear_reported(hass: HomeAssistant, entry_id: str) -> None:
    """Clear the problems a stopped runtime reported (the next start reports them again)."""
    for kind in REPORTED:
        ir.async_delete_issue(hass, DOMAIN, issue_id(kind, entry_id))


@callback
def report_record_too_large(
    hass: HomeAssistant, entry_id: str, agent: str, record_id: str
) -> None:
    """Say that a record will be missing from the history: too large even cut down."""
    _warn(hass, RECORD_TOO_LARGE, entry_id, agent=agent, record_id=record_id)


def _warn(hass: HomeAssistant, kind: str, entry_id: str, **placeholders: str) -> None:
    """Raise a warning the user reads but has nothing to fix in (the words say what to do)."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id(kind, entry_id),
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=kind,
        translation_placeholders=placeholders,
    )


def _bullets(lines: Sequence[str]) -> str:
    return "\n".join(f"- {line}" for line in lines)


# --- the fix flows ---------------------------------------------------------------------------


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """Return the flow that fixes one of PAI's issues."""
    entry_id = str((data or {}).get("entry_id", ""))
    # The fixable kind of local-brain issue: nothing could be installed here.
    if issue_id.startswith("local_brain_unavailable_"):
        return UseRemoteServerFlow(entry_id, data or {})
    for kind, flow in (
        (BUDGET_EXCEEDED, BudgetFlow),
        (BRAIN_UNREACHABLE, UnreachableFlow),
        (MISSING_NOTIFY_TARGET, NotifyTargetsFlow),
        (UNBOUND_ACTION, UnboundActionFlow),
    ):
        if issue_id.startswith(f"{kind}_"):
            return flow(entry_id, data or {})
    raise ValueError(f"unknown PAI issue {issue_id}")


type _FixStep[F: PaiRepairFlow] = Callable[
    [F, ConfigEntry, dict[str, Any] | None], Awaitable[RepairsFlowResult]
]
type _FlowStep[F: PaiRepairFlow] = Callable[
    [F, dict[str, Any] | None], Awaitable[RepairsFlowResult]
]


def fix_step[F: PaiRepairFlow](
    *, running: bool = False
) -> Callable[[_FixStep[F]], _FlowStep[F]]:
    """Make a fix flow's step: it gets the agent's entry, or the flow aborts.

    `running`: the step also reads the loaded agent (`PaiRepairFlow._running`).
    """

    def wrap(step: _FixStep[F]) -> _FlowStep[F]:
        @functools.wraps(step)
        async def run(
            self: F, user_input: dict[str, Any] | None = None
        ) -> RepairsFlowResult:
            entry = self._entry()
            if entry is None or (running and self._runtime() is None):
                return self.async_abort(reason="not_loaded")
            return await step(self, entry, user_input)

        return run

    return wrap


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

    def _running(self, entry: ConfigEntry) -> AgentRuntime:
        """Return the agent of a fix that needs it running (`fix_step(running=True)`)."""
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

    @fix_step(running=True)
    async def async_step_init(
        self, entry: ConfigEntry, user_input: dict[str, Any] | None
    ) -> RepairsFlowResult:
        """Ask for the new limits; refuse ones the agent is still over."""
        user_input = self._submitted(user_input)
        runtime = self._running(entry)
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
                vol.Required(CONF_LLM_MAX_CALLS): selectors.count(10000, minimum=1),
                vol.Required(CONF_LLM_MAX_COST): selectors.dollars(),
            }
        )
        suggested = user_input or {
            CONF_LLM_MAX_CALLS: limits.max_calls_per_hour,
            CONF_LLM_MAX_COST: limits.max_cost_per_day,
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

    @fix_step()
    async def async_step_init(
        self, entry: ConfigEntry, user_input: dict[str, Any] | None
    ) -> RepairsFlowResult:
        """Offer the two ways out."""
        return self.async_show_menu(
            step_id="init",
            menu_options=["retry", "rules_only"],
            description_placeholders={
                **self._placeholders(entry),
                "engine": str(brain_config(entry.data).get(CONF_BRAIN_KIND)),
            },
        )

    @fix_step()
    async def async_step_retry(
        self, entry: ConfigEntry, user_input: dict[str, Any] | None
    ) -> RepairsFlowResult:
        """Check the brain now; when it answers, reload the agent to use it again."""
        settings = AgentSettings.read(entry.data, entry.options)
        problem = await async_brain_problem(
            self.hass, settings.brain, settings.brain_model
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

    @fix_step()
    async def async_step_rules_only(
        self, entry: ConfigEntry, user_input: dict[str, Any] | None
    ) -> RepairsFlowResult:
        """Switch the agent to its rules (the brain can be set again with Reconfigure)."""
        return self._fixed(
            entry, data={**entry.data, CONF_BRAIN: {CONF_BRAIN_KIND: BRAIN_RULES}}
        )


class NotifyTargetsFlow(PaiRepairFlow):
    """Choose the notification targets again, from those that exist now."""

    @fix_step(running=True)
    async def async_step_init(
        self, entry: ConfigEntry, user_input: dict[str, Any] | None
    ) -> RepairsFlowResult:
        """Offer the targets that exist; keep the agent's that still do."""
        user_input = self._submitted(user_input)
        runtime = self._running(entry)
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
                vol.Required(CONF_NOTIFY_TARGETS, default=kept): selectors.multi(
                    available,
                    custom=True,
                    key="notify_target",
                    mode=SelectSelectorMode.LIST,
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

    @fix_step()
    async def async_step_init(
        self, entry: ConfigEntry, user_input: dict[str, Any] | None
    ) -> RepairsFlowResult:
        """Offer to bind the actions or to ignore them."""
        return self.async_show_menu(
            step_id="init",
            menu_options=["bind", "ignore"],
            description_placeholders={
                **self._placeholders(entry),
                "actions": _bullets(unbound_actions(self.issue_data)),
            },
        )

    @fix_step()
    async def async_step_bind(
        self, entry: ConfigEntry, user_input: dict[str, Any] | None
    ) -> RepairsFlowResult:
        """Ask what Home Assistant does for each action; check it as the config flow does."""
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

    @fix_step()
    async def async_step_ignore(
        self, entry: ConfigEntry, user_input: dict[str, Any] | None
    ) -> RepairsFlowResult:
        """Leave the actions unbound: their proposals stay records, and no issue returns."""
        ignored = list(
            dict.fromkeys(
                [
                    *ignored_unbound(entry.options),
                    *unbound_actions(self.issue_data),
                ]
            )
        )
        return self._fixed(
            entry,
            options={**entry.options, CONF_IGNORED_UNBOUND: ignored},
            reload=False,
        )


# --- a local model that cannot be installed here ------------------------------------------------
#
# Raised (instead of starting a source build that cannot succeed, see local_build.py) when an
# agent's embedded model needs llama-cpp-python and this installation has neither a wheel nor a
# compiler. The fix switches the agent to the OpenAI-compatible brain: llama.cpp's
# `llama-server` or Ollama on another machine, loaded with the agent's own weights, whose path
# on disk the issue and the fix name. The agent runs on its rules until then.

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


class UseRemoteServerFlow(PaiRepairFlow):
    """Point the agent at an OpenAI-compatible server (llama-server, Ollama) elsewhere."""

    @fix_step()
    async def async_step_init(
        self, entry: ConfigEntry, user_input: dict[str, Any] | None
    ) -> RepairsFlowResult:
        """Ask for the server; check it answers before switching the agent to it."""
        user_input = self._submitted(user_input)
        errors: dict[str, str] = {}
        detail = ""
        if user_input is not None:
            brain: dict[str, Any] = {
                CONF_BRAIN_KIND: BRAIN_OPENAI,
                CONF_BASE_URL: str(user_input[CONF_BASE_URL]).strip(),
            }
            if key := str(user_input.get(CONF_API_KEY) or "").strip():
                brain[CONF_API_KEY] = key
            model = str(user_input[CONF_BRAIN_MODEL]).strip()
            problem = await async_brain_problem(self.hass, brain, model)
            if problem is None:
                return self._fixed(
                    entry,
                    data={**entry.data, CONF_BRAIN: brain},
                    options={**entry.options, CONF_BRAIN_MODEL: model},
                )
            errors["base"], detail = problem
        schema = selectors.CREDENTIAL_SCHEMAS[BRAIN_OPENAI]
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or {}),
            errors=errors,
            description_placeholders={
                **self._placeholders(entry),
                "weights": str(self.issue_data.get("weights", "-")),
                "detail": detail,
            },
        )
