"""PAI beside Home Assistant's own Anthropic integration, on a real `hass`, across restarts.

Home Assistant installs each integration's requirements one at a time, without resolving them
together: an exact pin of the anthropic SDK that differs from core's would swap the installed
SDK at every restart and break both integrations. PAI asks for a range that includes what each
supported release pins, so both are set up, restart after restart, and the SDK stays put. The
core integration checks its key against the Messages API: here the local stand-in
(tests/brains/fake_anthropic.py), reached through the SDK's own ANTHROPIC_BASE_URL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
import threading

import pytest

from ..brains.fake_anthropic import API_KEY, FakeAnthropic
from .hass_process import HassInstance, run_hass

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("socket_enabled")]

RESTARTS = 3
SDK_ERRORS = (
    "ImportError",
    "cannot import name",
    "No module named",
    "Requirements for",
)


@pytest.fixture
def messages_api() -> Iterator[FakeAnthropic]:
    """The fake Messages API, served from its own event loop in a thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = FakeAnthropic()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def step(hass: HassInstance, flow: dict[str, object], data: dict[str, object]) -> dict:
    status, result = hass.request(
        "POST", f"/api/config/config_entries/flow/{flow['flow_id']}", data
    )
    assert status == 200, result
    assert isinstance(result, dict)
    return result


def add_core_anthropic(hass: HassInstance) -> None:
    status, flow = hass.request(
        "POST", "/api/config/config_entries/flow", {"handler": "anthropic"}
    )
    assert status == 200, flow
    flow = step(hass, flow, {"api_key": API_KEY})
    assert flow["type"] == "create_entry", flow


def add_pai_agent(hass: HassInstance) -> None:
    status, flow = hass.request(
        "POST", "/api/config/config_entries/flow", {"handler": "pai"}
    )
    assert status == 200, flow
    flow = step(hass, flow, {"next_step_id": "create"})
    flow = step(
        hass,
        flow,
        {
            "name": "Night watch",
            "entities": ["light.bed_light"],
            "action": [
                {"action": "light.turn_off", "target": {"entity_id": "light.bed_light"}}
            ],
            "level": "suggest",
            "confidence": 0.9,
        },
    )
    flow = step(hass, flow, {"level": "suggest", "confidence": 0.9})
    while flow["type"] == "form":  # notification targets
        flow = step(hass, flow, {"notify_targets": ["persistent_notification"]})
    assert flow["type"] == "create_entry", flow


def entry_states(hass: HassInstance) -> dict[str, list[str]]:
    status, entries = hass.request("GET", "/api/config/config_entries/entry")
    assert status == 200, entries
    states: dict[str, list[str]] = {}
    for entry in entries:
        if entry["domain"] in ("pai", "anthropic"):
            states.setdefault(entry["domain"], []).append(entry["state"])
    return states


def test_pai_and_core_anthropic_survive_three_restarts(
    tmp_path: Path, messages_api: FakeAnthropic
) -> None:
    sdk = version("anthropic")
    with run_hass(tmp_path, env={"ANTHROPIC_BASE_URL": messages_api.url}) as hass:
        hass.onboard()
        add_core_anthropic(hass)
        add_pai_agent(hass)
        assert entry_states(hass) == {"anthropic": ["loaded"], "pai": ["loaded"]}

        for restart in range(1, RESTARTS + 1):
            hass.restart()
            states = entry_states(hass)
            log = hass.log()
            problems = [
                line for line in log.splitlines() if any(e in line for e in SDK_ERRORS)
            ]
            assert problems == [], f"restart {restart}"
            assert states == {"anthropic": ["loaded"], "pai": ["loaded"]}, (
                f"restart {restart}: {states}\n{log[-3000:]}"
            )
            assert version("anthropic") == sdk, f"restart {restart} swapped the SDK"
