"""An agent goes out of Home Assistant as a .pai file and comes back bound as it was."""

from __future__ import annotations

from pathlib import Path

from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pai  # paigent, the reference implementation
import pytest

from custom_components.pai.const import DOMAIN

from .helpers import (
    FAN_ON,
    Uploads,
    configure,
    import_agent,
    pack,
    pass_review,
    suggested,
)

# Fixtures: a house with a CPU sensor and a fan, and a stand-in for the browser's upload.


@pytest.mark.usefixtures("flow_house")
async def test_export_then_import_gives_the_same_agent_back(
    hass: HomeAssistant, uploads: Uploads, tmp_path: Path
) -> None:
    shelf = tmp_path / "exports"
    shelf.mkdir()
    hass.config.allowlist_external_dirs = {str(shelf)}
    original = await import_agent(hass, uploads, pack(tmp_path / "src"))
    target = shelf / "server.pai"

    await hass.services.async_call(
        DOMAIN,
        "export_agent",
        {"agent": original.entry_id, "path": str(target), "include_weights": False},
        blocking=True,
        return_response=True,
    )
    loaded = pai.load_agent(str(target))
    assert loaded["manifest"]["name"] == "Server watch"
    assert loaded["rules"] == original.data["agent"]["rules.json"]
    assert loaded["has_weights"] is False

    await hass.config_entries.async_remove(original.entry_id)
    response = await hass.services.async_call(
        DOMAIN,
        "import_agent",
        {"path": str(target)},
        blocking=True,
        return_response=True,
    )
    assert response is not None
    assert response["step_id"] == "review"
    result = await hass.config_entries.flow.async_configure(str(response["flow_id"]))
    result = await pass_review(hass, result)
    assert suggested(result, "cpu") == "sensor.cpu"
    result = await configure(hass, result, {"cpu": suggested(result, "cpu")})
    assert suggested(result, "cleanup") == FAN_ON
    result = await configure(hass, result, {"cleanup": suggested(result, "cleanup")})
    [key] = result["data_schema"].schema
    assert key.default() == ["persistent_notification"]
    result = await configure(hass, result, {"notify_targets": key.default()})

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["agent"] == original.data["agent"]
    assert result["data"]["bindings"] == original.data["bindings"]
    assert result["data"]["ha_triggers"] == original.data["ha_triggers"]
    assert result["options"] == original.options
