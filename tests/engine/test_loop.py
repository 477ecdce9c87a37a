"""The pure decision loop: intents in, steps (decision + delivery) out, in order."""

from __future__ import annotations

from datetime import UTC, datetime

from custom_components.pai.engine.gate import decide, highest_level
from custom_components.pai.engine.loop import Delivery, steps
from custom_components.pai.engine.models import (
    AutonomyLevel,
    GateInputs,
    Intent,
    Policy,
    ReasonCode,
    SurvivalPolicy,
)
from custom_components.pai.engine.records import ExecutionStatus

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
POLICY = Policy(default_max_level=AutonomyLevel.ACT, max_interruptions_per_hour=1)
SURVIVAL = SurvivalPolicy()


def intent(action: str, level: int) -> Intent:
    return Intent(
        action, confidence=0.99, urgency=0.9, requested_level=AutonomyLevel(level)
    )


def test_each_level_is_delivered_its_own_way() -> None:
    made = steps(
        [intent("log", 0), intent("nudge", 1), intent("ask", 2), intent("run", 3)],
        Policy(default_max_level=AutonomyLevel.ACT, max_interruptions_per_hour=9),
        GateInputs(now=NOW),
        SURVIVAL,
        runnable={"ask", "run"},
    )

    assert [s.delivery for s in made] == [
        Delivery.RECORD,
        Delivery.SUGGEST,
        Delivery.ASK,
        Delivery.ACT,
    ]
    assert [s.status for s in made] == [
        ExecutionStatus.OBSERVED,
        ExecutionStatus.SUGGESTED,
        ExecutionStatus.PENDING_APPROVAL,
        ExecutionStatus.EXECUTED,
    ]


def test_an_action_nothing_runs_is_recorded_as_unbound() -> None:
    [ask, act, nudge] = steps(
        [intent("ask", 2), intent("run", 3), intent("nudge", 1)],
        Policy(default_max_level=AutonomyLevel.ACT, max_interruptions_per_hour=9),
        GateInputs(now=NOW),
        SURVIVAL,
        runnable=(),
    )

    assert ask.delivery is act.delivery is Delivery.UNBOUND
    assert ask.status == ExecutionStatus.NO_ACTION_REGISTERED
    assert nudge.delivery is Delivery.SUGGEST  # a nudge needs nothing bound


def test_an_interruption_counts_for_the_next_intent_of_the_same_event() -> None:
    first, second = steps(
        [intent("nudge", 1), intent("nudge again", 1)],
        POLICY,
        GateInputs(now=NOW),
        SURVIVAL,
        runnable=(),
    )

    assert first.decision.granted == AutonomyLevel.SUGGEST
    assert first.decision.interrupts
    assert second.decision.granted == AutonomyLevel.OBSERVE
    assert [r.code for r in second.decision.reasons] == [ReasonCode.HOURLY_CAP]


def test_the_level_offered_to_an_llm_is_the_gates_own() -> None:
    survival = SurvivalPolicy(
        ceiling=AutonomyLevel.ACT,
        sensitive_actions=frozenset({"unlock"}),
        sensitive_max_level=AutonomyLevel.SUGGEST,
        allowed_actions=frozenset({"unlock", "light_on"}),
    )
    policy = Policy(
        default_max_level=AutonomyLevel.ACT,
        action_max_levels={"light_on": AutonomyLevel.ASK},
    )

    assert highest_level("unlock", policy, survival) == AutonomyLevel.SUGGEST
    assert highest_level("light_on", policy, survival) == AutonomyLevel.ASK
    assert highest_level("siren", policy, survival) == AutonomyLevel.OBSERVE
    lifted = SurvivalPolicy(
        sensitive_actions=frozenset({"unlock"}),
        lifted_actions=frozenset({"unlock"}),
        ceiling=AutonomyLevel.ACT,
    )
    assert highest_level("unlock", policy, lifted) == AutonomyLevel.ACT
    # Never above what the gate grants the same action asking for everything.
    for action in ("unlock", "light_on", "siren"):
        granted = decide(intent(action, 3), policy, GateInputs(now=NOW), survival)
        assert granted.granted <= highest_level(action, policy, survival)
