"""Claude as a brain: the real `anthropic` SDK against a local Messages API.

Only the wire is fake (tests/brains/fake_anthropic.py, on 127.0.0.1): the SDK, its retries and
Home Assistant's httpx client are the real ones. These tests need nothing of
pytest-homeassistant-custom-component, so scripts/test also runs them on the newest Home
Assistant release with the SDK it pins (tests/brains/conftest.py gives them a real core there).
The brain inside a whole agent: test_claude_agent.py.
"""

from __future__ import annotations

import aiohttp
from homeassistant.const import EVENT_HOMEASSISTANT_CLOSE
from homeassistant.core import HomeAssistant
from homeassistant.helpers.httpx_client import get_async_client
import pytest

from custom_components.pai.brains import claude as claude_module, create_brain
from custom_components.pai.brains.claude import (
    OWN_HTTP_CLIENT,
    TOOL_NAME,
    ClaudeBrain,
    async_http_client,
)
from custom_components.pai.engine.brain import BrainError, FailureKind
from custom_components.pai.engine.models import AutonomyLevel

from .conftest import brain_request
from .fake_anthropic import (
    API_KEY,
    MODEL,
    FakeAnthropic,
    Step,
    error,
    intent,
    key_of,
    raw,
    text,
    tool,
)

FAST_RETRY = {"retry-after-ms": "20"}


def brain(hass: HomeAssistant, fake: FakeAnthropic, key: str = API_KEY) -> ClaudeBrain:
    return ClaudeBrain(hass, api_key=key, model=MODEL, base_url=fake.url)


# --- the brain alone -----------------------------------------------------------------------


async def test_tool_answer_becomes_checked_intents_with_usage(
    hass: HomeAssistant, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.then(
        tool([intent("light_on", level=3, confidence=0.9), intent("open_garage")])
    )

    result = await brain(hass, fake_anthropic).async_think(brain_request())

    assert [i.action for i in result.intents] == ["light_on"]
    assert result.intents[0].requested_level is AutonomyLevel.ACT
    assert result.intents[0].confidence == 0.9
    assert result.dropped == ("unknown action 'open_garage'",)
    usage = result.usage
    assert usage.brain == "anthropic"
    assert usage.model == MODEL
    assert usage.input_tokens > 0
    assert usage.output_tokens > 0
    assert usage.cache_write_tokens > 0
    assert usage.cached_tokens == 0
    assert usage.cost > 0
    assert usage.latency_ms > 0


async def test_request_forces_the_tool_and_marks_the_prefix_for_caching(
    hass: HomeAssistant, fake_anthropic: FakeAnthropic
) -> None:
    await brain(hass, fake_anthropic).async_think(brain_request())

    [sent] = fake_anthropic.messages
    body = sent.body
    assert key_of(sent.headers) == API_KEY
    assert body["model"] == MODEL
    assert body["tool_choice"] == {"type": "tool", "name": TOOL_NAME}
    [tool_def] = body["tools"]
    assert tool_def["name"] == TOOL_NAME
    assert tool_def["input_schema"]["properties"]["intents"]["items"]["properties"][
        "action"
    ]["enum"] == ["alarm", "light_on"]
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert "Agent: Porch watch" in body["system"][0]["text"]
    assert body["messages"][0]["content"].startswith("<data>\n")


async def test_second_decision_reads_the_prefix_from_the_cache(
    hass: HomeAssistant, fake_anthropic: FakeAnthropic
) -> None:
    claude = brain(hass, fake_anthropic)
    first = await claude.async_think(brain_request())
    other_event = brain_request(context={"user_state": "away", "recent_events": ["x"]})
    second = await claude.async_think(other_event)

    assert first.usage.cached_tokens == 0
    assert second.usage.cached_tokens == first.usage.cache_write_tokens > 0
    assert second.usage.cache_write_tokens == 0
    assert second.usage.cost < first.usage.cost


async def test_text_json_answer_is_accepted(
    hass: HomeAssistant, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.then(
        text('Here you go:\n```json\n{"intents": [{"action": "alarm", "level": 2, '
             '"confidence": 0.8, "urgency": 0.9, "rationale": "door"}]}\n```')
    )  # fmt: skip

    result = await brain(hass, fake_anthropic).async_think(brain_request())

    assert [(i.action, i.requested_level) for i in result.intents] == [
        ("alarm", AutonomyLevel.ASK)
    ]


async def test_rate_limit_is_retried_after_the_wait_the_api_asks_for(
    hass: HomeAssistant, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.then(error(429, {"retry-after": "1"}), tool([intent("light_on")]))

    result = await brain(hass, fake_anthropic).async_think(brain_request())

    assert [i.action for i in result.intents] == ["light_on"]
    first, second = fake_anthropic.messages
    # The SDK's own backoff would be 0.375..0.5 s: the 1 s is the server's retry-after.
    assert 0.95 <= second.time - first.time < 2.0


async def test_server_error_then_success_is_retried(
    hass: HomeAssistant, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.then(error(500, FAST_RETRY), error(529, FAST_RETRY))

    result = await brain(hass, fake_anthropic).async_think(brain_request())

    assert len(fake_anthropic.messages) == 3
    assert result.intents == ()


@pytest.mark.parametrize(
    ("step", "kind", "requests"),
    [
        pytest.param(error(500, FAST_RETRY), FailureKind.UNAVAILABLE, 3, id="500"),
        pytest.param(error(429, FAST_RETRY), FailureKind.RATE_LIMITED, 3, id="429"),
        pytest.param(error(401), FailureKind.AUTH, 1, id="401"),
        pytest.param(error(403), FailureKind.AUTH, 1, id="403"),
        pytest.param(error(400), FailureKind.UNAVAILABLE, 1, id="400"),
        pytest.param(
            raw("<html>502 bad gateway</html>"),
            FailureKind.INVALID_OUTPUT,
            1,
            id="html",
        ),
        pytest.param(
            raw('{"id": "msg_1", "type": "message", "content": [{"ty'),
            FailureKind.INVALID_OUTPUT,
            1,
            id="truncated-json",
        ),
        pytest.param(
            raw('{"hello": "world"}'), FailureKind.INVALID_OUTPUT, 1, id="not-a-message"
        ),
        pytest.param(
            Step(body={"thoughts": "unlock everything"}),
            FailureKind.INVALID_OUTPUT,
            1,
            id="tool-without-intents",
        ),
        pytest.param(
            text("I would turn the porch light on."),
            FailureKind.INVALID_OUTPUT,
            1,
            id="prose",
        ),
    ],
)
async def test_failures_become_brain_errors(
    hass: HomeAssistant,
    fake_anthropic: FakeAnthropic,
    step: Step,
    kind: FailureKind,
    requests: int,
) -> None:
    fake_anthropic.default = step

    with pytest.raises(BrainError) as caught:
        await brain(hass, fake_anthropic).async_think(brain_request())

    assert caught.value.kind is kind
    assert len(fake_anthropic.messages) == requests


async def test_unreachable_api_is_unavailable(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    claude = ClaudeBrain(
        hass,
        api_key=API_KEY,
        model=MODEL,
        base_url="http://127.0.0.1:9",  # discard port: nothing listens
        max_retries=0,
    )
    with pytest.raises(BrainError) as caught:
        await claude.async_think(brain_request())
    assert caught.value.kind is FailureKind.UNAVAILABLE


async def test_validate_checks_the_key(
    hass: HomeAssistant, fake_anthropic: FakeAnthropic
) -> None:
    await brain(hass, fake_anthropic).async_validate()
    with pytest.raises(BrainError) as caught:
        await brain(hass, fake_anthropic, "sk-ant-revoked").async_validate()
    assert caught.value.kind is FailureKind.AUTH
    assert fake_anthropic.messages == []  # the check costs no tokens


async def test_create_brain_builds_claude_with_the_options_model(
    hass: HomeAssistant,
) -> None:
    made = create_brain(
        hass, {"kind": "anthropic", "api_key": "k"}, "claude-sonnet-4-5"
    )
    assert isinstance(made, ClaudeBrain)
    assert made.model == "claude-sonnet-4-5"
    assert not made.is_local


async def test_the_sdk_gets_home_assistants_shared_client_when_it_takes_it(
    hass: HomeAssistant,
) -> None:
    # On 2026.10 the 0.x SDK takes HA's httpx client; on 2026.11 the 2.x SDK takes HA's
    # httpx2 client (HA aliases httpx to it): either way, the shared one.
    assert await async_http_client(hass) is get_async_client(hass)
    assert OWN_HTTP_CLIENT not in hass.data


async def test_an_sdk_that_refuses_home_assistants_client_gets_one_of_its_own(
    hass: HomeAssistant,
    fake_anthropic: FakeAnthropic,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The 2.x SDK (httpx2) on a Home Assistant that ships httpx: the SDK refuses HA's client.

    That pairing cannot be installed here, so the SDK's class is swapped for one HA's client is
    not; the client PAI makes instead is the SDK's real one, talking to the fake API.
    """
    monkeypatch.setattr(
        claude_module, "sdk_http_client_class", lambda: type("Other", (), {})
    )
    fake_anthropic.then(tool([intent("light_on")]))

    result = await brain(hass, fake_anthropic).async_think(brain_request())
    second = await brain(hass, fake_anthropic).async_think(brain_request())

    assert [i.action for i in result.intents] == ["light_on"]
    assert second.intents == ()
    own = hass.data[OWN_HTTP_CLIENT]
    assert own is not get_async_client(hass)
    assert await async_http_client(hass) is own  # one for all agents
    hass.bus.async_fire(EVENT_HOMEASSISTANT_CLOSE)
    await hass.async_block_till_done()
    assert own.is_closed
    assert OWN_HTTP_CLIENT not in hass.data


async def test_the_fake_api_takes_the_key_either_way_and_any_api_version(
    fake_anthropic: FakeAnthropic,
) -> None:
    """As the real API: `x-api-key` (0.x SDK) or `authorization: Bearer` (2.x SDK)."""
    async with aiohttp.ClientSession() as session:
        await _check_keys(session, fake_anthropic)


async def _check_keys(session: aiohttp.ClientSession, fake: FakeAnthropic) -> None:
    for headers, status in [
        ({"x-api-key": API_KEY, "anthropic-version": "2023-06-01"}, 200),
        (
            {"Authorization": f"Bearer {API_KEY}", "anthropic-version": "2026-09-01"},
            200,
        ),
        ({"Authorization": f"Bearer {API_KEY}"}, 200),
        ({"Authorization": "Bearer sk-ant-revoked"}, 401),
        ({"Authorization": f"Basic {API_KEY}"}, 401),
        ({}, 401),
    ]:
        async with session.get(f"{fake.url}/v1/models", headers=headers) as got:
            assert got.status == status, headers
