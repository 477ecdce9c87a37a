"""Whether a name or a device class says "this opens a way in" (a garage, a gate, a door).

Garage and gate openers are often not covers: a relay exposed as `switch.garage_door`, a
button `button.gate_open`. Home Assistant knows them only by what they are called, their
device class, or the device they belong to. This module judges the words; the HA side
(`sensitivity.py`) decides which names and classes to ask about.

Words are matched as whole words of the name (split on anything that is not a letter or a
digit), so "outdoor light" or "gateway" are not openers; Chinese names are matched by the
characters for garage, gate and roller door.
"""

from __future__ import annotations

import re

OPENER_DEVICE_CLASSES = frozenset({"garage", "garage_door", "gate", "door", "opener"})
"""Device classes (a cover's, or one a user or integration set) that mean a way in."""

OPENER_WORDS = frozenset(
    {
        "garage",
        "garages",
        "garagedoor",
        "garagedoors",
        "gate",
        "gates",
        "door",
        "doors",
        "opener",
        "openers",
        "doorbuzzer",
        "intercom",
    }
)
"""Whole words of a name that mean it opens a way in."""

OPENER_SUBSTRINGS = (
    "車庫",
    "车库",
    "大門",
    "大门",
    "閘門",
    "闸门",
    "捲門",
    "卷门",
    "開門",
    "开门",
)
"""Chinese names: garage, gate, barrier gate, roller door, "open door"."""

_WORDS = re.compile(r"[a-z0-9]+")


def opener_word(name: str | None) -> str | None:
    """Return the word of `name` that means an opener, else None."""
    if not name:
        return None
    text = name.lower()
    for word in _WORDS.findall(text):
        if word in OPENER_WORDS:
            return str(word)
    for chars in OPENER_SUBSTRINGS:
        if chars in text:
            return chars
    return None


def opener_class(device_class: str | None) -> bool:
    """Whether a device class means a way in."""
    return (
        isinstance(device_class, str) and device_class.lower() in OPENER_DEVICE_CLASSES
    )
