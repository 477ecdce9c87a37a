"""The escalation ladder: who is asked next and when, presence first, restarts included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import json
from typing import Any

import pytest

from custom_components.pai.engine.escalation import (
    MAX_LADDER,
    Escalation,
    EscalationError,
    home_first,
)
from custom_components.pai.engine.urgency import Interruption, interruption

NOW = datetime(2026, 3, 28, 20, 0, tzinfo=UTC)
ALICE = "notify.mobile_app_alice"
BOB = "notify.mobile_app_bob"
HALL = "notify.hall_display"


def test_nobody_is_asked_twice_and_each_waits_its_turn() -> None:
    escalation = Escalation.begin([ALICE, BOB, HALL, ALICE], 5, NOW)
    assert escalation is not None
    assert escalation.ladder == (ALICE, BOB, HALL)
    assert escalation.next_at == NOW + timedelta(minutes=5)
    assert not escalation.is_due(NOW + timedelta(minutes=4, seconds=59))
    assert escalation.is_due(NOW + timedelta(minutes=5))

    asked = []
    when = NOW
    while escalation.next_at is not None:
        when = escalation.next_at
        target, escalation = escalation.step(when)
        asked.append(target)
    assert asked == [ALICE, BOB, HALL]
    assert when == NOW + timedelta(minutes=15)
    assert not escalation.is_due(when + timedelta(days=1))
    with pytest.raises(EscalationError, match="everyone on the ladder was asked"):
        escalation.step(when)


def test_no_ladder_or_no_wait_means_no_escalation() -> None:
    assert Escalation.begin([], 5, NOW) is None
    assert Escalation.begin([ALICE], 0, NOW) is None
    assert Escalation.begin([ALICE], float("-inf"), NOW) is None


@pytest.mark.parametrize("wait", [float("nan"), float("inf"), 1e9])
def test_a_wait_that_cannot_be_kept_is_refused(wait: float) -> None:
    with pytest.raises(EscalationError, match="at most"):
        Escalation.begin([ALICE], wait, NOW)


def test_a_target_whose_person_is_home_is_asked_first() -> None:
    assert home_first([ALICE, BOB, HALL], {HALL, BOB}) == [BOB, HALL, ALICE]
    escalation = Escalation.begin([ALICE, BOB, HALL], 5, NOW)
    assert escalation is not None
    # Presence is read at each step: Bob is home now, Alice later.
    first, escalation = escalation.step(NOW, home={BOB})
    second, escalation = escalation.step(NOW, home={ALICE})
    third, escalation = escalation.step(NOW, home=set())
    assert [first, second, third] == [BOB, ALICE, HALL]
    assert escalation.next_at is None


def test_the_state_survives_a_round_trip_through_json() -> None:
    escalation = Escalation.begin([ALICE, BOB], 7.5, NOW)
    assert escalation is not None
    _, escalation = escalation.step(NOW + timedelta(minutes=7.5))
    stored = json.loads(json.dumps(escalation.to_dict()))
    assert Escalation.from_dict(stored) == escalation
    assert stored == {
        "ladder": [ALICE, BOB],
        "wait_minutes": 7.5,
        "asked": [ALICE],
        "next_at": (NOW + timedelta(minutes=15)).isoformat(),
    }


GOOD: dict[str, Any] = {
    "ladder": [ALICE, BOB],
    "wait_minutes": 5,
    "asked": [],
    "next_at": NOW.isoformat(),
}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"ladder": "notify.x"}, "ladder is a list"),
        ({"ladder": [ALICE, ALICE]}, "twice"),
        ({"ladder": [ALICE, 3]}, "is not a target name"),
        ({"ladder": [""]}, "is not a target name"),
        ({"ladder": [f"notify.t{i}" for i in range(MAX_LADDER + 1)]}, "at most"),
        ({"asked": [HALL]}, "not on the ladder"),
        ({"asked": [ALICE, ALICE]}, "twice"),
        ({"wait_minutes": "5"}, "is a number"),
        ({"wait_minutes": True}, "is a number"),
        ({"wait_minutes": float("nan")}, "at most"),
        ({"wait_minutes": 1e300}, "at most"),
        ({"wait_minutes": -1}, "at most"),
        ({"next_at": 12}, "is a time"),
        ({"next_at": "soon"}, "not a time"),
        ({"next_at": "2026-03-28T20:00:00"}, "no time zone"),
    ],
)
def test_a_bad_stored_escalation_is_refused_with_its_reason(
    change: dict[str, Any], problem: str
) -> None:
    with pytest.raises(EscalationError, match=problem):
        Escalation.from_dict({**GOOD, **change})


def test_something_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(EscalationError, match="is a mapping"):
        Escalation.from_dict([ALICE])


@pytest.mark.parametrize(
    ("urgency", "critical_allowed", "level"),
    [
        (0.0, False, Interruption.PASSIVE),
        (0.29, False, Interruption.PASSIVE),
        (0.3, False, Interruption.ACTIVE),
        (0.69, False, Interruption.ACTIVE),
        (0.7, False, Interruption.TIME_SENSITIVE),
        (0.95, False, Interruption.TIME_SENSITIVE),  # critical only when opted in
        (0.89, True, Interruption.TIME_SENSITIVE),
        (0.9, True, Interruption.CRITICAL),
        (1.0, True, Interruption.CRITICAL),
        (None, True, Interruption.ACTIVE),
        (float("nan"), True, Interruption.ACTIVE),
        (7, True, Interruption.ACTIVE),
        (True, True, Interruption.ACTIVE),
        ("1", True, Interruption.ACTIVE),
    ],
)
def test_urgency_picks_how_loudly_the_phone_interrupts(
    urgency: Any, critical_allowed: bool, level: Interruption
) -> None:
    assert interruption(urgency, 0.9, critical_allowed=critical_allowed) is level


def test_a_low_urgency_override_makes_time_sensitive_come_sooner() -> None:
    assert interruption(0.5, 0.5) is Interruption.TIME_SENSITIVE
    assert interruption(0.5, 0.5, critical_allowed=True) is Interruption.CRITICAL
