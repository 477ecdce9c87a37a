"""What each kind of notify target receives from an agent, and what happens when one fails."""

from __future__ import annotations

from typing import Any

from homeassistant.components import persistent_notification
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.exceptions import HomeAssistantError
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import async_mock_service

from custom_components.pai.engine.approvals import PhoneAction, Verb, parse_action_id
from custom_components.pai.notifications import UNDO_CHANNEL, Notifier

RID = "paid_20260328_a1b2c3"
NONCE = "0123456789abcdef0123456789abcdef"
PANEL = "persistent_notification"
PIXEL = "notify.mobile_app_pixel"
IPHONE = "notify.mobile_app_iphone"
DISPLAY = "notify.kitchen_display"
FAMILY = "notify.family"
ACTIVE = {
    "push": {"interruption-level": "active"},
    "channel": "PAI requests",
    "importance": "default",
}
"""An urgency that is not known interrupts as usual (tests/test_phone_fields.py: the rest)."""


@pytest.fixture
async def panel(hass: HomeAssistant) -> dict[str, Any]:
    assert await async_setup_component(hass, "persistent_notification", {})
    return persistent_notification._async_get_or_create_notifications(hass)


@pytest.fixture
def pixel(hass: HomeAssistant) -> list[ServiceCall]:
    return async_mock_service(hass, "notify", "mobile_app_pixel")


@pytest.fixture
def send_message(hass: HomeAssistant) -> list[ServiceCall]:
    """A notify entity: its state exists and `notify.send_message` reaches it."""
    hass.states.async_set(DISPLAY, "unknown")
    return async_mock_service(hass, "notify", "send_message")


@pytest.fixture
def family(hass: HomeAssistant) -> list[ServiceCall]:
    """A legacy notify action that is not a phone (no buttons)."""
    return async_mock_service(hass, "notify", "family")


async def test_a_suggestion_reaches_every_kind_of_target(
    hass: HomeAssistant,
    panel: dict[str, Any],
    pixel: list[ServiceCall],
    send_message: list[ServiceCall],
    family: list[ServiceCall],
) -> None:
    notifier = Notifier(hass, [PANEL, PIXEL, DISPLAY, FAMILY])

    await notifier.async_suggest(RID, "Night watch", "The porch light is still on")

    assert panel[f"pai_{RID}"]["title"] == "Night watch"
    assert panel[f"pai_{RID}"]["message"] == "The porch light is still on"
    assert [call.data for call in pixel] == [
        {
            "message": "The porch light is still on",
            "title": "Night watch",
            "data": {"tag": RID, **ACTIVE},
        }
    ]
    assert [call.data for call in send_message] == [
        {
            "entity_id": DISPLAY,
            "message": "The porch light is still on",
            "title": "Night watch",
        }
    ]
    assert [call.data for call in family] == [
        {"message": "The porch light is still on", "title": "Night watch"}
    ]
    assert notifier.missing_targets == []


async def test_an_approval_request_puts_approve_decline_snooze_and_false_alarm_on_the_phones(
    hass: HomeAssistant, pixel: list[ServiceCall]
) -> None:
    iphone = async_mock_service(hass, "notify", "mobile_app_iphone")
    notifier = Notifier(hass, [PIXEL, IPHONE])

    reached = await notifier.async_ask(RID, NONCE, "Night watch", "Turn off the porch?")

    assert reached == 2
    expected = {
        "message": "Turn off the porch?",
        "title": "Night watch",
        "data": {
            "tag": RID,
            "actions": [
                {"action": f"PAI_APPROVE_{RID}_{NONCE}", "title": "Approve"},
                {"action": f"PAI_DECLINE_{RID}_{NONCE}", "title": "Decline"},
                {
                    "action": f"PAI_SNOOZE_{RID}_{NONCE}",
                    "title": "Snooze",
                    "behavior": "textInput",
                    "textInputButtonTitle": "Snooze",
                    "textInputPlaceholder": "Minutes (30)",
                },
                {"action": f"PAI_FALSE_ALARM_{RID}_{NONCE}", "title": "False alarm"},
            ],
            **ACTIVE,
        },
    }
    assert [call.data for call in pixel] == [expected]
    assert [call.data for call in iphone] == [expected]
    # What a tap sends back is understood.
    buttons = expected["data"]["actions"]  # type: ignore[index]
    assert [parse_action_id(button["action"]) for button in buttons] == [
        PhoneAction(Verb.APPROVE, RID, NONCE),
        PhoneAction(Verb.DECLINE, RID, NONCE),
        PhoneAction(Verb.SNOOZE, RID, NONCE),
        PhoneAction(Verb.FALSE_ALARM, RID, NONCE),
    ]


async def test_targets_without_buttons_are_told_where_to_approve(
    hass: HomeAssistant,
    panel: dict[str, Any],
    send_message: list[ServiceCall],
) -> None:
    notifier = Notifier(hass, [PANEL, DISPLAY])

    reached = await notifier.async_ask(RID, NONCE, "Night watch", "Turn off the porch?")

    assert reached == 0
    notice = panel[f"pai_{RID}"]["message"]
    assert notice.startswith("Turn off the porch?")
    assert "pai.approve" in notice
    assert RID in notice
    assert NONCE not in notice
    assert send_message[0].data["message"] == notice
    assert "actions" not in send_message[0].data


async def test_an_undo_offer_goes_quietly_to_the_phones_only(
    hass: HomeAssistant,
    panel: dict[str, Any],
    pixel: list[ServiceCall],
    send_message: list[ServiceCall],
) -> None:
    notifier = Notifier(hass, [PANEL, PIXEL, DISPLAY])

    reached = await notifier.async_offer_undo(
        RID, NONCE, "Night watch did: light.turn_off", "Porch light off"
    )

    assert reached == 1
    assert [call.data for call in pixel] == [
        {
            "message": "Porch light off",
            "title": "Night watch did: light.turn_off",
            "data": {
                "tag": RID,
                "actions": [{"action": f"PAI_UNDO_{RID}_{NONCE}", "title": "Undo"}],
                "push": {"interruption-level": "passive"},
                "channel": UNDO_CHANNEL,
                "importance": "low",
            },
        }
    ]
    assert parse_action_id(f"PAI_UNDO_{RID}_{NONCE}") == PhoneAction(
        Verb.UNDO, RID, NONCE
    )
    assert panel == {}
    assert send_message == []


async def test_dismissing_clears_the_panel_and_the_phones(
    hass: HomeAssistant,
    panel: dict[str, Any],
    pixel: list[ServiceCall],
    send_message: list[ServiceCall],
) -> None:
    notifier = Notifier(hass, [PANEL, PIXEL, DISPLAY])
    await notifier.async_ask(RID, NONCE, "Night watch", "Turn off the porch?")
    other = "paid_20260328_000fff"
    await notifier.async_suggest(other, "Night watch", "Unrelated")
    assert set(panel) == {f"pai_{RID}", f"pai_{other}"}
    pixel.clear()
    send_message.clear()

    await notifier.async_dismiss(RID)

    assert set(panel) == {f"pai_{other}"}
    assert [call.data for call in pixel] == [
        {"message": "clear_notification", "data": {"tag": RID}}
    ]
    assert send_message == []  # a notify entity has nothing to clear


async def test_missing_targets_are_skipped_with_one_warning_and_reported(
    hass: HomeAssistant,
    pixel: list[ServiceCall],
    caplog: pytest.LogCaptureFixture,
) -> None:
    targets: list[object] = [
        "notify.mobile_app_lost_phone",
        PIXEL,
        "notify.nobody",
        "light.kitchen",
        "notify.",
        "pigeon",
        PIXEL,
        42,
    ]
    notifier = Notifier(hass, targets)
    expected_missing = [
        "notify.mobile_app_lost_phone",
        "notify.nobody",
        "light.kitchen",
        "notify.",
        "pigeon",
        "42",
    ]

    assert notifier.targets == [*expected_missing[:1], PIXEL, *expected_missing[1:]]
    assert notifier.missing_targets == expected_missing
    assert await notifier.async_ask(RID, NONCE, "Night watch", "Turn off?") == 1
    await notifier.async_suggest(RID, "Night watch", "Again")

    assert len(pixel) == 2  # listed twice, notified once each time
    for target in expected_missing:
        assert caplog.text.count(f"Notify target {target} does not exist") == 1

    # A phone paired later is found without a restart.
    async_mock_service(hass, "notify", "mobile_app_lost_phone")
    assert "notify.mobile_app_lost_phone" not in notifier.missing_targets


async def test_a_failing_target_does_not_stop_the_others(
    hass: HomeAssistant,
    panel: dict[str, Any],
    pixel: list[ServiceCall],
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = async_mock_service(
        hass,
        "notify",
        "mobile_app_iphone",
        raise_exception=HomeAssistantError("iPhone is not connected"),
    )
    crashing = async_mock_service(
        hass, "notify", "mobile_app_tablet", raise_exception=ValueError("bad")
    )
    notifier = Notifier(hass, [IPHONE, "notify.mobile_app_tablet", PIXEL, PANEL])

    reached = await notifier.async_ask(RID, NONCE, "Night watch", "Turn off?")

    assert reached == 1
    assert len(broken) == len(crashing) == len(pixel) == 1
    assert f"pai_{RID}" in panel
    assert f"Notifying {IPHONE} failed: iPhone is not connected" in caplog.text
    assert "Notifying notify.mobile_app_tablet failed" in caplog.text
    assert notifier.missing_targets == []

    # Dismissing, too, goes on past a broken phone.
    await notifier.async_dismiss(RID)
    assert len(pixel) == 2
    assert f"pai_{RID}" not in panel


async def test_no_targets_means_nothing_is_sent(
    hass: HomeAssistant, pixel: list[ServiceCall]
) -> None:
    notifier = Notifier(hass, [])

    assert await notifier.async_ask(RID, NONCE, "Night watch", "Turn off?") == 0
    assert await notifier.async_offer_undo(RID, NONCE, "t", "m") == 0
    await notifier.async_dismiss(RID)

    assert pixel == []
