"""Bounds on what an answer may put into PAI (pure: no Home Assistant)."""

from __future__ import annotations

from typing import Any

from custom_components.pai.engine.bounds import (
    MAX_NOTES,
    capped_notes,
    depth_over,
    fit_record,
    json_size,
    params_problem,
)


def test_params_within_bounds_pass_and_others_say_why() -> None:
    assert params_problem({"entity_id": "light.porch", "brightness": 80}) is None
    assert params_problem(None) is None
    assert params_problem({"a": {"b": {"c": {"d": 1}}}}) is None
    assert params_problem({"a": {"b": {"c": {"d": {"e": 1}}}}}) == (
        "params nested deeper than 4 levels"
    )
    assert params_problem({"note": "x" * 5000}) == (
        "params of 5011 bytes (more than 4096)"
    )


def test_depth_is_checked_without_recursion() -> None:
    deep: Any = 1
    for _ in range(100_000):  # far past Python's recursion limit
        deep = [deep]
    assert depth_over(deep, 4)
    assert not depth_over([[1]], 2)


def test_notes_are_a_count_plus_the_first_few() -> None:
    notes = [f"unknown action {n}" for n in range(12)]
    capped = capped_notes(notes, more=100)
    assert capped[:MAX_NOTES] == tuple(notes[:MAX_NOTES])
    assert capped[-1] == "and 107 more dropped"
    assert capped_notes(notes[:2]) == tuple(notes[:2])
    assert capped_notes([], more=3) == ("and 3 more dropped",)


def record(**layers: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "record_id": "paid_20260101_abcdef0123456789",
        "1_perception": {"raw_data_summary": {}},
        "2_context": {"relevant_memory": [], "action_history": []},
        "3_anticipation": {"action": "light_on", "params": {}, "predicted_intent": ""},
        "4_execution": {"status": "executed", "actions_taken": []},
        "x_pai": {"reasons": []},
    }
    for name, value in layers.items():
        base[name] |= value
    return base


def test_a_small_record_is_left_alone() -> None:
    small = record()
    fitted, fits = fit_record(small)
    assert fits
    assert fitted == small


def test_a_large_record_is_cut_bulkiest_parts_first_and_says_so() -> None:
    large = record(
        **{
            "1_perception": {"raw_data_summary": {"blob": "x" * 50_000}},
            "3_anticipation": {
                "action": "light_on",
                "params": {"brightness": 80},
                "predicted_intent": "y" * 10_000,
            },
        }
    )
    fitted, fits = fit_record(large, limit=8 * 1024)
    assert fits
    assert json_size(fitted) <= 8 * 1024
    assert fitted["1_perception"]["raw_data_summary"] == {
        "truncated": True,
        "bytes": 50_011,
    }
    assert fitted["3_anticipation"]["predicted_intent"] == "y" * 200 + "…"
    assert fitted["3_anticipation"]["params"] == {"brightness": 80}
    assert fitted["x_pai"]["truncated"] == [
        "1_perception.raw_data_summary",
        "3_anticipation.predicted_intent",
    ]
    assert large["1_perception"]["raw_data_summary"] == {"blob": "x" * 50_000}


def test_params_are_never_cut_so_such_a_record_does_not_fit() -> None:
    fitted, fits = fit_record(
        record(**{"3_anticipation": {"params": {"note": "x" * 50_000}}}),
        limit=8 * 1024,
    )
    assert not fits
    assert fitted["3_anticipation"]["params"] == {"note": "x" * 50_000}
