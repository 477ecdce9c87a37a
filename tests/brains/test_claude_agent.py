"""Claude inside a whole agent: the router, the gate and the records are the real ones.

Only the wire is fake (tests/brains/fake_anthropic.py, on 127.0.0.1), reached through the
SDK's own ANTHROPIC_BASE_URL.
"""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_mock_service,
)

from custom_components.pai.const import DOMAIN, EVENT_PAI_RECORD

from ..helpers import LIGHT_ON, agent_entry, motion, rule, start, statuses
from .fake_anthropic import API_KEY, MODEL, FakeAnthropic, error, intent, text, tool

FAST_RETRY = {"retry-after-ms": "20"}


def claude_agent(
    *, options: dict[str, Any] | None = None, api_key: str = API_KEY
) -> MockConfigEntry:
    """The porch agent whose rule suggests the light and asks Claude to look closer."""
    entry = agent_entry(
        [{**rule("motion", "light_on", 1), "escalate": True}],
        bindings={"actions": {"light_on": LIGHT_ON}},
        options=options,
    )
    data = {**entry.data, "brain": {"kind": "anthropic", "api_key": api_key}}
    return MockConfigEntry(
        domain=DOMAIN,
        title=entry.title,
        unique_id=entry.unique_id,
        data=data,
        options=dict(entry.options),
    )


@pytest.fixture
def claude_url(monkeypatch: pytest.MonkeyPatch, fake_anthropic: FakeAnthropic) -> None:
    """Point the SDK at the fake the way its users would: ANTHROPIC_BASE_URL."""
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_anthropic.url)


@pytest.mark.usefixtures("house", "claude_url")
async def test_escalated_event_is_decided_by_claude_and_recorded(
    hass: HomeAssistant, fake_anthropic: FakeAnthropic
) -> None:
    async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    fake_anthropic.then(
        tool([intent("light_on", level=3, rationale="someone is at the door")])
    )
    await start(hass, claude_agent())

    await motion(hass)

    assert statuses(records) == ["executed"]
    assert hass.states.get("input_boolean.porch_light").state == "on"
    record = records[0].data["record"]
    assert record["x_pai"]["brain"]["name"] == "anthropic"
    usage = record["x_pai"]["brain"]["usage"]
    assert usage["model"] == MODEL
    assert usage["input_tokens"] > 0
    assert usage["cost"] > 0
    [sent] = fake_anthropic.messages
    assert "input_boolean.motion" in sent.body["messages"][0]["content"]
    assert "input_boolean.motion" not in sent.body["system"][0]["text"]


@pytest.mark.usefixtures("house", "claude_url")
async def test_rate_limited_call_is_retried_inside_the_agent(
    hass: HomeAssistant, fake_anthropic: FakeAnthropic
) -> None:
    async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    fake_anthropic.then(error(429, FAST_RETRY), tool([intent("light_on")]))
    await start(hass, claude_agent())

    await motion(hass)

    assert len(fake_anthropic.messages) == 2
    assert statuses(records) == ["executed"]
    assert records[0].data["record"]["x_pai"]["brain"]["name"] == "anthropic"


@pytest.mark.usefixtures("house", "claude_url")
async def test_garbage_answer_falls_back_to_the_rule(
    hass: HomeAssistant, fake_anthropic: FakeAnthropic
) -> None:
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    fake_anthropic.then(text("Sure! Turning everything on now :)"))
    await start(hass, claude_agent())

    await motion(hass)

    assert statuses(records) == ["suggested"]  # the rule's own suggestion
    assert len(phone) == 1
    assert hass.states.get("input_boolean.porch_light").state == "off"
    brain_block = records[0].data["record"]["x_pai"]["brain"]
    assert brain_block["name"] == "rules"
    assert "invalid_output" in brain_block["fallback"][0]


@pytest.mark.usefixtures("house", "claude_url")
async def test_slow_answer_falls_back_to_the_rule_in_time(
    hass: HomeAssistant, fake_anthropic: FakeAnthropic
) -> None:
    async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    fake_anthropic.then(tool([intent("light_on")], delay=2))
    await start(hass, claude_agent(options={"llm_timeout_seconds": 0.5}))

    await motion(hass)

    assert statuses(records) == ["suggested"]
    assert records[0].data["record"]["x_pai"]["brain"]["fallback"] == [
        "anthropic: no answer in 0.5 s"
    ]
    assert hass.states.get("input_boolean.porch_light").state == "off"


@pytest.mark.usefixtures("house", "claude_url")
async def test_key_revoked_after_setup_starts_a_reauth_flow_and_keeps_the_rule(
    hass: HomeAssistant, fake_anthropic: FakeAnthropic
) -> None:
    async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    entry = await start(hass, claude_agent())  # the key still works at setup
    fake_anthropic.default = error(401)  # and is revoked afterwards

    await motion(hass)
    await hass.async_block_till_done()

    assert statuses(records) == ["suggested"]
    assert "auth" in records[0].data["record"]["x_pai"]["brain"]["fallback"][0]
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [(f["context"]["source"], f["context"]["entry_id"]) for f in flows] == [
        (SOURCE_REAUTH, entry.entry_id)
    ]
