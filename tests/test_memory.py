"""Memory that survives a bad file, ids that do not collide, answers that reach their agent.

The agent's memory lives in `.storage/pai.<entry_id>` (Home Assistant's Store; the tests'
`hass_storage`). A hand-edited or damaged file costs only its bad parts: the agent starts,
a Repairs issue says what was dropped. Requests pushed out of a full book expire visibly;
a forced collision of record ids never lets one answer run another request; an approval
interrupted by a restart comes back as `interrupted`, and the user is told.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_mock_service,
)

from custom_components.pai.const import DOMAIN, EVENT_PAI_RECORD
from custom_components.pai.engine import records as records_module
from tests.helpers import LIGHT_ON, agent_entry, motion, rule, start, statuses

PHONE = "mobile_app_pixel"


def stored(hass_storage: dict[str, Any], entry: MockConfigEntry, data: Any) -> None:
    hass_storage[f"{DOMAIN}.{entry.entry_id}"] = {
        "version": 1,
        "minor_version": 1,
        "key": f"{DOMAIN}.{entry.entry_id}",
        "data": data,
    }


def asking(name: str = "ask", action: str = "light_on") -> MockConfigEntry:
    return agent_entry(
        [rule(name, action, 2)], bindings={"actions": {action: LIGHT_ON}}
    )


GOOD_PENDING_WITHOUT_RECORD = {
    "record_id": "paid_20260101_0123456789abcdef",
    "kind": "approval",
    "nonce": "0123456789abcdef0123456789abcdef",
    "created": "2026-01-01T00:00:00+00:00",
    "expires": "2099-01-01T00:00:00+00:00",
    "payload": {"record": {"record_id": "x"}},
}

CORRUPT: dict[str, tuple[Any, str]] = {
    "a list": ([1, 2, 3], "the memory is list, not an object"),
    "a string": ("oops", "the memory is str, not an object"),
    "history a list": ({"history": ["x"]}, "the action history is not an object"),
    "active a string": ({"active": "false"}, "'active' is 'false'"),
    "pending without a record": (
        {"approvals": {"pending": [GOOD_PENDING_WITHOUT_RECORD]}},
        "its record is not usable",
    ),
    "approvals a list": ({"approvals": []}, "the pending approvals are not an object"),
    "ledger a string": ({"ledger": "x"}, "the gate's ledger is not an object"),
    "router a list": ({"router": []}, "the LLM budget ('router') is not an object"),
    "in flight junk": ({"in_flight": {"paid_x": 3}}, "is not readable"),
}


@pytest.mark.usefixtures("house")
@pytest.mark.parametrize("kind", list(CORRUPT))
async def test_a_corrupt_memory_costs_only_its_bad_parts(
    hass: HomeAssistant, hass_storage: dict[str, Any], kind: str
) -> None:
    data, problem = CORRUPT[kind]
    async_mock_service(hass, "notify", PHONE)
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    entry = asking()
    stored(hass_storage, entry, data)
    await start(hass, entry)

    issue = ir.async_get(hass).async_get_issue(
        DOMAIN, f"memory_problems_{entry.entry_id}"
    )
    assert issue is not None
    assert problem in issue.translation_placeholders["problems"]
    # The agent works: it asks, as before.
    await motion(hass)
    assert statuses(records) == ["pending_approval"]


@pytest.mark.usefixtures("house")
async def test_a_good_memory_raises_no_issue(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    entry = asking()
    stored(hass_storage, entry, {"active": False, "history": {"light_on": {"x": 1}}})
    await start(hass, entry)
    assert not ir.async_get(hass).async_get_issue(
        DOMAIN, f"memory_problems_{entry.entry_id}"
    )
    assert entry.runtime_data.runtime.active is False


@pytest.mark.usefixtures("house")
async def test_colliding_record_ids_never_answer_the_other_request(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    phone = async_mock_service(hass, "notify", PHONE)
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    monkeypatch.setattr(
        records_module, "new_record_id", lambda now: "paid_20260101_abababababababab"
    )
    await start(
        hass,
        agent_entry(
            [
                rule("light", "light_on", 2),
                rule("door", "open_door", 2, kind="door"),
            ],
            bindings={
                "actions": {
                    "light_on": LIGHT_ON,
                    "open_door": [
                        {
                            "action": "input_boolean.turn_on",
                            "target": {"entity_id": "input_boolean.front_door_open"},
                        }
                    ],
                }
            },
        ),
    )
    await motion(hass)
    runtime = hass.config_entries.async_entries(DOMAIN)[0].runtime_data.runtime
    await runtime.async_evaluate("door", {"to_state": "on"})
    first, second = (r.data["record"] for r in records)
    assert first["record_id"] == second["record_id"]
    assert statuses(records) == ["pending_approval", "failed"]
    assert "already waiting; not replaced" in str(second["4_execution"])

    hass.bus.async_fire(
        "mobile_app_notification_action",
        {"action": phone[0].data["data"]["actions"][0]["action"]},
    )
    await hass.async_block_till_done()
    assert hass.states.get("input_boolean.porch_light").state == "on"
    assert hass.states.get("input_boolean.front_door_open").state == "off"


@pytest.mark.usefixtures("house")
async def test_a_tap_reaches_the_agent_whose_nonce_it_carries(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    phone = async_mock_service(hass, "notify", PHONE)
    monkeypatch.setattr(
        records_module, "new_record_id", lambda now: "paid_20260101_cdcdcdcdcdcdcdcd"
    )
    first = asking()
    await start(hass, first)
    second = MockConfigEntry(
        domain=DOMAIN,
        title="Door watch",
        unique_id="door_watch",
        data={
            **first.data,
            "name": "Door watch",
            "bindings": {
                "actions": {
                    "light_on": [
                        {
                            "action": "input_boolean.turn_on",
                            "target": {"entity_id": "input_boolean.front_door_open"},
                        }
                    ]
                }
            },
        },
        options=dict(first.options),
    )
    await start(hass, second)
    await motion(hass)  # both agents ask, under the same record id
    assert len(phone) == 2
    taps = {
        call.data["title"]: call.data["data"]["actions"][0]["action"] for call in phone
    }
    door_tap = next(tap for title, tap in taps.items() if "front door open" in title)

    hass.bus.async_fire("mobile_app_notification_action", {"action": door_tap})
    await hass.async_block_till_done()
    assert hass.states.get("input_boolean.front_door_open").state == "on"
    assert hass.states.get("input_boolean.porch_light").state == "off"


@pytest.mark.usefixtures("house")
async def test_requests_pushed_out_of_a_full_book_expire_visibly(
    hass: HomeAssistant,
) -> None:
    phone = async_mock_service(hass, "notify", PHONE)
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    entry = await start(hass, asking())
    runtime = entry.runtime_data.runtime
    runtime.approvals._max_pending = 2
    for _ in range(3):
        await runtime.async_evaluate("ha.state", {"to_state": "on"})

    oldest = records[0].data["record"]["record_id"]
    assert [
        r.data["record"]["4_execution"]["status"]
        for r in records
        if r.data["record"]["record_id"] == oldest
    ] == ["pending_approval", "expired"]
    cleared = [c.data for c in phone if c.data["message"] == "clear_notification"]
    assert cleared == [{"message": "clear_notification", "data": {"tag": oldest}}]
    assert runtime.pending.approvals_waiting == 2


@pytest.mark.usefixtures("house")
async def test_an_approval_cut_short_by_a_restart_comes_back_interrupted(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    phone = async_mock_service(hass, "notify", PHONE)
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    hang = [{"wait_template": "{{ false }}"}, *LIGHT_ON]
    entry = await start(
        hass,
        agent_entry(
            [rule("ask", "light_on", 2)], bindings={"actions": {"light_on": hang}}
        ),
    )
    await motion(hass)
    record_id = records[0].data["record"]["record_id"]
    approving = hass.async_create_task(
        hass.services.async_call(
            DOMAIN, "approve", {"record_id": record_id}, blocking=True
        )
    )
    for _ in range(20):
        await asyncio.sleep(0)
    # Home Assistant "crashes" here: what is on disk is what the next start reads.
    on_disk = copy.deepcopy(hass_storage[f"{DOMAIN}.{entry.entry_id}"]["data"])
    assert record_id in on_disk["in_flight"]
    assert await hass.config_entries.async_unload(entry.entry_id)
    hass_storage[f"{DOMAIN}.{entry.entry_id}"]["data"] = on_disk
    try:
        assert await hass.config_entries.async_setup(entry.entry_id)
        for _ in range(20):  # not async_block_till_done: the old action still hangs
            await asyncio.sleep(0)
        assert statuses(records)[-1] == "interrupted"
        assert records[-1].data["record"]["record_id"] == record_id
        told = phone[-1].data
        assert told["title"] == "Porch watch: check light_on"
        assert "may or may not have happened" in told["message"]
    finally:
        approving.cancel()
