"""Gate decisions per second: PAI's `decide` against paigent 0.1.3's `ProactivityPolicy.gate`.

The gate runs once per intent a brain proposes, so it must not be the slow part of the loop,
though it explains itself where paigent does not. Both gates judge the same generated intents
(every action and level, typical and arbitrary scores) under the same policy (quiet hours
22-07, per-action caps), decline counts and interruption load, in the same process,
alternating, best of three rounds of 200,000 decisions each.

Both sides get their intents made before the clock starts (ours check their values as they
are made, as every model does; paigent's check nothing), and what else the gate reads is
made once per batch of 1,000:

- ours gets one `GateInputs` per batch (checked as it is made), from a tuple of recent
  interruption times; a second figure builds a `GateInputs` for every decision, as a host
  calling `GovernanceLedger.inputs` before each one would;
- paigent gets one memory object and reads its own clocks; its hourly list is reset before
  each batch to as many entries as our tuple holds. It appends its own grants, so it reaches
  its hourly cap within a batch and grants less (the shares printed differ), for the same
  work per decision.

Run it with `scripts/run python -m benchmarks.bench_gate` or `scripts/bench gate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time as wall_time, timedelta
import random
import time
from typing import Any

from pai import core as reference_core, policy as reference_policy

from custom_components.pai.engine.gate import decide
from custom_components.pai.engine.models import (
    AutonomyLevel,
    GateInputs,
    Intent,
    Policy,
    QuietHours,
)

DECISIONS = 200_000
BATCH = 1_000
ROUNDS = 3
GOAL_RATIO = 1.0

ACTIONS = ("notify.phone", "light.turn_off", "climate.set_temperature", "lock.unlock")
SCORES = (0.2, 0.45, 0.6, 0.8, 0.9, 0.95)
COST = 0.3
DECLINES = {"notify.phone": 3, "light.turn_off": 1}
RECENT_INTERRUPTIONS = 3
POLICY = Policy(
    default_max_level=AutonomyLevel.SUGGEST,
    action_max_levels={
        "light.turn_off": AutonomyLevel.ACT,
        "climate.set_temperature": AutonomyLevel.ASK,
        "lock.unlock": AutonomyLevel.ACT,
    },
    quiet_hours=QuietHours(wall_time(22), wall_time(7)),
)


@dataclass(frozen=True, slots=True)
class _Proposal:
    action: str
    confidence: float
    urgency: float
    level: AutonomyLevel


def proposals(count: int, seed: int = 20260314) -> list[_Proposal]:
    """A reproducible mix: every action and level, typical and arbitrary scores."""
    rng = random.Random(seed)  # noqa: S311  # a reproducible mix, not a secret

    def score() -> float:
        return rng.choice(SCORES) if rng.random() < 0.7 else round(rng.random(), 3)

    return [
        _Proposal(
            rng.choice(ACTIONS), score(), score(), rng.choice(list(AutonomyLevel))
        )
        for _ in range(count)
    ]


class _DeclineMemory:
    """paigent's Memory, as far as its gate reads it."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts

    def recent_declines(self, action: str, hours: int = 24) -> int:
        return self.counts.get(action, 0)


def _reference_policy() -> reference_policy.ProactivityPolicy:
    quiet = POLICY.quiet_hours
    assert quiet is not None
    return reference_policy.ProactivityPolicy(
        min_confidence=POLICY.min_confidence,
        act_confidence=POLICY.act_confidence,
        default_max_level=reference_core.AutonomyLevel(POLICY.default_max_level),
        action_max_levels={
            action: reference_core.AutonomyLevel(level)
            for action, level in POLICY.action_max_levels.items()
        },
        quiet_hours=(quiet.start.hour, quiet.end.hour),
        max_interruptions_per_hour=POLICY.max_interruptions_per_hour,
        urgency_override=POLICY.urgency_override,
        decline_penalty_threshold=POLICY.decline_penalty_threshold,
        interruption_cost_fn=lambda: COST,
    )


def time_ours(
    intents: list[Intent], batches: int, *, inputs_each_time: bool = False
) -> tuple[float, list[int]]:
    """Seconds for `batches` passes over `intents`, and the levels granted in the last.

    The inputs are built once per batch, as paigent's memory object is made once;
    `inputs_each_time` also builds (and so checks) a `GateInputs` for every decision.
    """
    policy, declines = POLICY, DECLINES
    granted: list[int] = []
    started = time.perf_counter()
    for _ in range(batches):
        # paigent reads the local wall clock for quiet hours; so does the host here.
        now = datetime.now().astimezone()
        recent = tuple(
            now - timedelta(minutes=5 * i) for i in range(RECENT_INTERRUPTIONS)
        )
        inputs = GateInputs(
            now=now,
            interruption_cost=COST,
            recent_interruptions=recent,
            recent_declines=declines,
        )
        if inputs_each_time:
            granted = [
                decide(
                    intent,
                    policy,
                    GateInputs(
                        now=now,
                        interruption_cost=COST,
                        recent_interruptions=recent,
                        recent_declines=declines,
                    ),
                ).granted
                for intent in intents
            ]
        else:
            granted = [decide(intent, policy, inputs).granted for intent in intents]
    return time.perf_counter() - started, granted


def time_paigent(
    intents: list[reference_core.Intent], batches: int
) -> tuple[float, list[int]]:
    """Seconds for `batches` passes over `intents`, and the levels granted in the last."""
    reference = _reference_policy()
    memory = _DeclineMemory(DECLINES)
    granted: list[int] = []
    started = time.perf_counter()
    for _ in range(batches):
        now = time.time()
        # paigent keeps its hourly counter here; give it the same load as ours.
        reference._interruptions = [  # noqa: SLF001
            now - 300 * i for i in range(RECENT_INTERRUPTIONS)
        ]
        gate = reference.gate
        granted = [gate(intent, memory) for intent in intents]
    return time.perf_counter() - started, granted


def main() -> list[dict[str, Any]]:
    plan = proposals(BATCH)
    ours_intents = [
        Intent(
            p.action,
            confidence=p.confidence,
            urgency=p.urgency,
            requested_level=p.level,
        )
        for p in plan
    ]
    their_intents = [
        reference_core.Intent(
            p.action,
            confidence=p.confidence,
            urgency=p.urgency,
            requested_level=reference_core.AutonomyLevel(p.level),
        )
        for p in plan
    ]
    batches = DECISIONS // BATCH
    decisions = batches * BATCH
    ours_best = each_best = theirs_best = float("inf")
    ours_granted: list[int] = []
    their_granted: list[int] = []
    for _ in range(ROUNDS):
        seconds, ours_granted = time_ours(ours_intents, batches)
        ours_best = min(ours_best, seconds)
        seconds, _ = time_ours(ours_intents, batches, inputs_each_time=True)
        each_best = min(each_best, seconds)
        seconds, their_granted = time_paigent(their_intents, batches)
        theirs_best = min(theirs_best, seconds)

    ours_rate = decisions / ours_best
    each_rate = decisions / each_best
    their_rate = decisions / theirs_best
    ratio = ours_rate / their_rate
    print(f"gate decisions per second over {decisions:,} intents, best of {ROUNDS}:")
    print(
        f"  ours (decide)                     {ours_rate:>12,.0f}  {1e6 / ours_rate:.2f} us each"
    )
    print(
        f"  ours, GateInputs built each time  {each_rate:>12,.0f}  {1e6 / each_rate:.2f} us each"
    )
    print(
        f"  paigent 0.1.3 ProactivityPolicy   {their_rate:>12,.0f}  {1e6 / their_rate:.2f} us each"
    )
    print(
        f"  ratio ours/paigent {ratio:.2f} (with GateInputs each time "
        f"{each_rate / their_rate:.2f}); goal >= {GOAL_RATIO}"
    )
    for name, levels in (("ours", ours_granted), ("paigent", their_granted)):
        shares = ", ".join(
            f"{level.name.lower()} {levels.count(level) / len(levels):.0%}"
            for level in AutonomyLevel
        )
        print(f"  granted in the last batch, {name}: {shares}")
    return [
        {
            "benchmark": "gate",
            "metric": "decisions_per_s",
            "value": ours_rate,
            "baseline": their_rate,
            "ratio": ratio,
            "goal": f">= {GOAL_RATIO} x paigent 0.1.3",
            "met": ratio >= GOAL_RATIO,
        }
    ]


if __name__ == "__main__":
    main()
