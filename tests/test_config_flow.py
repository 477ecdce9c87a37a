"""The config flow that creates an agent."""

from __future__ import annotations

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.pai.const import DOMAIN


async def test_user_creates_agent(hass: HomeAssistant) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"name": "  Night watch "}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Night watch"
    assert result["data"] == {"name": "Night watch"}
    assert result["result"].unique_id == "night_watch"


async def test_name_without_letters_is_refused(hass: HomeAssistant) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"name": " !! "}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"name": "invalid_name"}

    # The user can correct it on the same form.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"name": "Porch"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_same_agent_twice_aborts(hass: HomeAssistant) -> None:
    for expected in (FlowResultType.CREATE_ENTRY, FlowResultType.ABORT):
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_USER}
        )
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"name": "Night Watch"}
        )
        assert result["type"] is expected
    assert result["reason"] == "already_configured"
