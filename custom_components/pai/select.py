"""The agent's autonomy ceiling: the most any of its intents may be granted, set by the user."""

from __future__ import annotations

from typing import TYPE_CHECKING, override

from homeassistant.components.select import SelectEntity
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import LEVEL_NAMES
from .engine.models import AutonomyLevel
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
    """Add the agent's autonomy ceiling select."""
    async_add_entities([PaiCeilingSelect(entry.runtime_data.runtime)])


class PaiCeilingSelect(PaiEntity, SelectEntity):
    """The highest autonomy level the agent may reach, whatever its policy or brain asks."""

    _attr_entity_category = EntityCategory.CONFIG

    def __init__(self, runtime: AgentRuntime) -> None:
        """Show the runtime's ceiling."""
        super().__init__(runtime, "autonomy_ceiling")
        self._attr_options = list(LEVEL_NAMES)

    @property
    @override
    def current_option(self) -> str:
        """Return the ceiling as a lowercase level name."""
        return LEVEL_NAMES[self.runtime.ceiling]

    @override
    async def async_select_option(self, option: str) -> None:
        """Set the ceiling (Home Assistant has already checked `option` is one of ours)."""
        await self.runtime.async_set_ceiling(AutonomyLevel(LEVEL_NAMES.index(option)))
