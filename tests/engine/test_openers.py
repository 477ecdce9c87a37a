"""Which names and device classes mean a garage, gate or door opener."""

from __future__ import annotations

import pytest

from custom_components.pai.engine.openers import opener_class, opener_word


@pytest.mark.parametrize(
    ("name", "word"),
    [
        ("switch.garage_door_relay", "garage"),
        ("Gate opener", "gate"),
        ("button.front_door_open", "door"),
        ("GarageDoor", "garagedoor"),
        ("Shelly opener 2", "opener"),
        ("車庫門", "車庫"),
        ("社區大門", "大門"),
        ("switch.outdoor_light", None),
        ("button.gateway_restart", None),
        ("Doorbell chime volume", None),
        ("", None),
        (None, None),
    ],
)
def test_opener_words_are_whole_words(name: str | None, word: str | None) -> None:
    assert opener_word(name) == word


def test_opener_device_classes() -> None:
    for device_class in ("garage", "Gate", "door"):
        assert opener_class(device_class)
    for device_class in ("outlet", None):
        assert not opener_class(device_class)
