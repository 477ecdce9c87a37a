"""A user adds PAI from Settings -> Devices & services on a real Home Assistant.

The frontend drives the same HTTP API used here: start a config flow for the `pai` handler,
fill in its form, and the agent's config entry is loaded.
"""

from __future__ import annotations

from pathlib import Path
import time

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
        assert flow["type"] == "menu"
        assert set(flow["menu_options"]) == {"upload", "create", "describe"}

        status, flow = hass.request(
            "POST",
            f"/api/config/config_entries/flow/{flow['flow_id']}",
            {"next_step_id": "create"},
        )
        assert status == 200, flow
        assert flow["step_id"] == "create"

        status, flow = hass.request(
            "POST",
            f"/api/config/config_entries/flow/{flow['flow_id']}",
            {
                "name": "Night watch",
                "entities": ["light.bed_light"],
                "action": [
                    {
                        "action": "light.turn_off",
                        "target": {"entity_id": "light.bed_light"},
                    }
                ],
                "level": "suggest",
                "confidence": 0.9,
            },
        )
        assert status == 200, flow
        assert flow["step_id"] == "create_action", flow
        assert "action_1: light.turn_off (up to suggest)" in str(
            flow["description_placeholders"]["actions"]
        )
        status, flow = hass.request(  # no other action: an empty one ends the list
            "POST",
            f"/api/config/config_entries/flow/{flow['flow_id']}",
            {"level": "suggest", "confidence": 0.9},
        )
        assert status == 200, flow
        while flow["type"] == "form":  # the remaining steps: notification targets
            assert flow["step_id"] == "targets", flow
            status, flow = hass.request(
                "POST",
                f"/api/config/config_entries/flow/{flow['flow_id']}",
                {"notify_targets": ["persistent_notification"]},
            )
            assert status == 200, flow
        assert flow["type"] == "create_entry", flow
        assert flow["title"] == "Night watch"

        status, entries = hass.request("GET", "/api/config/config_entries/entry")
        assert status == 200
        pai_entries = [entry for entry in entries if entry["domain"] == "pai"]
        assert len(pai_entries) == 1
        assert pai_entries[0]["state"] == "loaded"

        # The agent is alive: a state change of the watched light leads to a decision.
        status, _ = hass.request(
            "POST", "/api/services/light/toggle", {"entity_id": "light.bed_light"}
        )
        assert status == 200
        deadline = time.monotonic() + 20
        state = None
        while time.monotonic() < deadline:
            status, state = hass.request(
                "GET", "/api/states/sensor.night_watch_last_decision"
            )
            if status == 200 and state["state"] == "suggest":
                break
            time.sleep(0.2)
        assert state is not None
        assert state["state"] == "suggest", state
        assert state["attributes"]["status"] == "suggested"

        log = hass.log()
        assert "Setting up pai" in log
        pai_errors = [
            line
            for line in log.splitlines()
            if " ERROR " in line and ("pai" in line or "Night watch" in line)
        ]
        assert pai_errors == []
