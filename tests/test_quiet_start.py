"""A quiet start: an agent's triggers attach once Home Assistant runs, as automations' do.

While Home Assistant starts, entities appear and restore their states: a template that
reads one turns true at start-up without anything having happened. An HA automation with
that trigger does not fire then; neither may an agent.
"""

from __future__ import annotations

from homeassistant.const import EVENT_HOMEASSISTANT_STARTED
from homeassistant.core import CoreState, HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    async_capture_events,
    async_mock_service,
)

from custom_components.pai.const import EVENT_PAI_RECORD
from tests.helpers import LIGHT_ON, agent_entry, motion, rule, start

TEMPLATE_TRIGGER = {
    "trigger": "template",
    "value_template": "{{ is_state('input_boolean.motion', 'on') }}",
}


async def test_a_template_true_at_start_up_makes_no_record(hass: HomeAssistant) -> None:
    hass.set_state(CoreState.not_running)
    async_mock_service(hass, "notify", "mobile_app_pixel")
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    entry = agent_entry(
        [rule("night watch", "light_on", 3, kind="ha.template", payload=[])],
        bindings={"actions": {"light_on": LIGHT_ON}},
        ha_triggers=[TEMPLATE_TRIGGER],
    )
    await start(hass, entry)
    # Start-up: the motion sensor is restored "on" after the agent was set up.
    assert await async_setup_component(
        hass,
        "input_boolean",
        {"input_boolean": {"motion": {"initial": True}, "porch_light": {}}},
    )
    await hass.async_block_till_done()
    hass.set_state(CoreState.running)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STARTED)
    await hass.async_block_till_done()

    assert records == []
    assert hass.states.get("input_boolean.porch_light").state == "off"

    # Once running, a real change is perceived as before.
    await motion(hass, "off")
    await motion(hass)
    assert len(records) == 1
    assert hass.states.get("input_boolean.porch_light").state == "on"


async def test_stopped_before_start_up_ends_attaches_nothing(
    hass: HomeAssistant,
) -> None:
    hass.set_state(CoreState.not_running)
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    entry = await start(
        hass,
        agent_entry(
            [rule("night watch", "light_on", 3, kind="ha.template", payload=[])],
            ha_triggers=[TEMPLATE_TRIGGER],
        ),
    )
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert await async_setup_component(
        hass, "input_boolean", {"input_boolean": {"motion": {}}}
    )
    hass.set_state(CoreState.running)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STARTED)
    await hass.async_block_till_done()
    await motion(hass)
    assert records == []
