"""Config entry versions: what each minor version changed, and the steps that bring old ones up.

1.1: the first release's entries.
1.2: the LLM brain's model lives in the options alone (`brain_model`); 1.1 entries could carry
     it in the data's `brain` section too, where the runtime read it as a fallback.
2.1: the data's `brain` section names its kind under `kind` (it was `engine`, the word the
     pure package goes by; a `.pai` file's brain.json keeps `engine`, paigent's format).
     A new major version: an older release would find no brain in such an entry, so Home
     Assistant refuses it there (a migration error) instead of running it on its rules.

Minor versions stay readable by older releases of the same major version; Home Assistant
refuses an entry from a newer major version (a migration error), never guessed at.
"""

from __future__ import annotations

from collections.abc import Mapping
import logging
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant

from .const import CONF_BRAIN, CONF_BRAIN_KIND, CONF_BRAIN_MODEL

_LOGGER = logging.getLogger(__name__)

VERSION = 2
MINOR_VERSION = 1

OLD_BRAIN_KIND = "engine"
"""Where entries before 2.1 kept the brain's kind."""


def model_to_options(
    data: Mapping[str, Any], options: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return data and options with the brain's model moved from the data to the options.

    A model already in the options wins (it is the one the user set last); a blank one is
    dropped.
    """
    new_data, new_options = dict(data), dict(options)
    brain = data.get(CONF_BRAIN)
    if isinstance(brain, Mapping) and CONF_BRAIN_MODEL in brain:
        brain = dict(brain)
        model = str(brain.pop(CONF_BRAIN_MODEL) or "").strip()
        new_data[CONF_BRAIN] = brain
        if model and not new_options.get(CONF_BRAIN_MODEL):
            new_options[CONF_BRAIN_MODEL] = model
    return new_data, new_options


def brain_kind_renamed(data: Mapping[str, Any]) -> dict[str, Any]:
    """Return data whose brain section names its kind under `kind`, not `engine`.

    A `kind` already there wins (nothing older wrote one, but it is the newer word).
    """
    new_data = dict(data)
    brain = data.get(CONF_BRAIN)
    if isinstance(brain, Mapping) and OLD_BRAIN_KIND in brain:
        brain = dict(brain)
        kind = brain.pop(OLD_BRAIN_KIND)
        brain.setdefault(CONF_BRAIN_KIND, kind)
        new_data[CONF_BRAIN] = brain
    return new_data


async def async_migrate_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    """Bring an entry stored by an older release up to this one's version.

    Home Assistant refuses an entry of a newer major version itself, before this runs.
    """
    if entry.version == 1 and entry.minor_version < 2:
        data, options = model_to_options(entry.data, entry.options)
        hass.config_entries.async_update_entry(
            entry, data=data, options=options, minor_version=2
        )
    if entry.version == 1:
        hass.config_entries.async_update_entry(
            entry, data=brain_kind_renamed(entry.data), version=2, minor_version=1
        )
    _LOGGER.debug("%s migrated to version %s.%s", entry.title, VERSION, MINOR_VERSION)
    return True
