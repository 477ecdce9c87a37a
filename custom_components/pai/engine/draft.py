"""An agent drafted by a language model, read as hostile input: sections or every problem.

The model answers a structure (see `describe_flow.py`): a name, Home Assistant triggers,
rules in the engine's format, the actions the rules propose (each with the Home Assistant
action sequence it runs and its cap) and notification targets. This turns it into the
sections of an agent file and the `ha_bindings.json` document an exported file carries, so
that the draft then goes through exactly what an uploaded file goes through. Nothing here
trusts the answer: every part that is not what it must be is named, one line each.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .agent import AgentDefinition, AgentDefinitionError

MAX_TRIGGERS = 10
MAX_RULES = 20
MAX_ACTIONS = 10
MAX_TARGETS = 10
MAX_NAME = 60
LEVELS = range(4)


@dataclass(frozen=True, slots=True)
class Draft:
    """What was read from the answer; `problems` empty means it validates."""

    sections: dict[str, Any] = field(default_factory=dict)
    ha_bindings: dict[str, Any] = field(default_factory=dict)
    """As an exported file's `ha_bindings.json` (bindings, ha_triggers, options)."""
    problems: list[str] = field(default_factory=list)
    definition: AgentDefinition | None = None


def read_draft(answer: Any) -> Draft:
    """Read a model's answer into agent sections; name every problem found."""
    if not isinstance(answer, Mapping):
        return Draft(problems=[f"the answer is not an object ({_kind(answer)})"])
    problems: list[str] = []
    name = answer.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append("name: missing (a short name for the agent)")
        name = "Drafted agent"
    name = " ".join(name.split())[:MAX_NAME]
    description = answer.get("description")
    triggers = _list_of_objects(answer, "triggers", MAX_TRIGGERS, problems)
    rules = _list_of_objects(answer, "rules", MAX_RULES, problems)
    actions = _list_of_objects(answer, "actions", MAX_ACTIONS, problems)
    if not triggers:
        problems.append("triggers: none (the agent would never wake)")
    if not rules:
        problems.append("rules: none (the agent would never propose anything)")
    caps: dict[str, int] = {}
    sequences: dict[str, list[dict[str, Any]]] = {}
    for number, action in enumerate(actions, 1):
        where = f"actions[{number}]"
        action_name = action.get("name")
        if not isinstance(action_name, str) or not action_name.isidentifier():
            problems.append(f"{where}: name must be a word (letters, digits, _)")
            continue
        if action_name in caps:
            problems.append(f"{where}: {action_name!r} is defined twice")
            continue
        level = action.get("max_level")
        if isinstance(level, bool) or not isinstance(level, int) or level not in LEVELS:
            problems.append(
                f"{where} {action_name}: max_level must be 0 (observe) to 3 (act)"
            )
            continue
        sequence = action.get("sequence")
        if (
            not isinstance(sequence, list)
            or not sequence
            or not all(isinstance(step, Mapping) for step in sequence)
        ):
            problems.append(
                f"{where} {action_name}: sequence must be a list of Home Assistant actions"
            )
            continue
        caps[action_name] = level
        sequences[action_name] = [dict(step) for step in sequence]
    targets = answer.get("notify_targets", [])
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        problems.append("notify_targets: must be a list of notify services or entities")
        targets = []
    sections: dict[str, Any] = {
        "manifest.json": {
            "name": name,
            "version": "1.0.0",
            "author": "Home Assistant (drafted)",
            "description": (
                description[:200]
                if isinstance(description, str) and description.strip()
                else "An agent drafted from a description"
            ),
            "pai_format": 1,
            "kind": "proactive-agent",
        },
        # Only the actions given, each at most its cap; anything else is recorded.
        "policy.json": {"default_max_level": 0, "action_max_levels": caps},
        "triggers.json": [],
        "rules.json": rules,
        "actions.json": {
            action_name: {"type": "callback", "handler": action_name}
            for action_name in caps
        },
    }
    definition = None
    try:
        definition = AgentDefinition.from_sections(sections)
    except AgentDefinitionError as err:
        problems.append(str(err))
    else:
        problems.extend(definition.problems)
        sections = definition.to_sections()
    return Draft(
        sections,
        {
            "bindings": {"metrics": {}, "actions": sequences},
            "ha_triggers": triggers,
            "options": {"notify_targets": targets[:MAX_TARGETS]},
        },
        problems,
        definition,
    )


def _list_of_objects(
    answer: Mapping[str, Any], key: str, limit: int, problems: list[str]
) -> list[dict[str, Any]]:
    value = answer.get(key, [])
    if not isinstance(value, list):
        problems.append(f"{key}: must be a list, got {_kind(value)}")
        return []
    if len(value) > limit:
        problems.append(f"{key}: at most {limit}, got {len(value)}")
        value = value[:limit]
    kept = []
    for number, item in enumerate(value, 1):
        if isinstance(item, Mapping):
            kept.append(dict(item))
        else:
            problems.append(f"{key}[{number}]: must be an object, got {_kind(item)}")
    return kept


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__
