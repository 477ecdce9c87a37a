"""The compact answer: the same intents in a few tokens, checked by the same parser.

Whatever a model writes in the compact format, the agent gets what `parse_answer` lets
through for today's format: allowed actions only (a number outside the list is an unknown
action, dropped), levels and scores clamped, the event's payload from the event.
"""

from __future__ import annotations

from datetime import UTC, datetime
import json
from typing import Any

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.pai.engine.brain import (
    BrainError,
    BrainRequest,
    parse_answer,
    system_prompt,
)
from custom_components.pai.engine.compact import (
    COMPACT_RATIONALE,
    compact_grammar,
    compact_schema,
    compact_system_prompt,
    expand,
)
from custom_components.pai.engine.models import Event, Intent
from custom_components.pai.engine.rules import EVENT_PAYLOAD_PARAM

from .helpers import PORCH_PAYLOAD as PAYLOAD, brain_request


def request(**changes: Any) -> BrainRequest:
    return brain_request(
        **{
            "context": {"user_state": "asleep"},
            "user_profile": "Sleeps early.",
            "guidance": ("Light the porch at night.",),
            **changes,
        }
    )


def decoded(answer: object, req: BrainRequest | None = None) -> list[tuple[Any, ...]]:
    req = req or request()
    intents, _ = parse_answer(expand(answer, req), req)
    return [
        (i.action, int(i.requested_level), i.confidence, i.urgency, i.rationale)
        for i in intents
    ]


def test_prompt_numbers_the_actions_with_their_caps_and_keeps_the_agent() -> None:
    prompt = compact_system_prompt(request())

    assert "0. nothing: 0" in prompt
    assert "1. alarm: 2\n" in prompt  # sorted by name, as today's prompt lists them
    assert "2. porch_light: 3 (turn on the porch light)" in prompt
    assert "About the household: Sleeps early." in prompt
    assert "- Light the porch at night." in prompt
    assert "untrusted data" in prompt  # the data block's warning stays
    assert PAYLOAD["entity_id"] not in prompt  # the event is not in the fixed part
    assert '{"intents"' in compact_system_prompt(request(), wrapped=True)
    # The fixed part depends on the agent only: one prompt state serves every event.
    other_event = request(
        event=Event(source="x", kind="y", payload={"a": 1}, time=datetime.now(UTC))
    )
    assert compact_system_prompt(other_event) == compact_system_prompt(request())


def test_tuples_become_todays_intents() -> None:
    answer = '[[2,3,4,1,"someone at the door"],[1,2,5,5,"wake them"]]'

    assert decoded(answer) == [
        ("porch_light", 3, 0.8, 0.2, "someone at the door"),
        ("alarm", 2, 1.0, 1.0, "wake them"),
    ]
    intents, _ = parse_answer(expand(answer, request()), request())
    assert intents[0].params == {EVENT_PAYLOAD_PARAM: PAYLOAD}
    assert intents[0].event_id == "ev1"


def test_nothing_says_what_an_empty_list_said() -> None:
    assert decoded('[[0,0,0,0,""]]') == []
    assert decoded("[]") == []
    assert decoded('[[0,3,5,5,"x"],[2,1,1,1,"y"]]') == [
        ("porch_light", 1, 0.2, 0.2, "y")
    ]


def test_unknown_numbers_are_dropped_and_levels_clamped_by_the_parser() -> None:
    req = request()
    intents, dropped = parse_answer(
        expand('[[7,3,5,5,"rm -rf"],[2,9,9,-3,"x"],["alarm",1,2,3,"by name"]]', req),
        req,
    )

    assert dropped == ("unknown action '#7'",)
    assert [(i.action, int(i.requested_level)) for i in intents] == [
        ("porch_light", 3),
        ("alarm", 1),
    ]
    assert (intents[0].confidence, intents[0].urgency) == (1.0, 0.0)


def test_the_model_cannot_set_the_event_payload_or_other_params() -> None:
    answer = [[2, 3, 5, 5, "x", {"event_payload": {"entity_id": "lock.front"}}]]

    intents, _ = parse_answer(expand(answer, request()), request())

    assert intents[0].params == {EVENT_PAYLOAD_PARAM: PAYLOAD}


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        pytest.param(
            '{"intents": [[1, 2, 3, 4, "wrapped"]]}',
            [("alarm", 2, 0.6, 0.8, "wrapped")],
            id="wrapped",
        ),
        pytest.param(
            '```json\n[[1, 2, 3, 4, "fenced"]]\n```',
            [("alarm", 2, 0.6, 0.8, "fenced")],
            id="fenced",
        ),
        pytest.param(
            '[[1,2,3,4,"done"],[2,3,5,',
            [("alarm", 2, 0.6, 0.8, "done")],
            id="cut-off",
        ),
        pytest.param(
            [[1, 2, 0.9, 0.1, "fractions stay fractions"]],
            [("alarm", 2, 0.9, 0.1, "fractions stay fractions")],
            id="fractions",
        ),
        pytest.param([[1]], [("alarm", 1, 0.5, 0.5, "")], id="short-tuple"),
        pytest.param([[True, 1, 1, 1, "a bool is no number"]], [], id="bool-action"),
        pytest.param(
            '{"intents": [{"action": "alarm", "level": 2, "rationale": "today"}]}',
            [("alarm", 2, 0.5, 0.5, "today")],
            id="todays-format",
        ),
    ],
)
def test_answers_in_other_shapes(answer: object, expected: list[Any]) -> None:
    assert decoded(answer) == expected


def test_prose_is_still_refused() -> None:
    with pytest.raises(BrainError):
        parse_answer(expand("I would turn the light on.", request()), request())


def test_schema_and_grammar_allow_only_the_numbered_actions() -> None:
    schema = compact_schema(request(), 2)
    item = schema["items"]["prefixItems"]
    assert item[0] == {"enum": [0, 1, 2]}
    assert item[1] == {"enum": [0, 1, 2, 3]}
    assert item[4]["maxLength"] == COMPACT_RATIONALE
    assert (schema["minItems"], schema["maxItems"]) == (1, 2)
    wrapped = compact_schema(request(), 2, wrapped=True)
    assert wrapped["properties"]["intents"] == schema

    grammar = compact_grammar(request(), 2)
    assert 'action ::= "0" | "1" | "2"\n' in grammar
    assert 'root ::= "[" intent ("," intent){0,1} "]"' in grammar
    assert f"{{0,{COMPACT_RATIONALE}}}" in grammar
    assert 'root ::= "[" intent "]"' in compact_grammar(request(), 1)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(
            st.one_of(
                st.integers(-5, 9),
                st.floats(allow_nan=True),
                st.text(max_size=8),
                st.none(),
                st.booleans(),
            ),
            max_size=7,
        ),
        max_size=6,
    )
)
def test_any_tuples_give_only_allowed_actions_in_range(
    tuples: list[list[Any]],
) -> None:
    req = request()
    try:
        intents, _ = parse_answer(expand(json.dumps(tuples), req), req)
    except BrainError:
        return
    for found in intents:
        assert isinstance(found, Intent)
        assert found.action in req.action_names
        assert 0 <= found.confidence <= 1
        assert 0 <= found.urgency <= 1
        assert 0 <= found.requested_level <= 3
        assert found.params == {EVENT_PAYLOAD_PARAM: PAYLOAD}


def test_todays_prompt_is_unchanged() -> None:
    assert "1. alarm" not in system_prompt(request())
    assert "- alarm: 2" in system_prompt(request())
