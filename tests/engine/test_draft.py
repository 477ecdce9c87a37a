"""A drafted agent is read as hostile input: sections when it validates, every problem otherwise."""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.pai.engine.draft import read_draft


def garage_draft(**changes: Any) -> dict[str, Any]:
    draft: dict[str, Any] = {
        "name": "Garage watch",
        "description": "Ask to close the garage when it is open late",
        "triggers": [{"trigger": "time", "at": "22:00:00"}],
        "rules": [
            {
                "name": "open_late",
                "when": {"kind": "ha.time"},
                "intent": {
                    "action": "close_garage",
                    "params": {},
                    "confidence": 0.9,
                    "urgency": 0.6,
                    "rationale": "The garage is open after 22:00",
                    "level": 2,
                },
            }
        ],
        "actions": [
            {
                "name": "close_garage",
                "max_level": 2,
                "sequence": [
                    {
                        "action": "cover.close_cover",
                        "target": {"entity_id": "cover.garage"},
                    }
                ],
            }
        ],
        "notify_targets": ["notify.mobile_app_pixel"],
    }
    draft.update(changes)
    return draft


def test_a_valid_draft_becomes_sections_and_bindings() -> None:
    draft = read_draft(garage_draft())

    assert draft.problems == []
    assert draft.definition is not None
    assert draft.definition.manifest.name == "Garage watch"
    assert draft.sections["policy.json"]["action_max_levels"] == {"close_garage": 2}
    assert draft.sections["policy.json"]["default_max_level"] == 0
    assert draft.ha_bindings["bindings"]["actions"]["close_garage"][0]["action"] == (
        "cover.close_cover"
    )
    assert draft.ha_bindings["ha_triggers"] == [{"trigger": "time", "at": "22:00:00"}]
    assert draft.ha_bindings["options"]["notify_targets"] == ["notify.mobile_app_pixel"]


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("garbage", "the answer is not an object (str)"),
        (None, "the answer is not an object (nothing)"),
        (garage_draft(name=""), "name: missing"),
        (garage_draft(triggers=[]), "triggers: none"),
        (garage_draft(triggers="always"), "triggers: must be a list, got str"),
        (garage_draft(rules=[]), "rules: none"),
        (garage_draft(rules=[1]), "rules[1]: must be an object, got int"),
        (
            garage_draft(actions=[{"name": "x y", "max_level": 1, "sequence": []}]),
            "actions[1]: name must be a word",
        ),
        (
            garage_draft(
                actions=[{"name": "close_garage", "max_level": 9, "sequence": [{}]}]
            ),
            "max_level must be 0 (observe) to 3 (act)",
        ),
        (
            garage_draft(
                actions=[{"name": "close_garage", "max_level": 2, "sequence": "close"}]
            ),
            "sequence must be a list of Home Assistant actions",
        ),
        (garage_draft(actions=[]), "which actions.json does not define"),
        (garage_draft(notify_targets=[1]), "notify_targets: must be a list"),
        (
            garage_draft(rules=[{"name": "r", "when": {}, "intent": {"level": 7}}]),
            "rules.json",
        ),
    ],
)
def test_every_problem_is_named(answer: Any, problem: str) -> None:
    draft = read_draft(answer)
    assert any(problem in line for line in draft.problems), draft.problems


def test_several_problems_are_all_named() -> None:
    draft = read_draft(garage_draft(name=None, triggers=[], notify_targets="phone"))
    assert len(draft.problems) == 3
