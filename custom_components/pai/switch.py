"""The agent's on/off switch: off pauses it (nothing is decided or done), on resumes it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, override

from homeassistant.components.switch import SwitchEntity
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import PaiEntity
from .runtime_data import PaiConfigEntry

if TYPE_CHECKING:
    from .runtime import AgentRuntime

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PaiConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the agent's active switch."""
    async_add_entities([PaiActiveSwitch(entry.runtime_data.runtime)])


class PaiActiveSwitch(PaiEntity, SwitchEntity):
    """Whether the agent is running (on) or paused (off)."""

    _attr_entity_category = EntityCategory.CONFIG

    def __init__(self, runtime: AgentRuntime) -> None:
        """Show the runtime's active flag."""
        super().__init__(runtime, "active")

    @property
    @override
    def is_on(self) -> bool:
        """Return whether the agent is active."""
        return self.runtime.active

    @override
    async def async_turn_on(self, **kwargs: Any) -> None:
        """Resume the agent."""
        await self.runtime.async_set_active(True)

    @override
    async def async_turn_off(self, **kwargs: Any) -> None:
        """Pause the agent."""
        await self.runtime.async_set_active(False)
