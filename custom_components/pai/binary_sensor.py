"""Whether the agent is inside its quiet hours, and whether its LLM budget is spent.

In quiet hours the agent interrupts only for urgent things; over its LLM budget it decides
on its rules alone until the calls of the last hour (or the dollars of the last day) age out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, override

from homeassistant.components.binary_sensor import BinarySensorEntity
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.const import EntityCategory, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .entity import PaiEntity
from .runtime_data import PaiConfigEntry
from .sensor import remove_entities

if TYPE_CHECKING:
    from .runtime import AgentRuntime

PARALLEL_UPDATES = 0
BUDGET_EXCEEDED = "llm_budget_exceeded"


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PaiConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the agent's quiet hours sensor, and its budget sensor if it has an LLM brain."""
    runtime = entry.runtime_data.runtime
    sensors: list[BinarySensorEntity] = [PaiQuietHoursSensor(runtime)]
    if runtime.router.has_llm:
        sensors.append(PaiBudgetExceededSensor(runtime))
    else:  # the brain was switched to the rules: its sensor goes with it
        remove_entities(
            hass, Platform.BINARY_SENSOR, runtime.entry_id, [BUDGET_EXCEEDED]
        )
    async_add_entities(sensors)


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
        return self.runtime.situation.in_quiet_hours()


class PaiBudgetExceededSensor(PaiEntity, BinarySensorEntity):
    """On while the LLM budget is spent (the rules decide alone meanwhile)."""

    _attr_device_class = BinarySensorDeviceClass.PROBLEM
    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _changes_with_time = True  # calls age out of the hour without an event

    def __init__(self, runtime: AgentRuntime) -> None:
        """Show the runtime's budget."""
        super().__init__(runtime, BUDGET_EXCEEDED)

    @property
    @override
    def is_on(self) -> bool:
        """Return whether a budget (calls per hour or cost per day) is spent now."""
        return self.runtime.router.over_budget(dt_util.utcnow()) is not None

    @property
    @override
    def extra_state_attributes(self) -> dict[str, Any]:
        """Return which budget is spent: `calls`, `cost` or none."""
        return {"budget": self.runtime.router.over_budget(dt_util.utcnow())}
