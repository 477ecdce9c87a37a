"""Pending approvals and undo offers: every answer acts at most once, restarts included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
import json
from typing import Any

from hypothesis import given, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
import pytest

from custom_components.pai.engine import approvals
from custom_components.pai.engine.approvals import (
    ApprovalBook,
    ApprovalError,
    ClaimOutcome,
    PendingItem,
    PhoneAction,
    Verb,
    action_id,
    new_nonce,
    parse_action_id,
)

NOW = datetime(2026, 3, 28, 20, 0, tzinfo=UTC)
RID = "paid_20260328_a1b2c3"
OTHER = "paid_20260328_000fff"
NONCE = "0123456789abcdef"
WRONG = "fedcba9876543210"
PAYLOAD = {"intent": {"action": "light.turn_off"}, "event": {"kind": "state"}}


def item(
    record_id: str = RID,
    kind: Any = "approval",
    *,
    nonce: str = NONCE,
    created: datetime = NOW,
    minutes: float = 30,
    payload: Any = None,
) -> PendingItem:
    return PendingItem(
        record_id=record_id,
        kind=kind,
        nonce=nonce,
        created=created,
        expires=created + timedelta(minutes=minutes),
        payload=dict(PAYLOAD) if payload is None else payload,
    )


# Phone action ids


@pytest.mark.parametrize(
    ("text", "verb"),
    [
        (f"PAI_APPROVE_{RID}_{NONCE}", Verb.APPROVE),
        (f"PAI_DECLINE_{RID}_{NONCE}", Verb.DECLINE),
        (f"PAI_UNDO_{RID}_{NONCE}", Verb.UNDO),
        (f"PAI_SNOOZE_{RID}_{NONCE}", Verb.SNOOZE),
        (f"PAI_FALSE_ALARM_{RID}_{NONCE}", Verb.FALSE_ALARM),
    ],
)
def test_phone_action_ids_parse_into_verb_record_and_nonce(
    text: str, verb: Verb
) -> None:
    assert parse_action_id(text) == PhoneAction(verb, RID, NONCE)


def test_approve_and_decline_answer_the_approval_and_undo_the_undo_offer() -> None:
    assert parse_action_id(f"PAI_APPROVE_{RID}_{NONCE}").kind == "approval"  # type: ignore[union-attr]
    assert parse_action_id(f"PAI_DECLINE_{RID}_{NONCE}").kind == "approval"  # type: ignore[union-attr]
    assert parse_action_id(f"PAI_UNDO_{RID}_{NONCE}").kind == "undo"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "text",
    [
        None,
        42,
        b"PAI_APPROVE_paid_20260328_a1b2c3_0123456789abcdef",
        "",
        "PAI_APPROVE",
        f"PAI_ACCEPT_{RID}_{NONCE}",  # unknown verb
        f"pai_approve_{RID}_{NONCE}",  # lowercase verb
        f"PAI_APPROVE_{RID}_{NONCE.upper()}",  # uppercase nonce
        f"PAI_APPROVE_{RID}_{NONCE[:15]}",  # 60 bits is too short
        f"PAI_APPROVE_{RID}_{'a' * 65}",  # too long
        f"PAI_APPROVE_paid_2026032_a1b2c3_{NONCE}",  # 7-digit date
        f"PAI_APPROVE_paid_20260328_A1B2C3_{NONCE}",  # uppercase record hex
        f"PAI_APPROVE_{RID}_{NONCE}\n",  # trailing newline
        f" PAI_APPROVE_{RID}_{NONCE}",
        f"PAI_APPROVE_{RID}_{NONCE}_extra",
        f"PAI_APPROVE_{RID}_{'g' * 16}",
        f"OTHER_PAI_APPROVE_{RID}_{NONCE}",
        f"PAI_FALSE_{RID}_{NONCE}",  # half a verb
        f"PAI_FALSEALARM_{RID}_{NONCE}",
        f"PAI_SNOOZE_{RID}",  # no nonce
    ],
)
def test_anything_else_is_not_a_phone_action(text: object) -> None:
    assert parse_action_id(text) is None


@given(
    verb=st.sampled_from(list(Verb)),
    date=st.integers(0, 99_999_999),
    suffix=st.integers(0, 0xFFFFFF),
    nonce=st.text("0123456789abcdef", min_size=16, max_size=64),
)
@settings(max_examples=200, deadline=None, derandomize=True)
def test_built_action_ids_parse_back(
    verb: Verb, date: int, suffix: int, nonce: str
) -> None:
    record_id = f"paid_{date:08d}_{suffix:06x}"
    text = action_id(verb, record_id, nonce)
    assert parse_action_id(text) == PhoneAction(verb, record_id, nonce)


def test_action_ids_use_the_contract_s_spelling() -> None:
    assert action_id("approve", RID, NONCE) == f"PAI_APPROVE_{RID}_{NONCE}"
    assert action_id(Verb.UNDO, RID, NONCE) == f"PAI_UNDO_{RID}_{NONCE}"


@pytest.mark.parametrize(
    ("verb", "record_id", "nonce", "message"),
    [
        ("accept", RID, NONCE, "approve, decline, undo, snooze, false_alarm"),
        ("approve", "paid_x", NONCE, "paid_YYYYMMDD_<16 hex digits>"),
        ("approve", RID, "xyz", "16 to 64 lowercase hex"),
        ("approve", RID, None, "16 to 64 lowercase hex"),
    ],
)
def test_building_an_action_id_from_bad_parts_says_what_is_wrong(
    verb: str, record_id: str, nonce: Any, message: str
) -> None:
    with pytest.raises(ApprovalError, match=message):
        action_id(verb, record_id, nonce)


def test_new_nonces_are_128_random_bits_in_lowercase_hex() -> None:
    nonces = {new_nonce() for _ in range(100)}
    assert len(nonces) == 100
    for nonce in nonces:
        assert len(nonce) == 32
        assert parse_action_id(f"PAI_UNDO_{RID}_{nonce}") is not None


# Pending items


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"record_id": "paid_1"}, "record id"),
        ({"kind": "maybe"}, "approval or an undo"),
        ({"nonce": "short"}, "nonce"),
        ({"created": datetime(2026, 3, 28, 20, 0)}, "created is a timezone-aware"),
        ({"expires": "tomorrow"}, "expires is a timezone-aware"),
        ({"payload": ["not", "a", "mapping"]}, "payload is a mapping"),
    ],
)
def test_a_bad_pending_item_is_refused_with_a_reason(
    changes: dict[str, Any], message: str
) -> None:
    fields: dict[str, Any] = {
        "record_id": RID,
        "kind": "approval",
        "nonce": NONCE,
        "created": NOW,
        "expires": NOW + timedelta(minutes=30),
        "payload": {},
    } | changes
    with pytest.raises(ApprovalError, match=message):
        PendingItem(**fields)


def test_a_pending_item_keeps_its_own_copy_of_the_payload() -> None:
    payload = {"intent": "x"}
    pending = item(payload=payload)
    payload["intent"] = "changed"
    assert pending.payload == {"intent": "x"}


# Claims


def test_the_first_valid_claim_wins_and_later_ones_hear_it_was_done() -> None:
    book = ApprovalBook()
    book.add(item())
    first = book.claim(RID, "approval", NONCE, NOW + timedelta(minutes=1))
    assert first.ok
    assert first.item is not None
    assert first.item.payload == PAYLOAD
    assert len(book) == 0
    again = book.claim(RID, "approval", NONCE, NOW + timedelta(minutes=2))
    assert again.outcome is ClaimOutcome.ALREADY_DONE
    assert again.item is None
    assert not again.ok


def test_a_wrong_nonce_does_nothing_and_the_item_still_waits() -> None:
    book = ApprovalBook()
    book.add(item())
    assert book.claim(RID, "approval", WRONG, NOW).outcome is ClaimOutcome.WRONG_NONCE
    assert book.claim(RID, "approval", "é" * 16, NOW).outcome is (
        ClaimOutcome.WRONG_NONCE
    )
    assert len(book) == 1
    assert book.claim(RID, "approval", NONCE, NOW).ok
    # Once done, a wrong nonce still learns nothing but that it is wrong.
    assert book.claim(RID, "approval", WRONG, NOW).outcome is ClaimOutcome.WRONG_NONCE


def test_an_unknown_or_junk_claim_does_nothing() -> None:
    book = ApprovalBook()
    book.add(item())
    assert book.claim(OTHER, "approval", NONCE, NOW).outcome is ClaimOutcome.UNKNOWN
    assert book.claim(RID, "undo", NONCE, NOW).outcome is ClaimOutcome.UNKNOWN
    junk: Any = 42
    assert book.claim(junk, "approval", NONCE, NOW).outcome is ClaimOutcome.UNKNOWN
    assert book.claim(RID, "approval", junk, NOW).outcome is ClaimOutcome.UNKNOWN
    assert len(book) == 1


def test_a_claim_without_nonce_is_for_callers_home_assistant_authenticated() -> None:
    book = ApprovalBook()
    book.add(item())
    assert book.claim(RID, "approval", None, NOW).ok
    assert book.claim(RID, "approval", None, NOW).outcome is ClaimOutcome.ALREADY_DONE


def test_a_claim_after_expiry_reports_the_item_once_and_never_runs_it() -> None:
    book = ApprovalBook()
    book.add(item(minutes=30))
    at_expiry = NOW + timedelta(minutes=30)
    expired = book.claim(RID, "approval", NONCE, at_expiry)
    assert expired.outcome is ClaimOutcome.EXPIRED
    assert expired.item is not None
    assert len(book) == 0
    later = book.claim(RID, "approval", NONCE, at_expiry)
    assert later.outcome is ClaimOutcome.EXPIRED
    assert later.item is None


def test_an_approval_and_an_undo_offer_for_one_record_are_separate() -> None:
    book = ApprovalBook()
    book.add(item(kind="approval"))
    assert book.claim(RID, "approval", NONCE, NOW).ok
    book.add(item(kind="undo", nonce=WRONG, minutes=60))
    assert book.claim(RID, "approval", NONCE, NOW).outcome is (
        ClaimOutcome.ALREADY_DONE
    )
    assert book.claim(RID, "undo", WRONG, NOW).ok


def test_claims_refuse_a_bad_kind_or_a_naive_time() -> None:
    book = ApprovalBook()
    bad_kind: Any = "later"
    with pytest.raises(ApprovalError, match="approval or an undo"):
        book.claim(RID, bad_kind, NONCE, NOW)
    with pytest.raises(ApprovalError, match="now is a timezone-aware"):
        book.claim(RID, "approval", NONCE, datetime(2026, 3, 28))


def test_expiry_is_exact_across_timezones() -> None:
    book = ApprovalBook()
    book.add(item(minutes=30))
    paris = timezone(timedelta(hours=1))
    just_before = (NOW + timedelta(minutes=29, seconds=59)).astimezone(paris)
    assert book.claim(RID, "approval", NONCE, just_before).ok


# Expiry and bounds


def test_expire_takes_out_what_expired_and_claims_then_hear_expired() -> None:
    book = ApprovalBook()
    book.add(item(RID, minutes=10))
    book.add(item(OTHER, minutes=60))
    expired = book.expire(NOW + timedelta(minutes=10))
    assert [pending.record_id for pending in expired] == [RID]
    assert [pending.record_id for pending in book.pending()] == [OTHER]
    assert book.expire(NOW + timedelta(minutes=10)) == []
    claim = book.claim(RID, "approval", NONCE, NOW + timedelta(minutes=11))
    assert claim.outcome is ClaimOutcome.EXPIRED
    assert claim.item is None


def test_resolutions_are_forgotten_after_a_week() -> None:
    book = ApprovalBook()
    book.add(item())
    assert book.claim(RID, "approval", NONCE, NOW).ok
    book.expire(NOW + approvals.RESOLVED_KEPT_FOR)
    assert book.claim(RID, "approval", NONCE, NOW).outcome is (
        ClaimOutcome.ALREADY_DONE
    )
    book.expire(NOW + approvals.RESOLVED_KEPT_FOR + timedelta(seconds=1))
    assert book.claim(RID, "approval", NONCE, NOW).outcome is ClaimOutcome.UNKNOWN


def test_expire_refuses_a_naive_time() -> None:
    with pytest.raises(ApprovalError, match="now is a timezone-aware"):
        ApprovalBook().expire(datetime(2026, 3, 28))


def test_a_full_book_drops_its_oldest_items_and_says_which() -> None:
    book = ApprovalBook(max_pending=2)
    ids = [f"paid_20260328_00000{n}" for n in range(4)]
    # Added out of order: the oldest by creation time goes first.
    assert book.add(item(ids[1], created=NOW + timedelta(minutes=1))) == []
    assert book.add(item(ids[0], created=NOW)) == []
    dropped = book.add(item(ids[2], created=NOW + timedelta(minutes=2)))
    assert [pending.record_id for pending in dropped] == [ids[0]]
    assert len(book) == 2
    claim = book.claim(ids[0], "approval", NONCE, NOW)
    assert claim.outcome is ClaimOutcome.EXPIRED
    assert claim.item is None


def test_adding_again_for_a_waiting_record_is_refused_not_replaced() -> None:
    """A colliding id must not silently replace a pending ASK (its answer would run
    the other action)."""
    book = ApprovalBook()
    book.add(item())
    with pytest.raises(ApprovalError, match="already waiting; not replaced"):
        book.add(item(nonce=WRONG))
    assert book.claim(RID, "approval", WRONG, NOW).outcome is ClaimOutcome.WRONG_NONCE
    assert book.claim(RID, "approval", NONCE, NOW).ok
    # A fresh offer for a record resolved before waits again.
    book.add(item(nonce=WRONG))
    assert book.claim(RID, "approval", WRONG, NOW).ok


def test_the_book_refuses_what_it_cannot_keep() -> None:
    junk: Any = {"record_id": RID}
    with pytest.raises(ApprovalError, match="keeps PendingItems"):
        ApprovalBook().add(junk)
    with pytest.raises(ApprovalError, match="max_pending"):
        ApprovalBook(max_pending=0)
    with pytest.raises(ApprovalError, match="approval or an undo"):
        ApprovalBook().pending("everything")  # type: ignore[arg-type]


def test_pending_lists_items_oldest_first_and_by_kind() -> None:
    book = ApprovalBook()
    book.add(item(OTHER, kind="undo", created=NOW + timedelta(minutes=5)))
    book.add(item(RID, kind="approval", created=NOW + timedelta(minutes=9)))
    book.add(item(RID, kind="undo", created=NOW))
    assert [(p.record_id, p.kind) for p in book.pending()] == [
        (RID, "undo"),
        (OTHER, "undo"),
        (RID, "approval"),
    ]
    assert [p.record_id for p in book.pending("undo")] == [RID, OTHER]
    assert [p.record_id for p in book.pending("approval")] == [RID]
    assert book.get(RID, "approval") is not None
    assert book.get(OTHER, "approval") is None


def test_the_memory_of_resolved_items_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(approvals, "MAX_RESOLVED", 3)
    book = ApprovalBook()
    ids = [f"paid_20260328_00000{n}" for n in range(5)]
    for record_id in ids:
        book.add(item(record_id))
        assert book.claim(record_id, "approval", NONCE, NOW).ok
    outcomes = [book.claim(r, "approval", NONCE, NOW).outcome for r in ids]
    assert outcomes == [ClaimOutcome.UNKNOWN] * 2 + [ClaimOutcome.ALREADY_DONE] * 3
    restored = ApprovalBook.from_dict(
        {"resolved": [*book.to_dict()["resolved"], *book.to_dict()["resolved"]]}
    )
    assert len(restored.to_dict()["resolved"]) == 3


# Storage


def roundtrip(book: ApprovalBook) -> ApprovalBook:
    return ApprovalBook.from_dict(json.loads(json.dumps(book.to_dict())))


def test_a_restart_keeps_what_waits_and_what_was_done() -> None:
    book = ApprovalBook()
    book.add(item(RID, payload={"snapshot": [{"entity_id": "light.x", "state": "on"}]}))
    book.add(item(OTHER, kind="undo", nonce=WRONG, minutes=5))
    assert book.claim(OTHER, "undo", WRONG, NOW).ok
    book.add(item("paid_20260328_00000e", minutes=1))
    book.expire(NOW + timedelta(minutes=1))

    restored = roundtrip(book)

    assert restored.to_dict() == book.to_dict()
    assert [p.to_dict() for p in restored.pending()] == [
        p.to_dict() for p in book.pending()
    ]
    claim = restored.claim(RID, "approval", NONCE, NOW)
    assert claim.ok
    assert claim.item is not None
    assert claim.item.payload == {"snapshot": [{"entity_id": "light.x", "state": "on"}]}
    assert restored.claim(OTHER, "undo", WRONG, NOW).outcome is (
        ClaimOutcome.ALREADY_DONE
    )
    assert restored.claim("paid_20260328_00000e", "approval", NONCE, NOW).outcome is (
        ClaimOutcome.EXPIRED
    )


@pytest.mark.parametrize(
    "data", [None, 42, "text", [], {"pending": "x", "resolved": 3}, {"version": 99}]
)
def test_an_unreadable_file_gives_an_empty_book(data: object) -> None:
    book = ApprovalBook.from_dict(data)
    assert len(book) == 0
    assert book.to_dict()["resolved"] == []


def test_a_damaged_file_loses_only_the_entries_it_cannot_read() -> None:
    good = item().to_dict()
    done = {
        "record_id": OTHER,
        "kind": "undo",
        "nonce": NONCE,
        "outcome": "already_done",
        "at": NOW.isoformat(),
    }
    data = {
        "pending": [
            good,
            "junk",
            {k: v for k, v in good.items() if k != "nonce"},
            good | {"record_id": "paid_20260328_bbbbbb", "created": "yesterday"},
            good | {"record_id": "paid_20260328_cccccc", "expires": 12},
            good | {"record_id": "paid_20260328_dddddd", "created": "2026-03-28T20:00"},
            good | {"record_id": "paid_20260328_eeeeee", "payload": [1, 2]},
            good | {"record_id": OTHER, "kind": "undo"},  # already resolved: stays done
        ],
        "resolved": [
            done,
            "junk",
            done | {"outcome": "ok"},
            done | {"outcome": "maybe"},
            done | {"record_id": "x"},
            done | {"kind": None},
            done | {"nonce": 5},
            done | {"at": None},
        ],
    }
    book = ApprovalBook.from_dict(data)
    assert [p.record_id for p in book.pending()] == [RID]
    assert book.claim(OTHER, "undo", NONCE, NOW).outcome is ClaimOutcome.ALREADY_DONE
    assert book.claim(RID, "approval", NONCE, NOW).ok


# Exactly once, whatever the interleaving


RECORDS = [f"paid_20260328_{n:06x}" for n in range(3)]
KINDS: list[Any] = ["approval", "undo"]


class ExactlyOnce(RuleBasedStateMachine):
    """Offers, duplicated and misdirected answers, time passing and restarts."""

    def __init__(self) -> None:
        super().__init__()
        self.book = ApprovalBook(max_pending=4)
        self.now = NOW
        self.offers: dict[tuple[str, str], PendingItem] = {}
        self.wins: dict[str, int] = {}  # by nonce: one per offer
        self.settled: set[tuple[str, str]] = set()
        self.count = 0

    @rule(
        record_id=st.sampled_from(RECORDS),
        kind=st.sampled_from(KINDS),
        minutes=st.integers(1, 60),
    )
    def offer(self, record_id: str, kind: Any, minutes: int) -> None:
        self.count += 1
        pending = item(
            record_id,
            kind,
            nonce=f"{self.count:016x}",
            created=self.now,
            minutes=minutes,
        )
        if pending.key in {waiting.key for waiting in self.book.pending()}:
            with pytest.raises(ApprovalError, match="already waiting"):
                self.book.add(pending)
            return
        for dropped in self.book.add(pending):
            self.settled.add(dropped.key)
            assert dropped.key in self.offers
        self.offers[pending.key] = pending
        self.settled.discard(pending.key)

    @precondition(lambda self: bool(self.offers))
    @rule(
        data=st.data(),
        nonce_kind=st.sampled_from(["right", "right", "wrong", "none"]),
        repeat=st.integers(1, 3),
    )
    def answer(self, data: st.DataObject, nonce_kind: str, repeat: int) -> None:
        key = data.draw(st.sampled_from(sorted(self.offers)))
        offer = self.offers[key]
        nonce = {"right": offer.nonce, "wrong": WRONG, "none": None}[nonce_kind]
        for _ in range(repeat):  # a phone retrying, two phones, a double tap
            result = self.book.claim(offer.record_id, offer.kind, nonce, self.now)
            if result.ok:
                assert nonce != WRONG
                assert result.item == offer
                assert key not in self.settled
                assert self.now < offer.expires
                self.wins[offer.nonce] = self.wins.get(offer.nonce, 0) + 1
                self.settled.add(key)
            elif result.outcome is ClaimOutcome.EXPIRED and result.item is not None:
                assert key not in self.settled
                assert self.now >= offer.expires
                self.settled.add(key)
            elif nonce == WRONG:
                assert result.outcome is ClaimOutcome.WRONG_NONCE
            else:
                assert key in self.settled or result.outcome is ClaimOutcome.UNKNOWN

    @rule(minutes=st.integers(0, 45))
    def time_passes(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    @rule()
    def sweep(self) -> None:
        for expired in self.book.expire(self.now):
            assert expired.key not in self.settled
            assert self.now >= expired.expires
            self.settled.add(expired.key)

    @rule()
    def restart(self) -> None:
        self.book = ApprovalBook.from_dict(
            json.loads(json.dumps(self.book.to_dict())), max_pending=4
        )

    @invariant()
    def each_offer_runs_at_most_once(self) -> None:
        assert all(count == 1 for count in self.wins.values())
        waiting = {pending.key for pending in self.book.pending()}
        assert waiting.isdisjoint(self.settled)
        assert len(self.book) <= 4


ExactlyOnce.TestCase.settings = settings(
    max_examples=150, stateful_step_count=30, deadline=None, derandomize=True
)
TestExactlyOnce = ExactlyOnce.TestCase


# Snooze and false alarm


def test_snooze_and_false_alarm_answer_the_approval_and_only_false_alarm_declines() -> (
    None
):
    assert Verb.SNOOZE.kind == Verb.FALSE_ALARM.kind == "approval"
    assert [verb for verb in Verb if verb.declines] == [Verb.DECLINE, Verb.FALSE_ALARM]
    assert action_id(Verb.FALSE_ALARM, RID, NONCE) == f"PAI_FALSE_ALARM_{RID}_{NONCE}"


def test_a_snoozed_request_keeps_waiting_and_wakes_once_at_its_time() -> None:
    book = ApprovalBook()
    book.add(item(minutes=30))
    until = NOW + timedelta(minutes=20)
    result = book.snooze(RID, "approval", NONCE, until, NOW + timedelta(minutes=10))
    assert result.ok
    assert result.item is not None
    assert result.item.snoozed_until == until
    # Asked again at 20 minutes, it has its 30 minutes to be answered again.
    assert book.get(RID, "approval").expires == until + timedelta(minutes=30)  # type: ignore[union-attr]
    assert book.wake(until - timedelta(seconds=1)) == []
    woken = book.wake(until)
    assert [(w.record_id, w.snoozed_until, w.nonce) for w in woken] == [
        (RID, None, NONCE)
    ]
    assert book.wake(until + timedelta(minutes=1)) == []  # once
    assert book.expire(until + timedelta(minutes=29)) == []
    # Still one answer only: the first claim wins.
    assert book.claim(RID, "approval", NONCE, until + timedelta(minutes=1)).ok
    assert (
        book.claim(RID, "approval", NONCE, until).outcome is ClaimOutcome.ALREADY_DONE
    )


def test_a_snooze_never_shortens_the_expiry() -> None:
    book = ApprovalBook()
    book.add(item(minutes=120))
    book.snooze(RID, "approval", NONCE, NOW + timedelta(minutes=1), NOW)
    assert book.get(RID, "approval").expires == NOW + timedelta(minutes=121)  # type: ignore[union-attr]


def test_a_snooze_that_cannot_apply_changes_nothing() -> None:
    book = ApprovalBook()
    book.add(item(minutes=30))
    later = NOW + timedelta(minutes=5)
    assert (
        book.snooze(RID, "approval", WRONG, later, NOW).outcome
        is ClaimOutcome.WRONG_NONCE
    )
    assert (
        book.snooze(OTHER, "approval", NONCE, later, NOW).outcome
        is ClaimOutcome.UNKNOWN
    )
    assert book.snooze(RID, "approval", 5, later, NOW).outcome is ClaimOutcome.UNKNOWN  # type: ignore[arg-type]
    assert book.get(RID, "approval") == item(minutes=30)
    assert book.claim(RID, "approval", NONCE, NOW).ok
    assert (
        book.snooze(RID, "approval", NONCE, later, NOW).outcome
        is ClaimOutcome.ALREADY_DONE
    )


def test_snoozing_an_expired_request_expires_it_once() -> None:
    book = ApprovalBook()
    book.add(item(minutes=30))
    at = NOW + timedelta(minutes=30)
    result = book.snooze(RID, "approval", None, at + timedelta(minutes=5), at)
    assert result.outcome is ClaimOutcome.EXPIRED
    assert result.item is not None
    assert len(book) == 0


@pytest.mark.parametrize(
    "until",
    [NOW, NOW - timedelta(minutes=1), NOW + timedelta(days=1, seconds=1)],
)
def test_a_snooze_ends_after_now_and_within_a_day(until: datetime) -> None:
    book = ApprovalBook()
    book.add(item())
    with pytest.raises(ApprovalError, match="a snooze ends after now"):
        book.snooze(RID, "approval", NONCE, until, NOW)
    assert book.get(RID, "approval") == item()


def test_a_snooze_survives_a_restart_and_an_old_file_reads_as_not_snoozed() -> None:
    book = ApprovalBook()
    book.add(item())
    until = NOW + timedelta(minutes=10)
    book.snooze(RID, "approval", NONCE, until, NOW)
    again = roundtrip(book)
    assert again.get(RID, "approval").snoozed_until == until  # type: ignore[union-attr]
    old = book.to_dict()
    del old["pending"][0]["snoozed_until"]
    assert ApprovalBook.from_dict(old).get(RID, "approval").snoozed_until is None  # type: ignore[union-attr]
    old["pending"][0]["snoozed_until"] = "tomorrow"
    assert len(ApprovalBook.from_dict(old)) == 0  # an unreadable entry is skipped
