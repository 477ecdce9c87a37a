"""A test Assist satellite: a real `AssistSatelliteEntity` in a test integration.

Home Assistant's own `assist_satellite` integration runs the `ask_question` and `announce`
actions and matches the answer against the sentences (hassil, in `hass.config.language`).
Only the impossible part is replaced at the wire: there is no speaker and no microphone, so
the question's audio is not synthesised (`_resolve_announcement_media_id`) and the test
says what the person answered (`answer`), as speech-to-text would hand it over.
"""

from __future__ import annotations

import asyncio
from typing import Any, override

from homeassistant.components.assist_pipeline import PipelineEvent
from homeassistant.components.assist_satellite import (
    DOMAIN as SATELLITE_DOMAIN,
    AssistSatelliteAnnouncement,
    AssistSatelliteConfiguration,
    AssistSatelliteEntity,
    AssistSatelliteEntityFeature,
)
from homeassistant.config_entries import ConfigEntry, ConfigFlow
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockModule,
    MockPlatform,
    mock_config_flow,
    mock_integration,
    mock_platform,
)

TEST_DOMAIN = "test_satellite"


class _SatelliteFlow(ConfigFlow):
    VERSION = 1


class KitchenSatellite(AssistSatelliteEntity):
    """A satellite that asks questions and announces, and hears what the test says."""

    _attr_supported_features = (
        AssistSatelliteEntityFeature.ANNOUNCE
        | AssistSatelliteEntityFeature.START_CONVERSATION
    )

    def __init__(self, name: str = "Kitchen") -> None:
        self._attr_name = name
        self._attr_unique_id = f"{TEST_DOMAIN}_{name.lower()}"
        self.questions: list[str] = []
        self.announcements: list[str] = []
        self.asked = asyncio.Event()

    @override
    def async_get_configuration(self) -> AssistSatelliteConfiguration:
        return AssistSatelliteConfiguration(
            available_wake_words=[], active_wake_words=[], max_active_wake_words=1
        )

    @override
    async def async_set_configuration(
        self, config: AssistSatelliteConfiguration
    ) -> None:
        return None

    async def _resolve_announcement_media_id(  # no speaker: nothing to synthesise
        self,
        message: str,
        media_id: str | None,
        preannounce_media_id: str | None = None,
    ) -> AssistSatelliteAnnouncement:
        return AssistSatelliteAnnouncement(
            message=message,
            media_id="http://test/tts.mp3",
            original_media_id="media-source://tts/test",
            tts_token=None,
            media_id_source="tts",
        )

    @override
    def on_pipeline_event(self, event: PipelineEvent) -> None:
        return None

    @override
    async def async_announce(self, announcement: AssistSatelliteAnnouncement) -> None:
        self.announcements.append(announcement.message)

    @override
    async def async_start_conversation(
        self, start_announcement: AssistSatelliteAnnouncement
    ) -> None:
        self.questions.append(start_announcement.message)
        self.asked.set()

    async def wait_asked(self) -> None:
        """Wait until the question has been asked and the satellite listens."""
        await asyncio.wait_for(self.asked.wait(), 5)
        while self._ask_question_future is None:  # noqa: ASYNC110
            await asyncio.sleep(0)

    async def answer(self, words: str | None) -> None:
        """Say `words` (None: nobody answered and the pipeline ended)."""
        await self.wait_asked()
        future = self._ask_question_future
        assert future is not None
        future.set_result(words)
        self.asked.clear()


async def async_setup_satellite(
    hass: HomeAssistant, satellite: KitchenSatellite
) -> str:
    """Load Home Assistant's assist_satellite and the test integration; the entity id."""
    assert await async_setup_component(hass, "homeassistant", {})

    async def setup_entry(
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        async_add_entities: AddConfigEntryEntitiesCallback,
    ) -> None:
        async_add_entities([satellite])

    async def forward(hass: HomeAssistant, entry: ConfigEntry[Any]) -> bool:
        await hass.config_entries.async_forward_entry_setups(entry, [SATELLITE_DOMAIN])
        return True

    mock_integration(hass, MockModule(TEST_DOMAIN, async_setup_entry=forward))
    mock_platform(hass, f"{TEST_DOMAIN}.config_flow")
    mock_platform(
        hass,
        f"{TEST_DOMAIN}.{SATELLITE_DOMAIN}",
        MockPlatform(async_setup_entry=setup_entry),
    )
    assert await async_setup_component(hass, SATELLITE_DOMAIN, {})
    entry = MockConfigEntry(domain=TEST_DOMAIN)
    entry.add_to_hass(hass)
    with mock_config_flow(TEST_DOMAIN, _SatelliteFlow):
        assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert satellite.entity_id is not None
    return satellite.entity_id
