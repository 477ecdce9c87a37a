"""The base of every PAI entity: a view of one agent's runtime on the agent's device.

Entities hold no state of their own. They read the runtime when Home Assistant asks and
write their state when the runtime signals a change and what they show did change, so they
never poll and an agent's event rewrites only the entities it changed. Values that
change with the clock alone (quiet hours beginning, interruptions ageing out of the last
hour) are checked once a minute, and written only when they actually changed.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, override

from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.event import async_track_time_change

from .const import DOMAIN

if TYPE_CHECKING:
    from .runtime import AgentRuntime

_UNSEEN = object()


class PaiEntity(Entity):
    """An entity of one agent, named by its translation key, on the agent's service device."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    _changes_with_time = False
    """True for entities whose state the clock can change without the runtime signalling."""

    def __init__(self, runtime: AgentRuntime, key: str) -> None:
        """Attach the entity to the agent's runtime and device."""
        self.runtime = runtime
        self._attr_translation_key = key
        self._attr_unique_id = f"{runtime.entry_id}_{key}"
        # The device itself is made when the entry is set up; entities only link to it.
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, runtime.entry_id)})
        self._shown: Any = _UNSEEN

    @override
    async def async_added_to_hass(self) -> None:
        """Follow the runtime's changes, and the clock where the state depends on it."""
        await super().async_added_to_hass()
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass, self.runtime.signal, self._async_runtime_changed
            )
        )
        if self._changes_with_time:
            self.async_on_remove(
                async_track_time_change(self.hass, self._async_minute_tick, second=0)
            )

    def _shows(self) -> Any:
        """Return what the entity shows; a signal that changes none of it writes nothing."""
        return (self.available, self.state, self.extra_state_attributes)

    @callback
    def _async_runtime_changed(self) -> None:
        if self._shows() != self._shown:
            self._async_write_now()

    @callback
    def _async_write_now(self) -> None:
        """Write the state now, and remember what it shows."""
        self._shown = self._shows()
        self.async_write_ha_state()

    @callback
    def _async_minute_tick(self, _now: datetime) -> None:
        """Write the state if the clock alone changed it (not every minute regardless)."""
        self._async_runtime_changed()
