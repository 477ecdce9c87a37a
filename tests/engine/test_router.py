"""Which brain answers an escalated event, and what happens when none can.

The brains here are scripted implementations of the `Brain` protocol (the interface the
router is written against); the clock is injected, so budgets and circuits are exact.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
import json
import logging
from typing import Any

import pytest

from custom_components.pai.engine.brain import (
    ActionChoice,
    BrainError,
    BrainRequest,
    BrainResult,
    FailureKind,
    Usage,
)
from custom_components.pai.engine.models import AutonomyLevel, Event, Intent
from custom_components.pai.engine.router import RULES, BrainRouter, RouterLimits
from tests.scripted_brain import ScriptedBrain

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
RULE_INTENT = Intent("porch_light", rationale="the rule's own answer")


class Scripted(ScriptedBrain):
    """Answers "porch_light" when its script has run out."""

    def default(self) -> BrainResult:
        return answer(self.name)


def answer(brain: str, cost: float = 0.001) -> BrainResult:
    return BrainResult(
        intents=(
            Intent("porch_light", rationale=f"{brain} says so", requested_level=3),
        ),
        usage=Usage(brain=brain, model="m", input_tokens=900, cost=cost),
        dropped=("unknown action 'unlock'",),
    )


def request() -> BrainRequest:
    return BrainRequest(
        agent="Porch watch",
        event=Event(source="ha", kind="ha.state", payload={"to_state": "on"}),
        context={},
        actions=(ActionChoice("porch_light", AutonomyLevel.ACT),),
    )


async def route(
    router: BrainRouter, now: datetime = T0, *, private: bool = False
) -> Any:
    return await router.async_route(request(), [RULE_INTENT], now=now, private=private)


def unavailable() -> BrainError:
    return BrainError(FailureKind.UNAVAILABLE, "server down")


# --- the chain ------------------------------------------------------------------------------


async def test_the_first_brain_that_answers_wins() -> None:
    first, second = Scripted("cloud"), Scripted("local", local=True)
    outcome = await route(BrainRouter([first, second]))
    assert outcome.brain == "cloud"
    assert outcome.intents[0].rationale == "cloud says so"
    assert outcome.usage.cost == 0.001
    assert outcome.notes == ()
    assert outcome.to_dict() == {
        "name": "cloud",
        "usage": outcome.usage.to_dict(),
        "dropped": ["unknown action 'unlock'"],
    }
    assert len(first.requests) == 1
    assert second.requests == []


async def test_a_failing_brain_passes_to_the_next() -> None:
    first = Scripted("cloud", unavailable())
    second = Scripted("local", local=True)
    outcome = await route(BrainRouter([first, second]))
    assert outcome.brain == "local"
    assert outcome.notes == ("cloud: unavailable: server down",)
    assert outcome.to_dict()["fallback"] == ["cloud: unavailable: server down"]


async def test_no_brain_answering_leaves_the_rules_answer() -> None:
    router = BrainRouter(
        [
            Scripted("cloud", BrainError(FailureKind.INVALID_OUTPUT, "not JSON")),
            Scripted("other", unavailable()),
        ]
    )
    outcome = await route(router)
    assert outcome.brain == RULES
    assert outcome.intents == (RULE_INTENT,)
    assert outcome.usage is None
    assert outcome.notes == (
        "cloud: invalid_output: not JSON",
        "other: unavailable: server down",
    )
    assert outcome.to_dict() == {"name": "rules", "fallback": list(outcome.notes)}


async def test_no_brains_at_all_is_the_rules() -> None:
    router = BrainRouter([])
    assert not router.has_llm
    outcome = await route(router)
    assert (outcome.brain, outcome.intents, outcome.notes) == (
        "rules",
        (RULE_INTENT,),
        (),
    )


async def test_a_brain_bug_is_a_failure_not_a_lost_event(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outcome = await route(BrainRouter([Scripted("cloud", KeyError("choices"))]))
    assert outcome.brain == RULES
    assert outcome.intents == (RULE_INTENT,)
    assert outcome.notes == ("cloud: unexpected error: KeyError('choices')",)
    assert "LLM brain cloud failed unexpectedly" in caplog.text


# --- privacy ---------------------------------------------------------------------------------


async def test_private_events_skip_cloud_brains_but_use_local_ones() -> None:
    cloud, local = Scripted("cloud"), Scripted("local", local=True)
    outcome = await route(BrainRouter([cloud, local]), private=True)
    assert outcome.brain == "local"
    assert cloud.requests == []
    assert outcome.notes == ("cloud: private data is not sent to a cloud brain",)


async def test_private_events_with_only_a_cloud_brain_stay_with_the_rules() -> None:
    cloud = Scripted("cloud")
    outcome = await route(BrainRouter([cloud]), private=True)
    assert outcome.brain == RULES
    assert outcome.intents == (RULE_INTENT,)
    assert cloud.requests == []


# --- budget ----------------------------------------------------------------------------------


async def test_calls_per_hour_is_a_rolling_window() -> None:
    brain = Scripted("cloud")
    router = BrainRouter([brain], RouterLimits(max_calls_per_hour=2))
    for minute in (0, 10):
        assert (await route(router, T0 + timedelta(minutes=minute))).brain == "cloud"
    assert router.calls_last_hour(T0 + timedelta(minutes=20)) == 2
    assert router.over_budget(T0 + timedelta(minutes=20)) == "calls"

    outcome = await route(router, T0 + timedelta(minutes=20))
    assert outcome.brain == RULES
    assert outcome.notes == ("cloud: over the calls budget",)
    assert len(brain.requests) == 2

    # An hour after the first call, one call is free again; not two.
    later = T0 + timedelta(minutes=60, seconds=1)
    assert (await route(router, later)).brain == "cloud"
    assert (await route(router, later)).brain == RULES


async def test_cost_per_day_is_a_rolling_window() -> None:
    brain = Scripted("cloud", answer("cloud", 0.3), answer("cloud", 0.3))
    router = BrainRouter([brain], RouterLimits(max_cost_per_day=0.5))
    await route(router, T0)
    await route(router, T0 + timedelta(hours=2))
    assert router.cost_today(T0 + timedelta(hours=3)) == pytest.approx(0.6)

    outcome = await route(router, T0 + timedelta(hours=3))
    assert outcome.notes == ("cloud: over the cost budget",)
    assert len(brain.requests) == 2

    # 24 hours after the first call it no longer counts: 0.3 spent, under 0.5.
    next_day = T0 + timedelta(days=1, seconds=1)
    assert router.cost_today(next_day) == pytest.approx(0.3)
    assert (await route(router, next_day)).brain == "cloud"


async def test_a_brain_the_user_priced_counts_at_that_price() -> None:
    """The user's price per million tokens replaces the brain's own estimate, in the
    budget and in the record; 0 (a free server) never spends the cost budget."""
    usage = Usage(brain="openai", model="m", input_tokens=200_000, output_tokens=50_000)
    result = BrainResult(intents=(RULE_INTENT,), usage=usage)
    priced = BrainRouter(
        [Scripted("openai", result, result)],
        RouterLimits(max_cost_per_day=0.5, prices={"openai": (1.0, 4.0)}),
    )
    outcome = await route(priced)
    assert outcome.usage.cost == pytest.approx(0.2 + 0.2)  # 0.2 M in, 0.05 M out
    assert outcome.usage.to_dict()["cost"] == pytest.approx(0.4)
    await route(priced, T0 + timedelta(minutes=1))
    assert priced.cost_today(T0 + timedelta(minutes=2)) == pytest.approx(0.8)
    assert priced.over_budget(T0 + timedelta(minutes=2)) == "cost"

    free = BrainRouter(
        [Scripted("openai", *[result] * 5)],
        RouterLimits(max_cost_per_day=0.01, prices={"openai": (0.0, 0.0)}),
    )
    for minute in range(5):
        assert (await route(free, T0 + timedelta(minutes=minute))).brain == "openai"
    assert free.cost_today(T0 + timedelta(minutes=5)) == 0

    # a price for another brain leaves this one's estimate alone
    other = BrainRouter(
        [Scripted("cloud", answer("cloud", 0.3))],
        RouterLimits(prices={"openai": (0.0, 0.0)}),
    )
    assert (await route(other)).usage.cost == pytest.approx(0.3)


async def test_failed_calls_count_against_the_calls_budget() -> None:
    router = BrainRouter(
        [Scripted("cloud", unavailable(), unavailable())],
        RouterLimits(max_calls_per_hour=2, failure_threshold=10),
    )
    await route(router)
    await route(router)
    assert router.over_budget(T0) == "calls"
    assert router.cost_today(T0) == 0


async def test_a_brain_reporting_a_nonsense_cost_does_not_break_the_budget() -> None:
    router = BrainRouter([Scripted("cloud", answer("cloud", float("nan")))])
    await route(router)
    assert router.cost_today(T0) == 0
    assert router.over_budget(T0) is None


# --- circuits ----------------------------------------------------------------------------------


async def test_circuit_opens_rests_half_opens_and_closes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    brain = Scripted("cloud", *[unavailable()] * 4)
    limits = RouterLimits(failure_threshold=3, open_for=timedelta(minutes=5))
    router = BrainRouter([brain], limits)
    for second in range(3):
        await route(router, T0 + timedelta(seconds=second))
    assert router.open_circuits(T0 + timedelta(seconds=3)) == {
        "cloud": "unavailable: server down"
    }

    # Resting: the brain is not called at all.
    outcome = await route(router, T0 + timedelta(minutes=4))
    assert outcome.notes == ("cloud: resting after errors (unavailable: server down)",)
    assert len(brain.requests) == 3

    # After the rest one try goes through; failing again re-opens it at once.
    half_open = T0 + timedelta(minutes=5, seconds=2)
    assert router.open_circuits(half_open) == {}
    await route(router, half_open)
    assert len(brain.requests) == 4
    assert "cloud" in router.open_circuits(half_open + timedelta(seconds=1))
    # The log says it once while the brain is gone, not once per rest.
    resting = [r.levelname for r in caplog.records if "resting" in r.getMessage()]
    assert resting.count("WARNING") == 1

    # A success after the next rest closes it: failures count from zero again.
    closed = half_open + timedelta(minutes=5)
    caplog.set_level(logging.INFO)
    assert (await route(router, closed)).brain == "cloud"
    assert "LLM brain cloud answers again" in caplog.text
    assert router.circuits["cloud"].failures == 0
    brain.script = [unavailable()]
    await route(router, closed + timedelta(seconds=1))
    assert router.open_circuits(closed + timedelta(seconds=2)) == {}


async def test_one_open_circuit_does_not_stop_the_next_brain() -> None:
    first = Scripted("cloud", unavailable())
    second = Scripted("local", local=True)
    router = BrainRouter([first, second], RouterLimits(failure_threshold=1))
    await route(router)
    outcome = await route(router, T0 + timedelta(seconds=1))
    assert outcome.brain == "local"
    assert len(first.requests) == 1
    assert outcome.notes[0].startswith("cloud: resting after errors")


# --- timeouts and auth ---------------------------------------------------------------------------


async def test_a_brain_that_hangs_is_cut_off_by_the_timeout() -> None:
    slow = Scripted("cloud", 10.0)
    router = BrainRouter(
        [slow, Scripted("local", local=True)], RouterLimits(timeout=0.05)
    )
    started = asyncio.get_running_loop().time()
    outcome = await route(router)
    assert asyncio.get_running_loop().time() - started < 2
    assert outcome.brain == "local"
    assert outcome.notes == ("cloud: no answer in 0.05 s",)
    assert router.circuits["cloud"].failures == 1


async def test_refused_credentials_are_reported() -> None:
    router = BrainRouter(
        [Scripted("cloud", BrainError(FailureKind.AUTH, "invalid x-api-key"))]
    )
    outcome = await route(router)
    assert outcome.auth_failed == ("cloud",)
    assert outcome.notes == ("cloud: auth: invalid x-api-key",)
    assert (await route(router)).auth_failed == ()


# --- the minimum interval ------------------------------------------------------------------------


async def test_wait_honours_the_minimum_interval() -> None:
    router = BrainRouter(
        [Scripted("cloud")], RouterLimits(min_interval=timedelta(seconds=30))
    )
    assert router.wait(T0) == 0
    await route(router, T0)
    assert router.wait(T0) == 30
    assert router.wait(T0 + timedelta(seconds=12)) == 18
    assert router.wait(T0 + timedelta(seconds=30)) == 0
    assert router.wait(T0 + timedelta(hours=1)) == 0
    # A clock set back never makes the wait longer than the interval.
    assert router.wait(T0 - timedelta(hours=1)) == 30


async def test_a_failed_call_also_starts_the_interval() -> None:
    router = BrainRouter([Scripted("cloud", unavailable())])
    await route(router, T0)
    assert router.wait(T0 + timedelta(seconds=1)) == 29


# --- memory --------------------------------------------------------------------------------------


async def test_budget_memory_round_trips_through_json() -> None:
    router = BrainRouter([Scripted("cloud")], RouterLimits(max_calls_per_hour=2))
    await route(router, T0)
    await route(router, T0 + timedelta(minutes=1))
    stored = json.loads(json.dumps(router.to_dict()))

    restarted = BrainRouter([Scripted("cloud")], RouterLimits(max_calls_per_hour=2))
    restarted.load(stored)
    now = T0 + timedelta(minutes=2)
    assert restarted.calls_last_hour(now) == 2
    assert restarted.cost_today(now) == pytest.approx(0.002)
    assert restarted.over_budget(now) == "calls"
    assert restarted.wait(now) == router.wait(now) == 0
    assert restarted.last_call == T0 + timedelta(minutes=1)


@pytest.mark.parametrize(
    "junk",
    [
        None,
        "calls",
        [],
        {},
        {"calls": None, "last_call": None},
        {"calls": 5, "last_call": 5},
        {"calls": "2026-11-21T12:00:00+00:00", "last_call": "yesterday"},
        {"calls": [None, 1, "x", [], ["x", 1], [None, None], {"0": 1}]},
        {"calls": [["2026-11-21T12:00:00", 0.1]], "last_call": "2026-11-21T12:00:00"},
        {"calls": [["2026-11-21T12:00:00+00:00", "NaN"]]},
        {"calls": [["2026-11-21T12:00:00+00:00", -4]]},
        {"calls": [["2026-11-21T12:00:00+00:00", 0.1, "extra"]]},
    ],
)
async def test_junk_memory_is_skipped_never_fatal(junk: Any) -> None:
    router = BrainRouter([Scripted("cloud")])
    router.load(junk)
    assert list(router.calls) == []
    assert router.last_call is None
    assert (await route(router)).brain == "cloud"


async def test_good_calls_survive_next_to_junk_and_are_put_in_order() -> None:
    router = BrainRouter([Scripted("cloud")])
    router.load(
        {
            "calls": [
                ["2026-11-21T11:30:00+00:00", 0.2],
                "junk",
                ["2026-11-20T11:00:00+00:00", 0.5],
                ["2026-11-21T11:01:00+00:00", "0.1"],
            ],
            "last_call": "2026-11-21T11:30:00+00:00",
        }
    )
    # The call from yesterday is forgotten even though it was stored after a newer one.
    assert router.cost_today(T0) == pytest.approx(0.3)
    assert router.calls_last_hour(T0) == 2
    assert router.wait(T0) == 0
