# ruff: noqa: RUF001  # Traditional Chinese answers use full-width punctuation
"""PAI's sentences for the built-in Assist (no LLM): pending, approve, decline, snooze, why.

Spoken through Home Assistant's own conversation integration (`conversation.async_converse`
and the `conversation.process` action) to its default agent, in English and Traditional
Chinese, by real users.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components import conversation
from homeassistant.components.homeassistant.exposed_entities import async_expose_entity
from homeassistant.core import Context, HomeAssistant, ServiceCall
from homeassistant.helpers import llm
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockUser,
    async_capture_events,
    async_fire_time_changed,
    async_mock_service,
)

from custom_components.pai.const import EVENT_PAI_RECORD
from tests.helpers import LIGHT_ON, agent_entry, motion, rule, start, statuses

PORCH = "input_boolean.porch_light"


@pytest.fixture
async def assist(hass: HomeAssistant) -> list[ServiceCall]:
    """Assist (the default agent) and the phone an agent asks on."""
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "conversation", {})
    return async_mock_service(hass, "notify", "mobile_app_pixel")


async def _say(
    hass: HomeAssistant, text: str, user: MockUser | None, language: str = "en"
) -> str:
    result = await conversation.async_converse(
        hass,
        text,
        None,
        Context(user_id=user.id if user else None),
        language=language,
    )
    speech: str = result.response.speech["plain"]["speech"]
    return speech


async def _asking(hass: HomeAssistant, **options: Any) -> None:
    await start(
        hass,
        agent_entry(
            [rule("ask", "light_on", 2)],
            bindings={"actions": {"light_on": LIGHT_ON}},
            options=options,
        ),
    )


@pytest.mark.usefixtures("house", "assist")
async def test_what_is_pending_then_approve_it(
    hass: HomeAssistant, hass_admin_user: MockUser
) -> None:
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    await _asking(hass)
    assert await _say(hass, "what is pending", hass_admin_user) == (
        "Nothing is waiting for your answer."
    )
    await motion(hass)

    heard = await _say(hass, "what is pending", hass_admin_user)
    assert heard == (
        "1 waiting. Porch watch asks: Turn on: porch light (input_boolean.turn_on)."
    )
    approved = await _say(hass, "approve it", hass_admin_user)
    assert approved == (
        "Approved: Turn on: porch light (input_boolean.turn_on). Status: executed."
    )
    assert hass.states.get(PORCH).state == "on"
    assert statuses(records) == ["pending_approval", "executed"]
    assert await _say(hass, "approve it", hass_admin_user) == (
        "Nothing is waiting for your answer."
    )


@pytest.mark.usefixtures("house", "assist")
async def test_decline_it_in_chinese_through_the_process_action(
    hass: HomeAssistant, hass_admin_user: MockUser
) -> None:
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    await _asking(hass)
    await motion(hass)

    pending = await _say(hass, "有什麼待處理", hass_admin_user, "zh-Hant")
    assert pending.startswith("有 1 個請求在等待。Porch watch 請求：")
    answer = await hass.services.async_call(
        "conversation",
        "process",
        {"text": "拒絕", "language": "zh-Hant"},
        blocking=True,
        return_response=True,
        context=Context(user_id=hass_admin_user.id),
    )
    assert answer is not None
    speech = answer["response"]["speech"]["plain"]["speech"]  # type: ignore[index]
    assert speech.startswith("已拒絕：")
    assert statuses(records) == ["pending_approval", "declined"]
    assert hass.states.get(PORCH).state == "off"


def _asks(phone: list[ServiceCall]) -> int:
    return len([call for call in phone if "actions" in call.data.get("data", {})])


@pytest.mark.parametrize(
    ("later", "said", "language"),
    [
        ("ask me later", "I will ask again in 30 minutes: Turn on: porch light", "en"),
        ("snooze it", "I will ask again in 30 minutes: Turn on: porch light", "en"),
        ("稍後再問", "30 分鐘後再問你：Turn on: porch light", "zh-Hant"),
        ("延後", "30 分鐘後再問你：Turn on: porch light", "zh-Hant"),
    ],
)
@pytest.mark.usefixtures("house")
async def test_snooze_it_asks_again_in_half_an_hour(
    hass: HomeAssistant,
    hass_admin_user: MockUser,
    assist: list[ServiceCall],
    freezer: FrozenDateTimeFactory,
    *,
    later: str,
    said: str,
    language: str,
) -> None:
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    await _asking(hass)
    await motion(hass)
    asks = _asks(assist)

    assert (await _say(hass, later, hass_admin_user, language)).startswith(said)
    assert statuses(records) == ["pending_approval"]  # still waiting, not declined
    assert assist[-1].data["message"] == "clear_notification"
    freezer.tick(timedelta(minutes=29))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert _asks(assist) == asks
    freezer.tick(timedelta(minutes=2))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert _asks(assist) == asks + 1  # asked again

    assert (await _say(hass, "approve it", hass_admin_user)).endswith(
        "Status: executed."
    )
    assert await _say(hass, "approve it", hass_admin_user) == (
        "Nothing is waiting for your answer."
    )
    assert statuses(records) == ["pending_approval", "executed"]
    assert hass.states.get(PORCH).state == "on"


@pytest.mark.parametrize(
    ("words", "said", "language"),
    [
        ("false alarm", "Marked as a false alarm, declined: Turn on", "en"),
        ("it was a false alarm", "Marked as a false alarm, declined: Turn on", "en"),
        ("誤報", "已標為誤報並拒絕：Turn on", "zh-Hant"),
    ],
)
@pytest.mark.usefixtures("house", "assist")
async def test_false_alarm_declines_with_its_reason(
    hass: HomeAssistant,
    hass_admin_user: MockUser,
    words: str,
    said: str,
    language: str,
) -> None:
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    await _asking(hass)
    await motion(hass)

    assert (await _say(hass, words, hass_admin_user, language)).startswith(said)
    assert statuses(records) == ["pending_approval", "declined"]
    assert records[-1].data["record"]["6_adaptation"]["learning_adjustment"] == {
        "reason_code": "false_alarm"
    }
    assert hass.states.get(PORCH).state == "off"


@pytest.mark.usefixtures("house", "assist")
async def test_snooze_and_false_alarm_by_a_stranger_change_nothing(
    hass: HomeAssistant, hass_admin_user: MockUser, hass_read_only_user: MockUser
) -> None:
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    await _asking(hass, approvers=[hass_admin_user.id])
    await motion(hass)

    for words in ("snooze it", "false alarm", "誤報"):
        assert await _say(hass, words, hass_read_only_user) == (
            "Nothing is waiting for your answer."
        )
    [entry] = hass.config_entries.async_entries("pai")
    [waiting] = entry.runtime_data.runtime.keeper.memory.approvals.pending("approval")
    assert waiting.snoozed_until is None  # not snoozed
    pending = await _say(hass, "what is pending", hass_admin_user)
    assert pending.startswith("1 waiting.")
    assert statuses(records) == ["pending_approval"]
    assert hass.states.get(PORCH).state == "off"


@pytest.mark.usefixtures("house", "assist")
async def test_not_an_approver_hears_nothing_and_changes_nothing(
    hass: HomeAssistant, hass_admin_user: MockUser, hass_read_only_user: MockUser
) -> None:
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    await _asking(hass, approvers=[hass_admin_user.id])
    await motion(hass)

    assert await _say(hass, "approve it", hass_read_only_user) == (
        "Nothing is waiting for your answer."
    )
    assert await _say(hass, "what is pending", hass_read_only_user) == (
        "Nothing is waiting for your answer."
    )
    assert statuses(records) == ["pending_approval"]
    assert hass.states.get(PORCH).state == "off"


@pytest.mark.usefixtures("house", "assist")
async def test_why_did_it_is_answered_from_the_record(
    hass: HomeAssistant, hass_admin_user: MockUser
) -> None:
    await start(
        hass,
        agent_entry(
            [rule("dark", "light_on", 3)], bindings={"actions": {"light_on": LIGHT_ON}}
        ),
    )
    async_expose_entity(hass, "conversation", PORCH, True)
    async_expose_entity(hass, "conversation", "input_boolean.motion", True)
    hass.states.async_set("input_boolean.motion", "off", {"friendly_name": "Motion"})
    await motion(hass)
    assert hass.states.get(PORCH).state == "on"

    why = await _say(hass, "why did the porch light turn on", hass_admin_user)
    assert "Porch watch saw input_boolean.motion → on and proposed light_on." in why
    assert "It was granted act; status executed." in why
    assert "It ran: ran" in why

    zh = await _say(hass, "為什麼porch light亮了", hass_admin_user, "zh-Hant")
    assert "Porch watch 察覺到 input_boolean.motion → on，提議 light_on。" in zh

    unknown = await _say(hass, "why did the garden hose turn on", hass_admin_user)
    assert unknown == "I could not tell which entity you mean."
    async_expose_entity(hass, "conversation", "input_boolean.front_door_open", True)
    silent = await _say(hass, "why is front door open on", hass_admin_user)
    assert silent.startswith("No PAI record says anything about")


@pytest.mark.usefixtures("assist")
async def test_the_sentences_intents_are_not_assist_api_tools(
    hass: HomeAssistant, hass_admin_user: MockUser
) -> None:
    """An LLM reaches PAI only through the PAI API, never through Assist's intent tools."""
    assert await async_setup_component(hass, "pai", {})
    assert await async_setup_component(hass, "intent", {})
    assert await async_setup_component(hass, "llm", {})
    await hass.async_block_till_done()
    api = await llm.async_get_api(
        hass,
        llm.LLM_API_ASSIST,
        llm.LLMContext(
            platform="test",
            context=Context(user_id=hass_admin_user.id),
            language="en",
            assistant="conversation",
            device_id=None,
        ),
    )
    names = {tool.name for tool in api.tools}
    assert names  # Assist's own tools are there
    assert not {name for name in names if "Pai" in name}
