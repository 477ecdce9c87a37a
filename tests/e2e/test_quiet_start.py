"""A quiet start on a real `hass`: what is true at start-up is not an event, across restarts.

A template binary sensor reads an input_boolean that Home Assistant restores "on" at every
start. The sensor's own last state is restored too, from `core.restore_state`, which Home
Assistant saves every 15 minutes and at a clean stop: after a power cut it can be stale.
Here it says "off" (written while `hass` is stopped, as a stale save would), so the sensor
turns on when its template is first rendered, while Home Assistant starts, without
anything having happened. An agent watching it (made through the config flow, acting by
itself) used to decide then and act: its triggers were attached before that first render.
They now attach once Home Assistant runs, as automations' do: two restarts make no decision
and leave the porch lamp off, while a change after start still does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
import json
from pathlib import Path
from typing import Any

import pytest

from .agents import call, create_agent, records, state, wait_for
from .hass_process import HassInstance, run_hass
from .ws import allow_sockets

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("socket_enabled")]

MOTION = "input_boolean.night_motion"
WATCH = "binary_sensor.night_watch"
LAMP = "input_boolean.porch_lamp"
RESTARTS = 2
SETTLE_S = 8.0
"""Seconds after start-up for anything start-up would have set off to show."""

HOUSE = f"""
input_boolean:
  night_motion:
    name: Night motion
  porch_lamp:
    name: Porch lamp
template:
  - binary_sensor:
      - name: Night watch
        unique_id: night_watch
        state: "{{{{ is_state('{MOTION}', 'on') }}}}"
"""


def stale(restore_state: Path, entity_id: str, value: str) -> None:
    """Make the last state Home Assistant saved for `entity_id` say `value`."""
    stored = json.loads(restore_state.read_text())
    [saved] = [
        item for item in stored["data"] if item["state"]["entity_id"] == entity_id
    ]
    saved["state"]["state"] = value
    restore_state.write_text(json.dumps(stored))


@pytest.fixture
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HassInstance]:
    allow_sockets()
    with run_hass(tmp_path_factory.mktemp("quiet"), extra_config=HOUSE) as instance:
        instance.onboard()
        yield instance


async def test_a_sensor_true_at_start_up_makes_no_decision_across_restarts(
    home: HassInstance,
) -> None:
    night_watch = create_agent(
        home,
        name="Night watch",
        watched=WATCH,
        action="input_boolean.turn_on",
        target=LAMP,
        level="act",
    )
    call(home, "input_boolean.turn_on", MOTION)  # a real change: one decision
    wait_for(lambda: state(home, LAMP) == "on", "the porch lamp to turn on")
    made = wait_for(lambda: records(home, night_watch) or None, "the first record")
    assert [r["4_execution"]["status"] for r in made] == ["executed"]
    call(home, "input_boolean.turn_off", LAMP)
    wait_for(lambda: state(home, LAMP) == "off", "the porch lamp to turn off")

    for restart in range(RESTARTS):
        await asyncio.to_thread(home.stop)
        stale(home.config_dir / ".storage" / "core.restore_state", WATCH, "off")
        await asyncio.to_thread(home.start)
        # Restored "off", rendered "on": the sensor turns on while Home Assistant starts.
        assert state(home, MOTION) == "on"
        assert state(home, WATCH) == "on"
        await asyncio.sleep(SETTLE_S)
        assert len(records(home, night_watch)) == 1, f"restart {restart + 1}"
        assert state(home, LAMP) == "off", f"restart {restart + 1}"

    # Once running, a change is perceived as before: one more decision, the lamp on.
    call(home, "input_boolean.turn_off", MOTION)
    wait_for(lambda: state(home, LAMP) == "on", "the porch lamp to turn on again")

    def two() -> list[dict[str, Any]] | None:
        found = records(home, night_watch)
        return found if len(found) == 2 else None

    later = wait_for(two, "the decision after start")
    assert [r["4_execution"]["status"] for r in later] == ["executed", "executed"]
    errors = [
        line
        for line in home.log().splitlines()
        if " ERROR " in line and "custom_components.pai" in line
    ]
    assert errors == []
