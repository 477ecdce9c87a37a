"""Shared fixtures.

`custom_components` is imported first so that it binds to this repository's package and not
to the empty one that pytest-homeassistant-custom-component puts on `sys.path`.
"""

from __future__ import annotations

import importlib.util

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest

import custom_components  # noqa: F401  # bind the package to this repository first

if importlib.util.find_spec("pytest_homeassistant_custom_component") is not None:
    # Not in the second environment (scripts/test), which runs without that plugin.
    from tests.ha_fixtures import (  # noqa: F401  # fixtures
        anthropic_api,
        brains,
        closed_port,
        flow_house,
        home,
        hook_server,
        openai_server,
        phones,
        shelf,
        snapshot,
        talk_agent,
        task_entity,
        uploads,
    )


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(request: pytest.FixtureRequest) -> None:
    """Let every test that runs Home Assistant load integrations from custom_components/.

    Pure engine tests do not ask for `hass`, so they start no Home Assistant at all.
    """
    if "hass" in request.fixturenames:
        request.getfixturevalue("enable_custom_integrations")


@pytest.fixture
async def house(hass: HomeAssistant) -> None:
    """A porch light and a motion sensor that tests can switch, and a phone."""
    assert await async_setup_component(
        hass,
        "input_boolean",
        {"input_boolean": {"motion": {}, "porch_light": {}, "front_door_open": {}}},
    )
    await hass.async_block_till_done()
