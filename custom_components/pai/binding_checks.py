"""Checking the Home Assistant actions a user binds to an agent's actions (flows, repairs)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.script import async_validate_actions_config
import probatio as vol


async def async_sequence_problem(hass: HomeAssistant, sequence: Any) -> str | None:
    """Return why Home Assistant refuses an action sequence, or None."""
    try:
        await async_validate_actions_config(hass, cv.SCRIPT_SCHEMA(sequence))
    except (vol.Invalid, HomeAssistantError) as err:
        return str(err)
    return None


async def async_chosen_bindings(
    hass: HomeAssistant,
    user_input: Mapping[str, Any],
    names: Iterable[str],
    errors: dict[str, str],
    placeholders: dict[str, str],
) -> dict[str, list[Any]]:
    """Return the sequences a form binds to `names`; mark each refused one in `errors`.

    The last refusal's reason goes to `placeholders["detail"]`.
    """
    chosen = {
        name: cv.ensure_list(user_input[name]) for name in names if user_input.get(name)
    }
    for name, sequence in chosen.items():
        if (problem := await async_sequence_problem(hass, sequence)) is not None:
            errors[name] = "invalid_action"
            placeholders["detail"] = problem
    return chosen
