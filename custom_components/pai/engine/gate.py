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

It runs once per proposal, so the usual case is kept cheap (benchmarks/bench_gate.py
compares it with paigent's unchecked gate): the layers are written out in one function, a
value of the usual type is checked with a glance (anything else gets the full check and its
sentence), an object already checked and unable to change since (a frozen policy, a tuple
of times) is not checked again, a reason is worded only when it is given and the same words
are shared, and the frozen Decision is filled in directly. None of it changes a decision:
what is remembered is which objects passed their checks, never an outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Set as AbstractSet
from dataclasses import fields, is_dataclass
from datetime import datetime, time, timedelta, timezone
from types import MemberDescriptorType
from typing import Any, cast
from zoneinfo import ZoneInfo

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
_LEVELS = tuple(AutonomyLevel)


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
    # Checks, in this order: a glance for the usual types, the full check otherwise.
    if type(intent) is Intent:
        action = intent.action
        confidence = intent.confidence
        urgency = intent.urgency
        requested = intent.requested_level
        if not (
            type(requested) is AutonomyLevel
            and type(action) is str
            and action
            and type(confidence) is float
            and 0.0 <= confidence <= 1.0
            and type(urgency) is float
            and 0.0 <= urgency <= 1.0
        ):
            requested = _check_intent(intent)
    else:
        requested = _check_intent(intent)
        action, confidence, urgency = intent.action, intent.confidence, intent.urgency
    if policy is not _LAST.policy:
        _check_policy(policy)
    if survival is not _LAST.survival:
        _check_survival(survival)
    if type(inputs) is GateInputs:
        now = inputs.now
        cost = inputs.interruption_cost
        recent = inputs.recent_interruptions
        declines = inputs.recent_declines
        if not (
            type(now) is datetime
            and type(now.tzinfo) in _ALWAYS_AWARE
            and type(cost) is float
            and 0.0 <= cost <= 1.0
            and recent is _LAST.times
            and type(declines) is dict
        ):
            _check_inputs(inputs)
    else:
        _check_inputs(inputs)
        now, cost = inputs.now, inputs.interruption_cost
        recent, declines = inputs.recent_interruptions, inputs.recent_declines

    # The layers, in order. Each runs only while the level is above OBSERVE and may only
    # lower it; a reason is written only where a layer made a difference.
    level = requested
    reasons: tuple[Reason, ...] = ()

    allowed = survival.allowed_actions
    if level and allowed is not None and action not in allowed:
        reasons = (_not_allowed(level, action),)
        level = _OBSERVE

    if level and confidence < policy.min_confidence:
        reasons = (*reasons, _low_confidence(level, confidence, policy.min_confidence))
        level = _OBSERVE

    if level:
        cap = policy.action_max_levels.get(action)
        if cap is None:
            cap = policy.default_max_level
            if type(cap) is not AutonomyLevel:
                cap = _level(cap, "policy: default_max_level")
            if cap < level:
                reasons = (*reasons, _default_cap(level, cap))
                level = cap
        else:
            if type(cap) is not AutonomyLevel:
                cap = _level(cap, f"policy: action_max_levels[{action!r}]")
            if cap < level:
                reasons = (*reasons, _action_cap(level, cap, action))
                level = cap

        if survival.ceiling < level:
            ceiling = _LEVELS[survival.ceiling]
            reasons = (*reasons, _ceiling(level, ceiling))
            level = ceiling

        if (
            action in survival.sensitive_actions
            and survival.sensitive_max_level < level
            and action not in survival.lifted_actions
        ):
            cap = _LEVELS[survival.sensitive_max_level]
            reasons = (*reasons, _security_sensitive(level, cap, action))
            level = cap

        if level == _ACT and confidence < policy.act_confidence:
            reasons = (*reasons, _act_confidence(policy.act_confidence, confidence))
            level = _ASK

        if level:
            declined = declines.get(action, 0)
            if type(declined) is not int or declined < 0:
                declined = _count(declined, f"gate inputs: recent_declines[{action!r}]")
            if declined >= policy.decline_penalty_threshold:
                reasons = (*reasons, _decline_penalty(level, action, declined, policy))
                level = _LEVELS[level - 1]

    quiet = policy.quiet_hours
    if level and quiet is not None and quiet.contains(now.time()):
        if urgency >= policy.urgency_override:
            reasons = (*reasons, _quiet_hours_urgent(level, quiet, urgency))
            level = min(level, _SUGGEST)
        else:
            override = policy.urgency_override
            reasons = (*reasons, _quiet_hours(level, quiet, urgency, override))
            level = _OBSERVE

    # SUGGEST and ASK interrupt the user; OBSERVE and ACT do not.
    if _OBSERVE < level < _ACT:
        if urgency * confidence <= cost:
            reasons = (*reasons, _interruption_cost(level, urgency, confidence, cost))
            level = _OBSERVE
        else:
            limit = policy.max_interruptions_per_hour
            # Fewer times than the limit cannot reach it, however many are recent.
            if len(recent) >= limit:
                count = count_recent_interruptions(recent, now)
                if count >= limit:
                    reasons = (*reasons, _hourly_cap(level, count, limit))
                    level = _OBSERVE

    return _new_decision(
        intent,
        requested,
        level,
        reasons,
        cost if type(cost) is float else float(cost),
    )


def count_recent_interruptions(times: Iterable[datetime], now: datetime) -> int:
    """Interruptions less than an hour before `now` (later ones count too: clocks jump)."""
    return sum(1 for moment in times if now - moment < INTERRUPTION_WINDOW)


# The Decision, filled in directly: a frozen dataclass sets each field through
# object.__setattr__, which takes twice as long (half a microsecond, on every decision).


def _direct_constructor[T](
    kind: type[T], names: tuple[str, str, str, str, str]
) -> Callable[[object, object, object, object, object], T]:
    """Build a `kind` with these fields by writing its slots, if it is that plain.

    Calls `kind` with the fields by name instead when its fields are not exactly `names`
    in that order, it has a `__post_init__`, or a field is not a slot: a change in
    models.py then costs speed, never correctness.
    """
    slots = [vars(kind).get(name) for name in names]
    if (
        not is_dataclass(kind)
        or tuple(field.name for field in fields(kind)) != names
        or hasattr(kind, "__post_init__")
        or not all(isinstance(slot, MemberDescriptorType) for slot in slots)
    ):

        def call(a: object, b: object, c: object, d: object, e: object) -> T:
            return kind(**dict(zip(names, (a, b, c, d, e), strict=True)))

        return call
    set_a, set_b, set_c, set_d, set_e = (
        cast(MemberDescriptorType, slot).__set__ for slot in slots
    )
    new = object.__new__

    def construct(a: object, b: object, c: object, d: object, e: object) -> T:
        made = new(kind)
        set_a(made, a)
        set_b(made, b)
        set_c(made, c)
        set_d(made, d)
        set_e(made, e)
        return made

    return construct


_new_decision = _direct_constructor(
    Decision, ("intent", "requested", "granted", "reasons", "interruption_cost")
)


# The reasons, worded only where a layer made a difference. A Reason is frozen, so the
# same words for the same numbers are written once and shared; a key holding a zero is
# not kept, because 0.0 and -0.0 are equal keys but print differently.

_REASONS: dict[tuple[object, ...], Reason] = {}
_MAX_REASONS = 1024


def _shared(key: tuple[object, ...], reason: Reason) -> Reason:
    if 0.0 not in key:
        if len(_REASONS) >= _MAX_REASONS:
            _REASONS.clear()
        _REASONS[key] = reason
    return reason


def _not_allowed(before: AutonomyLevel, action: str) -> Reason:
    key = (ReasonCode.NOT_ALLOWED, before, action)
    return _REASONS.get(key) or _shared(
        key,
        Reason(
            SURVIVAL_LAYER,
            ReasonCode.NOT_ALLOWED,
            before,
            _OBSERVE,
            f"{action!r} is not among the actions you allowed this agent",
        ),
    )


def _low_confidence(before: AutonomyLevel, confidence: float, minimum: float) -> Reason:
    key = (ReasonCode.LOW_CONFIDENCE, before, confidence, minimum)
    return _REASONS.get(key) or _shared(
        key,
        Reason(
            POLICY_LAYER,
            ReasonCode.LOW_CONFIDENCE,
            before,
            _OBSERVE,
            f"confidence {confidence:g} is below the minimum of {minimum:g}",
        ),
    )


def _default_cap(before: AutonomyLevel, cap: AutonomyLevel) -> Reason:
    key = (ReasonCode.ACTION_CAP, before, cap)
    return _REASONS.get(key) or _shared(
        key,
        Reason(
            POLICY_LAYER,
            ReasonCode.ACTION_CAP,
            before,
            cap,
            f"the agent's policy allows actions up to {_name(cap)} by default",
        ),
    )


def _action_cap(before: AutonomyLevel, cap: AutonomyLevel, action: str) -> Reason:
    key = (ReasonCode.ACTION_CAP, before, cap, action)
    return _REASONS.get(key) or _shared(
        key,
        Reason(
            POLICY_LAYER,
            ReasonCode.ACTION_CAP,
            before,
            cap,
            f"the agent's policy allows {action!r} up to {_name(cap)}",
        ),
    )


def _ceiling(before: AutonomyLevel, ceiling: AutonomyLevel) -> Reason:
    key = (ReasonCode.CEILING, before, ceiling)
    return _REASONS.get(key) or _shared(
        key,
        Reason(
            SURVIVAL_LAYER,
            ReasonCode.CEILING,
            before,
            ceiling,
            f"you allow this agent up to {_name(ceiling)}",
        ),
    )


def _security_sensitive(
    before: AutonomyLevel, cap: AutonomyLevel, action: str
) -> Reason:
    key = (ReasonCode.SECURITY_SENSITIVE, before, cap, action)
    return _REASONS.get(key) or _shared(
        key,
        Reason(
            SURVIVAL_LAYER,
            ReasonCode.SECURITY_SENSITIVE,
            before,
            cap,
            f"{action!r} is security-sensitive: at most {_name(cap)} "
            "unless you lift that for it",
        ),
    )


def _act_confidence(needed: float, confidence: float) -> Reason:
    key = (ReasonCode.ACT_CONFIDENCE, needed, confidence)
    return _REASONS.get(key) or _shared(
        key,
        Reason(
            POLICY_LAYER,
            ReasonCode.ACT_CONFIDENCE,
            _ACT,
            _ASK,
            f"acting alone needs confidence {needed:g}, this has {confidence:g}",
        ),
    )


def _decline_penalty(
    before: AutonomyLevel, action: str, declines: int, policy: Policy
) -> Reason:
    threshold, window = policy.decline_penalty_threshold, policy.decline_window_hours
    key = (ReasonCode.DECLINE_PENALTY, before, action, declines, threshold, window)
    return _REASONS.get(key) or _shared(
        key,
        Reason(
            POLICY_LAYER,
            ReasonCode.DECLINE_PENALTY,
            before,
            _LEVELS[before - 1],
            f"you declined {action!r} {declines} times in the last "
            f"{window} h (the agent backs off at {threshold})",
        ),
    )


def _quiet_hours_urgent(
    before: AutonomyLevel, quiet: QuietHours, urgency: float
) -> Reason:
    key = (ReasonCode.QUIET_HOURS_URGENT, before, quiet.start, quiet.end, urgency)
    return _REASONS.get(key) or _shared(
        key,
        Reason(
            POLICY_LAYER,
            ReasonCode.QUIET_HOURS_URGENT,
            before,
            min(before, _SUGGEST),
            f"urgency {urgency:g} breaks through quiet hours ({_window(quiet)}) "
            "as a suggestion at most",
        ),
    )


def _quiet_hours(
    before: AutonomyLevel, quiet: QuietHours, urgency: float, override: float
) -> Reason:
    key = (ReasonCode.QUIET_HOURS, before, quiet.start, quiet.end, urgency, override)
    return _REASONS.get(key) or _shared(
        key,
        Reason(
            POLICY_LAYER,
            ReasonCode.QUIET_HOURS,
            before,
            _OBSERVE,
            f"quiet hours ({_window(quiet)}), and urgency {urgency:g} is below "
            f"the override of {override:g}",
        ),
    )


def _interruption_cost(
    before: AutonomyLevel, urgency: float, confidence: float, cost: float
) -> Reason:
    key = (ReasonCode.INTERRUPTION_COST, before, urgency, confidence, cost)
    return _REASONS.get(key) or _shared(
        key,
        Reason(
            POLICY_LAYER,
            ReasonCode.INTERRUPTION_COST,
            before,
            _OBSERVE,
            f"urgency {urgency:g} times confidence {confidence:g} "
            f"is {urgency * confidence:.3g}, not above the cost of interrupting "
            f"you now ({cost:g})",
        ),
    )


def _hourly_cap(before: AutonomyLevel, recent: int, limit: int) -> Reason:
    key = (ReasonCode.HOURLY_CAP, before, recent, limit)
    return _REASONS.get(key) or _shared(
        key,
        Reason(
            POLICY_LAYER,
            ReasonCode.HOURLY_CAP,
            before,
            _OBSERVE,
            f"{recent} interruptions in the last hour already (the limit is {limit})",
        ),
    )


def _window(quiet: QuietHours) -> str:
    return f"{quiet.start:%H:%M} to {quiet.end:%H:%M}"


# Checks: a brain, an agent file or a host bug must get a sentence, never a traceback.


class _Checked:
    """The last policy, survival policy and tuple of interruption times that passed.

    All three cannot change once checked (frozen dataclasses, a tuple of datetimes), so the
    same object need not be checked again; more are remembered by identity in `_CHECKED`
    (hosts with several agents), and holding them keeps their ids from being reused.
    """

    __slots__ = ("policy", "survival", "times")

    def __init__(self) -> None:
        self.policy: object = _UNSEEN
        self.survival: object = _UNSEEN
        self.times: object = _UNSEEN


_UNSEEN = object()
_LAST = _Checked()
_CHECKED: dict[int, object] = {}
_MAX_CHECKED = 64

# Timezones whose utcoffset() is never None: a datetime carrying one is aware.
_ALWAYS_AWARE: frozenset[type] = frozenset({timezone, ZoneInfo})


def _seen_before(value: object) -> bool:
    return _CHECKED.get(id(value), _UNSEEN) is value


def _checked(value: object) -> None:
    if len(_CHECKED) >= _MAX_CHECKED:
        _CHECKED.clear()
    _CHECKED[id(value)] = value


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
    if _seen_before(policy):
        _LAST.policy = policy
        return
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
    if type(policy) is Policy:
        _checked(policy)
        _LAST.policy = policy


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
    if _seen_before(survival):
        _LAST.survival = survival
        return
    if not isinstance(survival, SurvivalPolicy):
        raise GateInputError(f"the gate needs a SurvivalPolicy, got {survival!r}")
    _level(survival.ceiling, "survival policy: ceiling")
    _level(survival.sensitive_max_level, "survival policy: sensitive_max_level")
    if survival.allowed_actions is not None:
        _names(survival.allowed_actions, "survival policy: allowed_actions")
    _names(survival.sensitive_actions, "survival policy: sensitive_actions")
    _names(survival.lifted_actions, "survival policy: lifted_actions")
    if type(survival) is SurvivalPolicy:
        _checked(survival)
        _LAST.survival = survival


def _check_inputs(inputs: GateInputs) -> None:
    if not isinstance(inputs, GateInputs):
        raise GateInputError(f"the gate needs GateInputs, got {inputs!r}")
    if not _aware(inputs.now):
        raise GateInputError(
            f"gate inputs: now must be a timezone-aware datetime, got {inputs.now!r}"
        )
    _unit(inputs.interruption_cost, "gate inputs: interruption_cost")
    recent: Any = inputs.recent_interruptions
    if not isinstance(recent, tuple | list):
        raise GateInputError(
            "gate inputs: recent_interruptions must be a sequence of datetimes, "
            f"got {recent!r}"
        )
    if not _seen_before(recent):
        for moment in recent:
            if not _aware(moment):
                raise GateInputError(
                    "gate inputs: recent_interruptions must hold timezone-aware "
                    f"datetimes, got {moment!r}"
                )
        if type(recent) is tuple:
            _checked(recent)
    if type(recent) is tuple:
        _LAST.times = recent
    if not isinstance(inputs.recent_declines, Mapping):
        raise GateInputError(
            "gate inputs: recent_declines must map action names to counts, "
            f"got {inputs.recent_declines!r}"
        )


def _aware(value: object) -> bool:
    if type(value) is datetime and type(value.tzinfo) in _ALWAYS_AWARE:
        return True
    return isinstance(value, datetime) and value.utcoffset() is not None
