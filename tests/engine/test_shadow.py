"""The shadow report and the rollback rule, pure: what a user would read in the report."""

from __future__ import annotations

from custom_components.pai.engine.shadow import (
    MAX_COMPARISONS,
    Choice,
    Comparison,
    Tally,
    answer_of,
    read_comparisons,
    report,
    rollback_reason,
)


def pair(
    event_id: str,
    live: list[tuple[str, str, str]],
    shadow: list[tuple[str, str]],
) -> Comparison:
    return Comparison(
        event_id,
        f"2026-12-0{len(event_id) % 9 + 1}T22:00:00+00:00",
        "ha.state",
        [Choice(action, delivery, rid) for action, delivery, rid in live],
        [Choice(action, delivery, f"s_{event_id}") for action, delivery in shadow],
    )


def test_the_user_answers_read_from_status_and_feedback() -> None:
    assert answer_of("declined", "rejected") == "declined"
    assert answer_of("undone", "rejected") == "undone"
    assert answer_of("expired", "ignored") == "ignored"
    assert answer_of("executed", "accepted") == "approved"
    assert answer_of("suggested", "rejected") == "rejected"
    assert answer_of("pending_approval", "pending") is None


def test_sparing_a_declined_request_scores_for_the_candidate() -> None:
    made = report(
        [pair("e1", [("porch_light", "ask", "r1")], [("porch_light", "suggest")])],
        {"r1": "declined"},
    )
    assert made["disagreed"] == 1
    assert made["spared"] == 1
    assert made["score"] == 1
    assert made["verdict"] == "better"
    (shown,) = made["disagreements"]
    assert shown["live"] == "ask"
    assert shown["shadow"] == "suggest"
    assert shown["answer"] == "declined"
    assert shown["verdict"] == "spared"


def test_skipping_an_approved_request_scores_against_it() -> None:
    made = report(
        [pair("e1", [("porch_light", "ask", "r1")], [])],
        {"r1": "approved"},
    )
    assert made["missed"] == 1
    assert made["score"] == -1
    assert made["verdict"] == "worse"
    assert made["disagreements"][0]["shadow"] == "none"


def test_asking_where_the_user_accepted_a_suggestion_scores_for_it() -> None:
    made = report(
        [
            pair("e1", [("siren", "suggest", "r1")], [("siren", "ask")]),
            pair("e2", [("siren", "suggest", "r2")], [("siren", "ask")]),
        ],
        {"r1": "approved", "r2": "rejected"},
    )
    assert made["asked_where_approved"] == 1
    assert made["asked_where_declined"] == 1
    assert made["score"] == 0
    assert made["verdict"] == "even"


def test_agreement_and_unanswered_requests_are_no_evidence() -> None:
    made = report(
        [
            pair("e1", [("a", "ask", "r1")], [("a", "ask")]),
            pair("e2", [("a", "ask", "r2")], [("a", "act")]),
        ],
        {},
    )
    assert made["events"] == 2
    assert made["agreed"] == 1
    assert made["unanswered"] == 1
    assert made["verdict"] == "no_evidence"


def test_record_and_unbound_do_not_count_as_disagreeing() -> None:
    made = report([pair("e1", [("a", "unbound", "r1")], [("a", "record")])], {})
    assert made["disagreed"] == 0


def test_stored_comparisons_survive_a_round_trip_and_hostile_data() -> None:
    kept = [pair(f"e{i}", [("a", "ask", f"r{i}")], [("a", "act")]) for i in range(3)]
    raw = [c.to_dict() for c in kept]
    assert read_comparisons(raw) == kept
    hostile = [
        "nope",
        {"event_id": 1},
        {**raw[0], "live": [{"action": "a", "delivery": "explode"}]},
    ]
    read = read_comparisons(hostile)
    assert len(read) == 1
    assert read[0].live == []
    assert read_comparisons("not a list") == []
    many = [raw[0]] * (MAX_COMPARISONS + 5)
    assert len(read_comparisons(many)) == MAX_COMPARISONS


def test_rollback_only_past_the_margin_and_enough_requests() -> None:
    before = Tally(requests=10, negatives=1)  # 10 %
    assert rollback_reason(before, Tally(2, 2), 0.2, 3) is None  # too few requests
    assert rollback_reason(before, Tally(10, 3), 0.2, 3) is None  # 30 % is within
    reason = rollback_reason(before, Tally(4, 3), 0.2, 3)
    assert reason is not None
    assert "3 of 4" in reason
    assert "75%" in reason
    assert "10%" in reason
    assert rollback_reason(Tally(), Tally(3, 1), 0.2, 3) is not None  # 33 % > 0 + 20


def test_a_tally_reads_hostile_data_as_zero() -> None:
    assert Tally.from_dict({"requests": -1, "negatives": "2"}) == Tally()
    assert Tally.from_dict({"requests": 2, "negatives": 5}) == Tally(2, 2)
    assert Tally.from_dict(None).rate == 0.0
