"""Config flow: one config entry per PAI agent."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigFlow, ConfigFlowResult
from homeassistant.helpers.selector import TextSelector
from homeassistant.util import slugify
import probatio as vol  # Home Assistant 2026.9+ validates with probatio

from .const import CONF_AGENT_NAME, DOMAIN


class PaiConfigFlow(ConfigFlow, domain=DOMAIN):
    """Create a PAI agent."""

    VERSION = 1

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the agent's name."""
        errors: dict[str, str] = {}
        if user_input is not None:
            name = user_input[CONF_AGENT_NAME].strip()
            if not any(char.isalnum() for char in name):
                errors[CONF_AGENT_NAME] = "invalid_name"
            else:
                await self.async_set_unique_id(slugify(name))
                self._abort_if_unique_id_configured()
                return self.async_create_entry(title=name, data={CONF_AGENT_NAME: name})
        return self.async_show_form(
            step_id="user",
            data_schema=vol.Schema({vol.Required(CONF_AGENT_NAME): TextSelector()}),
            errors=errors,
        )
