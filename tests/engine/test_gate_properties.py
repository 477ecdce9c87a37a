"""What the gate guarantees for every input, each promise on its own.

Hypothesis draws whole situations (intent, agent policy, the user's survival policy, the
time and the host's memory); each test states one promise a user relies on. The last ones
check that the gate's fast paths decide exactly what the full checks decide.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, time, timedelta, timezone
import json
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.pai.engine import gate
from custom_components.pai.engine.gate import decide
from custom_components.pai.engine.ledger import GovernanceLedger
from custom_components.pai.engine.models import (
    SECURITY_SENSITIVE_ACTIONS,
    AutonomyLevel,
    Decision,
    GateInputs,
    Intent,
    Policy,
    QuietHours,
    ReasonCode,
    SurvivalPolicy,
)

OBSERVE, SUGGEST, ASK, ACT = AutonomyLevel
START = datetime(2026, 3, 28, 20, 0, tzinfo=UTC)
ACTIONS = (
    "notify.phone",
    "light.turn_off",
    "climate.set_temperature",
    "lock.unlock",
    "cover.open_cover",
)
PROPERTY = settings(max_examples=300, deadline=None, derandomize=True)

levels = st.sampled_from(list(AutonomyLevel))
scores = st.sampled_from([0.0, 0.3, 0.4, 0.5, 0.6, 0.85, 0.9, 1.0]) | st.floats(0, 1)
actions = st.sampled_from(ACTIONS)
action_sets = st.frozensets(actions)
zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), ZoneInfo("Europe/Berlin")]
)


@dataclass(frozen=True)
class Situation:
    intent: Intent
    policy: Policy
    inputs: GateInputs
    survival: SurvivalPolicy

    def decide(self) -> Decision:
        return decide(self.intent, self.policy, self.inputs, self.survival)


@st.composite
def intents(draw: st.DrawFn) -> Intent:
    return Intent(
        draw(actions),
        confidence=draw(scores),
        urgency=draw(scores),
        requested_level=draw(levels),
    )


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    quiet = draw(
        st.none()
        | st.builds(
            QuietHours,
            st.times().map(lambda moment: moment.replace(second=0, microsecond=0)),
            st.times().map(lambda moment: moment.replace(second=0, microsecond=0)),
        )
    )
    return Policy(
        min_confidence=draw(scores),
        act_confidence=draw(scores),
        default_max_level=draw(levels),
        action_max_levels=draw(st.dictionaries(actions, levels)),
        quiet_hours=quiet,
        max_interruptions_per_hour=draw(st.integers(0, 8)),
        urgency_override=draw(scores),
        decline_penalty_threshold=draw(st.integers(0, 4)),
        decline_window_hours=draw(st.integers(0, 48)),
    )


@st.composite
def survival_policies(draw: st.DrawFn) -> SurvivalPolicy:
    return SurvivalPolicy(
        ceiling=draw(levels),
        allowed_actions=draw(st.none() | action_sets),
        sensitive_actions=draw(st.just(SECURITY_SENSITIVE_ACTIONS) | action_sets),
        sensitive_max_level=draw(levels),
        lifted_actions=draw(action_sets),
    )


@st.composite
def gate_inputs(draw: st.DrawFn) -> GateInputs:
    now = START + timedelta(minutes=draw(st.integers(0, 60 * 24)))
    now = now.astimezone(draw(zones))
    minutes_ago = draw(st.lists(st.integers(-30, 120), max_size=10))
    return GateInputs(
        now=now,
        interruption_cost=draw(scores),
        recent_interruptions=tuple(now - timedelta(minutes=m) for m in minutes_ago),
        recent_declines=draw(st.dictionaries(actions, st.integers(0, 5))),
    )


situations = st.builds(
    Situation, intents(), policies(), gate_inputs(), survival_policies()
)


# The ceilings: nothing is ever granted above what was asked or allowed.


@PROPERTY
@given(situations)
def test_never_more_than_requested(case: Situation) -> None:
    assert case.decide().granted <= case.intent.requested_level


@PROPERTY
@given(situations)
def test_never_above_the_actions_cap_or_else_the_default_cap(case: Situation) -> None:
    cap = case.policy.action_max_levels.get(
        case.intent.action, case.policy.default_max_level
    )

    assert case.decide().granted <= cap


@PROPERTY
@given(situations)
def test_never_above_the_users_ceiling(case: Situation) -> None:
    assert case.decide().granted <= case.survival.ceiling


@PROPERTY
@given(situations)
def test_only_observe_when_confidence_is_below_the_minimum(case: Situation) -> None:
    decision = case.decide()

    if case.intent.confidence < case.policy.min_confidence:
        assert decision.granted is OBSERVE


@PROPERTY
@given(situations)
def test_never_acts_alone_below_the_act_confidence(case: Situation) -> None:
    decision = case.decide()

    if case.intent.confidence < case.policy.act_confidence:
        assert decision.granted is not ACT


@PROPERTY
@given(situations)
def test_in_quiet_hours_only_observe_or_an_urgent_suggestion(case: Situation) -> None:
    quiet = case.policy.quiet_hours
    decision = case.decide()

    if quiet is not None and quiet.contains(case.inputs.now.time()):
        assert decision.granted in (OBSERVE, SUGGEST)
        if decision.granted is SUGGEST:
            assert case.intent.urgency >= case.policy.urgency_override


@PROPERTY
@given(situations)
def test_an_action_the_user_did_not_allow_is_only_observed(case: Situation) -> None:
    allowed = case.survival.allowed_actions
    decision = case.decide()

    if allowed is not None and case.intent.action not in allowed:
        assert decision.granted is OBSERVE
        if case.intent.requested_level is not OBSERVE:
            assert [reason.code for reason in decision.reasons] == [
                ReasonCode.NOT_ALLOWED
            ]


@PROPERTY
@given(situations)
def test_a_sensitive_action_stays_at_or_below_its_cap_unless_lifted(
    case: Situation,
) -> None:
    action, survival = case.intent.action, case.survival
    decision = case.decide()

    if action in survival.sensitive_actions and action not in survival.lifted_actions:
        assert decision.granted <= survival.sensitive_max_level


# The hourly cap over time, with the ledger as the gate's memory (and restarts).


# A busy agent that mostly may interrupt, so that the cap is what holds it back.
eager_scores = st.floats(0.6, 1.0) | st.just(1.0)


@st.composite
def busy_policies(draw: st.DrawFn) -> Policy:
    return replace(
        draw(policies()),
        min_confidence=draw(st.floats(0, 0.6)),
        default_max_level=draw(st.sampled_from([SUGGEST, ASK, ACT])),
        action_max_levels={},
        quiet_hours=draw(st.none() | st.just(QuietHours(time(23), time(6)))),
        max_interruptions_per_hour=draw(st.integers(0, 6)),
    )


@st.composite
def busy_days(draw: st.DrawFn) -> list[tuple[int, Intent, bool, bool]]:
    """Steps: minutes since the last one, the intent, a decline after it, a restart."""
    step = st.tuples(
        st.integers(0, 12),
        st.builds(
            Intent,
            actions,
            confidence=eager_scores,
            urgency=eager_scores,
            requested_level=levels,
        ),
        st.booleans(),
        st.integers(0, 3).map(lambda roll: roll == 0),
    )
    return draw(st.lists(step, min_size=1, max_size=80))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    policy=busy_policies(),
    cost=st.sampled_from([0.0, 0.3, 0.5]),
    zone=zones,
    steps=busy_days(),
)
def test_no_rolling_hour_ever_holds_more_interruptions_than_the_cap(
    policy: Policy,
    cost: float,
    zone: Any,
    steps: list[tuple[int, Intent, bool, bool]],
) -> None:
    ledger = GovernanceLedger()
    clock = START
    granted: list[datetime] = []
    for minutes, intent, declined, restart in steps:
        clock += timedelta(minutes=minutes)
        now = clock.astimezone(zone)  # the host's local time; hours are real hours
        decision = decide(intent, policy, ledger.inputs(now, policy, cost))
        ledger.record(decision, now)
        if decision.interrupts:
            granted.append(clock)
            if declined:
                ledger.record_decline(intent.action, now)
        if restart:
            ledger.prune(now, policy)
            ledger = GovernanceLedger.from_dict(
                json.loads(json.dumps(ledger.to_dict()))
            )

    limit = policy.max_interruptions_per_hour
    for start in granted:
        in_hour = [
            moment
            for moment in granted
            if timedelta(0) <= moment - start < timedelta(hours=1)
        ]
        assert len(in_hour) <= limit


# The fast paths decide exactly what the full checks decide.


# Of other classes than the usual ones, the gate checks them in full every time.


class _OtherIntent(Intent):
    pass


class _OtherPolicy(Policy):
    pass


class _OtherInputs(GateInputs):
    pass


class _OtherSurvival(SurvivalPolicy):
    pass


def _as[T](kind: type[T], model: Any, **changes: Any) -> T:
    """The same fields as `model`, some changed, as an instance of `kind`."""
    values = {field.name: getattr(model, field.name) for field in fields(model)}
    return kind(**values | changes)


@PROPERTY
@given(situations)
def test_unusual_but_valid_types_get_the_same_decision(case: Situation) -> None:
    intent, policy, inputs, survival = (
        case.intent,
        case.policy,
        case.inputs,
        case.survival,
    )
    unusual_intent = _as(
        _OtherIntent,
        intent,
        confidence=_plain(intent.confidence),
        urgency=_plain(intent.urgency),
        requested_level=int(intent.requested_level),
    )
    unusual_policy = _as(
        _OtherPolicy,
        policy,
        action_max_levels=MappingProxyType(dict(policy.action_max_levels)),
    )
    unusual_inputs = _as(
        _OtherInputs,
        inputs,
        interruption_cost=_plain(inputs.interruption_cost),
        recent_interruptions=list(inputs.recent_interruptions),
        recent_declines=MappingProxyType(dict(inputs.recent_declines)),
    )
    unusual_survival = _as(
        _OtherSurvival, survival, sensitive_actions=set(survival.sensitive_actions)
    )

    usual = case.decide()
    unusual = decide(unusual_intent, unusual_policy, unusual_inputs, unusual_survival)

    assert (unusual.granted, unusual.reasons) == (usual.granted, usual.reasons)
    assert unusual.requested is usual.requested
    assert unusual.interruption_cost == usual.interruption_cost


def _plain(score: float) -> float:
    """The same score as an int where it is whole, which the gate also accepts."""
    return int(score) if score in (0.0, 1.0) else score


def test_reasons_tell_zero_from_negative_zero_though_they_are_equal() -> None:
    now = GateInputs(now=START)
    zero = decide(Intent("notify.phone", confidence=0.0), Policy(), now)
    negative = decide(Intent("notify.phone", confidence=-0.0), Policy(), now)
    zero_again = decide(Intent("notify.phone", confidence=0.0), Policy(), now)

    assert zero.reasons[0].detail == "confidence 0 is below the minimum of 0.4"
    assert negative.reasons[0].detail == "confidence -0 is below the minimum of 0.4"
    assert zero_again.reasons[0].detail == "confidence 0 is below the minimum of 0.4"


def test_many_different_reasons_are_each_worded_for_their_own_numbers() -> None:
    now = GateInputs(now=START)
    details = [
        decide(Intent("notify.phone", confidence=n / 10_000), Policy(), now)
        .reasons[0]
        .detail
        for n in range(1, 3001)
    ]

    assert details[0] == "confidence 0.0001 is below the minimum of 0.4"
    assert details[-1] == "confidence 0.3 is below the minimum of 0.4"
    assert len(set(details)) == 3000


def test_every_new_policy_is_checked_though_an_equal_one_passed_before() -> None:
    now = GateInputs(now=START)
    decide(
        Intent("notify.phone"), Policy(quiet_hours=QuietHours(time(22), time(7))), now
    )
    decide(Intent("notify.phone"), Policy(), now)

    with pytest.raises(gate.GateInputError, match="policy: quiet_hours must be"):
        decide(Intent("notify.phone"), Policy(quiet_hours=(22, 7)), now)  # type: ignore[arg-type]
    with pytest.raises(gate.GateInputError, match="recent_interruptions must hold"):
        decide(
            Intent("notify.phone"),
            Policy(),
            replace(now, recent_interruptions=(START.replace(tzinfo=None),)),
        )


def test_a_decision_not_shaped_as_expected_is_built_by_its_own_constructor() -> None:
    built: list[str] = []

    @dataclass(frozen=True, slots=True)
    class Checked:
        a: int
        b: int
        c: int
        d: int
        e: int

        def __post_init__(self) -> None:
            built.append("checked")

    @dataclass(frozen=True)
    class NoSlots:
        a: int
        b: int = 0
        c: int = 0
        d: int = 0
        e: int = 0

    class NotADataclass:
        def __init__(self, **fields: int) -> None:
            self.fields = fields

    names = ("a", "b", "c", "d", "e")
    reordered = ("e", "d", "c", "b", "a")

    assert gate._direct_constructor(Checked, names)(1, 2, 3, 4, 5) == Checked(
        1, 2, 3, 4, 5
    )
    assert built == ["checked", "checked"]
    assert gate._direct_constructor(NoSlots, reordered)(5, 4, 3, 2, 1) == NoSlots(
        1, 2, 3, 4, 5
    )
    assert gate._direct_constructor(NotADataclass, names)(1, 2, 3, 4, 5).fields == {
        "a": 1,
        "b": 2,
        "c": 3,
        "d": 4,
        "e": 5,
    }
    built_directly = gate._new_decision(Intent("x"), ACT, ASK, (), 0.5)
    assert built_directly == Decision(Intent("x"), ACT, ASK, (), 0.5)
    assert built_directly.interrupts
