"""`explain` reads the recorder too: what an agent decided before a restart is still told."""

from __future__ import annotations

from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockUser, async_mock_service
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from tests.ha_fixtures import recorder_before_hass  # noqa: F401  # the real recorder
from tests.helpers import LIGHT_ON, Talker, agent_entry, motion, rule, start


async def test_explain_after_a_restart_reads_the_history(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    house: None,
    hass_admin_user: MockUser,
) -> None:
    async_mock_service(hass, "notify", "mobile_app_pixel")
    entry = await start(
        hass,
        agent_entry(
            [rule("dark", "light_on", 3)], bindings={"actions": {"light_on": LIGHT_ON}}
        ),
    )
    await motion(hass)
    await async_wait_recording_done(hass)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.runtime_data.runtime.book.recent() == []

    found = await Talker(hass, hass_admin_user.id).call(
        "explain", entity_id="input_boolean.porch_light"
    )

    [why] = found.data["records"]
    assert why["agent"] == "Porch watch"
    assert why["status"] == "executed"
    assert why["granted_level"] == "act"
    assert why["what_ran"]
