"""The gate grants what paigent 0.1.3's `ProactivityPolicy.gate` grants, step for step.

paigent reads the wall clock and keeps its hourly counter inside the policy; here its clock
is frozen at each step and this side's host bookkeeping (recent interruptions) is played by
the test. Only the survival layer, which paigent does not have, may make this gate stricter.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta
from types import SimpleNamespace
from unittest import mock

from hypothesis import given, settings, strategies as st
from pai import core as reference_core, policy as reference_policy

from custom_components.pai.engine.gate import decide
from custom_components.pai.engine.models import (
    AutonomyLevel,
    GateInputs,
    Intent,
    Policy,
    QuietHours,
    SurvivalPolicy,
)

ACTIONS = ("notify.phone", "light.turn_off", "lock.unlock")
START = datetime(2026, 3, 14, 20, 0, tzinfo=UTC)
NO_SURVIVAL_LAYER = SurvivalPolicy(sensitive_actions=frozenset())

levels = st.sampled_from(list(AutonomyLevel))
scores = st.sampled_from([0.0, 0.3, 0.4, 0.5, 0.6, 0.85, 0.9, 1.0]) | st.floats(0, 1)


class _DeclineMemory:
    """paigent's Memory, as far as its gate reads it."""

    def __init__(self, counts: Mapping[str, int]) -> None:
        self.counts = counts

    def recent_declines(self, action: str, hours: int = 24) -> int:
        return self.counts.get(action, 0)


@contextmanager
def _reference_clock(moment: datetime) -> Iterator[None]:
    """Freeze the two clocks paigent's gate reads: local wall time and epoch seconds."""

    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz: object = None) -> FrozenDatetime:
            wall = moment.replace(tzinfo=None)
            return cls(wall.year, wall.month, wall.day, wall.hour, wall.minute)

    epoch = SimpleNamespace(time=moment.timestamp)
    with (
        mock.patch.object(reference_policy, "datetime", FrozenDatetime),
        mock.patch.object(reference_policy, "time", epoch),
    ):
        yield


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    quiet = draw(st.none() | st.tuples(st.integers(0, 23), st.integers(0, 23)))
    return Policy(
        min_confidence=draw(scores),
        act_confidence=draw(scores),
        default_max_level=draw(levels),
        action_max_levels=draw(st.dictionaries(st.sampled_from(ACTIONS), levels)),
        quiet_hours=None
        if quiet is None
        else QuietHours(time(quiet[0]), time(quiet[1])),
        max_interruptions_per_hour=draw(st.integers(0, 4)),
        urgency_override=draw(scores),
        decline_penalty_threshold=draw(st.integers(0, 4)),
    )


step = st.tuples(st.sampled_from(ACTIONS), scores, scores, levels, st.integers(0, 40))


def _reference_for(policy: Policy, cost: float) -> reference_policy.ProactivityPolicy:
    quiet = policy.quiet_hours
    return reference_policy.ProactivityPolicy(
        min_confidence=policy.min_confidence,
        act_confidence=policy.act_confidence,
        default_max_level=reference_core.AutonomyLevel(policy.default_max_level),
        action_max_levels={
            action: reference_core.AutonomyLevel(level)
            for action, level in policy.action_max_levels.items()
        },
        quiet_hours=None if quiet is None else (quiet.start.hour, quiet.end.hour),
        max_interruptions_per_hour=policy.max_interruptions_per_hour,
        urgency_override=policy.urgency_override,
        decline_penalty_threshold=policy.decline_penalty_threshold,
        interruption_cost_fn=lambda: cost,
    )


def _run_both(
    policy: Policy,
    survival: SurvivalPolicy,
    cost: float,
    declines: dict[str, int],
    plan: list[tuple[str, float, float, AutonomyLevel, int]],
) -> list[tuple[AutonomyLevel, int]]:
    """Each step's level here and paigent's, with this side's host bookkeeping."""
    reference = _reference_for(policy, cost)
    memory = _DeclineMemory(declines)
    interruptions: list[datetime] = []
    now = START
    granted = []
    for action, confidence, urgency, requested, minutes in plan:
        now += timedelta(minutes=minutes)
        with _reference_clock(now):
            theirs = reference.gate(
                reference_core.Intent(
                    action,
                    confidence=confidence,
                    urgency=urgency,
                    requested_level=reference_core.AutonomyLevel(requested),
                ),
                memory,
            )
        ours = decide(
            Intent(
                action,
                confidence=confidence,
                urgency=urgency,
                requested_level=requested,
            ),
            policy,
            GateInputs(
                now=now,
                interruption_cost=cost,
                recent_interruptions=tuple(interruptions),
                recent_declines=declines,
            ),
            survival,
        )
        if ours.interrupts:
            interruptions.append(now)
        granted.append((ours.granted, int(theirs)))
    return granted


@settings(max_examples=250, deadline=None)
@given(
    policy=policies(),
    cost=scores,
    declines=st.dictionaries(st.sampled_from(ACTIONS), st.integers(0, 5)),
    plan=st.lists(step, min_size=1, max_size=12),
)
def test_without_a_survival_layer_every_step_matches_paigent(
    policy: Policy,
    cost: float,
    declines: dict[str, int],
    plan: list[tuple[str, float, float, AutonomyLevel, int]],
) -> None:
    for ours, theirs in _run_both(policy, NO_SURVIVAL_LAYER, cost, declines, plan):
        assert int(ours) == theirs


@settings(max_examples=150, deadline=None)
@given(
    policy=policies(),
    cost=scores,
    single=step,
    ceiling=levels,
)
def test_the_survival_layer_is_never_looser_than_paigent(
    policy: Policy,
    cost: float,
    single: tuple[str, float, float, AutonomyLevel, int],
    ceiling: AutonomyLevel,
) -> None:
    # One intent only: once the two differ, their hourly counts differ too.
    survival = SurvivalPolicy(ceiling=ceiling)

    ((ours, theirs),) = _run_both(policy, survival, cost, {}, [single])

    assert int(ours) <= theirs
    assert ours <= ceiling


def test_paigent_lets_a_brain_unlock_the_door_alone_and_this_gate_asks() -> None:
    policy = Policy(action_max_levels={"lock.unlock": AutonomyLevel.ACT})
    plan = [("lock.unlock", 0.95, 0.5, AutonomyLevel.ACT, 0)]

    ((ours, theirs),) = _run_both(policy, SurvivalPolicy(), 0.3, {}, plan)

    assert theirs == AutonomyLevel.ACT
    assert ours is AutonomyLevel.ASK
