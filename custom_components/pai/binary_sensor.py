"""Whether the agent is inside its quiet hours, when it interrupts only for urgent things."""

from __future__ import annotations

from typing import TYPE_CHECKING, override

from homeassistant.components.binary_sensor import BinarySensorEntity
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import PaiEntity
from .models import PaiConfigEntry

if TYPE_CHECKING:
    from .runtime import AgentRuntime

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PaiConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the agent's quiet hours sensor."""
    async_add_entities([PaiQuietHoursSensor(entry.runtime_data.runtime)])


class PaiQuietHoursSensor(PaiEntity, BinarySensorEntity):
    """On while the agent's quiet hours last (checked at every minute boundary)."""

    _changes_with_time = True

    def __init__(self, runtime: AgentRuntime) -> None:
        """Show the runtime's quiet hours."""
        super().__init__(runtime, "quiet_hours")

    @property
    @override
    def is_on(self) -> bool:
        """Return whether it is quiet hours now."""
        return self.runtime.in_quiet_hours()
