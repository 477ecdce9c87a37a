"""The inbox: each agent's pending requests as a to-do list, answered from any dashboard.

Driven the way the frontend drives it: the websocket API (`todo/item/list`,
`call_service` of `todo.update_item` / `todo.remove_item` as the logged-in user) and HA's
own `todo.*` actions. Answers racing on the satellite, the phone and the inbox run the
action once.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.auth.models import User
from homeassistant.core import Context, HomeAssistant, ServiceCall
from homeassistant.exceptions import ServiceValidationError
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
    async_mock_service,
)
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.pai.const import EVENT_PAI_RECORD
from tests.helpers import PHONE, agent_entry, motion, rule, start, statuses
from tests.satellite import KitchenSatellite, async_setup_satellite

pytestmark = pytest.mark.usefixtures("house")

INBOX = "todo.porch_watch_inbox"
COUNTER = "counter.runs"
COUNT = [{"action": "counter.increment", "target": {"entity_id": COUNTER}}]


@pytest.fixture
def phone(hass: HomeAssistant) -> list[ServiceCall]:
    return async_mock_service(hass, "notify", "mobile_app_pixel")


@pytest.fixture
async def counter(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, "counter", {"counter": {"runs": {}}})


def inbox_agent(*targets: str, **options: object) -> MockConfigEntry:
    return agent_entry(
        [rule("porch", "count", 2)],
        bindings={"actions": {"count": COUNT}},
        options={"notify_targets": [PHONE, *targets], **options},
    )


def runs(hass: HomeAssistant) -> int:
    return int(hass.states.get(COUNTER).state)  # type: ignore[union-attr]


async def listed(hass: HomeAssistant, ws: WebSocketGenerator) -> list[dict[str, Any]]:
    client = await ws(hass)
    await client.send_json_auto_id({"type": "todo/item/list", "entity_id": INBOX})
    answer = await client.receive_json()
    assert answer["success"], answer
    items: list[dict[str, Any]] = answer["result"]["items"]
    return items


async def frontend_call(
    hass: HomeAssistant, ws: WebSocketGenerator, service: str, data: dict[str, Any]
) -> dict[str, Any]:
    client = await ws(hass)
    await client.send_json_auto_id(
        {
            "type": "call_service",
            "domain": "todo",
            "service": service,
            "service_data": data,
            "target": {"entity_id": INBOX},
        }
    )
    answer: dict[str, Any] = await client.receive_json()
    await hass.async_block_till_done()
    return answer


@pytest.mark.usefixtures("counter", "phone")
async def test_the_inbox_lists_what_waits_and_completing_approves_once(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator
) -> None:
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    entry = await start(hass, inbox_agent())
    assert await listed(hass, hass_ws_client) == []
    assert hass.states.get(INBOX).state == "0"  # type: ignore[union-attr]

    await motion(hass)
    items = await listed(hass, hass_ws_client)
    pending = entry.runtime_data.runtime.keeper.memory.approvals.pending("approval")[0]
    assert len(items) == 1
    item = items[0]
    assert item["uid"] == pending.record_id
    assert item["status"] == "needs_action"
    assert item["summary"] == "Increment: runs (counter.increment)"
    assert "porch fired" in item["description"]
    assert "Would run:" in item["description"]
    assert dt_util.parse_datetime(item["due"]) == pending.expires
    assert hass.states.get(INBOX).state == "1"  # type: ignore[union-attr]

    answer = await frontend_call(
        hass,
        hass_ws_client,
        "update_item",
        {"item": item["uid"], "status": "completed"},
    )
    assert answer["success"], answer
    assert runs(hass) == 1
    assert statuses(records) == ["pending_approval", "executed"]
    assert await listed(hass, hass_ws_client) == []

    # The same completion again (a second tablet): the item is gone, nothing runs.
    again = await frontend_call(
        hass,
        hass_ws_client,
        "update_item",
        {"item": item["uid"], "status": "completed"},
    )
    assert not again["success"]
    assert runs(hass) == 1


@pytest.mark.usefixtures("counter", "phone")
async def test_removing_an_item_declines_it(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator
) -> None:
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    await start(hass, inbox_agent())
    await motion(hass)
    uid = (await listed(hass, hass_ws_client))[0]["uid"]

    answer = await frontend_call(hass, hass_ws_client, "remove_item", {"item": [uid]})

    assert answer["success"], answer
    assert runs(hass) == 0
    assert statuses(records) == ["pending_approval", "declined"]
    assert await listed(hass, hass_ws_client) == []


@pytest.mark.usefixtures("counter", "phone")
@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"rename": "Buy milk"}, "inbox_no_rename"),
        ({"description": "done"}, "inbox_no_rename"),
        ({"rename": "Buy milk", "status": "completed"}, "inbox_no_rename"),
        ({"status": "needs_action"}, "inbox_nothing_to_do"),
        ({"due_datetime": "2000-01-01 10:00:00"}, "inbox_bad_snooze"),
    ],
)
async def test_edits_that_mean_nothing_are_refused_and_nothing_runs(
    hass: HomeAssistant, change: dict[str, Any], key: str
) -> None:
    entry = await start(hass, inbox_agent())
    await motion(hass)
    uid = entry.runtime_data.runtime.keeper.memory.approvals.pending("approval")[
        0
    ].record_id

    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            "todo",
            "update_item",
            {"item": uid, **change},
            target={"entity_id": INBOX},
            blocking=True,
        )
    assert err.value.translation_key == key
    assert runs(hass) == 0
    assert entry.runtime_data.runtime.pending.approvals_waiting == 1


@pytest.mark.usefixtures("counter", "phone")
async def test_items_cannot_be_created(hass: HomeAssistant) -> None:
    await start(hass, inbox_agent())
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            "todo",
            "add_item",
            {"item": "Approve everything"},
            target={"entity_id": INBOX},
            blocking=True,
        )
    assert hass.states.get(INBOX).state == "0"  # type: ignore[union-attr]


@pytest.mark.usefixtures("counter", "phone")
async def test_only_approvers_answer_from_the_inbox(
    hass: HomeAssistant, hass_admin_user: User
) -> None:
    guest = await hass.auth.async_create_user("Guest", group_ids=["system-users"])
    entry = await start(hass, inbox_agent(approvers=[hass_admin_user.id]))
    await motion(hass)
    uid = entry.runtime_data.runtime.keeper.memory.approvals.pending("approval")[
        0
    ].record_id

    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            "todo",
            "update_item",
            {"item": uid, "status": "completed"},
            target={"entity_id": INBOX},
            blocking=True,
            context=Context(user_id=guest.id),
        )
    assert err.value.translation_key == "resolve_not_an_approver"
    assert runs(hass) == 0

    await hass.services.async_call(
        "todo",
        "update_item",
        {"item": uid, "status": "completed"},
        target={"entity_id": INBOX},
        blocking=True,
        context=Context(user_id=hass_admin_user.id),
    )
    await hass.async_block_till_done()
    assert runs(hass) == 1


@pytest.mark.usefixtures("counter")
async def test_the_inbox_follows_answers_elsewhere_expiry_and_snooze(
    hass: HomeAssistant,
    phone: list[ServiceCall],
    freezer: FrozenDateTimeFactory,
) -> None:
    entry = await start(hass, inbox_agent(approval_expiry_minutes=30))
    runtime = entry.runtime_data.runtime
    await motion(hass)
    assert hass.states.get(INBOX).state == "1"  # type: ignore[union-attr]

    # Answered on the phone: the item goes.
    approve = phone[0].data["data"]["actions"][0]["action"]
    hass.bus.async_fire("mobile_app_notification_action", {"action": approve})
    await hass.async_block_till_done()
    assert hass.states.get(INBOX).state == "0"  # type: ignore[union-attr]
    assert runs(hass) == 1

    # Snoozed from the inbox by moving the due time; then it expires.
    await motion(hass, "off")
    await motion(hass)
    uid = runtime.keeper.memory.approvals.pending("approval")[0].record_id
    later = dt_util.now() + timedelta(hours=1)
    await hass.services.async_call(
        "todo",
        "update_item",
        {"item": uid, "due_datetime": later.strftime("%Y-%m-%d %H:%M:%S")},
        target={"entity_id": INBOX},
        blocking=True,
    )
    snoozed = runtime.keeper.memory.approvals.pending("approval")[0]
    assert snoozed.snoozed_until is not None
    assert abs(snoozed.snoozed_until - dt_util.as_utc(later)) < timedelta(seconds=1)
    assert hass.states.get(INBOX).state == "1"  # type: ignore[union-attr]

    freezer.tick(timedelta(hours=2))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(INBOX).state == "0"  # type: ignore[union-attr]
    assert runs(hass) == 1


@pytest.mark.usefixtures("counter")
async def test_answers_racing_on_satellite_phone_and_inbox_run_once(
    hass: HomeAssistant, phone: list[ServiceCall]
) -> None:
    kitchen = KitchenSatellite()
    await async_setup_satellite(hass, kitchen)
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    entry = await start(hass, inbox_agent(str(kitchen.entity_id)))
    await motion(hass)
    await kitchen.wait_asked()
    uid = entry.runtime_data.runtime.keeper.memory.approvals.pending("approval")[
        0
    ].record_id
    approve = phone[0].data["data"]["actions"][0]["action"]

    async def inbox() -> None:
        # Losing the race (the item was already answered) is a clear error.
        with contextlib.suppress(ServiceValidationError):
            await hass.services.async_call(
                "todo",
                "update_item",
                {"item": uid, "status": "completed"},
                target={"entity_id": INBOX},
                blocking=True,
            )

    async def tap() -> None:
        hass.bus.async_fire("mobile_app_notification_action", {"action": approve})

    await asyncio.gather(kitchen.answer("yes"), tap(), inbox(), tap())
    await hass.async_block_till_done(wait_background_tasks=True)

    assert runs(hass) == 1
    assert statuses(records) == ["pending_approval", "executed"]
    assert hass.states.get(INBOX).state == "0"  # type: ignore[union-attr]
