"""Undo through the survival layer: what an undo would put back, and whether it still may.

An undo puts the entities an ACT touched back as they were before it. That is an action too:
undoing "lock the door" unlocks it. So an undo plan leaves out every entity whose restoring
would open something (a lock, a cover, an alarm: `sensitivity.opens`), and an undo with
nothing left is not offered. The plan also keeps the states PAI left, and an undo runs only
while every entity is still as PAI left it: if someone or something changed one since, the
undo says which and does nothing. The offer says, in words, what the undo will do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.core import HomeAssistant

from .engine.bounds import short
from .sensitivity import opens

MAX_TEXT = 240


@dataclass(frozen=True, slots=True)
class UndoPlan:
    """The states an undo restores, the ones it may not, and what PAI left."""

    restore: list[dict[str, Any]]
    """`State.as_dict()` dicts of the states before the action, to put back."""
    left: dict[str, str]
    """Entity id -> the state PAI left it in (right after the action)."""
    withheld: list[str]
    """Entities whose restoring would open something: an undo never does that alone."""


def plan(hass: HomeAssistant, before: list[dict[str, Any]]) -> UndoPlan:
    """Plan undoing an action that found the states `before`, as things are now."""
    restore: list[dict[str, Any]] = []
    left: dict[str, str] = {}
    withheld: list[str] = []
    for data in before:
        entity_id = data.get("entity_id")
        state = data.get("state")
        if not isinstance(entity_id, str) or not isinstance(state, str):
            continue
        current = hass.states.get(entity_id)
        now = current.state if current is not None else None
        # Never put back an opening state, even one the entity still shows: a lock
        # may report the state PAI asked for only after this plan is made.
        if opens(entity_id, state, hass) is not None:
            withheld.append(entity_id)
            continue
        restore.append(data)
        if now is not None:
            left[entity_id] = now
    return UndoPlan(restore, left, withheld)


def changed_since(hass: HomeAssistant, left: Mapping[str, Any]) -> list[str]:
    """List the entities no longer as PAI left them, as `name (now state)`."""
    changed = []
    for entity_id, state in left.items():
        current = hass.states.get(entity_id)
        if current is None or current.state != state:
            now = current.state if current is not None else "gone"
            name = current.name if current is not None else entity_id
            changed.append(f"{name} (now {now})")
    return changed


def describe(hass: HomeAssistant, undo: UndoPlan) -> str:
    """Word the undo offer: which entities go back to which state, what stays."""
    back = []
    for data in undo.restore:
        entity_id = str(data["entity_id"])
        current = hass.states.get(entity_id)
        name = current.name if current is not None else entity_id
        back.append(f"{name} back to {data['state']}")
    text = f"Undo puts {', '.join(back)}" if back else "Nothing to undo"
    if undo.withheld:
        text += (
            f"; {', '.join(undo.withheld)} stays as it is "
            "(opening it needs your approval)"
        )
    return short(text, MAX_TEXT)
