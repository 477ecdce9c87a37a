"""What a phone receives through the real `mobile_app` integration: urgency, sensitive
approvals, what a tap opens, grouping, and the clearing of an answered request."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
import pytest

from custom_components.pai.notifications import Notifier, PhoneStyle
from tests.ha_fixtures import Phones
from tests.helpers import DOOR, agent_entry, motion, rule, start

RID = "paid_20260328_a1b2c3"
NONCE = "0123456789abcdef0123456789abcdef"
ENTRY = "01JAGENTENTRY"
PAGE = f"/config/integrations/integration/pai#config_entry={ENTRY}"
LOOKS = {"group": f"pai_{ENTRY}", "url": PAGE, "clickAction": PAGE}
THE_OTHER_ANSWERS = [
    # Declining, snoozing and calling a false alarm run nothing: they need no unlock.
    {"action": f"PAI_DECLINE_{RID}_{NONCE}", "title": "Decline"},
    {
        "action": f"PAI_SNOOZE_{RID}_{NONCE}",
        "title": "Snooze",
        "behavior": "textInput",
        "textInputButtonTitle": "Snooze",
        "textInputPlaceholder": "Minutes (30)",
    },
    {"action": f"PAI_FALSE_ALARM_{RID}_{NONCE}", "title": "False alarm"},
]


def style(*, critical: bool = False) -> PhoneStyle:
    return PhoneStyle.of_agent(ENTRY, urgency_override=0.9, critical=critical)


PASSIVE = {
    "push": {"interruption-level": "passive"},
    "channel": "PAI quiet",
    "importance": "low",
}
ACTIVE = {
    "push": {"interruption-level": "active"},
    "channel": "PAI requests",
    "importance": "default",
}
TIME_SENSITIVE = {
    "push": {"interruption-level": "time-sensitive"},
    "channel": "PAI urgent",
    "importance": "high",
    "priority": "high",
    "ttl": 0,
}
CRITICAL = {
    "push": {
        "interruption-level": "critical",
        "sound": {"name": "default", "critical": 1, "volume": 1.0},
    },
    "channel": "alarm_stream",
    "importance": "max",
    "priority": "high",
    "ttl": 0,
}


@pytest.mark.parametrize(
    ("urgency", "critical", "fields"),
    [
        (0.1, False, PASSIVE),
        (0.5, False, ACTIVE),
        (None, False, ACTIVE),
        (0.8, False, TIME_SENSITIVE),
        (0.95, False, TIME_SENSITIVE),  # not opted in: never critical
        (0.8, True, TIME_SENSITIVE),  # below the urgency override
        (0.9, True, CRITICAL),
    ],
)
async def test_a_request_is_as_loud_as_its_urgency(
    hass: HomeAssistant,
    phones: Phones,
    urgency: float | None,
    critical: bool,
    fields: dict[str, Any],
) -> None:
    iphone = await phones.pair("iphone")
    notifier = Notifier(hass, [iphone], style(critical=critical))

    assert await notifier.async_ask(
        RID, NONCE, "Night watch", "Turn off the porch?", urgency=urgency
    )

    assert phones.received("iphone") == [
        {
            "message": "Turn off the porch?",
            "title": "Night watch",
            "data": {
                "tag": RID,
                "actions": [
                    {"action": f"PAI_APPROVE_{RID}_{NONCE}", "title": "Approve"},
                    *THE_OTHER_ANSWERS,
                ],
                **fields,
                **LOOKS,
            },
        }
    ]


async def test_a_suggestion_carries_its_urgency_too(
    hass: HomeAssistant, phones: Phones
) -> None:
    pixel = await phones.pair("pixel", os_name="Android")
    notifier = Notifier(hass, [pixel], style(critical=True))

    await notifier.async_suggest(RID, "Water", "Leak under the sink", urgency=1.0)
    await notifier.async_suggest("paid_20260328_000fff", "Tip", "Dust", urgency=0.0)

    assert [push["data"] for push in phones.received("pixel")] == [
        {"tag": RID, **CRITICAL, **LOOKS},
        {"tag": "paid_20260328_000fff", **PASSIVE, **LOOKS},
    ]


async def test_a_sensitive_approval_asks_the_phone_to_authenticate(
    hass: HomeAssistant, phones: Phones
) -> None:
    iphone = await phones.pair("iphone")
    notifier = Notifier(hass, [iphone], style())

    await notifier.async_ask(
        RID,
        NONCE,
        "Unlock: Front door (lock.unlock)",
        "Let the plumber in?",
        urgency=0.5,
        sensitive=True,
    )

    actions = phones.received("iphone")[0]["data"]["actions"]
    assert actions == [
        {
            "action": f"PAI_APPROVE_{RID}_{NONCE}",
            "title": "Approve",
            "authenticationRequired": True,
            "destructive": True,
        },
        *THE_OTHER_ANSWERS,
    ]


async def test_an_answered_request_is_cleared_from_every_phone(
    hass: HomeAssistant, phones: Phones
) -> None:
    iphone = await phones.pair("iphone")
    pixel = await phones.pair("pixel", os_name="Android")
    notifier = Notifier(hass, [iphone, pixel], style())
    await notifier.async_ask(RID, NONCE, "Night watch", "Turn off the porch?")
    phones.clear()

    await notifier.async_dismiss(RID)

    cleared = {"message": "clear_notification", "data": {"tag": RID}}
    assert phones.received("iphone") == [cleared]
    assert phones.received("pixel") == [cleared]


async def test_an_undo_offer_is_grouped_and_opens_the_agent(
    hass: HomeAssistant, phones: Phones
) -> None:
    iphone = await phones.pair("iphone")
    notifier = Notifier(hass, [iphone], style(critical=True))

    await notifier.async_offer_undo(RID, NONCE, "Night watch did: x", "Porch light off")

    data = phones.received("iphone")[0]["data"]
    assert data["push"] == {"interruption-level": "passive"}  # never loud
    assert {key: data[key] for key in LOOKS} == LOOKS


@pytest.mark.usefixtures("home")
async def test_the_agent_asks_for_authentication_when_its_action_unlocks_a_door(
    hass: HomeAssistant, phones: Phones
) -> None:
    pixel = await phones.pair("pixel", os_name="Android")
    unlock = [{"action": "lock.unlock", "target": {"entity_id": DOOR}}]
    light = [
        {
            "action": "input_boolean.turn_on",
            "target": {"entity_id": "input_boolean.porch_light"},
        }
    ]
    entry = await start(
        hass,
        agent_entry(
            [rule("door", "let_in", 2, urgency=0.4), rule("light", "light_on", 2)],
            bindings={"actions": {"let_in": unlock, "light_on": light}},
            options={"notify_targets": [pixel]},
        ),
    )

    await motion(hass)

    pushes = {push["title"]: push["data"] for push in phones.received("pixel")}
    door = next(data for title, data in pushes.items() if "lock.unlock" in title)
    lamp = next(data for title, data in pushes.items() if "turn_on" in title)
    assert door["actions"][0]["authenticationRequired"] is True
    assert door["actions"][0]["destructive"] is True
    assert door["push"] == {"interruption-level": "active"}  # its urgency, 0.4
    assert "authenticationRequired" not in lamp["actions"][0]
    assert lamp["push"] == {"interruption-level": "time-sensitive"}  # urgency 0.8
    page = f"/config/integrations/integration/pai#config_entry={entry.entry_id}"
    assert door["clickAction"] == lamp["url"] == page
    assert door["group"] == lamp["group"] == f"pai_{entry.entry_id}"
