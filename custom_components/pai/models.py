"""Typed runtime data that a PAI config entry carries while it is loaded."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.config_entries import ConfigEntry


@dataclass(slots=True)
class PaiRuntimeData:
    """What a loaded agent keeps in `entry.runtime_data`."""

    name: str


type PaiConfigEntry = ConfigEntry[PaiRuntimeData]
