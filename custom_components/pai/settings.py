"""An agent's settings: its entry's data and options read once, with every default in one place.

The options keep flat keys (const.py). `AgentSettings.from_entry` reads them forward into the
policy, the survival layer's inputs, the router's limits, the delivery settings and the
templates; `default_values` reads the same table backward into the values the options form shows.
The brain kind an entry names is read here too (`brain_kind`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import time, timedelta
from typing import Any

from .const import (
    BRAIN_ANTHROPIC,
    BRAIN_LOCAL,
    BRAIN_OPENAI,
    BRAIN_RULES,
    CONF_ACT_CONFIDENCE,
    CONF_ACTION_MAX_LEVELS,
    CONF_AGENT,
    CONF_ALLOWED_ACTIONS,
    CONF_APPROVAL_EXPIRY,
    CONF_APPROVERS,
    CONF_AUTONOMY_CEILING,
    CONF_BRAIN,
    CONF_BRAIN_KIND,
    CONF_BRAIN_MODEL,
    CONF_CRITICAL_NOTIFICATIONS,
    CONF_DECLINE_THRESHOLD,
    CONF_DEFAULT_MAX_LEVEL,
    CONF_ESCALATION_PRESENCE,
    CONF_ESCALATION_TARGETS,
    CONF_ESCALATION_WAIT,
    CONF_IGNORED_UNBOUND,
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
    CONF_TRUST_DAYS,
    CONF_TRUST_STREAK,
    CONF_UNDO_WINDOW,
    CONF_URGENCY_OVERRIDE,
    CONF_USER_STATE_TEMPLATE,
    DEFAULT_ANTHROPIC_MODEL,
    DEFAULT_APPROVAL_EXPIRY_MINUTES,
    DEFAULT_ESCALATION_WAIT_MINUTES,
    DEFAULT_LLM_MAX_CALLS,
    DEFAULT_LLM_MAX_COST,
    DEFAULT_LLM_MIN_INTERVAL,
    DEFAULT_LLM_TIMEOUT,
    DEFAULT_LOCAL_N_CTX,
    DEFAULT_PRIVACY_LABEL,
    DEFAULT_UNDO_WINDOW_MINUTES,
    LEVEL_NAMES,
)
from .engine.agent import AgentDefinition, AgentDefinitionError
from .engine.models import AutonomyLevel, Policy, QuietHours
from .engine.router import RouterLimits
from .engine.trust import DEFAULT_DAYS, DEFAULT_STREAK, Ladder, TrustError

DEFAULT_CEILING = "act"
"""The autonomy ceiling of an agent whose user has not lowered it."""

# The policy fields the options override: option key -> (Policy field, how it is stored).
_POLICY_FLOATS = {
    CONF_MIN_CONFIDENCE: "min_confidence",
    CONF_ACT_CONFIDENCE: "act_confidence",
    CONF_URGENCY_OVERRIDE: "urgency_override",
}
_POLICY_INTS = {
    CONF_MAX_INTERRUPTIONS: "max_interruptions_per_hour",
    CONF_DECLINE_THRESHOLD: "decline_penalty_threshold",
    CONF_DEFAULT_MAX_LEVEL: "default_max_level",
}


def brain_config(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """Return the brain section of an entry's data (kind and credentials); {} if none."""
    config = data.get(CONF_BRAIN)
    return config if isinstance(config, Mapping) else {}


def brain_kind(data: Mapping[str, Any]) -> str | None:
    """Return the LLM brain kind an entry's data names, or None for an agent on rules alone."""
    kind = brain_config(data).get(CONF_BRAIN_KIND)
    return kind if isinstance(kind, str) and kind != BRAIN_RULES else None


def llm_defaults(kind: str | None) -> dict[str, Any]:
    """Return the LLM options in force when the options are silent, for a brain kind."""
    if kind is None:
        return {}
    values: dict[str, Any] = {
        CONF_LLM_EVERY_EVENT: False,
        CONF_LLM_MIN_INTERVAL: DEFAULT_LLM_MIN_INTERVAL,
        CONF_LLM_MAX_CALLS: DEFAULT_LLM_MAX_CALLS,
        CONF_LLM_MAX_COST: DEFAULT_LLM_MAX_COST,
        CONF_LLM_TIMEOUT: DEFAULT_LLM_TIMEOUT,
        CONF_PRIVACY_LABEL: DEFAULT_PRIVACY_LABEL,
    }
    if kind == BRAIN_ANTHROPIC:
        values[CONF_BRAIN_MODEL] = DEFAULT_ANTHROPIC_MODEL
    if kind == BRAIN_LOCAL:
        values[CONF_LOCAL_N_CTX] = DEFAULT_LOCAL_N_CTX
    return values


def ignored_unbound(options: Mapping[str, Any]) -> tuple[str, ...]:
    """Return the actions the user left unbound on purpose (Repairs asks no more)."""
    return tuple(options.get(CONF_IGNORED_UNBOUND) or [])


def agent_definition(data: Mapping[str, Any]) -> AgentDefinition | None:
    """Parse the entry's agent; None for one made in Home Assistant without a file."""
    sections = data.get(CONF_AGENT)
    if not sections:
        return None
    try:
        return AgentDefinition.from_sections(sections)
    except AgentDefinitionError:
        return None  # setup reports it; the options still work on what is bound


def file_policy(data: Mapping[str, Any]) -> Policy:
    """Return the agent file's policy (paigent's defaults where the file is silent)."""
    definition = agent_definition(data)
    return definition.policy if definition is not None else Policy()


def policy_with_options(base: Policy, options: Mapping[str, Any]) -> Policy:
    """Return the agent file's policy with the user's options on top."""
    changes: dict[str, Any] = {}
    for option, name in _POLICY_FLOATS.items():
        if option in options:
            changes[name] = float(options[option])
    for option, name in _POLICY_INTS.items():
        if option in options:
            changes[name] = int(options[option])
    if CONF_DEFAULT_MAX_LEVEL in options:
        changes["default_max_level"] = AutonomyLevel(changes["default_max_level"])
    if CONF_ACTION_MAX_LEVELS in options:
        changes["action_max_levels"] = {
            **base.action_max_levels,
            **{
                name: AutonomyLevel(int(level))
                for name, level in options[CONF_ACTION_MAX_LEVELS].items()
            },
        }
    if options.get(CONF_QUIET_START) and options.get(CONF_QUIET_END):
        changes["quiet_hours"] = QuietHours(
            time.fromisoformat(options[CONF_QUIET_START]),
            time.fromisoformat(options[CONF_QUIET_END]),
        )
    return replace(base, **changes) if changes else base


def policy_options(policy: Policy) -> dict[str, Any]:
    """Return a policy as the options keep it (the backward direction of the table above)."""
    values: dict[str, Any] = {
        option: getattr(policy, name) for option, name in _POLICY_FLOATS.items()
    }
    values.update(
        {option: int(getattr(policy, name)) for option, name in _POLICY_INTS.items()}
    )
    if policy.action_max_levels:
        values[CONF_ACTION_MAX_LEVELS] = {
            name: int(level) for name, level in policy.action_max_levels.items()
        }
    if policy.quiet_hours is not None:
        values[CONF_QUIET_START] = policy.quiet_hours.start.isoformat()
        values[CONF_QUIET_END] = policy.quiet_hours.end.isoformat()
    return values


def limits_with_options(options: Mapping[str, Any]) -> RouterLimits:
    """Return the router's limits on LLM use, from the user's options."""
    return RouterLimits(
        min_interval=timedelta(
            seconds=options.get(CONF_LLM_MIN_INTERVAL, DEFAULT_LLM_MIN_INTERVAL)
        ),
        max_calls_per_hour=int(options.get(CONF_LLM_MAX_CALLS, DEFAULT_LLM_MAX_CALLS)),
        max_cost_per_day=float(options.get(CONF_LLM_MAX_COST, DEFAULT_LLM_MAX_COST)),
        timeout=float(options.get(CONF_LLM_TIMEOUT, DEFAULT_LLM_TIMEOUT)),
        prices=_prices(options),
    )


def ladder_of(options: Mapping[str, Any]) -> Ladder:
    """Return when an action earns the question "may I do it on my own?" (the defaults if bad)."""
    try:
        return Ladder(
            streak=options.get(CONF_TRUST_STREAK, DEFAULT_STREAK),
            days=options.get(CONF_TRUST_DAYS, DEFAULT_DAYS),
        )
    except TrustError:
        return Ladder()


def _prices(options: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """Return the user's price for the OpenAI-compatible brain, when set (both parts).

    Unset, that brain is counted as free when the server is in the home and at the
    dearest known model's list price otherwise (`OpenAIServerBrain`).
    """
    price_in = options.get(CONF_LLM_PRICE_INPUT)
    price_out = options.get(CONF_LLM_PRICE_OUTPUT)
    if price_in is None or price_out is None:
        return {}
    return {BRAIN_OPENAI: (max(0.0, float(price_in)), max(0.0, float(price_out)))}


def ceiling_of(options: Mapping[str, Any]) -> AutonomyLevel:
    """Return the autonomy ceiling the options set (the select entity writes it there)."""
    return AutonomyLevel(
        LEVEL_NAMES.index(options.get(CONF_AUTONOMY_CEILING, DEFAULT_CEILING))
    )


@dataclass(frozen=True, slots=True)
class AgentSettings:
    """What the user set for one agent, read once from its entry's data and options."""

    brain_kind: str | None
    """The LLM brain's kind, or None for rules alone."""
    brain: Mapping[str, Any] = field(repr=False)
    """The entry's brain section as stored: its kind and credentials ({} if none)."""
    policy: Policy
    """The agent file's policy with the options on top."""
    ceiling: AutonomyLevel
    allowed_actions: frozenset[str] | None
    """None: every action the agent binds."""
    lifted_actions: frozenset[str]
    limits: RouterLimits
    llm_every_event: bool
    brain_model: str | None
    privacy_label: str
    local_n_ctx: int
    """The local model's context window (tokens)."""
    local_threads: int | None
    """The local model's CPU threads; None: llama.cpp chooses."""
    notify_targets: tuple[str, ...]
    approvers: tuple[str, ...]
    approval_expiry_minutes: float
    undo_window_minutes: float
    interruption_cost_template: str | None
    user_state_template: str | None
    critical_notifications: bool
    """Whether the phones may be sent critical notifications (through Do Not Disturb)."""
    escalation_targets: tuple[str, ...]
    """Who is asked, one after the other, when nobody answers a request."""
    escalation_wait_minutes: float
    escalation_presence: bool
    """Whether a target whose person is at home is asked before the others."""
    ignored_unbound: tuple[str, ...]
    """Actions left unbound on purpose (Repairs asks no more about them)."""
    ladder: Ladder
    """When an action capped at ASK earns the question "may I do it on my own?"."""
    options: Mapping[str, Any] = field(repr=False)
    """The raw options (kept for writing them back with one key changed)."""

    @classmethod
    def from_entry(
        cls, data: Mapping[str, Any], options: Mapping[str, Any], base: Policy
    ) -> AgentSettings:
        """Read the entry: `base` is the agent file's policy (the options go on top)."""
        threads = options.get(CONF_LOCAL_THREADS)
        return cls(
            brain_kind=brain_kind(data),
            brain=brain_config(data),
            policy=policy_with_options(base, options),
            ceiling=ceiling_of(options),
            allowed_actions=(
                frozenset(options[CONF_ALLOWED_ACTIONS])
                if CONF_ALLOWED_ACTIONS in options
                else None
            ),
            lifted_actions=frozenset(options.get(CONF_LIFTED_ACTIONS, [])),
            limits=limits_with_options(options),
            llm_every_event=bool(options.get(CONF_LLM_EVERY_EVENT, False)),
            brain_model=options.get(CONF_BRAIN_MODEL),
            privacy_label=options.get(CONF_PRIVACY_LABEL, DEFAULT_PRIVACY_LABEL),
            local_n_ctx=int(options.get(CONF_LOCAL_N_CTX, DEFAULT_LOCAL_N_CTX)),
            local_threads=int(threads) if threads else None,
            notify_targets=tuple(options.get(CONF_NOTIFY_TARGETS, [])),
            approvers=tuple(options.get(CONF_APPROVERS) or []),
            approval_expiry_minutes=options.get(
                CONF_APPROVAL_EXPIRY, DEFAULT_APPROVAL_EXPIRY_MINUTES
            ),
            undo_window_minutes=options.get(
                CONF_UNDO_WINDOW, DEFAULT_UNDO_WINDOW_MINUTES
            ),
            interruption_cost_template=options.get(CONF_INTERRUPTION_COST_TEMPLATE),
            user_state_template=options.get(CONF_USER_STATE_TEMPLATE),
            critical_notifications=bool(options.get(CONF_CRITICAL_NOTIFICATIONS)),
            escalation_targets=tuple(options.get(CONF_ESCALATION_TARGETS) or []),
            escalation_wait_minutes=options.get(
                CONF_ESCALATION_WAIT, DEFAULT_ESCALATION_WAIT_MINUTES
            ),
            escalation_presence=bool(options.get(CONF_ESCALATION_PRESENCE)),
            ignored_unbound=ignored_unbound(options),
            ladder=ladder_of(options),
            options=options,
        )

    @classmethod
    def read(cls, data: Mapping[str, Any], options: Mapping[str, Any]) -> AgentSettings:
        """Read an entry whose agent file is not parsed yet (flows, Repairs, diagnostics)."""
        return cls.from_entry(data, options, file_policy(data))

    def for_diagnostics(self) -> dict[str, Any]:
        """Return what is in force, as plain values (the brain's credentials left out)."""
        return {
            "brain_kind": self.brain_kind,
            "policy": {
                **policy_options(self.policy),
                "default_max_level": LEVEL_NAMES[self.policy.default_max_level],
                "action_max_levels": {
                    name: LEVEL_NAMES[level]
                    for name, level in self.policy.action_max_levels.items()
                },
                "decline_window_hours": self.policy.decline_window_hours,
            },
            "ceiling": LEVEL_NAMES[self.ceiling],
            "allowed_actions": (
                None if self.allowed_actions is None else sorted(self.allowed_actions)
            ),
            "lifted_actions": sorted(self.lifted_actions),
            "limits": {
                "min_interval_seconds": self.limits.min_interval.total_seconds(),
                "max_calls_per_hour": self.limits.max_calls_per_hour,
                "max_cost_per_day": self.limits.max_cost_per_day,
                "timeout_seconds": self.limits.timeout,
            },
            "llm_every_event": self.llm_every_event,
            "brain_model": self.brain_model,
            "privacy_label": self.privacy_label,
            "local_n_ctx": self.local_n_ctx,
            "local_threads": self.local_threads,
            "notify_targets": list(self.notify_targets),
            "approvers": list(self.approvers),
            "approval_expiry_minutes": self.approval_expiry_minutes,
            "undo_window_minutes": self.undo_window_minutes,
            "interruption_cost_template": self.interruption_cost_template,
            "user_state_template": self.user_state_template,
            "ignored_unbound": list(self.ignored_unbound),
            "trust_approvals_in_a_row": self.ladder.streak,
            "trust_min_days": self.ladder.days,
        }

    def with_action_cap(self, action: str, level: AutonomyLevel) -> AgentSettings:
        """Return these settings with `action` capped at `level` (in the options too)."""
        levels = dict(self.options.get(CONF_ACTION_MAX_LEVELS) or {})
        levels[action] = int(level)
        return replace(
            self,
            policy=replace(
                self.policy,
                action_max_levels={**self.policy.action_max_levels, action: level},
            ),
            options={**self.options, CONF_ACTION_MAX_LEVELS: levels},
        )

    def with_ceiling(self, level: AutonomyLevel) -> AgentSettings:
        """Return these settings with another ceiling (and the options that keep it)."""
        return replace(
            self,
            ceiling=level,
            options={**self.options, CONF_AUTONOMY_CEILING: LEVEL_NAMES[level]},
        )


def default_values(data: Mapping[str, Any]) -> dict[str, Any]:
    """Return every setting in force when the options are silent, as the options keep them.

    The options form shows these (with the options on top) as what is in force now.
    """
    values = policy_options(file_policy(data))
    values.update(
        {
            CONF_AUTONOMY_CEILING: DEFAULT_CEILING,
            CONF_APPROVAL_EXPIRY: DEFAULT_APPROVAL_EXPIRY_MINUTES,
            CONF_UNDO_WINDOW: DEFAULT_UNDO_WINDOW_MINUTES,
            CONF_NOTIFY_TARGETS: [],
            CONF_APPROVERS: [],
            CONF_LIFTED_ACTIONS: [],
            CONF_TRUST_STREAK: DEFAULT_STREAK,
            CONF_TRUST_DAYS: DEFAULT_DAYS,
            CONF_CRITICAL_NOTIFICATIONS: False,
            CONF_ESCALATION_TARGETS: [],
            CONF_ESCALATION_WAIT: DEFAULT_ESCALATION_WAIT_MINUTES,
            CONF_ESCALATION_PRESENCE: False,
        }
    )
    values.update(llm_defaults(brain_kind(data)))
    return values
