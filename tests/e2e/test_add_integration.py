"""A user adds PAI from Settings -> Devices & services on a real Home Assistant.

The frontend drives the same HTTP API used here: start a config flow for the `pai` handler,
fill in its form, and the agent's config entry is loaded.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .hass_process import run_hass

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("socket_enabled")]


def test_add_pai_from_the_ui(tmp_path: Path) -> None:
    with run_hass(tmp_path) as hass:
        hass.onboard()

        status, flow = hass.request(
            "POST", "/api/config/config_entries/flow", {"handler": "pai"}
        )
        assert status == 200, flow
        assert flow["type"] == "form"
        assert flow["step_id"] == "user"
        assert [field["name"] for field in flow["data_schema"]] == ["name"]

        status, result = hass.request(
            "POST",
            f"/api/config/config_entries/flow/{flow['flow_id']}",
            {"name": "Night watch"},
        )
        assert status == 200, result
        assert result["type"] == "create_entry"
        assert result["title"] == "Night watch"

        status, entries = hass.request("GET", "/api/config/config_entries/entry")
        assert status == 200
        pai_entries = [entry for entry in entries if entry["domain"] == "pai"]
        assert len(pai_entries) == 1
        assert pai_entries[0]["state"] == "loaded"

        log = hass.log()
        assert "Setting up pai" in log
        pai_errors = [
            line
            for line in log.splitlines()
            if " ERROR " in line and ("pai" in line or "Night watch" in line)
        ]
        assert pai_errors == []
