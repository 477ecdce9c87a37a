"""Typed runtime data that a PAI config entry carries while it is loaded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry

if TYPE_CHECKING:
    from .runtime import AgentRuntime


@dataclass(slots=True)
class PaiRuntimeData:
    """What a loaded agent keeps in `entry.runtime_data`."""

    runtime: AgentRuntime


type PaiConfigEntry = ConfigEntry[PaiRuntimeData]
