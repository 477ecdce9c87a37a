"""An agent's diagnostics, downloaded through Home Assistant's real diagnostics endpoint.

What a user attaches to a bug report must explain the agent (its file, options, live state,
last decisions) and must never carry a secret: API keys, webhook URLs, tokens and passwords
are redacted wherever they sit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import json
from typing import Any

from aiohttp import web
from homeassistant.components.recorder import Recorder
from homeassistant.config_entries import ConfigEntryDisabler
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_mock_service,
)
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.pai.const import DOMAIN
from tests.ha_fixtures import recorder_before_hass  # noqa: F401  # the real recorder
from tests.helpers import LIGHT_ON, agent_entry, rule, start
from tests.loopback import serving

REDACTED = "**REDACTED**"
WEBHOOK = "https://hooks.example.com/T0KEN-in-the-path"
SECRETS = ("sk-ant-api03-very-secret", WEBHOOK, "hunter2", "bearer-abc")


@pytest.fixture
async def house(hass: HomeAssistant) -> None:
    assert await async_setup_component(
        hass, "input_boolean", {"input_boolean": {"motion": {}, "porch_light": {}}}
    )
    assert await async_setup_component(hass, "diagnostics", {})
    async_mock_service(hass, "notify", "mobile_app_pixel")
    async_mock_service(hass, "rest_command", "garage")
    await hass.async_block_till_done()


def secret_agent() -> MockConfigEntry:
    """A rules agent whose file, bindings and options hold secrets."""
    base = agent_entry(
        [rule("ask", "light_on", 2), rule("tell", "ping", 0), rule("note", "log", 0)],
        bindings={
            "actions": {
                "light_on": LIGHT_ON,
                "log": [
                    {
                        "action": "rest_command.garage",
                        "data": {"password": "hunter2", "token": "bearer-abc"},
                    }
                ],
            }
        },
        actions={
            "light_on": {"type": "callback", "handler": "light_on"},
            "ping": {"type": "webhook", "url": WEBHOOK},
            "log": {"type": "callback", "handler": "log"},
        },
    )
    return MockConfigEntry(
        domain=DOMAIN,
        title=base.title,
        unique_id=base.unique_id,
        data=dict(base.data),
        options={**base.options, "approval_expiry_minutes": 15},
    )


def assert_no_secret(diagnostics: Any) -> None:
    dumped = json.dumps(diagnostics)
    for secret in SECRETS:
        assert secret not in dumped


async def test_diagnostics_explain_the_agent_without_secrets(
    recorder_mock: Recorder,
    house: None,
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
) -> None:
    entry = await start(hass, secret_agent())
    await hass.services.async_call(
        "input_boolean", "turn_on", {"entity_id": "input_boolean.motion"}, blocking=True
    )
    await hass.async_block_till_done()
    await async_wait_recording_done(hass)

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    assert_no_secret(diagnostics)
    assert isinstance(diagnostics, dict)
    log = diagnostics["entry"]["data"]["bindings"]["actions"]["log"][0]
    assert log["data"] == {"password": REDACTED, "token": REDACTED}
    assert log["action"] == "rest_command.garage"  # what is not secret stays readable
    assert diagnostics["entry"]["options"]["approval_expiry_minutes"] == 15
    agent = diagnostics["agent"]
    assert agent["name"] == "Porch watch"
    assert agent["rules"] == 3
    assert agent["actions"] == {
        "light_on": "callback",
        "ping": "webhook",
        "log": "callback",
    }

    runtime = diagnostics["runtime"]
    assert runtime["active"] is True
    assert runtime["pending_approvals"] == 1
    [pending] = runtime["pending"]
    assert set(pending) == {"record_id", "kind", "created", "expires"}  # no nonce
    assert runtime["router"]["brains"] == []
    assert runtime["router"]["calls_last_hour"] == 0
    assert runtime["router"]["open_circuits"] == {}

    records = diagnostics["last_records"]
    assert sorted((r["action"], r["status"]) for r in records) == [
        ("light_on", "pending_approval"),
        ("log", "observed"),
        ("ping", "observed"),
    ]
    asked = next(r for r in records if r["action"] == "light_on")
    assert asked["record_id"] == pending["record_id"]
    assert asked["granted_level"] == 2
    assert "raw_data_summary" not in json.dumps(records)


async def test_diagnostics_redact_an_llm_key_of_an_agent_that_is_not_running(
    house: None, hass: HomeAssistant, hass_client: ClientSessionGenerator
) -> None:
    base = agent_entry([rule("ask", "light_on", 2)])
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Cloud watch",
        unique_id="cloud_watch",
        data={
            **base.data,
            "brain": {"kind": "anthropic", "api_key": "sk-ant-api03-very-secret"},
        },
        options={"brain_model": "claude-haiku-4-5"},
        disabled_by=ConfigEntryDisabler.USER,  # set up PAI, not this agent
    )
    entry.add_to_hass(hass)
    assert await async_setup_component(hass, DOMAIN, {})

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    assert_no_secret(diagnostics)
    assert isinstance(diagnostics, dict)
    assert diagnostics["entry"]["data"]["brain"] == {
        "kind": "anthropic",
        "api_key": REDACTED,
    }
    assert diagnostics["entry"]["options"] == {"brain_model": "claude-haiku-4-5"}
    assert "runtime" not in diagnostics  # not loaded: nothing live to show
    assert str(diagnostics["last_records"]).startswith("unavailable")


@pytest.fixture
async def overloaded_server(socket_enabled: None) -> AsyncIterator[str]:
    """An OpenAI-compatible server on 127.0.0.1 that lists its model, then fails every call."""

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "tiny"}]})

    async def chat(request: web.Request) -> web.Response:
        return web.json_response({"error": {"message": "overloaded"}}, status=503)

    app = web.Application()
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", chat)
    async with serving(app) as base:
        yield f"{base}/v1"


async def test_diagnostics_show_a_resting_llm_brain_without_its_key(
    house: None,
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    overloaded_server: str,
) -> None:
    base = agent_entry([{**rule("ask", "light_on", 2), "escalate": True}])
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=base.title,
        unique_id=base.unique_id,
        data={
            **base.data,
            "brain": {
                "kind": "openai",
                "base_url": overloaded_server,
                "api_key": "bearer-abc",
            },
        },
        options={
            **base.options,
            "brain_model": "tiny",
            "llm_min_interval_seconds": 0,
        },
    )
    await start(hass, entry)
    runtime = entry.runtime_data.runtime
    for _ in range(3):  # three failures in a row: the brain rests
        await runtime.async_evaluate("ha.state", {"to_state": "on"}, escalate=True)

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    assert_no_secret(diagnostics)
    assert overloaded_server not in json.dumps(diagnostics)
    assert isinstance(diagnostics, dict)
    assert diagnostics["entry"]["data"]["brain"] == {
        "kind": "openai",
        "base_url": REDACTED,
        "api_key": REDACTED,
    }
    # What is in force: the options over the file's policy and the defaults, no key.
    settings = diagnostics["settings"]
    assert settings["brain_kind"] == "openai"
    assert settings["brain_model"] == "tiny"
    assert settings["limits"]["min_interval_seconds"] == 0
    assert settings["limits"]["max_calls_per_hour"] == 60  # the default
    assert settings["ceiling"] == "act"  # the user has not lowered it
    router = diagnostics["runtime"]["router"]
    assert len(router["brains"]) == 1
    assert router["brains"][0]["is_local"] is True  # 127.0.0.1 is in the home
    [(name, error)] = router["open_circuits"].items()
    assert name == router["brains"][0]["name"]
    assert "503" in error
    assert router["limits"]["min_interval_seconds"] == 0
    assert diagnostics["runtime"]["last_brain"] is not None
