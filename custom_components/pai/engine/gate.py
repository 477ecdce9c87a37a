"""The governance gate: how far one intent may go, and every reason why not further.

A brain only proposes. The gate is the one place that turns a proposal into a granted
autonomy level, so it is a pure function of what it is given (no clock, no counters, no I/O):
the host passes the time, the recent interruptions and declines, and persists them itself.
That makes every decision replayable from its PAID record and testable without waiting.

The layers run in paigent's order and give the same level for the same inputs. The user's
survival policy wraps them: an action the user did not allow stops first, and the user's
ceiling and the cap on security-sensitive actions come right after the agent's own action
cap, so that an ASK they force still meets quiet hours, the interruption formula and the
hourly cap. Each layer that lowers the level says why, in words a user can read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from .models import (
    AutonomyLevel,
    Decision,
    GateInputs,
    Intent,
    Policy,
    QuietHours,
    Reason,
    ReasonCode,
    SurvivalPolicy,
)

SURVIVAL_LAYER = "survival"
"""Reasons from the user's own limits, set in Home Assistant."""

POLICY_LAYER = "policy"
"""Reasons from the agent's policy (policy.json and the entry's options)."""

DEFAULT_SURVIVAL = SurvivalPolicy()
"""Every bound action allowed, security-sensitive ones at most ASK."""

INTERRUPTION_WINDOW = timedelta(hours=1)

_OBSERVE = AutonomyLevel.OBSERVE
_SUGGEST = AutonomyLevel.SUGGEST
_ASK = AutonomyLevel.ASK
_ACT = AutonomyLevel.ACT
_INTERRUPTING = frozenset({_SUGGEST, _ASK})


class GateInputError(ValueError):
    """An intent, policy or input the gate cannot judge (wrong type, NaN, out of range)."""


def decide(
    intent: Intent,
    policy: Policy,
    inputs: GateInputs,
    survival: SurvivalPolicy = DEFAULT_SURVIVAL,
) -> Decision:
    """Grant `intent` the highest level every layer allows, with the reasons it is lower.

    A SUGGEST or ASK it grants (`Decision.interrupts`) is an interruption: the host adds
    `inputs.now` to the recent interruptions it passes next time. Raises `GateInputError`.
    """
    requested = _check_intent(intent)
    _check_policy(policy)
    _check_survival(survival)
    _check_inputs(inputs)
    case = _Case(intent, policy, inputs, survival, requested)
    for layer in _LAYERS:
        if case.level == _OBSERVE:
            break
        layer(case)
    return Decision(
        intent=intent,
        requested=requested,
        granted=case.level,
        reasons=tuple(case.reasons),
        interruption_cost=float(inputs.interruption_cost),
    )


def count_recent_interruptions(times: Iterable[datetime], now: datetime) -> int:
    """Interruptions less than an hour before `now` (later ones count too: clocks jump)."""
    return sum(1 for moment in times if now - moment < INTERRUPTION_WINDOW)


@dataclass(slots=True)
class _Case:
    """One intent on its way through the layers: the level so far and why."""

    intent: Intent
    policy: Policy
    inputs: GateInputs
    survival: SurvivalPolicy
    level: AutonomyLevel
    reasons: list[Reason] = field(default_factory=list)

    def lower(
        self,
        to: AutonomyLevel,
        layer: str,
        code: ReasonCode,
        detail: str,
        *,
        note_if_kept: bool = False,
    ) -> None:
        """Lower the level to `to` if it is higher, recording the reason."""
        after = AutonomyLevel(min(self.level, to))
        if after < self.level or note_if_kept:
            self.reasons.append(Reason(layer, code, self.level, after, detail))
            self.level = after


# The layers, in order. Each sees a level above OBSERVE and may only lower it.


def _allowed_actions(case: _Case) -> None:
    allowed = case.survival.allowed_actions
    if allowed is not None and case.intent.action not in allowed:
        case.lower(
            _OBSERVE,
            SURVIVAL_LAYER,
            ReasonCode.NOT_ALLOWED,
            f"{case.intent.action!r} is not among the actions you allowed this agent",
        )


def _min_confidence(case: _Case) -> None:
    confidence, minimum = case.intent.confidence, case.policy.min_confidence
    if confidence < minimum:
        case.lower(
            _OBSERVE,
            POLICY_LAYER,
            ReasonCode.LOW_CONFIDENCE,
            f"confidence {confidence:g} is below the minimum of {minimum:g}",
        )


def _action_cap(case: _Case) -> None:
    action = case.intent.action
    per_action = case.policy.action_max_levels.get(action)
    if per_action is None:
        cap = _level(case.policy.default_max_level, "policy: default_max_level")
        detail = f"the agent's policy allows actions up to {_name(cap)} by default"
    else:
        cap = _level(per_action, f"policy: action_max_levels[{action!r}]")
        detail = f"the agent's policy allows {action!r} up to {_name(cap)}"
    case.lower(cap, POLICY_LAYER, ReasonCode.ACTION_CAP, detail)


def _ceiling(case: _Case) -> None:
    ceiling = AutonomyLevel(case.survival.ceiling)
    case.lower(
        ceiling,
        SURVIVAL_LAYER,
        ReasonCode.CEILING,
        f"you allow this agent up to {_name(ceiling)}",
    )


def _security_sensitive(case: _Case) -> None:
    action, survival = case.intent.action, case.survival
    if action in survival.sensitive_actions and action not in survival.lifted_actions:
        cap = AutonomyLevel(survival.sensitive_max_level)
        case.lower(
            cap,
            SURVIVAL_LAYER,
            ReasonCode.SECURITY_SENSITIVE,
            f"{action!r} is security-sensitive: at most {_name(cap)} "
            "unless you lift that for it",
        )


def _act_confidence(case: _Case) -> None:
    confidence, needed = case.intent.confidence, case.policy.act_confidence
    if case.level == _ACT and confidence < needed:
        case.lower(
            _ASK,
            POLICY_LAYER,
            ReasonCode.ACT_CONFIDENCE,
            f"acting alone needs confidence {needed:g}, this has {confidence:g}",
        )


def _decline_penalty(case: _Case) -> None:
    action = case.intent.action
    declines = _count(
        case.inputs.recent_declines.get(action, 0),
        f"gate inputs: recent_declines[{action!r}]",
    )
    threshold = case.policy.decline_penalty_threshold
    if declines >= threshold:
        case.lower(
            AutonomyLevel(case.level - 1),
            POLICY_LAYER,
            ReasonCode.DECLINE_PENALTY,
            f"you declined {action!r} {declines} times in the last "
            f"{case.policy.decline_window_hours} h (the agent backs off at {threshold})",
        )


def _quiet_hours(case: _Case) -> None:
    quiet = case.policy.quiet_hours
    if quiet is None or not quiet.contains(case.inputs.now.time()):
        return
    urgency, override = case.intent.urgency, case.policy.urgency_override
    window = f"{quiet.start:%H:%M} to {quiet.end:%H:%M}"
    if urgency >= override:
        case.lower(
            _SUGGEST,
            POLICY_LAYER,
            ReasonCode.QUIET_HOURS_URGENT,
            f"urgency {urgency:g} breaks through quiet hours ({window}) "
            "as a suggestion at most",
            note_if_kept=True,
        )
    else:
        case.lower(
            _OBSERVE,
            POLICY_LAYER,
            ReasonCode.QUIET_HOURS,
            f"quiet hours ({window}), and urgency {urgency:g} is below "
            f"the override of {override:g}",
        )


def _interruption_cost(case: _Case) -> None:
    urgency, confidence = case.intent.urgency, case.intent.confidence
    cost = case.inputs.interruption_cost
    if case.level in _INTERRUPTING and urgency * confidence <= cost:
        case.lower(
            _OBSERVE,
            POLICY_LAYER,
            ReasonCode.INTERRUPTION_COST,
            f"urgency {urgency:g} times confidence {confidence:g} "
            f"is {urgency * confidence:.3g}, not above the cost of interrupting "
            f"you now ({cost:g})",
        )


def _hourly_cap(case: _Case) -> None:
    if case.level not in _INTERRUPTING:
        return
    recent = count_recent_interruptions(
        case.inputs.recent_interruptions, case.inputs.now
    )
    limit = case.policy.max_interruptions_per_hour
    if recent >= limit:
        case.lower(
            _OBSERVE,
            POLICY_LAYER,
            ReasonCode.HOURLY_CAP,
            f"{recent} interruptions in the last hour already (the limit is {limit})",
        )


_LAYERS: tuple[Callable[[_Case], None], ...] = (
    _allowed_actions,
    _min_confidence,
    _action_cap,
    _ceiling,
    _security_sensitive,
    _act_confidence,
    _decline_penalty,
    _quiet_hours,
    _interruption_cost,
    _hourly_cap,
)


# Checks: a brain, an agent file or a host bug must get a sentence, never a traceback.


def _name(level: AutonomyLevel) -> str:
    return level.name.lower()


_LEVEL_CHOICES = ", ".join(f"{int(lv)} ({_name(lv)})" for lv in AutonomyLevel)


def _level(value: object, what: str) -> AutonomyLevel:
    if isinstance(value, bool) or not isinstance(value, int):
        raise GateInputError(f"{what} must be one of {_LEVEL_CHOICES}, got {value!r}")
    try:
        return AutonomyLevel(value)
    except ValueError:
        raise GateInputError(
            f"{what} must be one of {_LEVEL_CHOICES}, got {value!r}"
        ) from None


def _unit(value: object, what: str) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0.0 <= value <= 1.0
    ):
        raise GateInputError(f"{what} must be a number from 0 to 1, got {value!r}")


def _count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise GateInputError(f"{what} must be a whole number >= 0, got {value!r}")
    return value


def _names(value: object, what: str) -> None:
    if not isinstance(value, AbstractSet):
        raise GateInputError(f"{what} must be a set of action names, got {value!r}")


def _check_intent(intent: Intent) -> AutonomyLevel:
    if not isinstance(intent, Intent):
        raise GateInputError(f"the gate judges an Intent, got {intent!r}")
    if not isinstance(intent.action, str) or not intent.action:
        raise GateInputError(
            f"intent: action must be a non-empty name, got {intent.action!r}"
        )
    what = f"intent {intent.action!r}"
    _unit(intent.confidence, f"{what}: confidence")
    _unit(intent.urgency, f"{what}: urgency")
    return _level(intent.requested_level, f"{what}: requested_level")


def _check_policy(policy: Policy) -> None:
    if not isinstance(policy, Policy):
        raise GateInputError(f"the gate needs a Policy, got {policy!r}")
    for name in ("min_confidence", "act_confidence", "urgency_override"):
        _unit(getattr(policy, name), f"policy: {name}")
    for name in (
        "max_interruptions_per_hour",
        "decline_penalty_threshold",
        "decline_window_hours",
    ):
        _count(getattr(policy, name), f"policy: {name}")
    if not isinstance(policy.action_max_levels, Mapping):
        raise GateInputError(
            "policy: action_max_levels must map action names to levels, "
            f"got {policy.action_max_levels!r}"
        )
    _check_quiet_hours(policy.quiet_hours)


def _check_quiet_hours(quiet: object) -> None:
    if quiet is None:
        return
    if not isinstance(quiet, QuietHours) or not all(
        isinstance(bound, time) and bound.tzinfo is None
        for bound in (quiet.start, quiet.end)
    ):
        raise GateInputError(
            "policy: quiet_hours must be a start and an end wall-clock time "
            f"(no timezone), got {quiet!r}"
        )


def _check_survival(survival: SurvivalPolicy) -> None:
    if not isinstance(survival, SurvivalPolicy):
        raise GateInputError(f"the gate needs a SurvivalPolicy, got {survival!r}")
    _level(survival.ceiling, "survival policy: ceiling")
    _level(survival.sensitive_max_level, "survival policy: sensitive_max_level")
    if survival.allowed_actions is not None:
        _names(survival.allowed_actions, "survival policy: allowed_actions")
    _names(survival.sensitive_actions, "survival policy: sensitive_actions")
    _names(survival.lifted_actions, "survival policy: lifted_actions")


def _check_inputs(inputs: GateInputs) -> None:
    if not isinstance(inputs, GateInputs):
        raise GateInputError(f"the gate needs GateInputs, got {inputs!r}")
    if not _aware(inputs.now):
        raise GateInputError(
            f"gate inputs: now must be a timezone-aware datetime, got {inputs.now!r}"
        )
    _unit(inputs.interruption_cost, "gate inputs: interruption_cost")
    if not isinstance(inputs.recent_interruptions, tuple | list):
        raise GateInputError(
            "gate inputs: recent_interruptions must be a sequence of datetimes, "
            f"got {inputs.recent_interruptions!r}"
        )
    for moment in inputs.recent_interruptions:
        if not _aware(moment):
            raise GateInputError(
                "gate inputs: recent_interruptions must hold timezone-aware "
                f"datetimes, got {moment!r}"
            )
    if not isinstance(inputs.recent_declines, Mapping):
        raise GateInputError(
            "gate inputs: recent_declines must map action names to counts, "
            f"got {inputs.recent_declines!r}"
        )


def _aware(value: object) -> bool:
    return isinstance(value, datetime) and value.utcoffset() is not None
