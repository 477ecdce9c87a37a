"""Autonomy earned with consent: the trust records and the ladder's rule, without Home Assistant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import json
from typing import Any

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.pai.engine.gate import decide
from custom_components.pai.engine.ledger import GovernanceLedger
from custom_components.pai.engine.models import (
    AutonomyLevel,
    Intent,
    Policy,
    SurvivalPolicy,
)
from custom_components.pai.engine.trust import (
    MAX_ACTIONS,
    REFUSED_FOR,
    Ladder,
    Outcome,
    TrustBook,
    TrustError,
    earnable,
    eligible,
    outcome_of,
)

OBSERVE, SUGGEST, ASK, ACT = AutonomyLevel
NOW = datetime(2026, 3, 14, 15, 0, tzinfo=UTC)
LIGHT = "light_on"
ASK_CAPPED = Policy(default_max_level=ACT, action_max_levels={LIGHT: ASK})


def approved(
    book: TrustBook, times: int, *, every: timedelta, start: datetime = NOW
) -> datetime:
    moment = start
    for i in range(times):
        moment = start + i * every
        assert book.note(LIGHT, Outcome.APPROVED, moment) is None
    return moment


def test_ten_approvals_over_three_days_earn_the_question() -> None:
    book = TrustBook()
    ladder = Ladder()
    last = approved(book, 9, every=timedelta(hours=9))
    assert not book.due(LIGHT, last, ladder)  # 9 in a row: not yet
    last = approved(book, 1, every=timedelta(0), start=last + timedelta(hours=9))
    assert book.get(LIGHT).streak == 10  # type: ignore[union-attr]
    assert last - NOW == timedelta(hours=81)
    assert book.due(LIGHT, last, ladder)


def test_ten_approvals_in_one_day_wait_for_the_third_day() -> None:
    book = TrustBook()
    ladder = Ladder()
    last = approved(book, 12, every=timedelta(hours=1))
    assert not book.due(LIGHT, last, ladder)
    assert not book.due(LIGHT, NOW + timedelta(days=3) - timedelta(seconds=1), ladder)
    assert book.due(LIGHT, NOW + timedelta(days=3), ladder)


@pytest.mark.parametrize("outcome", [Outcome.DECLINED, Outcome.UNDONE, Outcome.FAILED])
def test_a_decline_undo_or_failure_starts_the_streak_again(outcome: Outcome) -> None:
    book = TrustBook()
    ladder = Ladder(streak=3, days=0)
    approved(book, 2, every=timedelta(days=1))
    book.note(LIGHT, outcome, NOW + timedelta(days=2))
    approved(book, 2, every=timedelta(days=1), start=NOW + timedelta(days=3))
    assert not book.due(LIGHT, NOW + timedelta(days=5), ladder)
    book.note(LIGHT, Outcome.APPROVED, NOW + timedelta(days=6))
    assert book.due(LIGHT, NOW + timedelta(days=6), ladder)


def test_expiries_and_silent_acts_are_counted_but_do_not_break_a_streak() -> None:
    book = TrustBook()
    ladder = Ladder(streak=2, days=0)
    book.note(LIGHT, Outcome.APPROVED, NOW)
    book.note(LIGHT, Outcome.EXPIRED, NOW)
    book.note(LIGHT, Outcome.APPROVED, NOW)
    record = book.get(LIGHT)
    assert record is not None
    assert (record.approvals, record.expiries, record.streak) == (2, 1, 2)
    assert book.due(LIGHT, NOW, ladder)


def test_asked_once_then_not_again_while_it_waits_or_for_thirty_days_after_a_no() -> (
    None
):
    book = TrustBook()
    ladder = Ladder(streak=1, days=0)
    book.note(LIGHT, Outcome.APPROVED, NOW)
    assert book.due(LIGHT, NOW, ladder)
    book.asking(LIGHT, "paid_20260314_00000000000000aa")
    assert not book.due(LIGHT, NOW, ladder)
    until = book.refused(LIGHT, NOW)
    assert until == NOW + REFUSED_FOR
    book.note(LIGHT, Outcome.APPROVED, NOW + timedelta(days=29))
    assert not book.due(LIGHT, NOW + timedelta(days=29), ladder)
    book.note(LIGHT, Outcome.APPROVED, NOW + timedelta(days=30))
    assert book.due(LIGHT, NOW + timedelta(days=30), ladder)


def test_an_earned_action_is_not_asked_again_and_any_undo_demotes_it() -> None:
    book = TrustBook()
    ladder = Ladder(streak=1, days=0)
    book.note(LIGHT, Outcome.APPROVED, NOW)
    book.asking(LIGHT, "paid_20260314_00000000000000aa")
    book.consented(LIGHT, NOW, "approved 1 time in a row")
    assert book.earned() == [LIGHT]
    assert not book.due(LIGHT, NOW, ladder)
    assert book.note(LIGHT, Outcome.ACTED, NOW) is None

    demotion = book.note(LIGHT, Outcome.UNDONE, NOW + timedelta(hours=1))

    assert demotion is not None
    assert demotion.outcome is Outcome.UNDONE
    assert demotion.why == "light_on was undone, so it asks first again"
    record = book.get(LIGHT)
    assert record is not None
    assert (record.earned, record.streak, record.promotions, record.demotions) == (
        None,
        0,
        1,
        1,
    )
    assert book.earned() == []
    assert book.note(LIGHT, Outcome.UNDONE, NOW) is None  # only once


def test_a_streak_of_zero_turns_the_ladder_off() -> None:
    book = TrustBook()
    approved(book, 50, every=timedelta(days=1))
    assert not book.due(LIGHT, NOW + timedelta(days=60), Ladder(streak=0))


@pytest.mark.parametrize(
    ("streak", "days"), [(-1, 3), (10, -1), (True, 3), (10, 1.5), (10_000, 3)]
)
def test_a_bad_ladder_is_refused_with_its_field_named(streak: Any, days: Any) -> None:
    with pytest.raises(TrustError, match=r"ladder: (streak|days)"):
        Ladder(streak=streak, days=days)


def test_naive_times_and_nameless_actions_are_refused() -> None:
    book = TrustBook()
    with pytest.raises(TrustError, match="timezone-aware"):
        book.note(LIGHT, Outcome.APPROVED, datetime(2026, 3, 14))
    with pytest.raises(TrustError, match="action's name"):
        book.note("", Outcome.APPROVED, NOW)
    assert len(book) == 0


# Which actions may ever earn ACT


def test_only_an_action_its_cap_holds_at_ask_is_eligible() -> None:
    survival = SurvivalPolicy()
    assert eligible(LIGHT, ASK_CAPPED, survival) is None
    assert eligible("other", ASK_CAPPED, survival) == "its cap is act, not ask"
    by_default = Policy(default_max_level=ASK)
    assert eligible("other", by_default, survival) is None
    assert eligible(LIGHT, Policy(action_max_levels={LIGHT: SUGGEST}), survival) == (
        "its cap is suggest, not ask"
    )


def test_never_sensitive_never_above_the_ceiling_never_outside_the_allowlist() -> None:
    policy = Policy(default_max_level=ASK)
    assert (
        eligible("lock.unlock", policy, SurvivalPolicy()) == "it is security-sensitive"
    )
    assert (
        eligible(
            "script.garage",
            policy,
            SurvivalPolicy(
                sensitive_actions=frozenset({"script.garage"}),
                sensitive_reasons={"script.garage": "opens a cover"},
            ),
        )
        == "it is security-sensitive"
    )
    assert (
        eligible(LIGHT, policy, SurvivalPolicy(ceiling=ASK))
        == "the autonomy ceiling is below act"
    )
    assert (
        eligible(LIGHT, policy, SurvivalPolicy(allowed_actions=frozenset({"x"})))
        == "it is not in the allowed actions"
    )
    lifted = SurvivalPolicy(lifted_actions=frozenset({"lock.unlock"}))
    # Lifting lets it act if the user says so; PAI never asks to.
    assert eligible("lock.unlock", policy, lifted) == "it is security-sensitive"


def test_only_an_act_that_the_cap_held_back_leads_to_the_question() -> None:
    inputs = GovernanceLedger().inputs(NOW, ASK_CAPPED)

    def codes(intent: Intent) -> tuple[int, int, list[str]]:
        decision = decide(intent, ASK_CAPPED, inputs)
        return (
            int(decision.requested),
            int(decision.granted),
            [str(reason.code) for reason in decision.reasons],
        )

    assert earnable(*codes(Intent(LIGHT, confidence=0.95, requested_level=ACT)))
    assert not earnable(*codes(Intent(LIGHT, confidence=0.95, requested_level=ASK)))
    # held back for confidence too: a raised cap would still ask
    assert not earnable(*codes(Intent(LIGHT, confidence=0.6, requested_level=ACT)))
    assert not earnable(None, None, [])


# Storage


def test_the_book_round_trips_through_json() -> None:
    book = TrustBook()
    ladder = Ladder(streak=2, days=1)
    approved(book, 2, every=timedelta(days=1))
    book.note("fan_on", Outcome.DECLINED, NOW)
    book.asking(LIGHT, "paid_20260314_00000000000000aa")
    book.refused("fan_on", NOW)

    again, problems = TrustBook.from_dict(json.loads(json.dumps(book.to_dict())))

    assert problems == []
    assert again.summary() == book.summary()
    assert not again.due(LIGHT, NOW + timedelta(days=2), ladder)  # still asked
    assert again.questions() == {LIGHT: "paid_20260314_00000000000000aa"}
    again.unasked(LIGHT)
    assert again.questions() == {}
    assert again.due(LIGHT, NOW + timedelta(days=2), ladder)


@pytest.mark.parametrize(
    ("stored", "problem"),
    [
        ("junk", "not an object"),
        ([1, 2], "not an object"),
        ({"actions": []}, "not an object"),
        ({"actions": {"light_on": "many"}}, "'light_on' is not readable"),
    ],
)
def test_a_damaged_book_costs_only_its_bad_parts(stored: object, problem: str) -> None:
    book, problems = TrustBook.from_dict(stored)
    assert len(book) == 0
    assert len(problems) == 1
    assert problem in problems[0]


def test_hostile_fields_read_as_their_defaults() -> None:
    book, problems = TrustBook.from_dict(
        {
            "actions": {
                LIGHT: {
                    "approvals": -3,
                    "declines": True,
                    "streak": 12,
                    "streak_since": "yesterday",
                    "earned": "2026-03-14T15:00:00",  # naive
                    "asked": 7,
                    "last_change": "x" * 10_000,
                    "refused_until": "9999-12-31T23:59:59+14:00",
                },
                "fan_on": {"approvals": 4, "earned": NOW.isoformat()},
            }
        }
    )
    assert problems == []
    light = book.get(LIGHT)
    assert light is not None
    assert (light.approvals, light.declines, light.streak, light.earned) == (
        0,
        0,
        0,
        None,
    )
    assert light.asked is None
    assert len(light.last_change) == 500
    assert book.earned() == ["fan_on"]


def test_the_book_keeps_at_most_so_many_actions_the_latest_first() -> None:
    book = TrustBook()
    for i in range(MAX_ACTIONS + 5):
        book.note(f"action_{i}", Outcome.APPROVED, NOW + timedelta(seconds=i))
    assert len(book) == MAX_ACTIONS
    assert book.get("action_0") is None
    assert book.get(f"action_{MAX_ACTIONS + 4}") is not None


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(list(Outcome)), st.integers(0, 48)), max_size=40
    ),
    st.integers(1, 6),
    st.integers(0, 3),
)
def test_the_question_comes_only_after_a_clean_streak_long_enough(
    history: list[tuple[Outcome, int]], streak: int, days: int
) -> None:
    book = TrustBook()
    ladder = Ladder(streak=streak, days=days)
    moment = NOW
    clean: list[datetime] = []
    for outcome, hours in history:
        moment += timedelta(hours=hours)
        book.note(LIGHT, outcome, moment)
        if outcome is Outcome.APPROVED:
            clean.append(moment)
        elif outcome in (Outcome.DECLINED, Outcome.UNDONE, Outcome.FAILED):
            clean = []
    expected = len(clean) >= streak and moment - clean[0] >= timedelta(days=days)
    assert book.due(LIGHT, moment, ladder) is expected


@pytest.mark.parametrize(
    ("status", "feedback", "granted", "outcome"),
    [
        ("executed", "accepted", 2, Outcome.APPROVED),
        ("executed", "pending", 3, Outcome.ACTED),
        ("failed", "accepted", 2, Outcome.FAILED),
        ("failed", "pending", 3, Outcome.FAILED),
        ("declined", "rejected", 2, Outcome.DECLINED),
        ("undone", "rejected", 3, Outcome.UNDONE),
        ("expired", "ignored", 2, Outcome.EXPIRED),
        ("suggested", "rejected", 1, Outcome.DECLINED),
        ("pending_approval", "pending", 2, None),
        ("executed", "pending", 2, None),
        ("observed", "pending", 0, None),
    ],
)
def test_a_records_final_state_reads_as_one_outcome(
    status: str, feedback: str, granted: int, outcome: Outcome | None
) -> None:
    assert outcome_of(status, feedback, granted) is outcome
