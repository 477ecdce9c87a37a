"""Placeholder: being written (issue 6)."""

from __future__ import annotations

from homeassistant.core import HomeAssistant

from ..engine.brain import BrainError, BrainRequest, BrainResult, FailureKind


class ClaudeBrain:
    """Placeholder brain."""

    name = "anthropic"
    is_local = False

    def __init__(self, hass: HomeAssistant, *, api_key: str, model: str) -> None:
        """Keep the settings."""
        self.hass = hass

    async def async_think(self, request: BrainRequest) -> BrainResult:
        """Not written yet."""
        raise BrainError(FailureKind.UNAVAILABLE, "not written yet")
