"""Voice on an Assist satellite, and Snooze / False alarm from every surface.

A real Home Assistant `assist_satellite` integration runs the question and matches the
answer against PAI's sentences (tests/satellite.py replaces only the speaker and the
microphone). A matched answer goes the phone's exactly-once way; no answer decides nothing.
"""

from __future__ import annotations

from datetime import timedelta
import logging

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.assist_satellite import AssistSatelliteEntityFeature
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.exceptions import ServiceValidationError
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
    async_mock_service,
)

from custom_components.pai.const import EVENT_PAI_RECORD
from custom_components.pai.notifications import available_targets
from custom_components.pai.satellites import sentences_language
from tests.helpers import LIGHT_ON, PHONE, agent_entry, motion, rule, start, statuses
from tests.satellite import KitchenSatellite, async_setup_satellite

pytestmark = pytest.mark.usefixtures("house")

PORCH = "input_boolean.porch_light"


@pytest.fixture
def phone(hass: HomeAssistant) -> list[ServiceCall]:
    return async_mock_service(hass, "notify", "mobile_app_pixel")


@pytest.fixture
async def kitchen(hass: HomeAssistant) -> KitchenSatellite:
    satellite = KitchenSatellite()
    await async_setup_satellite(hass, satellite)
    return satellite


def asking_agent(satellite: str, level: int = 2, **options: object) -> MockConfigEntry:
    return agent_entry(
        [rule("porch", "light_on", level)],
        bindings={"actions": {"light_on": LIGHT_ON}},
        options={"notify_targets": [PHONE, satellite], **options},
    )


async def test_satellites_are_offered_as_targets(
    hass: HomeAssistant, kitchen: KitchenSatellite, phone: list[ServiceCall]
) -> None:
    assert available_targets(hass)[-1] == kitchen.entity_id


async def test_yes_approves_once_and_the_phone_is_cleared(
    hass: HomeAssistant, kitchen: KitchenSatellite, phone: list[ServiceCall]
) -> None:
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    entry = await start(hass, asking_agent(str(kitchen.entity_id)))

    await motion(hass)
    await kitchen.wait_asked()
    assert len(kitchen.questions) == 1
    assert "porch fired" in kitchen.questions[0]
    assert kitchen.questions[0].endswith("Say yes, no, later or false alarm.")
    assert hass.states.get(PORCH).state == "off"  # type: ignore[union-attr]

    await kitchen.answer("yes please")
    await hass.async_block_till_done(wait_background_tasks=True)

    assert hass.states.get(PORCH).state == "on"  # type: ignore[union-attr]
    assert statuses(records) == ["pending_approval", "executed"]
    assert records[-1].data["record"]["6_adaptation"]["user_feedback"] == "accepted"
    assert [call.data["message"] for call in phone[1:]] == [
        "clear_notification",  # the phone's question goes
        "Undo puts porch light back to off",
    ]
    assert entry.runtime_data.runtime.pending.approvals_waiting == 0


@pytest.mark.parametrize(
    ("words", "reason"),
    [("no thanks", None), ("it was a false alarm", {"reason_code": "false_alarm"})],
)
async def test_no_and_false_alarm_decline(
    hass: HomeAssistant,
    kitchen: KitchenSatellite,
    phone: list[ServiceCall],
    words: str,
    reason: object,
) -> None:
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    entry = await start(hass, asking_agent(str(kitchen.entity_id)))

    await motion(hass)
    await kitchen.answer(words)
    await hass.async_block_till_done(wait_background_tasks=True)

    assert hass.states.get(PORCH).state == "off"  # type: ignore[union-attr]
    assert statuses(records) == ["pending_approval", "declined"]
    adaptation = records[-1].data["record"]["6_adaptation"]
    assert adaptation == {"user_feedback": "rejected", "learning_adjustment": reason}
    runtime = entry.runtime_data.runtime
    assert runtime.keeper.memory.ledger.to_dict()[
        "declines"
    ]  # counts as a decline for the gate


async def test_later_snoozes_and_the_request_is_asked_again(
    hass: HomeAssistant,
    kitchen: KitchenSatellite,
    phone: list[ServiceCall],
    freezer: FrozenDateTimeFactory,
) -> None:
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    entry = await start(hass, asking_agent(str(kitchen.entity_id)))
    await motion(hass)
    await kitchen.answer("ask me later")
    await hass.async_block_till_done(wait_background_tasks=True)

    runtime = entry.runtime_data.runtime
    assert statuses(records) == ["pending_approval"]  # not a decline
    assert runtime.pending.approvals_waiting == 1
    assert phone[-1].data["message"] == "clear_notification"
    asks = len([call for call in phone if "actions" in call.data.get("data", {})])

    freezer.tick(timedelta(minutes=31))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()

    await kitchen.wait_asked()
    assert len(kitchen.questions) == 2
    again = [call for call in phone if "actions" in call.data.get("data", {})]
    assert len(again) == asks + 1
    await kitchen.answer("yes")
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(PORCH).state == "on"  # type: ignore[union-attr]


@pytest.mark.parametrize("words", [None, "play some music"])
async def test_no_answer_decides_nothing(
    hass: HomeAssistant,
    kitchen: KitchenSatellite,
    phone: list[ServiceCall],
    words: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    entry = await start(hass, asking_agent(str(kitchen.entity_id)))
    await motion(hass)
    await kitchen.answer(words)
    await hass.async_block_till_done(wait_background_tasks=True)

    assert statuses(records) == ["pending_approval"]
    assert entry.runtime_data.runtime.pending.approvals_waiting == 1
    # Still answerable on the phone.
    approve = phone[0].data["data"]["actions"][0]["action"]
    hass.bus.async_fire("mobile_app_notification_action", {"action": approve})
    await hass.async_block_till_done()
    assert hass.states.get(PORCH).state == "on"  # type: ignore[union-attr]


async def test_traditional_chinese_sentences(
    hass: HomeAssistant, kitchen: KitchenSatellite, phone: list[ServiceCall]
) -> None:
    hass.config.language = "zh-Hant"
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    await start(hass, asking_agent(str(kitchen.entity_id)))
    await motion(hass)
    await kitchen.wait_asked()
    assert kitchen.questions[0].endswith("請說好、不要、稍後或誤報。")
    await kitchen.answer("好的")
    await hass.async_block_till_done(wait_background_tasks=True)
    assert statuses(records) == ["pending_approval", "executed"]


async def test_a_language_without_sentences_is_read_out_to_answer_elsewhere(
    hass: HomeAssistant,
    kitchen: KitchenSatellite,
    phone: list[ServiceCall],
    caplog: pytest.LogCaptureFixture,
) -> None:
    hass.config.language = "fr"
    entry = await start(hass, asking_agent(str(kitchen.entity_id)))
    await motion(hass)
    await hass.async_block_till_done()

    assert kitchen.questions == []
    assert len(kitchen.announcements) == 1
    assert (
        "needs your approval on your phone or the Porch watch inbox"
        in (kitchen.announcements[0])
    )
    assert "No answer sentences for language fr (shipped: en, zh-Hant)" in caplog.text
    assert entry.runtime_data.runtime.pending.approvals_waiting == 1
    assert "actions" in phone[0].data["data"]


async def test_with_approvers_a_voice_cannot_decide(
    hass: HomeAssistant, kitchen: KitchenSatellite, phone: list[ServiceCall]
) -> None:
    await start(hass, asking_agent(str(kitchen.entity_id), approvers=["someone"]))
    await motion(hass)
    await hass.async_block_till_done()
    assert kitchen.questions == []
    assert "needs your approval" in kitchen.announcements[0]


async def test_an_unavailable_satellite_is_skipped_and_the_phone_still_asks(
    hass: HomeAssistant,
    kitchen: KitchenSatellite,
    phone: list[ServiceCall],
    caplog: pytest.LogCaptureFixture,
) -> None:
    kitchen._attr_available = False
    kitchen.async_write_ha_state()
    assert hass.states.get(str(kitchen.entity_id)).state == STATE_UNAVAILABLE  # type: ignore[union-attr]
    caplog.set_level(logging.WARNING)
    entry = await start(hass, asking_agent(str(kitchen.entity_id)))
    await motion(hass)

    assert kitchen.questions == []
    assert f"Assist satellite {kitchen.entity_id} is unavailable" in caplog.text
    assert "actions" in phone[0].data["data"]
    assert entry.runtime_data.runtime.pending.approvals_waiting == 1


async def test_a_suggestion_is_announced(
    hass: HomeAssistant, kitchen: KitchenSatellite, phone: list[ServiceCall]
) -> None:
    await start(hass, asking_agent(str(kitchen.entity_id), level=1))
    await motion(hass)
    await hass.async_block_till_done()
    assert kitchen.announcements == ["porch fired"]
    assert kitchen.questions == []


@pytest.mark.parametrize(
    ("reply", "snoozed_for"),
    [
        (None, timedelta(minutes=30)),
        ("", timedelta(minutes=30)),
        ("10", timedelta(minutes=10)),
    ],
)
async def test_the_phone_snoozes_for_the_minutes_typed(
    hass: HomeAssistant,
    phone: list[ServiceCall],
    reply: str | None,
    snoozed_for: timedelta,
) -> None:
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    entry = await start(hass, asking_agent("persistent_notification"))
    await motion(hass)
    snooze = phone[0].data["data"]["actions"][2]["action"]
    data = {"action": snooze} | ({} if reply is None else {"reply_text": reply})

    hass.bus.async_fire("mobile_app_notification_action", data)
    await hass.async_block_till_done()

    pending = entry.runtime_data.runtime.keeper.memory.approvals.pending("approval")[0]
    assert pending.snoozed_until is not None
    assert abs(pending.snoozed_until - dt_util.utcnow() - snoozed_for) < timedelta(
        seconds=2
    )
    assert statuses(records) == ["pending_approval"]


@pytest.mark.parametrize("reply", ["soon", "0", "-5", "99999", "nan"])
async def test_a_bad_snooze_reply_changes_nothing(
    hass: HomeAssistant,
    phone: list[ServiceCall],
    reply: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = await start(hass, asking_agent("persistent_notification"))
    await motion(hass)
    snooze = phone[0].data["data"]["actions"][2]["action"]

    hass.bus.async_fire(
        "mobile_app_notification_action", {"action": snooze, "reply_text": reply}
    )
    await hass.async_block_till_done()

    assert (
        entry.runtime_data.runtime.keeper.memory.approvals.pending("approval")[
            0
        ].snoozed_until
        is None
    )
    assert f"snooze for {reply!r} minutes (1 to 1440)" in caplog.text


async def test_false_alarm_from_the_phone_and_the_actions(
    hass: HomeAssistant, phone: list[ServiceCall]
) -> None:
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    entry = await start(hass, asking_agent("persistent_notification"))
    await motion(hass)
    false_alarm = phone[0].data["data"]["actions"][3]["action"]
    hass.bus.async_fire("mobile_app_notification_action", {"action": false_alarm})
    await hass.async_block_till_done()
    assert statuses(records) == ["pending_approval", "declined"]
    assert records[-1].data["record"]["6_adaptation"]["learning_adjustment"] == {
        "reason_code": "false_alarm"
    }

    # The pai.snooze and pai.false_alarm actions, for dashboards and automations.
    await motion(hass, "off")
    await motion(hass)
    runtime = entry.runtime_data.runtime
    record_id = runtime.keeper.memory.approvals.pending("approval")[0].record_id
    await hass.services.async_call(
        "pai", "snooze", {"record_id": record_id, "minutes": 5}, blocking=True
    )
    assert (
        runtime.keeper.memory.approvals.pending("approval")[0].snoozed_until is not None
    )
    await hass.services.async_call(
        "pai", "false_alarm", {"record_id": record_id}, blocking=True
    )
    assert statuses(records)[-1] == "declined"
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            "pai", "snooze", {"record_id": record_id}, blocking=True
        )
    assert err.value.translation_key == "resolve_already_done"


async def test_a_security_sensitive_request_is_announced_not_asked(
    hass: HomeAssistant, kitchen: KitchenSatellite, phone: list[ServiceCall]
) -> None:
    entry = agent_entry(
        [rule("door", "lock.unlock", 2)],
        bindings={"actions": {"lock.unlock": LIGHT_ON}},
        options={"notify_targets": [PHONE, str(kitchen.entity_id)]},
    )
    await start(hass, entry)
    await motion(hass)
    await hass.async_block_till_done(wait_background_tasks=True)

    assert kitchen.questions == []
    assert "needs your approval on your phone" in kitchen.announcements[0]
    assert entry.runtime_data.runtime.pending.approvals_waiting == 1


async def test_a_snoozed_request_is_asked_again_after_a_restart(
    hass: HomeAssistant,
    phone: list[ServiceCall],
    freezer: FrozenDateTimeFactory,
) -> None:
    entry = await start(hass, asking_agent("persistent_notification"))
    await motion(hass)
    snooze = phone[0].data["data"]["actions"][2]["action"]
    hass.bus.async_fire(
        "mobile_app_notification_action", {"action": snooze, "reply_text": "10"}
    )
    await hass.async_block_till_done()

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    asked = len(phone)
    freezer.tick(timedelta(minutes=11))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)

    again = phone[asked:]
    assert [call.data["data"]["actions"][0]["action"] for call in again] == [
        phone[0].data["data"]["actions"][0]["action"]  # the same request, same nonce
    ]
    hass.bus.async_fire(
        "mobile_app_notification_action",
        {"action": again[0].data["data"]["actions"][0]["action"]},
    )
    await hass.async_block_till_done()
    assert hass.states.get(PORCH).state == "on"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("language", "sentences"),
    [
        ("en", "en"),
        ("en-GB", "en"),
        ("zh-Hant", "zh-Hant"),
        ("zh-TW", "zh-Hant"),
        ("zh-HK", "zh-Hant"),
        ("zh-Hans", None),
        ("zh", None),
        ("fr", None),
        ("", None),
    ],
)
def test_the_sentences_for_a_language(language: str, sentences: str | None) -> None:
    assert sentences_language(language) == sentences


async def test_a_satellite_that_cannot_converse_announces_and_one_that_cannot_announce_is_skipped(
    hass: HomeAssistant,
    phone: list[ServiceCall],
    caplog: pytest.LogCaptureFixture,
) -> None:
    announcer = KitchenSatellite("Hall")
    announcer._attr_supported_features = AssistSatelliteEntityFeature.ANNOUNCE
    await async_setup_satellite(hass, announcer)
    entry = await start(hass, asking_agent(str(announcer.entity_id)))
    await motion(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert announcer.questions == []
    assert "needs your approval" in announcer.announcements[0]

    announcer._attr_supported_features = AssistSatelliteEntityFeature(0)
    announcer.async_write_ha_state()
    await entry.runtime_data.runtime.notifier.async_suggest(
        "paid_20261203_abcdef", "Porch watch", "Hello"
    )
    assert f"Assist satellite {announcer.entity_id} cannot announce" in caplog.text
    assert len(announcer.announcements) == 1


async def test_snoozing_an_expired_request_says_it_expired(
    hass: HomeAssistant, phone: list[ServiceCall], freezer: FrozenDateTimeFactory
) -> None:
    entry = await start(hass, asking_agent("persistent_notification"))
    await motion(hass)
    runtime = entry.runtime_data.runtime
    record_id = runtime.keeper.memory.approvals.pending("approval")[0].record_id
    freezer.tick(timedelta(hours=2))  # past its expiry, before the periodic check

    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            "pai", "snooze", {"record_id": record_id}, blocking=True
        )
    assert err.value.translation_key == "resolve_expired"
    assert runtime.pending.approvals_waiting == 0
