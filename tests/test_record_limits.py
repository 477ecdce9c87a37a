"""Every record fits the recorder: an executed action is never without its record.

The recorder keeps an event's data only up to 32 KiB and silently drops the rest. A record
made from a bulky event is cut (its bulkiest parts marked) so that the real recorder keeps
it; one that cannot be cut enough is reported, with a warning and a Repairs issue.
"""

from __future__ import annotations

from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import async_capture_events
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.pai.const import DOMAIN, EVENT_PAI_RECORD
from custom_components.pai.record_history import async_get_records
from tests.ha_fixtures import recorder_before_hass  # noqa: F401  # the real recorder
from tests.helpers import LIGHT_ON, agent_entry, light_agent, rule, start


async def test_a_bulky_event_still_leaves_its_record_in_the_recorder(
    recorder_mock: Recorder, hass: HomeAssistant
) -> None:
    assert await async_setup_component(
        hass, "input_boolean", {"input_boolean": {"motion": {}, "porch_light": {}}}
    )
    entry = await start(hass, light_agent(3))
    response = await hass.services.async_call(
        DOMAIN,
        "evaluate",
        {
            "agent": entry.entry_id,
            "kind": "ha.state",
            "payload": {"to_state": "on", "blob": "x" * 40_000},
        },
        blocking=True,
        return_response=True,
    )
    assert response is not None
    [made] = response["records"]
    assert made["4_execution"]["status"] == "executed"
    assert hass.states.get("input_boolean.porch_light").state == "on"
    await async_wait_recording_done(hass)

    [stored] = await async_get_records(
        hass, entry_id=None, since=None, limit=10, status=None
    )
    assert stored["record_id"] == made["record_id"]
    assert stored["4_execution"]["status"] == "executed"
    assert stored["1_perception"]["raw_data_summary"] == {
        "truncated": True,
        "bytes": 40_027,
    }
    assert stored["x_pai"]["truncated"] == [
        "1_perception.raw_data_summary",
        "3_anticipation.params.event_payload",
    ]


@pytest.mark.usefixtures("house")
async def test_a_record_that_cannot_fit_is_reported(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    huge = rule("act", "light_on", 1)
    huge["intent"]["params"] = {"note": "x" * 40_000}  # params are never cut
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    entry = await start(
        hass, agent_entry([huge], bindings={"actions": {"light_on": LIGHT_ON}})
    )
    await hass.services.async_call(
        "input_boolean", "turn_on", {"entity_id": "input_boolean.motion"}, blocking=True
    )
    await hass.async_block_till_done()

    assert len(records) == 1
    assert "too large for the recorder" in caplog.text
    assert ir.async_get(hass).async_get_issue(
        DOMAIN, f"record_too_large_{entry.entry_id}"
    )
