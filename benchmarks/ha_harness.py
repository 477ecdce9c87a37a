"""A real Home Assistant core inside a benchmark process, loading this repository's integrations.

Runtime figures mean something only where PAI runs: in Home Assistant's event loop, next to
its own automations. This starts the core the tests use (pytest-homeassistant-custom-component's
`async_test_home_assistant`: registries in memory, a fresh temporary config directory) without
pytest, lets it load `custom_components/`, and stops it cleanly afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
import tempfile
import time

from homeassistant import loader
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import frame, translation
from pytest_homeassistant_custom_component.common import async_test_home_assistant  # type: ignore[import-untyped]

import custom_components  # noqa: F401  # this repository's package, not the plugin's empty one


@asynccontextmanager
async def running_hass() -> AsyncIterator[HomeAssistant]:
    """Yield a running Home Assistant that can load PAI; unload everything, then stop it."""
    with tempfile.TemporaryDirectory(prefix="pai-bench-") as config_dir:
        async with async_test_home_assistant(config_dir=config_dir) as hass:
            hass.data.pop(
                loader.DATA_CUSTOM_COMPONENTS
            )  # as `enable_custom_integrations`
            frame.async_setup(hass)
            await translation.async_load_integrations(hass, {"homeassistant"})
            try:
                yield hass
            finally:
                for entry in hass.config_entries.async_entries():
                    if entry.state is ConfigEntryState.LOADED:
                        await hass.config_entries.async_unload(entry.entry_id)
                await hass.async_stop(force=True)


PROBE_INTERVAL_S = 0.005
"""How often the lag probe wakes: the event loop should wake it on time."""


class LagProbe:
    """Sleeps PROBE_INTERVAL_S over and over and notes how late the loop woke it."""

    def __init__(self) -> None:
        self.lateness_ms: list[float] = []
        self._running = True

    async def run(self) -> None:
        interval_ns = PROBE_INTERVAL_S * 1e9
        while self._running:
            before = time.perf_counter_ns()
            await asyncio.sleep(PROBE_INTERVAL_S)
            self.lateness_ms.append(
                max(0.0, time.perf_counter_ns() - before - interval_ns) / 1e6
            )

    def stop(self) -> None:
        self._running = False
