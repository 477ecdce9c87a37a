"""The governance ledger: what the gate remembers across decisions and restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
import json
import logging
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.pai.engine.gate import count_recent_interruptions, decide
from custom_components.pai.engine.ledger import MIN_KEPT, GovernanceLedger, LedgerError
from custom_components.pai.engine.models import (
    AutonomyLevel,
    Decision,
    Intent,
    InvalidModelError,
    Policy,
    ReasonCode,
)

OBSERVE, SUGGEST, ASK, ACT = AutonomyLevel
NOW = datetime(2026, 3, 14, 15, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
POLICY = Policy()


def granted(level: AutonomyLevel, action: str = "notify.phone") -> Decision:
    return Decision(Intent(action), requested=level, granted=level)


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


def ledger_with(
    interruptions: tuple[datetime, ...] = (),
    acts: tuple[datetime, ...] = (),
    declines: tuple[tuple[str, datetime], ...] = (),
) -> GovernanceLedger:
    ledger = GovernanceLedger()
    for moment in interruptions:
        ledger.record(granted(SUGGEST), moment)
    for moment in acts:
        ledger.record(granted(ACT), moment)
    for action, moment in declines:
        ledger.record_decline(action, moment)
    return ledger


# Recording what the gate decided


def test_suggest_and_ask_are_interruptions_observe_is_nothing() -> None:
    ledger = GovernanceLedger()
    ledger.record(granted(SUGGEST), ago(minutes=3))
    ledger.record(granted(ASK), ago(minutes=2))
    ledger.record(granted(OBSERVE), ago(minutes=1))

    assert ledger.interruptions == (ago(minutes=3), ago(minutes=2))
    assert ledger.silent_acts == ()
    assert ledger.interruptions_last_hour(NOW) == 2


def test_silent_actions_are_kept_for_the_user_but_not_counted_as_interruptions() -> (
    None
):
    ledger = ledger_with(acts=(ago(minutes=5), ago(minutes=90)))

    assert ledger.silent_acts == (ago(minutes=90), ago(minutes=5))
    assert ledger.interruptions_last_hour(NOW) == 0
    assert ledger.inputs(NOW, POLICY).recent_interruptions == ()


def test_times_are_kept_in_utc_and_in_order_even_when_the_clock_was_set_back() -> None:
    local = datetime(2026, 3, 14, 16, 30, tzinfo=BERLIN)  # 15:30 UTC
    ledger = ledger_with(interruptions=(local, ago(minutes=10)))

    assert ledger.interruptions == (ago(minutes=10), NOW + timedelta(minutes=30))
    assert all(moment.tzinfo is UTC for moment in ledger.interruptions)


# What the gate is told


def test_recent_interruptions_are_those_less_than_an_hour_old() -> None:
    ledger = ledger_with(
        interruptions=(
            ago(hours=1, microseconds=1),
            ago(hours=1),
            ago(minutes=59, seconds=59, microseconds=999_999),
            ago(minutes=1),
            NOW + timedelta(minutes=5),  # the clock was set back since: still recent
        )
    )

    inputs = ledger.inputs(NOW, POLICY, interruption_cost=0.6)

    assert inputs.recent_interruptions == (
        ago(minutes=59, seconds=59, microseconds=999_999),
        ago(minutes=1),
        NOW + timedelta(minutes=5),
    )
    assert inputs.now is NOW
    assert inputs.interruption_cost == 0.6
    assert ledger.interruptions_last_hour(NOW) == 3


@pytest.mark.parametrize(
    ("declined_ago", "counted"),
    [
        (timedelta(hours=24), True),
        (timedelta(hours=24, microseconds=1), False),
        (timedelta(hours=23, minutes=59), True),
        (-timedelta(minutes=5), True),
    ],
)
def test_a_decline_counts_while_at_most_the_window_old(
    declined_ago: timedelta, counted: bool
) -> None:
    ledger = ledger_with(declines=(("notify.phone", NOW - declined_ago),))

    declines = ledger.inputs(NOW, POLICY).recent_declines

    assert declines == ({"notify.phone": 1} if counted else {})


def test_the_decline_window_is_the_policys_and_counts_per_action() -> None:
    ledger = ledger_with(
        declines=(
            ("notify.phone", ago(hours=2)),
            ("notify.phone", ago(hours=1)),
            ("notify.phone", ago(minutes=1)),
            ("light.turn_on", ago(minutes=30)),
        )
    )

    short = ledger.inputs(NOW, Policy(decline_window_hours=1)).recent_declines
    none = ledger.inputs(NOW, Policy(decline_window_hours=0)).recent_declines

    assert short == {"notify.phone": 2, "light.turn_on": 1}
    assert none == {}


def test_windows_hold_across_timezones_and_daylight_saving() -> None:
    # Berlin changes to summer time at 02:00 local on 2026-03-29: 01:59 CET + 1 min is 03:00.
    before_change = datetime(2026, 3, 29, 1, 30, tzinfo=BERLIN)
    after_change = datetime(2026, 3, 29, 3, 20, tzinfo=BERLIN)  # 50 real minutes later
    ledger = ledger_with(interruptions=(before_change,))

    assert ledger.interruptions_last_hour(after_change) == 1
    assert ledger.inputs(after_change, POLICY).recent_interruptions == (
        datetime(2026, 3, 29, 0, 30, tzinfo=UTC),
    )


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    offsets=st.lists(st.integers(-7200, 7200), max_size=30),
    hours=st.integers(-12, 14),
)
def test_the_ledger_and_the_gate_agree_on_what_is_recent(
    offsets: list[int], hours: int
) -> None:
    now = NOW.astimezone(timezone(timedelta(hours=hours)))
    times = [NOW + timedelta(seconds=offset) for offset in offsets]
    ledger = ledger_with(interruptions=tuple(times))

    recent = ledger.inputs(now, POLICY).recent_interruptions

    assert len(recent) == count_recent_interruptions(times, now)
    assert count_recent_interruptions(recent, now) == len(recent)


def test_new_interruptions_and_passing_time_reach_the_gate() -> None:
    ledger = ledger_with(interruptions=(ago(minutes=50),))
    first = ledger.inputs(NOW, POLICY).recent_interruptions

    again = ledger.inputs(NOW, POLICY).recent_interruptions
    ledger.record(granted(ASK), NOW)
    after_record = ledger.inputs(NOW, POLICY).recent_interruptions
    later = ledger.inputs(NOW + timedelta(minutes=15), POLICY).recent_interruptions

    assert again == first
    assert after_record == (ago(minutes=50), NOW)
    assert later == (NOW,)


def test_a_restart_forgets_no_interruption_and_the_hourly_cap_still_holds() -> None:
    ledger = ledger_with(interruptions=tuple(ago(minutes=m) for m in range(6)))
    stored = json.loads(json.dumps(ledger.to_dict()))

    restarted = GovernanceLedger.from_dict(stored)
    decision = decide(
        Intent("notify.phone", confidence=0.9, urgency=0.8),
        POLICY,
        restarted.inputs(NOW, POLICY),
    )

    assert decision.granted is OBSERVE
    assert [reason.code for reason in decision.reasons] == [ReasonCode.HOURLY_CAP]


def test_repeated_declines_survive_a_restart_and_make_the_gate_careful() -> None:
    ledger = ledger_with(
        declines=tuple(("notify.phone", ago(hours=h)) for h in range(3))
    )
    restarted = GovernanceLedger.from_dict(json.loads(json.dumps(ledger.to_dict())))
    ask = Intent("notify.phone", confidence=0.9, urgency=0.8, requested_level=ASK)

    decision = decide(ask, Policy(default_max_level=ASK), restarted.inputs(NOW, POLICY))

    assert decision.granted is SUGGEST
    assert [reason.code for reason in decision.reasons] == [ReasonCode.DECLINE_PENALTY]


# Storage


def test_to_dict_is_json_with_iso_8601_utc_times() -> None:
    ledger = ledger_with(
        interruptions=(datetime(2026, 3, 14, 16, 0, 0, 5, tzinfo=BERLIN),),
        acts=(NOW,),
        declines=(("lock.unlock", ago(hours=2)),),
    )

    assert json.loads(json.dumps(ledger.to_dict())) == {
        "version": 1,
        "interruptions": ["2026-03-14T15:00:00.000005+00:00"],
        "silent_acts": ["2026-03-14T15:00:00+00:00"],
        "declines": {"lock.unlock": ["2026-03-14T13:00:00+00:00"]},
    }


moments = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from(
        [UTC, BERLIN, timezone(timedelta(hours=-9, minutes=-30))]
    ),
)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    interruptions=st.lists(moments, max_size=20),
    acts=st.lists(moments, max_size=20),
    declines=st.lists(
        st.tuples(st.sampled_from(["notify.phone", "lock.unlock", "ä.b"]), moments),
        max_size=20,
    ),
)
def test_what_is_stored_comes_back_the_same(
    interruptions: list[datetime],
    acts: list[datetime],
    declines: list[tuple[str, datetime]],
) -> None:
    ledger = ledger_with(tuple(interruptions), tuple(acts), tuple(declines))

    restored = GovernanceLedger.from_dict(json.loads(json.dumps(ledger.to_dict())))

    assert restored.interruptions == ledger.interruptions
    assert restored.silent_acts == ledger.silent_acts
    assert restored.declines == ledger.declines
    assert restored.to_dict() == ledger.to_dict()
    # Compared in UTC: an ambiguous wall-clock time (fold=1) never equals another zone's.
    assert sorted(restored.interruptions) == sorted(
        moment.astimezone(UTC) for moment in interruptions
    )


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=30)
    | st.sampled_from(
        [
            "2026-03-14T15:00:00+00:00",
            "2026-03-14T15:00:00",
            "0001-01-01T00:00:00+01:00",
        ]
    ),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)
ledger_like = st.fixed_dictionaries(
    {},
    optional={
        "version": json_values,
        "interruptions": json_values | st.lists(json_values),
        "silent_acts": json_values | st.lists(json_values),
        "declines": json_values | st.dictionaries(st.text(max_size=10), json_values),
    },
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(data=json_values | ledger_like)
def test_a_damaged_store_never_stops_the_ledger_from_loading(data: Any) -> None:
    ledger = GovernanceLedger.from_dict(data)

    assert ledger.interruptions_last_hour(NOW) >= 0
    json.dumps(ledger.to_dict())
    assert GovernanceLedger.from_dict(ledger.to_dict()).to_dict() == ledger.to_dict()


def test_junk_entries_are_skipped_and_logged_and_the_rest_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="custom_components.pai.engine.ledger")
    stored = {
        "version": 7,
        "interruptions": [
            "2026-03-14T14:30:00+00:00",
            "2026-03-14T14:40:00",  # naive: when was that?
            "yesterday",
            1773500000,
            None,
            "9999-12-31T23:59:59-01:00",  # beyond the last UTC time
            "2026-03-14T15:45:00+01:00",
        ],
        "silent_acts": {"not": "a list"},
        "declines": {
            "notify.phone": ["2026-03-14T10:00:00+00:00", ["nested"]],
            "": ["2026-03-14T10:00:00+00:00"],
            "light.turn_on": "2026-03-14T10:00:00+00:00",
            "lock.unlock": [],
        },
    }

    ledger = GovernanceLedger.from_dict(stored)

    assert ledger.interruptions == (ago(minutes=30), ago(minutes=15))
    assert ledger.silent_acts == ()
    assert ledger.declines == {"notify.phone": (ago(hours=5),)}
    assert "version 7" in caplog.text
    assert "Skipped 5 stored interruptions" in caplog.text
    assert "silent_acts that is not a list" in caplog.text
    assert "declines of a non-action ''" in caplog.text


@pytest.mark.parametrize("data", [None, [], "ledger", 3, {"declines": ["x"]}, {}])
def test_a_store_of_the_wrong_shape_gives_an_empty_ledger(data: object) -> None:
    ledger = GovernanceLedger.from_dict(data)

    assert ledger.to_dict() == {
        "version": 1,
        "interruptions": [],
        "silent_acts": [],
        "declines": {},
    }


def test_a_huge_store_is_cut_to_the_newest_times() -> None:
    stored = {
        "interruptions": [ago(seconds=s).isoformat() for s in range(MIN_KEPT + 500)]
    }

    ledger = GovernanceLedger.from_dict(stored)

    assert len(ledger.interruptions) == MIN_KEPT
    assert ledger.interruptions[-1] == NOW
    assert ledger.interruptions[0] == ago(seconds=MIN_KEPT - 1)


# Staying small


def test_prune_forgets_what_no_window_needs_and_keeps_the_rest() -> None:
    ledger = ledger_with(
        interruptions=(
            ago(hours=3),
            ago(hours=1),
            ago(minutes=30),
            NOW + timedelta(hours=2),
        ),
        acts=(ago(hours=2), ago(minutes=10)),
        declines=(
            ("notify.phone", ago(hours=30)),
            ("notify.phone", ago(hours=5)),
            ("light.turn_on", ago(hours=25)),
        ),
    )
    before = ledger.inputs(NOW, POLICY)

    ledger.prune(NOW, POLICY)

    assert ledger.interruptions == (ago(minutes=30), NOW + timedelta(hours=2))
    assert ledger.silent_acts == (ago(minutes=10),)
    assert ledger.declines == {"notify.phone": (ago(hours=5),)}
    after = ledger.inputs(NOW, POLICY)
    assert after.recent_interruptions == before.recent_interruptions
    assert after.recent_declines == before.recent_declines


def test_each_list_keeps_at_most_the_newest_thousand_without_pruning() -> None:
    ledger = GovernanceLedger()
    for second in range(MIN_KEPT + 200):
        ledger.record(granted(ACT), ago(seconds=second))
        ledger.record(granted(SUGGEST), ago(seconds=second))
        ledger.record_decline("notify.phone", ago(seconds=second))

    assert len(ledger.silent_acts) == MIN_KEPT
    assert len(ledger.interruptions) == MIN_KEPT
    assert len(ledger.declines["notify.phone"]) == MIN_KEPT
    assert ledger.silent_acts[-1] == NOW
    assert ledger.interruptions_last_hour(NOW) == MIN_KEPT


def test_a_large_hourly_cap_keeps_ten_times_as_many() -> None:
    policy = Policy(max_interruptions_per_hour=300)
    ledger = GovernanceLedger()
    ledger.prune(NOW, policy)
    for second in range(3500):
        ledger.record(granted(SUGGEST), ago(seconds=second))

    ledger.prune(NOW, policy)

    assert len(ledger.interruptions) == 3000
    assert ledger.interruptions_last_hour(NOW) == 3000


def test_prune_keeps_the_actions_declined_last_when_there_are_too_many() -> None:
    ledger = GovernanceLedger()
    for number in range(MIN_KEPT + 5):
        ledger.record_decline(f"script.s{number}", ago(seconds=number))

    ledger.prune(NOW, POLICY)

    assert len(ledger.declines) == MIN_KEPT
    assert "script.s0" in ledger.declines
    assert f"script.s{MIN_KEPT}" not in ledger.declines


def test_windows_at_the_edge_of_time_do_not_overflow() -> None:
    dawn = datetime.min.replace(tzinfo=UTC)
    ledger = ledger_with(interruptions=(dawn,), declines=(("notify.phone", dawn),))
    huge_window = Policy(decline_window_hours=10**12)

    inputs = ledger.inputs(dawn + timedelta(minutes=1), huge_window)
    ledger.prune(dawn, huge_window)

    assert inputs.recent_interruptions == (dawn,)
    assert inputs.recent_declines == {"notify.phone": 1}
    assert ledger.declines == {"notify.phone": (dawn,)}


# Hostile input from the host: a sentence, never a traceback


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda ledger: ledger.record(granted(SUGGEST), datetime(2026, 3, 14, 15)),
            "now must be a timezone-aware datetime, got datetime.datetime(2026, 3, 14, 15, 0)",
        ),
        (
            lambda ledger: ledger.record("suggest", NOW),
            "the ledger records a Decision, got 'suggest'",
        ),
        (
            lambda ledger: ledger.record_decline("", NOW),
            "a decline needs the action's name, got ''",
        ),
        (
            lambda ledger: ledger.record_decline(None, NOW),
            "a decline needs the action's name, got None",
        ),
        (
            lambda ledger: ledger.record_decline("notify.phone", "now"),
            "now must be a timezone-aware datetime, got 'now'",
        ),
        (
            lambda ledger: ledger.inputs(NOW, {"max_interruptions_per_hour": 6}),
            "the ledger needs the agent's Policy, got {'max_interruptions_per_hour': 6}",
        ),
        (
            lambda ledger: ledger.prune(NOW, "strict"),
            "the ledger needs the agent's Policy, got 'strict'",
        ),
        (
            lambda ledger: ledger.interruptions_last_hour(
                datetime.max.replace(tzinfo=timezone(timedelta(hours=-1)))
            ),
            "now is out of range in UTC",
        ),
    ],
)
def test_the_host_gets_a_sentence_for_what_cannot_be_recorded(
    call: Any, message: str
) -> None:
    with pytest.raises(LedgerError) as caught:
        call(GovernanceLedger())

    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_a_cost_the_gate_cannot_weigh_is_refused_by_its_inputs() -> None:
    with pytest.raises(InvalidModelError, match="interruption_cost must be a number"):
        GovernanceLedger().inputs(NOW, POLICY, interruption_cost=1.5)
