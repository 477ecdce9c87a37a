"""What the end-to-end tests do to a real `hass` as a user would: make an agent through the
config flow's HTTP API (as the frontend does), call actions, read states and records."""

from __future__ import annotations

from collections.abc import Callable
import time
from typing import Any

from .hass_process import HassInstance
from .ws import allow_sockets


def create_agent(
    home: HassInstance,
    *,
    name: str,
    watched: str,
    action: str,
    target: str,
    level: str,
    notify_targets: list[str] | None = None,
) -> str:
    """Make an agent with the config flow's HTTP API; return its entry id.

    `notify_targets` None: the form's own default (a persistent notification).
    """
    allow_sockets()  # a module fixture, set up before the test's socket_enabled
    status, flow = home.request(
        "POST", "/api/config/config_entries/flow", {"handler": "pai"}
    )
    assert status == 200, flow
    flow_url = f"/api/config/config_entries/flow/{flow['flow_id']}"
    status, flow = home.request("POST", flow_url, {"next_step_id": "create"})
    assert status == 200, flow
    status, flow = home.request(
        "POST",
        flow_url,
        {
            "name": name,
            "entities": [watched],
            "action": [{"action": action, "target": {"entity_id": target}}],
            "level": level,
            "confidence": 0.95,
        },
    )
    assert status == 200, flow
    assert flow["step_id"] == "create_action", flow
    status, flow = home.request(  # no other action
        "POST", flow_url, {"level": "suggest", "confidence": 0.9}
    )
    assert status == 200, flow
    while flow["type"] == "form":
        assert flow["step_id"] == "targets", flow
        chosen = {} if notify_targets is None else {"notify_targets": notify_targets}
        status, flow = home.request("POST", flow_url, chosen)
        assert status == 200, flow
    assert flow["type"] == "create_entry", flow
    return str(flow["result"]["entry_id"])


def call(home: HassInstance, service: str, entity_id: str) -> None:
    domain, name = service.split(".")
    status, body = home.request(
        "POST", f"/api/services/{domain}/{name}", {"entity_id": entity_id}
    )
    assert status == 200, body


def state(home: HassInstance, entity_id: str) -> str:
    status, body = home.request("GET", f"/api/states/{entity_id}")
    assert status == 200, body
    return str(body["state"])


def wait_for[T](check: Callable[[], T | None], what: str, timeout: float = 20) -> T:
    """Poll until `check` gives something (Home Assistant works asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        if (result := check()) is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def records(home: HassInstance, entry_id: str) -> list[dict[str, Any]]:
    """Return the agent's records as `pai.get_records` gives them to a user."""
    status, body = home.request(
        "POST",
        "/api/services/pai/get_records?return_response",
        {"agent": entry_id},
    )
    assert status == 200, body
    return [dict(item) for item in body["service_response"]["records"]]
