"""What the gate guarantees for every input, each promise on its own.

Hypothesis draws whole situations (intent, agent policy, the user's survival policy, the
time and the host's memory); each test states one promise a user relies on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta, timezone
import json
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings, strategies as st

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


# Each reason is worded for its own numbers.


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
