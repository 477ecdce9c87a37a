"""PAI: proactive but governed agents for Home Assistant.

One config entry is one agent. State changes and time patterns wake the agent's brain; a
governance policy decides how far each proposed intent may go (observe, suggest, ask, act),
and every decision becomes a PAID record.
"""

from __future__ import annotations

import logging
from typing import Any

from homeassistant.const import Platform
from homeassistant.core import Event, HomeAssistant
from homeassistant.exceptions import ConfigEntryError
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.typing import ConfigType

from .agent_draft import minimal_sections
from .agent_files import async_cleanup_weights
from .answers import ResolveError
from .brains import create_brain
from .brains.local_gguf import create_local_brain
from .const import (
    BRAIN_LOCAL,
    CONF_AGENT,
    CONF_AGENT_NAME,
    DOMAIN,
    EVENT_MOBILE_APP_ACTION,
    MANUFACTURER,
)
from .engine.agent import AgentDefinition, AgentDefinitionError
from .engine.approvals import parse_action_id
from .memory import async_remove_memory
from .migration import async_migrate_entry as async_migrate_entry
from .repairs import async_check_brain_at_setup, async_delete_issues, async_watch
from .runtime import AgentRuntime
from .runtime_data import PaiConfigEntry, PaiRuntimeData, owner_of_record
from .services import async_setup_services
from .settings import AgentSettings
from .shadow import async_start_versions
from .triggers import InvalidTriggerError
from .versions import versions_store

_LOGGER = logging.getLogger(__name__)

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)
PLATFORMS = [Platform.BINARY_SENSOR, Platform.SELECT, Platform.SENSOR, Platform.SWITCH]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions and the listener for answers tapped on phones."""
    async_setup_services(hass)

    async def async_phone_action(event: Event[dict[str, Any]]) -> None:
        await async_handle_phone_action(hass, event)

    hass.bus.async_listen(EVENT_MOBILE_APP_ACTION, async_phone_action)
    return True


async def async_handle_phone_action(
    hass: HomeAssistant, event: Event[dict[str, Any]]
) -> None:
    """Route a tapped PAI_APPROVE/DECLINE/UNDO action to the agent that asked."""
    action = event.data.get("action")
    parsed = parse_action_id(action) if isinstance(action, str) else None
    if parsed is None:
        return
    runtime = owner_of_record(
        hass, parsed.record_id, kind=parsed.kind, nonce=parsed.nonce
    )
    if runtime is None:
        _LOGGER.warning("Ignored phone answer %s: no agent knows that record", action)
        return
    try:
        await runtime.answers.async_resolve(
            parsed.record_id, parsed.verb, parsed.nonce, event.context.user_id
        )
    except ResolveError as err:
        _LOGGER.warning("Ignored phone answer %s: %s", action, err)


async def async_setup_entry(hass: HomeAssistant, entry: PaiConfigEntry) -> bool:
    """Set up one agent from its config entry."""
    name: str = entry.data[CONF_AGENT_NAME]
    try:
        definition = AgentDefinition.from_sections(
            entry.data.get(CONF_AGENT) or minimal_sections(name)
        )
    except AgentDefinitionError as err:
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="invalid_agent",
            translation_placeholders={"error": str(err)},
        ) from err
    settings = AgentSettings.from_entry(entry.data, entry.options, definition.policy)
    brains = []
    if settings.brain and (
        brain := create_brain(hass, settings.brain, settings.brain_model)
    ):
        await async_check_brain_at_setup(hass, entry, brain)  # a refused key: reauth
        brains.append(brain)
    if settings.brain_kind == BRAIN_LOCAL:
        local = create_local_brain(hass, entry, settings)
        entry.async_on_unload(local.async_release)
        local.async_start()  # installs, checks and loads in the background
        brains.append(local)
    runtime = AgentRuntime(
        hass,
        entry.entry_id,
        name,
        definition=definition,
        data=entry.data,
        options=entry.options,
        brains=brains,
    )
    try:
        await runtime.async_start()
    except InvalidTriggerError as err:
        await runtime.async_stop()
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="invalid_trigger",
            translation_placeholders={"error": str(err)},
        ) from err
    entry.runtime_data = PaiRuntimeData(
        runtime=runtime, versions=await async_start_versions(hass, entry, runtime)
    )
    entry.async_on_unload(async_watch(hass, entry, runtime))  # the Repairs issues
    dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, entry.entry_id)},
        name=name,
        manufacturer=MANUFACTURER,
        model="Proactive agent",
        sw_version=definition.manifest.version,
        entry_type=dr.DeviceEntryType.SERVICE,
    )
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def async_remove_entry(hass: HomeAssistant, entry: PaiConfigEntry) -> None:
    """Delete the agent's memory, its extracted weights (unless shared) and its issues."""
    await async_remove_memory(hass, entry.entry_id)
    await versions_store(hass, entry.entry_id).async_remove()
    await async_cleanup_weights(hass, exclude_entry_id=entry.entry_id)
    async_delete_issues(hass, entry.entry_id)


async def async_unload_entry(hass: HomeAssistant, entry: PaiConfigEntry) -> bool:
    """Unload an agent, keeping its memory on disk."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        await entry.runtime_data.runtime.async_stop()
    return unloaded
