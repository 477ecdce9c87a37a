"""Why a light turned on: PAI's actions run in a child of the trigger's Home Assistant Context.

A user switches the motion sensor on; PAI turns the porch light on in a context whose parent
is the motion change's, so the real logbook (with the real recorder) names that user on the
light's line. An approval runs under the approving user, still a child of the trigger.
"""

from __future__ import annotations

from homeassistant.auth.models import User
from homeassistant.components.recorder import Recorder
from homeassistant.core import Context, HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    async_capture_events,
    async_mock_service,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.pai.const import DOMAIN, EVENT_PAI_RECORD
from tests.ha_fixtures import recorder_before_hass  # noqa: F401  # the real recorder
from tests.helpers import light_agent, start, start_recording

LIGHT = "input_boolean.porch_light"
MOTION = "input_boolean.motion"


async def _house(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, "logbook", {})
    assert await async_setup_component(
        hass, "input_boolean", {"input_boolean": {"motion": {}, "porch_light": {}}}
    )
    async_mock_service(hass, "notify", "mobile_app_pixel")
    await hass.async_block_till_done()


async def _motion_by(hass: HomeAssistant, user: User) -> Context:
    await hass.services.async_call(
        "input_boolean",
        "turn_on",
        {"entity_id": MOTION},
        blocking=True,
        context=Context(user_id=user.id),
    )
    await hass.async_block_till_done()
    state = hass.states.get(MOTION)
    assert state is not None
    return state.context


async def test_the_logbook_says_who_set_off_what_pai_did(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    hass_admin_user: User,
) -> None:
    await _house(hass)
    await start(hass, light_agent(3))
    begin = dt_util.utcnow()

    trigger = await _motion_by(hass, hass_admin_user)

    light = hass.states.get(LIGHT)
    assert light is not None
    assert light.state == "on"
    assert light.context.parent_id == trigger.id
    assert light.context.id != trigger.id
    await async_wait_recording_done(hass)
    client = await hass_ws_client(hass)
    await client.send_json_auto_id(
        {
            "type": "logbook/get_events",
            "start_time": begin.isoformat(),
            "entity_ids": [LIGHT],
        }
    )
    response = await client.receive_json()
    assert response["success"]
    [line] = [e for e in response["result"] if e.get("state") == "on"]
    assert line["context_user_id"] == hass_admin_user.id

    # The light's change is PAI's own doing: it does not wake the agent again.
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    await hass.services.async_call(
        "input_boolean", "turn_off", {"entity_id": LIGHT}, blocking=True
    )
    await hass.async_block_till_done()
    assert records == []


async def test_an_approval_runs_as_the_approver_in_the_triggers_chain(
    recorder_mock: Recorder, hass: HomeAssistant, hass_admin_user: User
) -> None:
    await _house(hass)
    records = await start_recording(hass, light_agent(2))
    trigger = await _motion_by(hass, hass_admin_user)
    record_id = records[0].data["record"]["record_id"]
    approver = Context(user_id=hass_admin_user.id)

    await hass.services.async_call(
        DOMAIN, "approve", {"record_id": record_id}, blocking=True, context=approver
    )
    await hass.async_block_till_done()

    light = hass.states.get(LIGHT)
    assert light is not None
    assert light.state == "on"
    assert light.context.user_id == hass_admin_user.id
    assert light.context.parent_id == trigger.id


async def test_what_an_evaluate_call_runs_is_a_child_of_the_call(
    recorder_mock: Recorder, hass: HomeAssistant, hass_admin_user: User
) -> None:
    await _house(hass)
    entry = await start(hass, light_agent(3))
    call = Context(user_id=hass_admin_user.id)

    await hass.services.async_call(
        DOMAIN,
        "evaluate",
        {"agent": entry.entry_id, "kind": "ha.state", "payload": {"to_state": "on"}},
        blocking=True,
        return_response=True,
        context=call,
    )
    await hass.async_block_till_done()

    light = hass.states.get(LIGHT)
    assert light is not None
    assert light.state == "on"
    assert light.context.parent_id == call.id
