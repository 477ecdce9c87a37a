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

The gate checks nothing itself: every model checks its values where it is made (models.py)
and raises `InvalidModelError` there, so the gate only reads values it can trust.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

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

_OBSERVE, _SUGGEST, _ASK, _ACT = _LEVELS = tuple(AutonomyLevel)  # _LEVELS[n] is level n
_NAMES = {level: level.name.lower() for level in AutonomyLevel}


def decide(
    intent: Intent,
    policy: Policy,
    inputs: GateInputs,
    survival: SurvivalPolicy = DEFAULT_SURVIVAL,
) -> Decision:
    """Grant `intent` the highest level every layer allows, with the reasons it is lower.

    A SUGGEST or ASK it grants (`Decision.interrupts`) is an interruption: the host adds
    `inputs.now` to the recent interruptions it passes next time.
    """
    action, confidence, urgency = intent.action, intent.confidence, intent.urgency
    cost = inputs.interruption_cost
    level = requested = intent.requested_level
    # Each layer may only lower the level, and says why where it made a difference. The
    # numbers are paigent's six steps; the user's survival layer wraps them.
    reasons: list[Reason] = []

    # Survival: an action the user did not allow is only recorded.
    allowed = survival.allowed_actions
    if level and allowed is not None and action not in allowed:
        reasons.append(_not_allowed(level, action))
        level = _OBSERVE

    # 1. Too unsure to do anything but record.
    if level and confidence < policy.min_confidence:
        reasons.append(_low_confidence(level, confidence, policy.min_confidence))
        level = _OBSERVE

    # 2. The agent's cap for this action, else its default cap.
    cap = policy.action_max_levels.get(action)
    if cap is None:
        if policy.default_max_level < level:
            reasons.append(_default_cap(level, policy.default_max_level))
            level = policy.default_max_level
    elif cap < level:
        reasons.append(_action_cap(level, cap, action))
        level = cap

    # Survival: the user's ceiling, then the cap on security-sensitive actions.
    if survival.ceiling < level:
        reasons.append(_ceiling(level, survival.ceiling))
        level = survival.ceiling
    if survival.sensitive_max_level < level and _is_sensitive(action, survival):
        reasons.append(
            _security_sensitive(
                level,
                survival.sensitive_max_level,
                action,
                survival.sensitive_reasons.get(action),
            )
        )
        level = survival.sensitive_max_level

    # 2. (cont.) Acting alone needs more confidence; else the agent asks.
    if level == _ACT and confidence < policy.act_confidence:
        reasons.append(_act_confidence(policy.act_confidence, confidence))
        level = _ASK

    # 3. An action the user keeps declining goes one level down.
    declined = inputs.recent_declines.get(action, 0)
    if level and declined >= policy.decline_penalty_threshold:
        reasons.append(_decline_penalty(level, action, declined, policy))
        level = _LEVELS[level - 1]

    # 4. Quiet hours, on the wall clock of `now`: only an urgent matter gets through,
    # as a suggestion at most.
    quiet = policy.quiet_hours
    if level and quiet is not None and quiet.contains(inputs.now.time()):
        if urgency >= policy.urgency_override:
            reasons.append(_quiet_hours_urgent(level, quiet, urgency))
            level = min(level, _SUGGEST)
        else:
            reasons.append(_quiet_hours(level, quiet, urgency, policy.urgency_override))
            level = _OBSERVE

    # 5. and 6. SUGGEST and ASK interrupt the user: worth more than the interruption
    # costs, and within the hourly cap. OBSERVE and ACT do not interrupt.
    if level in (_SUGGEST, _ASK):
        if urgency * confidence <= cost:
            reasons.append(_interruption_cost(level, urgency, confidence, cost))
            level = _OBSERVE
        else:
            limit = policy.max_interruptions_per_hour
            recent = inputs.recent_interruptions
            # Fewer times than the limit cannot reach it, however recent they are.
            if len(recent) >= limit:
                count = count_recent_interruptions(recent, inputs.now)
                if count >= limit:
                    reasons.append(_hourly_cap(level, count, limit))
                    level = _OBSERVE

    return Decision(intent, requested, level, tuple(reasons), cost)


def highest_level(
    action: str, policy: Policy, survival: SurvivalPolicy = DEFAULT_SURVIVAL
) -> AutonomyLevel:
    """Return the most `action` can be granted, whatever the event: what an LLM is offered.

    The layers of `decide` that do not depend on the intent's scores or the moment: the
    user's allowed actions, the agent's cap, the user's ceiling and the cap on
    security-sensitive actions.
    """
    allowed = survival.allowed_actions
    if allowed is not None and action not in allowed:
        return _OBSERVE
    level = min(
        policy.action_max_levels.get(action, policy.default_max_level),
        survival.ceiling,
    )
    if _is_sensitive(action, survival):
        level = min(level, survival.sensitive_max_level)
    return level


def _is_sensitive(action: str, survival: SurvivalPolicy) -> bool:
    """Whether the cap on security-sensitive actions applies to `action`."""
    return (
        action in survival.sensitive_actions and action not in survival.lifted_actions
    )


def count_recent_interruptions(times: Iterable[datetime], now: datetime) -> int:
    """Interruptions less than an hour before `now` (later ones count too: clocks jump)."""
    return sum(1 for moment in times if now - moment < INTERRUPTION_WINDOW)


# The reasons, in words a user can read.


def _not_allowed(before: AutonomyLevel, action: str) -> Reason:
    return Reason(
        SURVIVAL_LAYER,
        ReasonCode.NOT_ALLOWED,
        before,
        _OBSERVE,
        f"{action!r} is not among the actions you allowed this agent",
    )


def _low_confidence(before: AutonomyLevel, confidence: float, minimum: float) -> Reason:
    return Reason(
        POLICY_LAYER,
        ReasonCode.LOW_CONFIDENCE,
        before,
        _OBSERVE,
        f"confidence {confidence:g} is below the minimum of {minimum:g}",
    )


def _default_cap(before: AutonomyLevel, cap: AutonomyLevel) -> Reason:
    return Reason(
        POLICY_LAYER,
        ReasonCode.ACTION_CAP,
        before,
        cap,
        f"the agent's policy allows actions up to {_NAMES[cap]} by default",
    )


def _action_cap(before: AutonomyLevel, cap: AutonomyLevel, action: str) -> Reason:
    return Reason(
        POLICY_LAYER,
        ReasonCode.ACTION_CAP,
        before,
        cap,
        f"the agent's policy allows {action!r} up to {_NAMES[cap]}",
    )


def _ceiling(before: AutonomyLevel, ceiling: AutonomyLevel) -> Reason:
    return Reason(
        SURVIVAL_LAYER,
        ReasonCode.CEILING,
        before,
        ceiling,
        f"you allow this agent up to {_NAMES[ceiling]}",
    )


def _security_sensitive(
    before: AutonomyLevel, cap: AutonomyLevel, action: str, why: str | None
) -> Reason:
    return Reason(
        SURVIVAL_LAYER,
        ReasonCode.SECURITY_SENSITIVE,
        before,
        cap,
        f"{action!r} is security-sensitive{f' ({why})' if why else ''}: "
        f"at most {_NAMES[cap]} unless you lift that for it",
    )


def _act_confidence(needed: float, confidence: float) -> Reason:
    return Reason(
        POLICY_LAYER,
        ReasonCode.ACT_CONFIDENCE,
        _ACT,
        _ASK,
        f"acting alone needs confidence {needed:g}, this has {confidence:g}",
    )


def _decline_penalty(
    before: AutonomyLevel, action: str, declines: int, policy: Policy
) -> Reason:
    return Reason(
        POLICY_LAYER,
        ReasonCode.DECLINE_PENALTY,
        before,
        _LEVELS[before - 1],
        f"you declined {action!r} {declines} times in the last "
        f"{policy.decline_window_hours} h "
        f"(the agent backs off at {policy.decline_penalty_threshold})",
    )


def _quiet_hours_urgent(
    before: AutonomyLevel, quiet: QuietHours, urgency: float
) -> Reason:
    return Reason(
        POLICY_LAYER,
        ReasonCode.QUIET_HOURS_URGENT,
        before,
        min(before, _SUGGEST),
        f"urgency {urgency:g} breaks through quiet hours ({_window(quiet)}) "
        "as a suggestion at most",
    )


def _quiet_hours(
    before: AutonomyLevel, quiet: QuietHours, urgency: float, override: float
) -> Reason:
    return Reason(
        POLICY_LAYER,
        ReasonCode.QUIET_HOURS,
        before,
        _OBSERVE,
        f"quiet hours ({_window(quiet)}), and urgency {urgency:g} is below "
        f"the override of {override:g}",
    )


def _interruption_cost(
    before: AutonomyLevel, urgency: float, confidence: float, cost: float
) -> Reason:
    return Reason(
        POLICY_LAYER,
        ReasonCode.INTERRUPTION_COST,
        before,
        _OBSERVE,
        f"urgency {urgency:g} times confidence {confidence:g} "
        f"is {urgency * confidence:.3g}, not above the cost of interrupting "
        f"you now ({cost:g})",
    )


def _hourly_cap(before: AutonomyLevel, recent: int, limit: int) -> Reason:
    return Reason(
        POLICY_LAYER,
        ReasonCode.HOURLY_CAP,
        before,
        _OBSERVE,
        f"{recent} interruptions in the last hour already (the limit is {limit})",
    )


def _window(quiet: QuietHours) -> str:
    return f"{quiet.start:%H:%M} to {quiet.end:%H:%M}"
