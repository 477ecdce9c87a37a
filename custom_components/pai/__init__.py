"""PAI: proactive but governed agents for Home Assistant.

One config entry is one agent. State changes and time patterns wake the agent's brain; a
governance policy decides how far each proposed intent may go (observe, suggest, ask, act),
and every decision becomes a PAID record.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.typing import ConfigType

from .const import CONF_AGENT_NAME, DOMAIN, MANUFACTURER
from .models import PaiConfigEntry, PaiRuntimeData

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Set up the integration (services are registered here as they arrive)."""
    return True


async def async_setup_entry(hass: HomeAssistant, entry: PaiConfigEntry) -> bool:
    """Set up one agent from its config entry."""
    name: str = entry.data[CONF_AGENT_NAME]
    dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, entry.entry_id)},
        name=name,
        manufacturer=MANUFACTURER,
        model="Proactive agent",
        entry_type=dr.DeviceEntryType.SERVICE,
    )
    entry.runtime_data = PaiRuntimeData(name=name)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: PaiConfigEntry) -> bool:
    """Unload an agent."""
    return True
